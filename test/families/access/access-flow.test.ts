/**
 * The access family's tasks through the worker (src/families/access/task.ts): INSERT a grant or revoke →
 * job → worker → one adapter call per application → result_data per application → accounts recorded.
 * The adapter here is an in-memory application registered as connector type "memory" (in this process,
 * where the worker runs), so the engine's part can be checked exactly: per-application retry without
 * re-applying the others, a permanent failure recorded with the others kept, effectively once, dry run.
 * The real adapters (sql, ldap, scim) are tested against their servers in test/connectors/.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccountOperation } from "../../../src/connectors/capabilities/account.js";
import { registerConnectorType } from "../../../src/connectors/registry.js";
import { PermanentError, TransientError } from "../../../src/errors.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createAccessFixture, type AccessFixture } from "../../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { MemoryApp } from "../../helpers/memory-app.js";
import { createAccount, finalProvision, type Account } from "../../helpers/fixtures.js";

const app = new MemoryApp();
registerConnectorType({ type: "memory", capabilities: ["account"], create: () => app });

let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  await t.pool.query("INSERT INTO connector_type VALUES ('memory', 'in-memory applications (tests)') ON CONFLICT DO NOTHING");
  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2");
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
});
beforeEach(() => {
  app.failures = [];
  app.beforeCall = undefined;
});

/** an identity whose role gives two entitlements in each of two memory applications */
async function twoApps(): Promise<{ f: AccessFixture; second: AccessFixture }> {
  const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "one" }, username: `Grace-${Date.now()}` });
  const second = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "two" } });
  // the second application's entitlements come with the first identity's role too
  await t.pool.query(
    "INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) SELECT $1, id, $2 FROM entitlement WHERE application_id = $3",
    [f.roleId, acc.tenantId, second.applicationId],
  );
  return { f, second };
}
const grant = async (identityId: string, dryRun = false) =>
  (
    await t.pool.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id, dry_run) VALUES ($1, $2, $3) RETURNING id", [
      acc.tenantId,
      identityId,
      dryRun,
    ])
  ).rows[0]!.id;

describe("access__grant and access__revoke through the worker", () => {
  it("grants every application its entitlements, records the accounts, and a second grant changes nothing", async () => {
    const { f, second } = await twoApps();
    const p = await finalProvision(t.pool, await grant(f.identityId));
    expect(p.status).toBe("completed");
    expect(p.object_name).toBe(f.username);
    const apps = p.result_data.applications as { application_id: string; success: boolean; user_id_in_app: string; operations: AccountOperation[] }[];
    expect(apps.map((a) => a.application_id).sort()).toEqual([f.applicationId, second.applicationId].sort());
    expect(apps.every((a) => a.success && a.user_id_in_app === f.username.toLowerCase())).toBe(true);
    expect(app.accounts.get(`one/${f.username.toLowerCase()}`)?.entitlements.size).toBe(2);
    expect(app.accounts.get(`two/${f.username.toLowerCase()}`)?.entitlements.size).toBe(2);
    const accounts = await t.pool.query(
      "SELECT application_id, user_id_in_app, native_id, link_state FROM account WHERE identity_id = $1 ORDER BY application_id",
      [f.identityId],
    );
    expect(accounts.rows).toHaveLength(2);
    expect(accounts.rows[0]).toMatchObject({ user_id_in_app: f.username.toLowerCase(), native_id: `mem-${f.username.toLowerCase()}`, link_state: "linked" });

    const before = app.applied;
    const again = await finalProvision(t.pool, await grant(f.identityId));
    expect(again.status).toBe("completed");
    const ops = (again.result_data.applications as { operations: AccountOperation[] }[]).flatMap((a) => a.operations);
    expect(ops.length).toBeGreaterThan(0);
    expect(ops.every((o) => o.outcome === "already")).toBe(true);
    expect(app.applied).toBe(before);
    // seed 002's provisioning.task.status: one provisioning.task.status event per finished provision, with the results
    const ev = await t.pool.query("SELECT payload FROM event WHERE event_type = 'provisioning.task.status' AND reference_id = $1", [again.id]);
    expect(ev.rows).toHaveLength(1);
    expect(ev.rows[0].payload).toMatchObject({ status: "completed", identity_id: f.identityId, username: f.username, dry_run: false });
    expect(ev.rows[0].payload.applications).toHaveLength(2);
  });

  it("retries an application that failed transiently without applying the others again", async () => {
    const { f } = await twoApps();
    // the first call (the first application in name order) fails once, transiently
    app.failures = [new TransientError("PV_TEST_DOWN", "application unreachable")];
    const before = app.applied;
    const p = await finalProvision(t.pool, await grant(f.identityId));
    expect(p.status).toBe("completed");
    expect(p.attempts).toBe(2);
    // 2 accounts created + 4 grants, each applied exactly once across both attempts
    expect(app.applied - before).toBe(6);
  });

  it("fails the job with the application's permanent error, keeping the other application's result", async () => {
    const { f } = await twoApps();
    app.failures = [new PermanentError("X401", "bad credentials")];
    const p = await finalProvision(t.pool, await grant(f.identityId));
    expect(p.status).toBe("failed");
    expect(p.attempts).toBe(1);
    const apps = p.result_data.applications as { success: boolean; error_code?: string }[];
    expect(apps.map((a) => [a.success, a.error_code ?? null])).toEqual([
      [false, "X401"],
      [true, null],
    ]);
    expect(p.result_data.error_code).toBe("X401");
    // the application that succeeded has its account recorded although the provision failed
    const recorded = await t.pool.query("SELECT count(*)::int AS n FROM account WHERE identity_id = $1", [f.identityId]);
    expect(recorded.rows[0].n).toBe(1);
    const ev = await t.pool.query("SELECT payload FROM event WHERE event_type = 'provisioning.task.status' AND reference_id = $1", [p.id]);
    expect(ev.rows.map((r) => r.payload.status)).toEqual(["failed"]);
    expect(p.result_message).toMatch(/1 of 2 application\(s\) not consistent: app-.*: bad credentials/);
  });

  it("dry run: plans every application, changes nothing, records no account", async () => {
    const { f } = await twoApps();
    const before = app.applied;
    const p = await finalProvision(t.pool, await grant(f.identityId, true));
    expect(p.status).toBe("completed");
    expect(p.result_data.dry_run).toBe(true);
    const ops = (p.result_data.applications as { operations: AccountOperation[] }[]).flatMap((a) => a.operations);
    expect(ops.every((o) => o.outcome === "skipped")).toBe(true);
    expect(app.applied).toBe(before);
    expect(app.accounts.has(`one/${f.username.toLowerCase()}`)).toBe(false);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM account WHERE identity_id = $1", [f.identityId])).rows[0].n).toBe(0);
  });

  it("revokes exactly the listed entitlements and, with deactivate, disables an account left with nothing", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "three" } });
    expect((await finalProvision(t.pool, await grant(f.identityId))).status).toBe("completed");
    const [first, secondKey] = Object.keys(f.entitlements);
    const revoke = (ids: string[], deactivate: boolean) =>
      t.pool
        .query<{ id: string }>(
          "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, $4) RETURNING id",
          [acc.tenantId, f.identityId, ids, deactivate],
        )
        .then((r) => r.rows[0]!.id);
    const p = await finalProvision(t.pool, await revoke([f.entitlements[first!]!], true));
    expect(p.status).toBe("completed");
    const user = app.accounts.get(`three/${f.username.toLowerCase()}`)!;
    expect([...user.entitlements]).toEqual([secondKey]);
    expect(user.active).toBe(true);
    const q = await finalProvision(t.pool, await revoke(Object.values(f.entitlements), true));
    expect(q.status).toBe("completed");
    expect(user.entitlements.size).toBe(0);
    expect(user.active).toBe(false);
    expect((await t.pool.query("SELECT link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0].link_state).toBe("disabled");
  });

  it("gives no access to an identity deactivated after the grant was accepted", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "four" } });
    // accepted while active, deactivated in the same transaction before the job can start
    const c = await t.pool.connect();
    try {
      await c.query("BEGIN");
      const id = (
        await c.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
          acc.tenantId,
          f.identityId,
        ])
      ).rows[0]!.id;
      await c.query("UPDATE identity SET is_active = false WHERE id = $1", [f.identityId]);
      await c.query("COMMIT");
      const p = await finalProvision(t.pool, id);
      expect(p.status).toBe("failed");
      expect(p.result_data.error_code).toBe("PV_ACCESS_INACTIVE");
      expect(app.accounts.has(`four/${f.username.toLowerCase()}`)).toBe(false);
    } finally {
      c.release();
    }
  });

  it("a failure of a later attempt outside the applications keeps the applications an earlier attempt made consistent", async () => {
    const { f } = await twoApps();
    // attempt 1: the first application is made consistent; before the second, the identity is deactivated and
    // the second fails transiently. Attempt 2 then fails before any application (PV_ACCESS_INACTIVE).
    let calls = 0;
    app.beforeCall = async () => {
      if (++calls !== 2) return;
      await t.pool.query("UPDATE identity SET is_active = false WHERE id = $1", [f.identityId]);
      throw new TransientError("PV_TEST_DOWN", "application unreachable");
    };
    const p = await finalProvision(t.pool, await grant(f.identityId));
    expect(p).toMatchObject({ status: "failed", attempts: 2 });
    expect(p.result_data.error_code).toBe("PV_ACCESS_INACTIVE");
    const apps = p.result_data.applications as { success: boolean }[];
    expect(apps.map((a) => a.success)).toEqual([true]);
    // the account of the application that was made consistent is recorded
    expect((await t.pool.query("SELECT count(*)::int AS n FROM account WHERE identity_id = $1", [f.identityId])).rows[0].n).toBe(1);
  });

  it("after a username change a grant refuses to make a second account, and a revoke acts on the recorded one", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "renamed" } });
    expect((await finalProvision(t.pool, await grant(f.identityId))).status).toBe("completed");
    const old = f.username.toLowerCase();
    await t.pool.query("UPDATE identity SET username = $1 WHERE id = $2", [`${f.username}-new`, f.identityId]);
    const p = await finalProvision(t.pool, await grant(f.identityId));
    expect(p.status).toBe("failed");
    expect(p.result_data.error_code).toBe("PV_ACCESS_RENAMED");
    expect(p.result_message).toContain(`is "${old}", and the mapping now gives "${old}-new"`);
    expect(app.accounts.has(`renamed/${old}-new`)).toBe(false);
    const r = await t.pool.query<{ id: string }>(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true) RETURNING id",
      [acc.tenantId, f.identityId, Object.values(f.entitlements)],
    );
    expect((await finalProvision(t.pool, r.rows[0]!.id)).status).toBe("completed");
    expect(app.accounts.get(`renamed/${old}`)).toMatchObject({ active: false, entitlements: new Set() });
  });

  it("a revoke without deactivate keeps a disabled account recorded as disabled; a missing account is not recorded", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "five" } });
    const [k1, k2] = Object.values(f.entitlements);
    const revoke = async (ids: string[], deactivate: boolean) =>
      finalProvision(
        t.pool,
        (
          await t.pool.query<{ id: string }>(
            "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, $4) RETURNING id",
            [acc.tenantId, f.identityId, ids, deactivate],
          )
        ).rows[0]!.id,
      );
    // never granted: the application has no account, so nothing is recorded
    expect((await revoke([k1!], true)).status).toBe("completed");
    expect((await t.pool.query("SELECT count(*)::int AS n FROM account WHERE identity_id = $1", [f.identityId])).rows[0].n).toBe(0);
    expect((await finalProvision(t.pool, await grant(f.identityId))).status).toBe("completed");
    expect((await revoke([k1!, k2!], true)).status).toBe("completed");
    expect((await t.pool.query("SELECT link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0].link_state).toBe("disabled");
    expect((await revoke([k1!], false)).status).toBe("completed");
    expect((await t.pool.query("SELECT link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0].link_state).toBe("disabled");
  });

  it("refuses to give a second identity the account another identity holds in the application", async () => {
    // the application names accounts by email; two people share one address
    const first = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "six" }, userIdTemplate: "{email}" });
    expect((await finalProvision(t.pool, await grant(first.identityId))).status).toBe("completed");
    const second = await t.pool.query<{ id: string }>("INSERT INTO identity (tenant_customer_id, username, email) VALUES ($1, $2, $3) RETURNING id", [
      acc.tenantId,
      `${first.username}-twin`,
      `${first.username.toUpperCase()}@example.com`,
    ]);
    await t.pool.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [
      second.rows[0]!.id,
      first.roleId,
      acc.tenantId,
    ]);
    const before = app.applied;
    const p = await finalProvision(t.pool, await grant(second.rows[0]!.id));
    expect(p.status).toBe("failed");
    expect(p.result_data.applications[0]).toMatchObject({ success: false, error_code: "PV_ACCESS_ACCOUNT_TAKEN" });
    expect(app.applied).toBe(before);
  });

  it("revokes the native key the entitlement had when the revoke was accepted, even if it was deleted since", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "memory", configuration: { app: "seven" } });
    expect((await finalProvision(t.pool, await grant(f.identityId))).status).toBe("completed");
    const [key, id] = Object.entries(f.entitlements)[0]!;
    const c = await t.pool.connect();
    try {
      await c.query("BEGIN");
      const r = await c.query<{ id: string }>(
        "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids) VALUES ($1, $2, $3) RETURNING id",
        [acc.tenantId, f.identityId, [id]],
      );
      await c.query("DELETE FROM entitlement WHERE id = $1", [id]);
      await c.query("COMMIT");
      const p = await finalProvision(t.pool, r.rows[0]!.id);
      expect(p.status).toBe("completed");
      expect(app.accounts.get(`seven/${f.username.toLowerCase()}`)?.entitlements.has(key)).toBe(false);
    } finally {
      c.release();
    }
  });

  it("fails with PV_CONFIG naming the capability when the application's connector type offers no account capability", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, { connectorType: "noop", configuration: {} });
    const p = await finalProvision(t.pool, await grant(f.identityId));
    expect(p.status).toBe("failed");
    expect(p.result_data.applications[0]).toMatchObject({ success: false, error_code: "PV_CONFIG" });
    expect(p.result_message).toMatch(/connector_type "noop" does not offer the account capability/);
  });
});
