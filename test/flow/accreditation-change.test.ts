/**
 * A running worker follows an UPDATE of an accreditation row (issue 10, item 9). The worker caches
 * accreditation rows for a few seconds (src/families/registry/context.ts); an attempt that cannot open a session
 * with the cached settings (connection refused, TLS verification, refused login) makes the next attempt
 * read the row again, so the job completes on its retry instead of exhausting its attempts on stale
 * settings. Real PostgreSQL, in-process worker, simulators over TLS.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCertificate } from "../../src/simulators/epp-registry/certificate.js";
import { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, provisionDomain, waitFor, type Account } from "../helpers/fixtures.js";

const CLID = "flow-registrar";
let t: TestDatabase;
let worker: WorkerHandle;
let dir: string;
const sims: EppRegistrySimulator[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "provisio-acc-change-"));
  // three quick attempts: without a re-read they would all fall within the cache's lifetime
  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2, max_attempts = 3");
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await Promise.all(sims.map((s) => s.stop()));
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function registry(password: string, port?: number): Promise<{ sim: EppRegistrySimulator; caFile: string }> {
  const sim = new EppRegistrySimulator({ registrars: { [CLID]: password }, tlds: ["example"], port, certificate: await makeCertificate() });
  await sim.start();
  sims.push(sim);
  const caFile = path.join(dir, `ca-${sim.port}-${sims.length}.pem`);
  await writeFile(caFile, sim.certificate!.cert);
  return { sim, caFile };
}

const eppConfig = (port: number, caFile: string, passwordEnv: string) => ({
  host: "127.0.0.1",
  port,
  clID: CLID,
  password_env: passwordEnv,
  tls: { ca_file: caFile, servername: "localhost" },
});

async function final(id: string): Promise<{ status: string; attempts: number; result_message: string | null }> {
  return waitFor(
    `provision ${id} final`,
    async () => (await t.pool.query("SELECT status, attempts, result_message FROM v_provision WHERE id = $1 AND is_final", [id])).rows[0],
  );
}

async function provisionAfterWarmUp(acc: Account, name: string): Promise<void> {
  expect(await final(await provisionDomain(t.pool, acc, name))).toMatchObject({ status: "completed", attempts: 1 });
}

describe("a running worker follows accreditation changes", () => {
  it("moves to another registry (host/port, CA file, password variable) with one UPDATE of the row", async () => {
    process.env.PROVISIO_FLOW_PW_A = "pw-a";
    process.env.PROVISIO_FLOW_PW_B = "pw-b";
    const a = await registry("pw-a");
    const acc = await createAccount(t.pool, { connectorType: "epp", config: eppConfig(a.sim.port, a.caFile, "PROVISIO_FLOW_PW_A") });
    await provisionAfterWarmUp(acc, "before-move.example"); // the worker now caches the row and has a session

    const b = await registry("pw-b");
    await a.sim.stop();
    await t.pool.query("UPDATE accreditation SET config = $2 WHERE id = $1", [acc.accreditationId, eppConfig(b.sim.port, b.caFile, "PROVISIO_FLOW_PW_B")]);
    const p = await final(await provisionDomain(t.pool, acc, "after-move.example"));
    expect(p).toMatchObject({ status: "completed" });
    expect(p.attempts).toBeLessThanOrEqual(2);
    expect(b.sim.store.domains.has("after-move.example")).toBe(true);
  });

  it("follows a registry restarted in place with a new certificate and password once the row names the new CA file and variable", async () => {
    process.env.PROVISIO_FLOW_PW_C = "pw-c";
    process.env.PROVISIO_FLOW_PW_D = "pw-d";
    const c = await registry("pw-c");
    const acc = await createAccount(t.pool, { connectorType: "epp", config: eppConfig(c.sim.port, c.caFile, "PROVISIO_FLOW_PW_C") });
    await provisionAfterWarmUp(acc, "before-restart.example");

    const port = c.sim.port;
    await c.sim.stop();
    const d = await registry("pw-d", port); // same port, new certificate, new password
    await t.pool.query("UPDATE accreditation SET config = $2 WHERE id = $1", [acc.accreditationId, eppConfig(d.sim.port, d.caFile, "PROVISIO_FLOW_PW_D")]);
    const p = await final(await provisionDomain(t.pool, acc, "after-restart.example"));
    expect(p).toMatchObject({ status: "completed" });
    expect(p.attempts).toBeLessThanOrEqual(2);
    expect(d.sim.store.domains.has("after-restart.example")).toBe(true);
  });

  it("a wrong password file costs the registry one refused login, not one per job and attempt; the fixed file is used at once", async () => {
    const e = await registry("pw-e");
    const logins: number[] = [];
    e.sim.on("command", (c: { name: string; code: number }) => c.name === "login" && logins.push(c.code));
    const pwFile = path.join(dir, "flow-password");
    await writeFile(pwFile, "pw-wrong\n");
    const config = { host: "127.0.0.1", port: e.sim.port, clID: CLID, password_file: pwFile, tls: { ca_file: e.caFile, servername: "localhost" } };
    const acc = await createAccount(t.pool, { connectorType: "epp", config, maxSessions: 2 });

    // 6 jobs of 3 attempts each (two at a time): 18 logins with the wrong password before
    const ids = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => provisionDomain(t.pool, acc, `refused-${i}.example`)));
    for (const id of ids) {
      const p = await final(id);
      expect(p).toMatchObject({ status: "failed", attempts: 3 });
      expect(p.result_message).toMatch(/EPP2200/);
    }
    expect(logins).toEqual([2200]);

    await writeFile(pwFile, "pw-e\n");
    expect(await final(await provisionDomain(t.pool, acc, "fixed-password.example"))).toMatchObject({ status: "completed", attempts: 1 });
    expect(logins).toEqual([2200, 1000]);
    expect(e.sim.store.domains.has("fixed-password.example")).toBe(true);
  });
});
