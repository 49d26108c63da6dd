/**
 * An access grant and revoke end to end against OpenLDAP (a throw-away slapd, test/helpers/slapd.ts):
 * INSERT → job → worker → LdapConnector (connector type "ldap", registered by the access family) →
 * the account entry and groupOfNames membership → accounts recorded (native id = entryUUID). A second
 * grant is all "already"; revoking the last member keeps the group valid (the placeholder member).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createAccessFixture } from "../../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, finalProvision, type Account } from "../../helpers/fixtures.js";
import { startSlapd, type Slapd } from "../../helpers/slapd.js";

const PW_ENV = "PROVISIO_TEST_LDAP_PASSWORD";
let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
let ldap: Slapd;
beforeAll(async () => {
  ldap = await startSlapd();
  process.env[PW_ENV] = ldap.adminPassword;
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await ldap?.stop();
});

async function members(groupDN: string): Promise<string[]> {
  const c = await ldap.admin();
  try {
    const r = await c.search(groupDN, { scope: "base", attributes: ["member"] });
    const m = r.searchEntries[0]?.member;
    return (Array.isArray(m) ? m : [m]).map(String).map((x) => x.toLowerCase());
  } finally {
    await c.unbind();
  }
}

describe("access provisioning over LDAP through the worker", () => {
  it("creates the entry, adds it to the role's groups, is idempotent, and revokes the last member cleanly", async () => {
    const [staff, developers] = ldap.groups;
    const f = await createAccessFixture(t.pool, acc.tenantId, {
      connectorType: "ldap",
      configuration: { url: ldap.url, bindDN: ldap.adminDN, password_env: PW_ENV, usersDN: ldap.peopleDN, groupsDN: ldap.groupsDN },
      nativeKeys: [staff!, developers!],
      username: "Dorothy.Vaughan",
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
    const dn = `uid=dorothy.vaughan,${ldap.peopleDN}`.toLowerCase();
    expect(await members(staff!)).toContain(dn);
    expect(await members(developers!)).toContain(dn);
    const account = (await t.pool.query("SELECT user_id_in_app, native_id FROM account WHERE identity_id = $1", [f.identityId])).rows[0];
    expect(account.user_id_in_app).toBe("dorothy.vaughan");
    expect(account.native_id).toMatch(/^[0-9a-f-]{36}$/);

    const again = await finalProvision(t.pool, await grant());
    expect(again.result_data.applications[0].operations.every((o: { outcome: string }) => o.outcome === "already")).toBe(true);

    const r = await t.pool.query<{ id: string }>(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids) VALUES ($1, $2, $3) RETURNING id",
      [acc.tenantId, f.identityId, Object.values(f.entitlements)],
    );
    const q = await finalProvision(t.pool, r.rows[0]!.id);
    expect(q.status).toBe("completed");
    expect(await members(staff!)).not.toContain(dn);
    expect((await members(developers!)).length).toBeGreaterThan(0);
  });
});
