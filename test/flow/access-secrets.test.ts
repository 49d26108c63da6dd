/**
 * Connector secrets of the access family (as test/flow/secrets.test.ts does for EPP): the SCIM bearer
 * token, the SQL and LDAP bind passwords are configured by reference (token_env / token_file,
 * password_env / password_file), resolved when the adapter calls the application, and never written to a
 * table, a log line, a job payload, result_data, result_message or an event.
 * A worker process at debug level grants and then revokes through every reference kind, against real
 * targets that check the secret: two SCIM simulators (one per token), a login role with a password on the
 * test's PostgreSQL server (whose password authentication checks it, roles mode), and a throw-away slapd
 * (its rootdn password is the helper's, fixed). Each target also gets an application whose reference
 * holds a wrong secret, so refusals (401, 28P01, LDAP 49) are written too. Between the grants and the
 * revokes the same worker runs the access family's discovery passes (src/families/access/discovery.ts):
 * one per application (complete where the secret is right; failed with the target's auth error code
 * where it is wrong), then drift made by hand (a SCIM group member removed in the simulator's store, a
 * role membership revoked in SQL) is repaired by a second pass in repair mode (repair_status applied).
 * Then every table of the database (access_discovery_run.error and repair_result, access_observation
 * among them), once while the jobs are queued (graphile-worker's payloads) and once after the run, the
 * worker's whole output and the event rows are searched for each secret; a planted canary shows the
 * table scan finds what it looks for.
 * The connector_config CHECK refusing an inline secret key is checked last.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ScimSimulator } from "../../src/simulators/scim/server.js";
import { createAccessFixture, type AccessFixture } from "../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, waitFor, type Account } from "../helpers/fixtures.js";
import { slapdInstalled, startSlapd, type Slapd } from "../helpers/slapd.js";
import { spawnWorker } from "../helpers/worker-process.js";

const secret = (what: string) => `${what}-secret-${randomBytes(8).toString("hex")}`;
const scimEnvToken = secret("scim-env");
const scimFileToken = secret("scim-file");
const scimWrongToken = secret("scim-wrong");
const sqlPassword = secret("sql");
const sqlWrongPassword = secret("sql-wrong");
const ldapWrongPassword = secret("ldap-wrong");
const prefix = `prv_sec_${randomBytes(3).toString("hex")}`;
/** the worker's environment: the variables the env references name */
const ENV = {
  ACCESS_SECRETS_SCIM_TOKEN: scimEnvToken,
  ACCESS_SECRETS_SCIM_WRONG: scimWrongToken,
  ACCESS_SECRETS_SQL_PW: sqlPassword,
  ACCESS_SECRETS_SQL_WRONG: sqlWrongPassword,
  ACCESS_SECRETS_LDAP_WRONG: ldapWrongPassword,
};

let t: TestDatabase;
let acc: Account;
let admin: pg.Client;
let scimEnv: ScimSimulator;
let scimFile: ScimSimulator;
let ldap: Slapd | undefined;
let dir: string;
let checksPasswords = false;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  dir = await mkdtemp(path.join(tmpdir(), "provisio-access-secrets-"));
  scimEnv = new ScimSimulator({ token: scimEnvToken });
  scimFile = new ScimSimulator({ token: scimFileToken });
  await scimEnv.start();
  await scimFile.start();
  if (slapdInstalled()) ldap = await startSlapd();
  // the SQL target: a login with a password and CREATEROLE on the test server, administering four roles
  admin = new pg.Client({ connectionString: inject("serverUrl") });
  await admin.connect();
  await admin.query(`CREATE ROLE ${prefix}_conn LOGIN CREATEROLE PASSWORD ${admin.escapeLiteral(sqlPassword)}`);
  const roles = ["reader", "writer", "auditor", "editor"].map((r) => `${prefix}_${r}`);
  for (const r of roles) await admin.query(`CREATE ROLE ${r} NOLOGIN`);
  await admin.query(`GRANT ${roles.join(", ")} TO ${prefix}_conn WITH ADMIN OPTION`);
  // the embedded server checks passwords (initdb --auth=password); a DATABASE_URL server may trust 127.0.0.1
  const probe = new URL(inject("serverUrl"));
  probe.username = `${prefix}_conn`;
  probe.password = sqlWrongPassword;
  const c = new pg.Client({ connectionString: probe.toString() });
  c.on("error", () => undefined);
  checksPasswords = await c.connect().then(
    async () => {
      await c.end();
      return false;
    },
    () => true,
  );
  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2, max_attempts = 2");
});
afterAll(async () => {
  if (admin) {
    const roles = await admin.query<{ r: string }>("SELECT rolname AS r FROM pg_roles WHERE rolname LIKE $1 ORDER BY rolname = $2", [
      `${prefix}%`,
      `${prefix}_conn`,
    ]);
    for (const { r } of roles.rows) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(r)}`).catch(() => undefined);
    await admin.end();
  }
  await scimEnv?.stop();
  await scimFile?.stop();
  await ldap?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  await t?.close();
});

/** Every table of the test database (system schemas aside), and how many rows hold `value` in any column (row::text). */
async function tablesHolding(value: string): Promise<Record<string, number>> {
  const tables = (
    await t.pool.query<{ t: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' AND c.relkind IN ('r', 'p')`,
    )
  ).rows.map((r) => r.t);
  const found: Record<string, number> = {};
  for (const tbl of tables) {
    const n = (await t.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${tbl} x WHERE strpos(x::text, $1) > 0`, [value])).rows[0]!.n;
    if (n > 0) found[tbl] = n;
  }
  return found;
}

const SECRETS = () => ({
  scimEnvToken,
  scimFileToken,
  scimWrongToken,
  sqlPassword,
  sqlWrongPassword,
  ldapWrongPassword,
  ...(ldap ? { ldap: ldap.adminPassword } : {}),
});

describe("access connector secrets", () => {
  it("appear in no table, job payload, result_data, result_message, event or log line after grants and revokes through every reference kind", async () => {
    const tokenFile = path.join(dir, "scim-token");
    const sqlPwFile = path.join(dir, "sql-password");
    const ldapPwFile = path.join(dir, "ldap-password");
    await writeFile(tokenFile, `${scimFileToken}\n`, { mode: 0o600 });
    await writeFile(sqlPwFile, `${sqlPassword}\n`, { mode: 0o600 });
    if (ldap) await writeFile(ldapPwFile, `${ldap.adminPassword}\n`, { mode: 0o600 });
    const server = new URL(inject("serverUrl"));
    const sql = (ref: Record<string, string>) => ({
      dialect: "postgresql",
      host: server.hostname,
      port: Number(server.port || 5432),
      database: server.pathname.slice(1) || "postgres",
      user: `${prefix}_conn`,
      mode: "roles",
      ...ref,
    });
    // the two SQL applications grant different roles: a discovery pass of one sees the other's login
    // (roles mode lists every login of the server) and would call the roles it holds excess if they were
    // entitlements of both, so a repair would revoke them
    const roleKeys = [`${prefix}_reader`, `${prefix}_writer`];
    const fileRoleKeys = [`${prefix}_auditor`, `${prefix}_editor`];
    const groups = (s: ScimSimulator) => ["staff", "admins"].map((n) => s.store.createGroup({ displayName: `${n}-${randomBytes(3).toString("hex")}` }).id);
    // each application: its identity, and whether its secret is right
    const apps: { name: string; f: AccessFixture; ok: boolean; code?: RegExp }[] = [];
    const add = async (name: string, ok: boolean, opts: Parameters<typeof createAccessFixture>[2], code?: RegExp) =>
      apps.push({ name, ok, code, f: await createAccessFixture(t.pool, acc.tenantId, { username: `${prefix}_${name}`, ...opts }) });
    await add("scim_env", true, {
      connectorType: "scim",
      configuration: { baseUrl: scimEnv.baseUrl, token_env: "ACCESS_SECRETS_SCIM_TOKEN" },
      nativeKeys: groups(scimEnv),
    });
    await add("scim_file", true, { connectorType: "scim", configuration: { baseUrl: scimFile.baseUrl, token_file: tokenFile }, nativeKeys: groups(scimFile) });
    await add(
      "scim_wrong",
      false,
      { connectorType: "scim", configuration: { baseUrl: scimEnv.baseUrl, token_env: "ACCESS_SECRETS_SCIM_WRONG" }, nativeKeys: groups(scimEnv) },
      /^PV_SCIM_AUTH$/,
    );
    // the wrong password only where the server checks passwords
    await add("sql_env", true, { connectorType: "sql", configuration: sql({ password_env: "ACCESS_SECRETS_SQL_PW" }), nativeKeys: roleKeys });
    await add("sql_file", true, { connectorType: "sql", configuration: sql({ password_file: sqlPwFile }), nativeKeys: fileRoleKeys });
    expect(checksPasswords || Boolean(process.env.DATABASE_URL), "the embedded server checks passwords").toBe(true);
    if (checksPasswords)
      await add(
        "sql_wrong",
        false,
        { connectorType: "sql", configuration: sql({ password_env: "ACCESS_SECRETS_SQL_WRONG" }), nativeKeys: roleKeys },
        /^(28P01|28000)$/,
      );
    if (ldap) {
      const base = { url: ldap.url, bindDN: ldap.adminDN, usersDN: ldap.peopleDN, groupsDN: ldap.groupsDN };
      await add("ldap_file", true, { connectorType: "ldap", configuration: { ...base, password_file: ldapPwFile }, nativeKeys: ldap.groups.slice(0, 2) });
      await add(
        "ldap_wrong",
        false,
        { connectorType: "ldap", configuration: { ...base, password_env: "ACCESS_SECRETS_LDAP_WRONG" }, nativeKeys: [ldap.groups[2]!] },
        /^LDAP49$/,
      );
    }
    const grants = [];
    for (const a of apps) {
      const r = await t.pool.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
        acc.tenantId,
        a.f.identityId,
      ]);
      grants.push(r.rows[0]!.id);
    }
    // queued: graphile-worker holds one payload per grant, and no table holds a secret
    expect((await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs")).rows[0].n).toBe(apps.length);
    for (const [name, value] of Object.entries(SECRETS())) expect([name, await tablesHolding(value)]).toEqual([name, {}]);

    const w = spawnWorker(t.url, { ...ENV, PROVISIO_LOG_LEVEL: "debug" }, 4);
    let outcome: Record<string, any>[];
    let passes: Record<string, any>[];
    let repairs: Record<string, any>[];
    try {
      const final = (ids: string[]) =>
        waitFor(
          `${ids.length} provisions final`,
          async () => {
            const rows = (await t.pool.query("SELECT * FROM v_provision WHERE id = ANY($1) AND is_final", [ids])).rows;
            return rows.length === ids.length && rows;
          },
          60_000,
        );
      outcome = await final(grants);

      // discovery: one pass per application, all at once; each ends complete (right secret) or failed
      const discover = async (a: (typeof apps)[number]) => {
        const id = (await t.pool.query<{ id: string }>("SELECT access_discovery_request($1) AS id", [a.f.applicationId])).rows[0]!.id;
        return waitFor(
          `the discovery pass of ${a.name}`,
          async () =>
            (
              await t.pool.query(
                `SELECT * FROM v_access_discovery_run WHERE id = $1 AND status IN ('complete', 'failed')
                   AND (repair_status IS NULL OR repair_status NOT IN ('queued', 'running'))`,
                [id],
              )
            ).rows[0],
          60_000,
        );
      };
      passes = await Promise.all(apps.map(discover));
      for (const [i, a] of apps.entries()) {
        const p = passes[i]!;
        if (a.ok) expect([a.name, p.status, p.error_code, p.repair_status]).toEqual([a.name, "complete", null, null]);
        else {
          expect([a.name, p.status, p.error_code]).toEqual([a.name, "failed", expect.stringMatching(a.code!)]);
          expect([a.name, typeof p.error, p.error.length > 0]).toEqual([a.name, "string", true]);
          for (const value of Object.values(SECRETS())) expect([a.name, p.error.includes(value)]).toEqual([a.name, false]);
        }
      }
      // a complete pass saw the identity's account holding exactly what the grant gave: no drift of its own
      const drift = async (a: (typeof apps)[number]) =>
        (
          await t.pool.query<{ d: string }>(
            "SELECT kind || ' ' || coalesce(native_key, '-') AS d FROM v_access_drift WHERE application_id = $1 AND identity_id IS NOT NULL ORDER BY 1",
            [a.f.applicationId],
          )
        ).rows.map((r) => r.d);
      for (const a of apps.filter((x) => x.ok)) expect([a.name, await drift(a)]).toEqual([a.name, []]);

      // drift by hand: a SCIM group member removed in the simulator's store, a role revoked in SQL (as
      // the connector's login, which granted it); repair mode on both applications
      const byName = (n: string) => apps.find((a) => a.name === n)!;
      const scimApp = byName("scim_file");
      const sqlApp = byName("sql_env");
      const scimUser = scimFile.store.findUserByUserName(scimApp.f.username)!;
      const [scimGroup] = Object.keys(scimApp.f.entitlements) as [string];
      const group = scimFile.store.groupView(scimGroup)!;
      scimFile.store.replaceGroup(scimGroup, { ...group, members: (group.members as { value: string }[]).filter((m) => m.value !== scimUser.id) });
      expect(scimFile.store.memberEntries(scimGroup, scimUser.id)).toBe(0);
      const conn = new URL(inject("serverUrl"));
      conn.username = `${prefix}_conn`;
      conn.password = sqlPassword;
      const asConn = new pg.Client({ connectionString: conn.toString() });
      await asConn.connect();
      try {
        await asConn.query(`REVOKE ${prefix}_writer FROM ${sqlApp.f.username}`);
      } finally {
        await asConn.end();
      }
      const memberships = async () =>
        (
          await admin.query<{ r: string }>(
            `SELECT g.rolname::text AS r FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
              WHERE u.rolname = $1 ORDER BY 1`,
            [sqlApp.f.username],
          )
        ).rows.map((r) => r.r);
      expect(await memberships()).toEqual([`${prefix}_reader`]);
      await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 1 WHERE id = ANY($1)", [
        [scimApp.f.applicationId, sqlApp.f.applicationId],
      ]);
      repairs = await Promise.all([scimApp, sqlApp].map(discover));
      expect(repairs.map((p) => [p.application_id, p.status, p.repair_status, p.repair_accounts])).toEqual(
        [scimApp, sqlApp].map((a) => [a.f.applicationId, "complete", "applied", 1]),
      );
      expect(repairs.map((p) => p.repair_plan)).toEqual([
        [expect.objectContaining({ identity_id: scimApp.f.identityId, grant: [scimGroup], revoke: [] })],
        [expect.objectContaining({ identity_id: sqlApp.f.identityId, grant: [`${prefix}_writer`], revoke: [] })],
      ]);
      expect(repairs.map((p) => p.repair_result.accounts.map((r: Record<string, unknown>) => r.success))).toEqual([[true], [true]]);
      // the targets hold again what the roles give
      expect(scimFile.store.memberEntries(scimGroup, scimUser.id)).toBe(1);
      expect(await memberships()).toEqual(roleKeys);
      // then revoke what the grants gave, with deactivate, where they succeeded
      const revokes = [];
      for (const a of apps.filter((x) => x.ok)) {
        const r = await t.pool.query<{ id: string }>(
          "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true) RETURNING id",
          [acc.tenantId, a.f.identityId, Object.values(a.f.entitlements)],
        );
        revokes.push(r.rows[0]!.id);
      }
      outcome.push(...(await final(revokes)));
    } finally {
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
    }
    // the run covered every reference kind succeeding, and each target refusing a wrong secret
    for (const a of apps) {
      const rows = outcome.filter((p) => p.object_name === a.f.username);
      const summary = rows.map((p) => [p.provision_type, p.status, p.result_data?.error_code ?? null]);
      if (a.ok)
        expect([a.name, summary]).toEqual([
          a.name,
          [
            ["access_grant", "completed", null],
            ["access_revoke", "completed", null],
          ],
        ]);
      else expect([a.name, summary]).toEqual([a.name, [["access_grant", "failed", expect.stringMatching(a.code!)]]]);
    }
    const sqlUser = `${prefix}_sql_env`;
    expect((await admin.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [sqlUser])).rows).toEqual([{ rolcanlogin: false }]);
    expect(scimFile.store.findUserByUserName(`${prefix}_scim_file`)?.active).toBe(false);

    const output = w.output();
    expect(output).toMatch(/scim operation/); // debug lines were written
    expect(output).toMatch(/application not provisioned/); // and the refusals
    expect(output).toMatch(/discovery pass complete/); // the discovery passes, the refused ones and the repairs
    expect(output).toMatch(/discovery pass failed/);
    expect(output).toMatch(/repair finished/);
    const events = (await t.pool.query("SELECT event_type, payload::text AS payload FROM event")).rows;
    // per provision: its provision.status change(s) and one provisioning.task.status with every application's result
    expect(events.filter((e) => e.event_type === "provisioning.task.status").length).toBe(outcome.length);
    const jobs = (await t.pool.query("SELECT data::text AS data, result_data::text AS result_data, result_message FROM job")).rows;
    expect(jobs.length).toBe(outcome.length);
    // what the discovery passes wrote: errors of the refused passes, repair plans and results, observations
    const runs = (await t.pool.query("SELECT status, error, repair_plan::text AS repair_plan, repair_result::text AS repair_result FROM access_discovery_run"))
      .rows;
    expect(runs.filter((r) => r.status === "failed" && r.error).length).toBe(apps.filter((a) => !a.ok).length);
    expect(runs.filter((r) => r.repair_result).length).toBe(2);
    const observations = (await t.pool.query("SELECT o::text AS o FROM access_observation o")).rows.map((r) => r.o as string);
    expect(observations.length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(SECRETS())) {
      expect([name, await tablesHolding(value)]).toEqual([name, {}]);
      expect([name, output.includes(value)]).toEqual([name, false]);
      expect([name, events.filter((e) => e.payload.includes(value))]).toEqual([name, []]);
      expect([name, jobs.filter((j) => `${j.data} ${j.result_data} ${j.result_message}`.includes(value))]).toEqual([name, []]);
      expect([name, outcome.filter((p) => `${JSON.stringify(p.result_data)} ${p.result_message}`.includes(value))]).toEqual([name, []]);
      expect([name, runs.filter((r) => `${r.error} ${r.repair_plan} ${r.repair_result}`.includes(value))]).toEqual([name, []]);
      expect([name, observations.filter((o) => o.includes(value))]).toEqual([name, []]);
      expect([name, [...passes, ...repairs].filter((p) => JSON.stringify(p).includes(value))]).toEqual([name, []]);
    }
    // the table scan finds a value that is there: a canary planted in a failed pass's error (text) and a
    // repair's result (jsonb)
    const canary = secret("canary");
    await t.pool.query("UPDATE access_discovery_run SET error = error || $1 WHERE id = $2", [canary, passes.find((p) => p.status === "failed")!.id]);
    await t.pool.query("UPDATE access_discovery_run SET repair_result = repair_result || jsonb_build_object('planted', $1::text) WHERE id = $2", [
      canary,
      repairs[0]!.id,
    ]);
    expect(await tablesHolding(canary)).toEqual({ "public.access_discovery_run": 2 });
  });

  it("connector_config refuses an inline secret key with check_violation (23514), and writes nothing", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "scim", configuration: { baseUrl: scimEnv.baseUrl, token_env: "X" } });
    const app = (await t.pool.query("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [acc.tenantId, `${prefix}-inline`]))
      .rows[0].id;
    const count = async () => (await t.pool.query("SELECT count(*)::int AS n FROM connector_config")).rows[0].n as number;
    const before = await count();
    for (const key of ["password", "pw", "secret", "passwd", "token", "bindPassword", "bearer"]) {
      const configuration = { url: "ldap://127.0.0.1", bindDN: "cn=admin", usersDN: "ou=people", password_env: "X", [key]: "inline-secret" };
      const err = await t.pool
        .query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, 'ldap', $3)", [
          app,
          acc.tenantId,
          configuration,
        ])
        .then(
          () => undefined,
          (e: Error & { code?: string; constraint?: string }) => e,
        );
      expect([key, err?.code]).toEqual([key, "23514"]);
      // nor may an UPDATE put one into an existing configuration
      const upd = await t.pool
        .query("UPDATE connector_config SET configuration = configuration || $2 WHERE application_id = $1", [f.applicationId, { [key]: "x" }])
        .then(
          () => undefined,
          (e: Error & { code?: string }) => e,
        );
      expect([key, upd?.code]).toEqual([key, "23514"]);
    }
    expect(await count()).toBe(before);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM connector_config WHERE configuration::text LIKE '%inline-secret%'")).rows[0].n).toBe(0);
  });
});
