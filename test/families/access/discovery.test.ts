/**
 * Discovery, drift and repair of the access family (src/families/access/discovery.ts,
 * stored-procedures/operations/access_discovery.sql) through a real worker, against the in-memory
 * application (test/helpers/memory-app.ts) so every kind of drift can be made by hand and checked
 * exactly: missing, excess, orphan, gone; a partial pass marks nothing; a repair fixes the drift; the
 * mass-deletion guard holds a repair that would revoke too much until an operator approves it; tenants
 * see and request only their own. The real adapters' listings are tested against their servers in
 * test/connectors/ (and end to end in the *-flow tests).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { registerConnectorType } from "../../../src/connectors/registry.js";
import { PermanentError, TransientError } from "../../../src/errors.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createAccessFixture, type AccessFixture } from "../../helpers/access.js";
import { createTestDatabase, loginAs, tenantClients, type TestDatabase } from "../../helpers/db.js";
import { createAccount, finalProvision, waitFor, type Account } from "../../helpers/fixtures.js";
import { MemoryApp } from "../../helpers/memory-app.js";

const app = new MemoryApp();
registerConnectorType({ type: "memory", capabilities: ["account"], create: () => app });

let t: TestDatabase;
let acc: Account;
let other: Account;
let worker: WorkerHandle;
const clients = tenantClients();
beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  other = await createAccount(t.pool, { name: "other-tenant" });
  await t.pool.query("INSERT INTO connector_type VALUES ('memory', 'in-memory applications (tests)') ON CONFLICT DO NOTHING");
  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2");
  // the worker as production runs it: a provisio_worker login, not the owner
  worker = await startWorker({ connectionString: await loginAs(t, "provisio_worker"), concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await clients.endAll();
  await worker?.stop();
  await t?.close();
});
beforeEach(() => {
  app.failures = [];
  app.discoveryFailures = [];
  app.listingRepeats = [];
});

let seq = 0;
/** An application "<name>" with identity A (role: reader, writer) granted, plus identity B with the same role granted. */
async function setup(): Promise<{ name: string; a: AccessFixture; b: { identityId: string; username: string }; keys: string[] }> {
  const name = `disc${++seq}`;
  const a = await createAccessFixture(t.pool, acc.tenantId, {
    connectorType: "memory",
    configuration: { app: name },
    nativeKeys: [`${name}-reader`, `${name}-writer`],
  });
  const b = (
    await t.pool.query<{ id: string; username: string }>("INSERT INTO identity (tenant_customer_id, username) VALUES ($1, $2) RETURNING id, username", [
      acc.tenantId,
      `Bob-${name}`,
    ])
  ).rows[0]!;
  await t.pool.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [b.id, a.roleId, acc.tenantId]);
  for (const id of [a.identityId, b.id]) expect((await finalProvision(t.pool, await grant(id))).status).toBe("completed");
  await t.pool.query("UPDATE application SET discovery_page_size = 2 WHERE id = $1", [a.applicationId]);
  return { name, a, b: { identityId: b.id, username: b.username }, keys: Object.keys(a.entitlements) };
}

async function grant(identityId: string): Promise<string> {
  const r = await t.pool.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
    acc.tenantId,
    identityId,
  ]);
  return r.rows[0]!.id;
}

/** Request a pass and wait for it to be final; returns its v_access_discovery_run row. */
async function discover(applicationId: string): Promise<Record<string, any>> {
  const id = (await t.pool.query<{ id: string }>("SELECT access_discovery_request($1) AS id", [applicationId])).rows[0]!.id;
  return waitFor(
    `discovery pass ${id}`,
    async () => (await t.pool.query("SELECT * FROM v_access_discovery_run WHERE id = $1 AND status IN ('complete', 'failed')", [id])).rows[0],
  );
}

async function drift(applicationId: string): Promise<string[]> {
  const r = await t.pool.query<{ kind: string; user_id_in_app: string; native_key: string | null }>(
    "SELECT kind, user_id_in_app, native_key FROM v_access_drift WHERE application_id = $1 ORDER BY kind, user_id_in_app, native_key NULLS FIRST",
    [applicationId],
  );
  return r.rows.map((d) => [d.kind, d.user_id_in_app, d.native_key ?? "-"].join(" ")).sort();
}

describe("access discovery", () => {
  it("records every page and reports drift made by hand: missing, excess, orphan, gone", async () => {
    const { name, a, b, keys } = await setup();
    const [reader, writer] = keys as [string, string];
    const aId = a.username.toLowerCase();
    const bId = b.username.toLowerCase();
    // a clean pass first: nothing drifts
    const clean = await discover(a.applicationId);
    expect(clean).toMatchObject({ status: "complete", accounts_seen: 2, pages: 1, repair_status: null });
    expect(await drift(a.applicationId)).toEqual([]);
    // by hand: A loses writer and gains an entitlement no role gives; B's account is deleted; a stranger appears
    const extra = `${name}-admin`;
    await t.pool.query("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'admin', $3)", [
      acc.tenantId,
      a.applicationId,
      extra,
    ]);
    app.put(name, aId, [reader, extra, "not-an-entitlement"]);
    app.accounts.delete(`${name}/${bId}`);
    app.put(name, "stranger", [reader]);
    app.put(name, "zed", []);
    const run = await discover(a.applicationId);
    expect(run).toMatchObject({ status: "complete", accounts_seen: 3, pages: 2 });
    expect(await drift(a.applicationId)).toEqual(
      [
        `excess ${aId} ${extra}`,
        `gone ${bId} -`,
        `missing ${aId} ${writer}`,
        `missing ${bId} ${reader}`,
        `missing ${bId} ${writer}`,
        `orphan stranger -`,
        `orphan zed -`,
      ].sort(),
    );
    // what the pass saw is kept for this pass only
    const obs = await t.pool.query(
      'SELECT run_id, user_id_in_app, entitlements FROM access_observation WHERE application_id = $1 ORDER BY user_id_in_app COLLATE "C"',
      [a.applicationId],
    );
    expect(obs.rows.map((o) => [o.run_id, o.user_id_in_app, o.entitlements])).toEqual([
      [run.id, "stranger", [reader]],
      [run.id, aId, [extra, reader].sort()],
      [run.id, "zed", []],
    ]);
  });

  it("a failed or partial pass marks nothing: the last complete pass still counts", async () => {
    const { name, a, b } = await setup();
    const complete = await discover(a.applicationId);
    app.accounts.delete(`${name}/${b.username.toLowerCase()}`);
    app.put(name, "x1", []);
    app.put(name, "x2", []);
    // the first page is read, the second fails for good
    app.discoveryFailures = [undefined, new PermanentError("X500", "listing broke")];
    const failed = await discover(a.applicationId);
    expect(failed).toMatchObject({ status: "failed", error_code: "X500", error: "listing broke" });
    expect(await drift(a.applicationId)).toEqual([]);
    expect((await t.pool.query("SELECT DISTINCT run_id FROM access_observation WHERE application_id = $1", [a.applicationId])).rows).toEqual([
      { run_id: complete.id },
    ]);
    // a transient failure is retried from the start and then completes
    app.discoveryFailures = [undefined, new TransientError("X503", "busy")];
    const retried = await discover(a.applicationId);
    expect(retried).toMatchObject({ status: "complete", attempts: 2, accounts_seen: 3 });
    expect(await drift(a.applicationId)).toContain(`gone ${b.username.toLowerCase()} -`);
  });

  it("repair mode applies the difference, and the next pass finds nothing to repair", async () => {
    const { name, a, b, keys } = await setup();
    const [reader, writer] = keys as [string, string];
    const extra = `${name}-admin`;
    await t.pool.query("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'admin', $3)", [
      acc.tenantId,
      a.applicationId,
      extra,
    ]);
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 1 WHERE id = $1", [a.applicationId]);
    const aId = a.username.toLowerCase();
    app.put(name, aId, [reader, extra]);
    app.accounts.delete(`${name}/${b.username.toLowerCase()}`);
    const run = await discover(a.applicationId);
    expect(run.repair_accounts).toBe(2);
    const repaired = await waitFor(
      "repair",
      async () => (await t.pool.query("SELECT * FROM v_access_discovery_run WHERE id = $1 AND repair_status = 'applied'", [run.id])).rows[0],
    );
    expect(repaired.repair_result.accounts.every((r: { success: boolean }) => r.success)).toBe(true);
    expect([...app.accounts.get(`${name}/${aId}`)!.entitlements].sort()).toEqual([reader, writer].sort());
    expect([...app.accounts.get(`${name}/${b.username.toLowerCase()}`)!.entitlements].sort()).toEqual([reader, writer].sort());
    const next = await discover(a.applicationId);
    expect(next.repair_status).toBe("none");
    expect(await drift(a.applicationId)).toEqual([]);
  });

  it("holds a repair that would revoke from more than the configured share of accounts until an operator approves it", async () => {
    const { name, a, keys } = await setup();
    const [reader] = keys as [string, string];
    const extra = `${name}-admin`;
    await t.pool.query("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'admin', $3)", [
      acc.tenantId,
      a.applicationId,
      extra,
    ]);
    // 1 of 2 accounts would lose an entitlement: over a share of 0.4
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 0.4 WHERE id = $1", [a.applicationId]);
    const aId = a.username.toLowerCase();
    app.put(name, aId, [...keys, extra]);
    const applied = app.applied;
    const run = await discover(a.applicationId);
    expect(run).toMatchObject({ repair_status: "held", repair_accounts: 1, repair_revoking: "1" });
    await new Promise((r) => setTimeout(r, 300));
    expect(app.applied).toBe(applied);
    expect(app.accounts.get(`${name}/${aId}`)!.entitlements.has(extra)).toBe(true);
    // an order-role session of another tenant cannot approve it
    const otherSession = await clients.connect(await loginAs(t, "provisio_order"), other.tenantId);
    await expect(otherSession.query("SELECT access_repair_approve($1)", [run.id])).rejects.toMatchObject({ code: "PV208" });
    expect((await t.pool.query("SELECT access_repair_approve($1) AS s", [run.id])).rows[0].s).toBe("queued");
    await waitFor(
      "repair",
      async () => (await t.pool.query("SELECT 1 FROM access_discovery_run WHERE id = $1 AND repair_status = 'applied'", [run.id])).rows[0],
    );
    expect([...app.accounts.get(`${name}/${aId}`)!.entitlements].sort()).toEqual([...keys].sort());
    expect(app.accounts.get(`${name}/${aId}`)!.entitlements.has(reader)).toBe(true);
    // approving again changes nothing; a pass without a held repair is refused with its code
    expect((await t.pool.query("SELECT access_repair_approve($1) AS s", [run.id])).rows[0].s).toBe("applied");
    const clean = await discover(a.applicationId);
    await expect(t.pool.query("SELECT access_repair_approve($1)", [clean.id])).rejects.toMatchObject({ code: "PV209" });
  });

  it("holds a repair whose pass did not see the accounts provisio recorded (a listing that read too little)", async () => {
    const { name, a, b } = await setup();
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 0.4 WHERE id = $1", [a.applicationId]);
    // both recorded accounts vanish from the listing (as a wrong base DN or filter would make them): 2 of 2 gone
    app.accounts.delete(`${name}/${a.username.toLowerCase()}`);
    app.accounts.delete(`${name}/${b.username.toLowerCase()}`);
    const applied = app.applied;
    const run = await discover(a.applicationId);
    expect(run).toMatchObject({ status: "complete", accounts_seen: 0, repair_status: "held", repair_revoking: "0" });
    await new Promise((r) => setTimeout(r, 300));
    expect(app.applied).toBe(applied);
  });

  it("a repair leaves alone an identity whose grant or revoke is in flight", async () => {
    const { name, a, keys } = await setup();
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 1 WHERE id = $1", [a.applicationId]);
    const aId = a.username.toLowerCase();
    app.put(name, aId, [keys[0]!]);
    // a grant of the identity fails transiently and waits 3 s for its retry: in flight while the pass and its repair run
    app.failures = [new TransientError("PV_TEST_DOWN", "application unreachable")];
    await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 3, retry_backoff_max_seconds = 3 WHERE name = 'access_grant'");
    try {
      const pending = await grant(a.identityId);
      const run = await discover(a.applicationId);
      const done = await waitFor(
        "the repair",
        async () => (await t.pool.query("SELECT * FROM access_discovery_run WHERE id = $1 AND repair_status IN ('applied', 'failed')", [run.id])).rows[0],
      );
      expect(done.repair_status).toBe("failed");
      expect(done.repair_result.accounts).toEqual([expect.objectContaining({ identity_id: a.identityId, error_code: "PV_ACCESS_IN_FLIGHT" })]);
      expect((await finalProvision(t.pool, pending)).status).toBe("completed");
    } finally {
      app.failures = [];
      await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2 WHERE name = 'access_grant'");
    }
  });

  it("a newer pass supersedes a held repair", async () => {
    const { name, a, keys } = await setup();
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 0 WHERE id = $1", [a.applicationId]);
    const extra = `${name}-admin`;
    await t.pool.query("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'admin', $3)", [
      acc.tenantId,
      a.applicationId,
      extra,
    ]);
    app.put(name, a.username.toLowerCase(), [...keys, extra]);
    const first = await discover(a.applicationId);
    expect(first.repair_status).toBe("held");
    const second = await discover(a.applicationId);
    expect(second.repair_status).toBe("held");
    await expect(t.pool.query("SELECT access_repair_approve($1)", [first.id])).rejects.toMatchObject({ code: "PV210" });
  });

  it("user ids as the target spells them: a case-sensitive target's Alice is not alice; a repeated listing is merged", async () => {
    const { name, a } = await setup();
    const aId = a.username.toLowerCase();
    const upper = a.username.toUpperCase();
    // the memory target compares user ids case-sensitively (like SQL logins): an upper-case twin is another account
    app.put(name, upper, []);
    app.listingRepeats = [
      { userIdInApp: upper, active: true, entitlements: ["x"] },
      { userIdInApp: upper, active: false, entitlements: [] },
    ];
    const run = await discover(a.applicationId);
    expect(run).toMatchObject({ status: "complete", accounts_seen: 3 });
    const twin = (await t.pool.query("SELECT active, entitlements FROM access_observation WHERE run_id = $1 AND user_id_in_app = $2", [run.id, upper])).rows;
    expect(twin).toEqual([{ active: false, entitlements: ["x"] }]);
    expect(await drift(a.applicationId)).toEqual([`orphan ${upper} -`]);
    expect((await drift(a.applicationId)).some((d) => d.includes(` ${aId} `))).toBe(false);
  });

  it("a pass or repair whose job is gone is enqueued again by the scheduler and completes", async () => {
    const { a } = await setup();
    // a pass left running with no job (its worker died during the last attempt)
    const stuck = (
      await t.pool.query<{ id: string }>(
        "INSERT INTO access_discovery_run (tenant_customer_id, application_id, trigger, status, attempts) VALUES ($1, $2, 'manual', 'running', 5) RETURNING id",
        [acc.tenantId, a.applicationId],
      )
    ).rows[0]!.id;
    expect((await t.pool.query("SELECT access_discovery_request($1) AS id", [a.applicationId])).rows[0].id).toBe(stuck);
    const done = await waitFor(
      "the revived pass",
      async () => (await t.pool.query("SELECT * FROM access_discovery_run WHERE id = $1 AND status = 'complete'", [stuck])).rows[0],
    );
    expect(done.accounts_seen).toBe(2);
    // a repair queued with no job: the scheduler adds it
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair' WHERE id = $1", [a.applicationId]);
    await t.pool.query(`UPDATE access_discovery_run SET repair_status = 'queued', repair_plan = '[]' WHERE id = $1`, [stuck]);
    await t.pool.query("SELECT access_discovery_schedule()");
    await waitFor(
      "the revived repair",
      async () => (await t.pool.query("SELECT 1 FROM access_discovery_run WHERE id = $1 AND repair_status = 'applied'", [stuck])).rows[0],
    );
  });

  it("requests are get-or-create, scheduled by interval, and tenants see and request only their own", async () => {
    const { a } = await setup();
    const orderUrl = await loginAs(t, "provisio_order");
    const mine = await clients.connect(orderUrl, acc.tenantId);
    const theirs = await clients.connect(orderUrl, other.tenantId);
    await discover(a.applicationId);
    await expect(theirs.query("SELECT access_discovery_request($1)", [a.applicationId])).rejects.toMatchObject({ code: "PV208" });
    expect((await theirs.query("SELECT count(*)::int AS n FROM v_access_discovery_run")).rows[0].n).toBe(0);
    expect((await theirs.query("SELECT count(*)::int AS n FROM v_access_drift")).rows[0].n).toBe(0);
    expect((await theirs.query("SELECT count(*)::int AS n FROM access_observation")).rows[0].n).toBe(0);
    expect((await mine.query("SELECT count(*)::int AS n FROM v_access_discovery_run WHERE application_id = $1", [a.applicationId])).rows[0].n).toBe(1);
    // a tenant's session writes the run tables only through the functions
    await expect(mine.query("UPDATE access_discovery_run SET status = 'complete'")).rejects.toMatchObject({ code: "42501" });
    await expect(mine.query("SELECT access_discovery_finish(id) FROM access_discovery_run")).rejects.toMatchObject({ code: "42501" });
    // get-or-create: two requests while one is queued give the same pass (the worker is paused by holding its lock)
    const c = await t.pool.connect();
    try {
      await c.query("BEGIN");
      const one = (await c.query("SELECT access_discovery_request($1) AS id", [a.applicationId])).rows[0].id;
      const two = (await c.query("SELECT access_discovery_request($1) AS id", [a.applicationId])).rows[0].id;
      expect(two).toBe(one);
      await c.query("ROLLBACK");
    } finally {
      c.release();
    }
    // the scheduler: due once per interval
    await t.pool.query("UPDATE application SET discovery_interval = '1 hour' WHERE id = $1", [a.applicationId]);
    await t.pool.query("UPDATE access_discovery_run SET created_date = created_date - interval '2 hours' WHERE application_id = $1", [a.applicationId]);
    const queued = (await t.pool.query("SELECT access_discovery_schedule() AS n")).rows[0].n;
    expect(queued).toBeGreaterThanOrEqual(1);
    expect((await t.pool.query("SELECT access_discovery_schedule() AS n")).rows[0].n).toBe(0);
    const scheduled = await waitFor(
      "the scheduled pass",
      async () =>
        (await t.pool.query("SELECT * FROM access_discovery_run WHERE application_id = $1 AND trigger = 'schedule' AND status = 'complete'", [a.applicationId]))
          .rows[0],
    );
    expect(scheduled.accounts_seen).toBe(2);
    await t.pool.query("UPDATE application SET discovery_interval = NULL WHERE id = $1", [a.applicationId]);
  });
});
