/**
 * The built-in tenant templates end to end with a worker (seed 004): tenant.onboard creates the
 * tenant's schema in an application database (a real PostgreSQL database on the test server) and runs its
 * migrations, records the category's limits, creates the admin identity and grants its role in the
 * application (sql connector, tables mode), registers the domain through domain.register (a sub-run,
 * against the EPP simulator) and notifies; tenant.deprovision backs up, disables access and the tenant,
 * and — cancelled during its grace period — gives everything back; run again with no grace period it
 * drops the data, deletes the domain and purges what it was told to.
 */
import { readFile, stat } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase } from "../../../src/db/embedded.js";
import type { EppRegistrySimulator } from "../../../src/simulators/epp-registry/server.js";
import { taskStepHandlers } from "../../../src/families/workflow/tasks.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { APP_TABLES_STATEMENTS } from "../../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, waitFor, type Account } from "../../helpers/fixtures.js";
import { startSimulator, stopSimulator } from "../../helpers/simulator.js";
import { insertRun, settledRun, stepsOf } from "../../helpers/workflow.js";

const APP_DB = `provisio_tenants_${process.pid}`;
const SQL_PW_ENV = "PROVISIO_TEST_TENANT_SQL_PW";

let t: TestDatabase;
let acc: Account;
let sim: EppRegistrySimulator;
let worker: WorkerHandle;
let appDb: pg.Client;
let appId: string;

beforeAll(async () => {
  t = await createTestDatabase();
  const s = await startSimulator();
  sim = s.sim;
  acc = await createAccount(t.pool, { connectorType: "epp", config: s.config });
  const server = new URL(t.url);
  server.pathname = "/postgres";
  await ensureDatabase(server.toString(), APP_DB);
  const appUrl = new URL(t.url);
  appUrl.pathname = `/${APP_DB}`;
  process.env[SQL_PW_ENV] = decodeURIComponent(appUrl.password) || "unused-under-trust";
  process.env.PROVISIO_BACKUP_DIR = `/tmp/provisio-test-backups-${process.pid}`;
  appDb = new pg.Client({ connectionString: appUrl.toString() });
  await appDb.connect();
  await appDb.query(`DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS acme CASCADE; CREATE SCHEMA app;
    CREATE TABLE app.users (id serial PRIMARY KEY, login text NOT NULL UNIQUE, email text, display_name text, active boolean NOT NULL DEFAULT true);
    CREATE TABLE app.roles (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE app.user_roles (user_id int REFERENCES app.users, role_id int REFERENCES app.roles, PRIMARY KEY (user_id, role_id));
    INSERT INTO app.roles (name) VALUES ('admin'), ('billing');`);
  const one = async (sql: string, params: unknown[]) => (await t.pool.query<{ id: string }>(sql, params)).rows[0]!.id;
  appId = await one("INSERT INTO application (tenant_customer_id, name) VALUES ($1, 'school-app') RETURNING id", [acc.tenantId]);
  await t.pool.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, 'sql', $3)", [
    appId,
    acc.tenantId,
    {
      dialect: "postgresql",
      host: appUrl.hostname,
      port: Number(appUrl.port),
      database: APP_DB,
      user: decodeURIComponent(appUrl.username),
      password_env: SQL_PW_ENV,
      mode: "tables",
      statements: APP_TABLES_STATEMENTS,
    },
  ]);
  await t.pool.query("INSERT INTO mapping_config (application_id, tenant_customer_id) VALUES ($1, $2)", [appId, acc.tenantId]);
  const role = await one("INSERT INTO role (tenant_customer_id, name) VALUES ($1, 'tenant_admin') RETURNING id", [acc.tenantId]);
  for (const k of ["admin", "billing"]) {
    const e = await one("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, $3, $3) RETURNING id", [
      acc.tenantId,
      appId,
      k,
    ]);
    await t.pool.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3)", [role, e, acc.tenantId]);
  }
  worker = await startWorker({ connectionString: t.url, concurrency: 4, pollInterval: 100 });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await stopSimulator(sim);
  await appDb?.end();
  await t?.close();
});

const finalRun = (id: string) => settledRun(t.pool, id);
const contact = (id: string) => ({ contact_id: id, name: `Contact ${id}`, city: "Oslo", cc: "NO", email: `${id}@example.test` });
const appUser = async () =>
  (
    await appDb.query(
      "SELECT u.active, array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL) AS roles FROM app.users u LEFT JOIN app.user_roles ur ON ur.user_id = u.id LEFT JOIN app.roles r ON r.id = ur.role_id WHERE u.login = 'acme.admin' GROUP BY u.active",
    )
  ).rows[0];

let adminIdentity: string;

describe("tenant.onboard", () => {
  it("every task type of the table has a handler in the worker, and no handler lacks its row", async () => {
    const rows = (await t.pool.query<{ name: string }>("SELECT name FROM workflow_task_type ORDER BY name")).rows.map((r) => r.name);
    expect(Object.keys(taskStepHandlers).sort()).toEqual(rows);
  });

  it("schema and migrations, settings, admin with access, domain (sub-run), notification", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "tenant.onboard", {
      tenant_slug: "acme",
      category: "district",
      application_id: appId,
      admin: { username: "acme.admin", email: "admin@acme.example", display_name: "Acme Admin" },
      admin_role: "tenant_admin",
      accreditation_id: acc.accreditationId,
      domain: "acme-school.example",
      contacts: { registrant: contact("acme-reg"), admin: contact("acme-adm"), tech: contact("acme-tech") },
    });
    const r = await finalRun(run);
    const steps = await stepsOf(t.pool, run);
    expect([r.status, r.error]).toEqual(["completed", null]);
    expect(Object.fromEntries(Object.entries(steps).map(([k, s]) => [k, s.status]))).toEqual({
      schema: "completed",
      settings: "completed",
      admin: "completed",
      admin_access: "completed",
      domain: "completed",
      notify: "completed",
    });
    // the schema and its migrations, recorded
    const ledger = await appDb.query("SELECT version FROM acme.provisio_schema_migrations ORDER BY 1");
    expect(ledger.rows.map((x) => x.version)).toEqual(["001_users", "002_settings"]);
    // the category's limits
    expect(
      (await t.pool.query("SELECT category, state, limits->>'max_users' AS u FROM tenant_profile WHERE tenant_customer_id = $1", [acc.tenantId])).rows[0],
    ).toEqual({
      category: "district",
      state: "active",
      u: "200",
    });
    // the admin's account holds its role's entitlements
    expect(await appUser()).toEqual({ active: true, roles: ["admin", "billing"] });
    adminIdentity = r.result.admin_identity_id;
    expect(adminIdentity).toBe(steps.admin!.output.identity_id);
    // the domain, at the registry
    expect(sim.store.domains.has("acme-school.example")).toBe(true);
    expect(r.result.domain_roid).toEqual(expect.any(String));
    expect(r.result.schema_applied).toEqual(["001_users", "002_settings"]);
    const ev = await t.pool.query("SELECT payload->>'topic' AS topic FROM event WHERE event_type = 'workflow.notification' AND reference_id = $1", [run]);
    expect(ev.rows).toEqual([{ topic: "tenant.onboarded" }]);
  });

  it("a second onboarding of the same slug applies no migration twice (the ledger) and leaves the account as it is", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "tenant.onboard", {
      tenant_slug: "acme",
      category: "municipality",
      application_id: appId,
      admin: { username: "acme.admin", email: "admin@acme.example" },
      admin_role: "tenant_admin",
      notify_users: false,
    });
    const r = await finalRun(run);
    expect(r.status).toBe("completed");
    const steps = await stepsOf(t.pool, run);
    expect(steps.schema!.output).toMatchObject({ applied: [], already: ["001_users", "002_settings"] });
    expect(steps.domain).toMatchObject({ status: "skipped", skipped_reason: "when" });
    expect(steps.notify).toMatchObject({ status: "skipped", skipped_reason: "when" });
    expect((await t.pool.query("SELECT category FROM tenant_profile WHERE tenant_customer_id = $1", [acc.tenantId])).rows[0].category).toBe("municipality");
  });
});

describe("tenant.deprovision", () => {
  it("cancelled during the grace period: access is granted again and the tenant is active", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "tenant.deprovision", {
      tenant_slug: "acme",
      application_id: appId,
      admin_identity_id: adminIdentity,
      accreditation_id: acc.accreditationId,
      domain: "acme-school.example",
      grace_period_hours: 24,
    });
    await waitFor("the grace period", async () => (await stepsOf(t.pool, run)).grace?.status === "running");
    expect(await appUser()).toMatchObject({ active: false, roles: null });
    expect((await t.pool.query("SELECT state FROM tenant_profile WHERE tenant_customer_id = $1", [acc.tenantId])).rows[0].state).toBe("disabled");
    const backup = (await stepsOf(t.pool, run)).backup!.output;
    const file = JSON.parse(await readFile(backup.location, "utf8"));
    expect(file.tables.map((x: { table: string }) => x.table)).toEqual(["provisio_schema_migrations", "settings", "users"]);
    expect((await stat(backup.location)).size).toBe(backup.size);

    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("compensating");
    const r = await finalRun(run);
    expect(r.status).toBe("compensated");
    const comp = await stepsOf(t.pool, run, "compensate");
    expect(Object.keys(comp).sort()).toEqual(["disable", "disable_access"]);
    // reverse order: the tenant is active again before its admin's access is granted again
    expect(new Date(comp.disable!.ended_date).getTime()).toBeLessThanOrEqual(new Date(comp.disable_access!.started_date).getTime());
    expect(await appUser()).toEqual({ active: true, roles: ["admin", "billing"] });
    expect((await t.pool.query("SELECT state FROM tenant_profile WHERE tenant_customer_id = $1", [acc.tenantId])).rows[0].state).toBe("active");
    expect((await appDb.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'acme'")).rows[0].n).toBe(1);
    expect(sim.store.domains.has("acme-school.example")).toBe(true);
  });

  it("a schema that is not the tenant's own (its profile's slug) is never exported or dropped (PV_WF_SCHEMA)", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "tenant.deprovision", {
      tenant_slug: "app",
      application_id: appId,
      admin_identity_id: adminIdentity,
      grace_period_hours: 0,
    });
    const r = await finalRun(run);
    expect(r.status).toBe("blocked");
    expect((await stepsOf(t.pool, run)).backup).toMatchObject({ status: "failed", error_code: "PV_WF_SCHEMA" });
    expect((await appDb.query("SELECT count(*)::int AS n FROM app.users")).rows[0].n).toBeGreaterThan(0);
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("compensated");
  });

  it("with no grace period: data dropped, domain deleted, audit logs and backups purged when asked", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "tenant.deprovision", {
      tenant_slug: "acme",
      application_id: appId,
      admin_identity_id: adminIdentity,
      accreditation_id: acc.accreditationId,
      domain: "acme-school.example",
      grace_period_hours: 0,
      preserve_audit_logs: false,
      preserve_backups: false,
    });
    const r = await finalRun(run);
    expect(r.status).toBe("completed");
    expect(r.result).toMatchObject({ dropped: true, state: "deprovisioned" });
    const steps = await stepsOf(t.pool, run);
    expect(steps.audit!.status).toBe("completed");
    expect(steps.purge_backups!.output).toMatchObject({ deleted: true });
    await expect(stat(steps.backup!.output.location)).rejects.toThrow(/ENOENT/);
    expect((await appDb.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'acme'")).rows[0].n).toBe(0);
    expect(sim.store.domains.has("acme-school.example")).toBe(false);
    expect((await t.pool.query("SELECT state FROM tenant_profile WHERE tenant_customer_id = $1", [acc.tenantId])).rows[0].state).toBe("deprovisioned");
    expect(await appUser()).toMatchObject({ active: false });
  });
});
