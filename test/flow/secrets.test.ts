/**
 * Connector secrets (issue 3): the EPP passwords are resolved from the environment or a file when a
 * session logs in, and never written to a table, a log line, a job payload, result_data or an event.
 * A full run (creates, a transient retry, a permanent failure, renew, delete, a refused login) goes
 * through a worker process at debug level; then every table in public, class and graphile_worker and
 * the worker's whole output are searched for each secret.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, waitFor } from "../helpers/fixtures.js";
import { spawnWorker } from "../helpers/worker-process.js";

let t: TestDatabase;
let sim: EppRegistrySimulator;
const envSecret = `env-secret-${randomBytes(8).toString("hex")}`;
const fileSecret = `file-secret-${randomBytes(8).toString("hex")}`;
const wrongSecret = `wrong-secret-${randomBytes(8).toString("hex")}`;

beforeAll(async () => {
  t = await createTestDatabase();
  sim = new EppRegistrySimulator({ registrars: { "reg-env": envSecret, "reg-file": fileSecret, "reg-wrong": "the-right-one" }, tlds: ["example", "test"] });
  await sim.start();
});
afterAll(async () => {
  await sim?.stop();
  await t?.close();
});

describe("connector secrets", () => {
  it("appear in no table, job payload, result_data, event or log line after a full run", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "provisio-secrets-"));
    const caFile = path.join(dir, "ca.pem");
    const pwFile = path.join(dir, "epp-password");
    await writeFile(caFile, sim.certificate!.cert);
    await writeFile(pwFile, `${fileSecret}\n`, { mode: 0o600 });
    const base = { host: "127.0.0.1", port: sim.port, tls: { ca_file: caFile, servername: "localhost" } };
    const accEnv = await createAccount(t.pool, { connectorType: "epp", config: { ...base, clID: "reg-env", password_env: "SECRETS_TEST_PW" } });
    const accFile = await createAccount(t.pool, { connectorType: "epp", config: { ...base, clID: "reg-file", password_file: pwFile } });
    const accWrong = await createAccount(t.pool, { connectorType: "epp", config: { ...base, clID: "reg-wrong", password_env: "SECRETS_TEST_WRONG_PW" } });
    await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2, max_attempts = 2");

    sim.faults.add({ action: { kind: "respond", code: 2400 }, count: 1, commands: ["domain:create"] });
    const w = spawnWorker(t.url, { SECRETS_TEST_PW: envSecret, SECRETS_TEST_WRONG_PW: wrongSecret, PROVISIO_LOG_LEVEL: "debug" }, 4);
    try {
      const ins = (acc: { tenantId: string; accreditationId: string }, name: string) =>
        t.pool.query("INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3)", [
          acc.tenantId,
          acc.accreditationId,
          name,
        ]);
      await ins(accEnv, "env-1.example");
      await ins(accEnv, "env-2.example");
      await ins(accFile, "file-1.example");
      await ins(accWrong, "wrong-1.example");
      await t.pool
        .query("INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'bad tld.nope')", [
          accEnv.tenantId,
          accEnv.accreditationId,
        ])
        .catch(() => undefined);
      await waitFor("creates final", async () => (await t.pool.query("SELECT count(*)::int AS n FROM v_provision WHERE is_final")).rows[0].n === 4, 30_000);
      const expiry = (await t.pool.query("SELECT ry_expiry_date FROM domain WHERE name = 'env-1.example'")).rows[0].ry_expiry_date;
      await t.pool.query(
        "INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, current_expiry_date, period) VALUES ($1, $2, 'env-1.example', $3, 1)",
        [accEnv.tenantId, accEnv.accreditationId, expiry],
      );
      await t.pool.query("INSERT INTO provision_domain_delete (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'file-1.example')", [
        accFile.tenantId,
        accFile.accreditationId,
      ]);
      await waitFor("all final", async () => (await t.pool.query("SELECT count(*)::int AS n FROM v_provision WHERE is_final")).rows[0].n === 6, 30_000);
    } finally {
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
    const outcome = (await t.pool.query("SELECT object_name, provision_type, status, result_message FROM v_provision ORDER BY object_name, provision_type"))
      .rows;
    // the run covered success, a refused login (EPP 2200) and retries
    expect(outcome.filter((r) => r.status === "completed")).toHaveLength(5);
    expect(outcome.find((r) => r.object_name === "wrong-1.example")).toMatchObject({ status: "failed" });
    expect(outcome.find((r) => r.object_name === "wrong-1.example").result_message).toMatch(/2200/);

    const tables = (
      await t.pool.query(
        `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname IN ('public', 'class', 'graphile_worker') AND c.relkind IN ('r', 'p')`,
      )
    ).rows.map((r) => r.t as string);
    expect(tables).toEqual(
      expect.arrayContaining(["public.job", "public.event", "public.audit_trail_log", "graphile_worker._private_jobs", "public.accreditation"]),
    );
    const rows = Object.fromEntries(
      await Promise.all(tables.map(async (tbl) => [tbl, (await t.pool.query(`SELECT count(*)::int AS n FROM ${tbl}`)).rows[0].n])),
    );
    expect(rows["public.job"]).toBeGreaterThan(0);
    expect(rows["public.event"]).toBeGreaterThan(0);
    expect(rows["public.audit_trail_log"]).toBeGreaterThan(0);
    const output = w.output();
    expect(output).toMatch(/EPP session logged in/); // debug lines were written
    for (const secret of [envSecret, fileSecret, wrongSecret]) {
      for (const tbl of tables) {
        const n = (await t.pool.query(`SELECT count(*)::int AS n FROM ${tbl} x WHERE strpos(x::text, $1) > 0`, [secret])).rows[0].n;
        expect([tbl, secret, n]).toEqual([tbl, secret, 0]);
      }
      expect(output.includes(secret)).toBe(false);
    }
    // the domains' authInfo passwords live in the provision rows and the job data, never in a log line
    // (graphile-worker logs the job it ran; its payload carries the started job row with its data)
    const authInfos = (await t.pool.query("SELECT pw FROM provision_domain")).rows.map((r) => r.pw as string);
    expect(authInfos.length).toBeGreaterThan(0);
    for (const pw of authInfos) expect([pw, output.includes(pw)]).toEqual([pw, false]);
  });
});
