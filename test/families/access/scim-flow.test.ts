/**
 * An access grant and revoke end to end against a SCIM 2.0 service provider (the simulator in
 * src/simulators/scim/, scimmy on express 4): INSERT → job → worker → ScimConnector (connector type
 * "scim", registered by the access family) → Users and Groups at the service → accounts recorded. A
 * second grant changes nothing at the service (no duplicate member), and the account's userName at the
 * service keeps the identity's case-insensitive identity. The same grants and revokes reach the same end
 * state at a sloppy service (case-sensitive filters, duplicate member adds, 429 bursts) as at a strict one.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScimSimulator } from "../../../src/simulators/scim/server.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createAccessFixture } from "../../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, finalProvision, type Account } from "../../helpers/fixtures.js";
import { endState } from "../../connectors/scim/scenario.js";

const TOKEN_ENV = "PROVISIO_TEST_SCIM_TOKEN";
let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
let scim: ScimSimulator;
beforeAll(async () => {
  process.env[TOKEN_ENV] = "scim-test-token";
  scim = new ScimSimulator({ token: "scim-test-token" });
  await scim.start();
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await scim?.stop();
});

describe("access provisioning over SCIM through the worker", () => {
  it("creates the user, adds it to the role's groups once, and revokes with deactivate", async () => {
    const staff = scim.store.createGroup({ displayName: "staff" });
    const admins = scim.store.createGroup({ displayName: "admins" });
    const f = await createAccessFixture(t.pool, acc.tenantId, {
      connectorType: "scim",
      configuration: { baseUrl: scim.baseUrl, token_env: TOKEN_ENV },
      nativeKeys: [staff.id, admins.id],
      username: "Katherine.Johnson",
    });
    const grant = async () =>
      (
        await t.pool.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
          acc.tenantId,
          f.identityId,
        ])
      ).rows[0]!.id;
    const p = await finalProvision(t.pool, await grant());
    expect(p.status).toBe("completed");
    const user = scim.store.findUserByUserName("katherine.johnson");
    expect(user?.userName).toBe("katherine.johnson");
    const memberIds = (id: string) => ((scim.store.groups.get(id)?.members as { value: string }[] | undefined) ?? []).map((m) => m.value);
    expect(memberIds(staff.id)).toEqual([user!.id]);
    expect(memberIds(admins.id)).toEqual([user!.id]);
    const account = (await t.pool.query("SELECT native_id, link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0];
    expect(account).toEqual({ native_id: user!.id, link_state: "linked" });

    const again = await finalProvision(t.pool, await grant());
    expect(again.status).toBe("completed");
    expect(again.result_data.applications[0].operations.every((o: { outcome: string }) => o.outcome === "already")).toBe(true);
    expect(memberIds(staff.id)).toEqual([user!.id]);

    const r = await t.pool.query<{ id: string }>(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true) RETURNING id",
      [acc.tenantId, f.identityId, Object.values(f.entitlements)],
    );
    const q = await finalProvision(t.pool, r.rows[0]!.id);
    expect(q.status).toBe("completed");
    expect(memberIds(staff.id)).toEqual([]);
    expect(scim.store.findUserByUserName("katherine.johnson")?.active).toBe(false);
    expect((await t.pool.query("SELECT link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0].link_state).toBe("disabled");
  });
});

describe("access provisioning over SCIM: a sloppy service ends where a strict one does", () => {
  it("grant, grant again, revoke one group, revoke the other with deactivate: same statuses, accounts and service state", async () => {
    const runs: Record<string, unknown> = {};
    for (const mode of ["strict", "sloppy"] as const) {
      const sim = new ScimSimulator({ token: "scim-test-token", mode });
      await sim.start();
      try {
        const tenant = (await createAccount(t.pool)).tenantId;
        const staff = sim.store.createGroup({ displayName: "staff" }).id;
        const admins = sim.store.createGroup({ displayName: "admins" }).id;
        // the account exists already, in another case than the mapping derives ("grace.hopper"): a
        // case-sensitive filter misses it, the create is answered 409 and the account must be linked
        const existing = sim.store.createUser({ userName: "Grace.Hopper" }).id;
        const f = await createAccessFixture(t.pool, tenant, {
          connectorType: "scim",
          configuration: { baseUrl: sim.baseUrl, token_env: TOKEN_ENV },
          nativeKeys: [staff, admins],
          username: "Grace.Hopper",
        });
        const steps: unknown[] = [];
        const run = async (sql: string, params: unknown[]) => {
          const id = (await t.pool.query<{ id: string }>(`${sql} RETURNING id`, params)).rows[0]!.id;
          const p = await finalProvision(t.pool, id);
          const account = (await t.pool.query("SELECT native_id, link_state FROM account WHERE identity_id = $1", [f.identityId])).rows;
          steps.push({ status: p.status, account, service: endState(sim) });
          expect(account.map((a: { native_id: string }) => a.native_id)).toEqual([existing]);
        };
        const grant = "INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2)";
        const revoke = "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true)";
        await run(grant, [tenant, f.identityId]);
        await run(grant, [tenant, f.identityId]);
        await run(revoke, [tenant, f.identityId, [f.entitlements[staff]]]);
        await run(revoke, [tenant, f.identityId, [f.entitlements[admins]]]);
        runs[mode] = steps.map((x) => JSON.parse(JSON.stringify(x).replaceAll(existing, "<existing>")));
        if (mode === "sloppy") {
          expect(sim.requests.filter((q) => q.status === 429).length).toBeGreaterThan(0);
          expect(sim.requests.filter((q) => q.method === "POST" && q.status === 409).length).toBeGreaterThan(0);
        }
      } finally {
        await sim.stop();
      }
    }
    const held = (staff: string[], admins: string[], active: boolean) => ({
      status: "completed",
      account: [{ native_id: "<existing>", link_state: active ? "linked" : "disabled" }],
      service: { users: [`Grace.Hopper ${active ? "active" : "inactive"}`], groups: { staff, admins } },
    });
    expect(runs.strict).toEqual([
      held(["Grace.Hopper"], ["Grace.Hopper"], true),
      held(["Grace.Hopper"], ["Grace.Hopper"], true),
      held([], ["Grace.Hopper"], true),
      held([], [], false),
    ]);
    expect(runs.sloppy).toEqual(runs.strict);
  });
});
