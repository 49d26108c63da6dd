/**
 * provision_access_grant and provision_access_revoke validation (seed 002): unknown or foreign identity,
 * application or entitlement, a revoke of what the identity does not hold, a grant for an inactive
 * identity, an application whose configuration cannot work, a second operation in flight: each rejected
 * with its documented code (docs/errors.md PV201-PV207) and nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccessFixture } from "../../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, type Account } from "../../helpers/fixtures.js";
import { expectRejected } from "../../helpers/reject.js";

let t: TestDatabase;
let a: Account;
let b: Account;
beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool);
  b = await createAccount(t.pool);
});
afterAll(async () => {
  await t?.close();
});

const GRANT =
  "INSERT INTO provision_access_grant (tenant_customer_id, identity_id, application_id, dry_run) VALUES ($1, $2, $3, coalesce($4, false)) RETURNING *";
const REVOKE =
  "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, coalesce($4, false)) RETURNING *";

describe("provision_access_grant", () => {
  it("is accepted for an active identity: username derived, job created, shown in v_provision by username", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId, { username: "Ada.Lovelace" });
    const r = (await t.pool.query(GRANT, [a.tenantId, f.identityId, null, true])).rows[0];
    expect(r).toMatchObject({ username: "Ada.Lovelace", dry_run: true, accreditation_id: null });
    const v = (await t.pool.query("SELECT provision_type, object_name, status FROM v_provision WHERE id = $1", [r.id])).rows[0];
    expect(v).toEqual({ provision_type: "access_grant", object_name: "Ada.Lovelace", status: "pending" });
  });

  it("PV201: an unknown identity, another tenant's identity (answered alike)", async () => {
    await expectRejected(t.pool, GRANT, [a.tenantId, "00000000-0000-4000-8000-000000000000", null, null], { code: "PV201", column: "identity_id" });
    const other = await createAccessFixture(t.pool, b.tenantId);
    await expectRejected(t.pool, GRANT, [a.tenantId, other.identityId, null, null], { code: "PV201", column: "identity_id" });
  });

  it("PV202: another tenant's application", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    const other = await createAccessFixture(t.pool, b.tenantId);
    await expectRejected(t.pool, GRANT, [a.tenantId, f.identityId, other.applicationId, null], { code: "PV202", column: "application_id" });
  });

  it("PV205: an inactive identity", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId, { active: false });
    await expectRejected(t.pool, GRANT, [a.tenantId, f.identityId, null, null], { code: "PV205", column: "identity_id" });
  });

  it("PV206: an application whose connector configuration lacks what its type needs, naming the application and the rule", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId, {
      connectorType: "ldap",
      configuration: { url: "http://not-ldap", bindDN: "cn=a", usersDN: "ou=p", password_env: "X" },
    });
    await expectRejected(t.pool, GRANT, [a.tenantId, f.identityId, null, null], {
      code: "PV206",
      message: /application "app-.*" cannot be provisioned: "url" must be an ldap:\/\/ or ldaps:\/\/ URL/,
    });
    const g = await createAccessFixture(t.pool, a.tenantId, {
      connectorType: "scim",
      configuration: { baseUrl: "https://scim.example", token_env: "A", token_file: "/b" },
    });
    await expectRejected(t.pool, GRANT, [a.tenantId, g.identityId, null, null], { code: "PV206", message: /exactly one of token_env or token_file/ });
    const h = await createAccessFixture(t.pool, a.tenantId);
    await t.pool.query("DELETE FROM mapping_config WHERE application_id = $1", [h.applicationId]);
    await expectRejected(t.pool, GRANT, [a.tenantId, h.identityId, null, null], { code: "PV206", message: /no mapping_config/ });
  });

  it("PV207: a second grant or revoke of the same identity while one is in flight", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    await t.pool.query(GRANT, [a.tenantId, f.identityId, null, null]);
    await expectRejected(t.pool, GRANT, [a.tenantId, f.identityId, null, null], { code: "PV207", column: "identity_id" });
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, Object.values(f.entitlements), null], { code: "PV207", column: "identity_id" });
  });

  it("refuses an inline secret in connector_config (CHECK)", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    await expect(
      t.pool.query('UPDATE connector_config SET configuration = configuration || \'{"password": "x"}\' WHERE application_id = $1', [f.applicationId]),
    ).rejects.toMatchObject({ code: "23514" });
  });
});

describe("provision_access_revoke", () => {
  it("is accepted for entitlements the identity holds; ids sorted and de-duplicated", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    const ids = Object.values(f.entitlements);
    const r = (await t.pool.query(REVOKE, [a.tenantId, f.identityId, [ids[1], ids[0], ids[1]], true])).rows[0];
    expect(r.entitlement_ids).toEqual([...ids].sort());
    expect(r.deactivate).toBe(true);
  });

  it("PV203: empty, NULL element, unknown or another tenant's entitlement", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    const other = await createAccessFixture(t.pool, b.tenantId);
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, [], null], { code: "PV203", column: "entitlement_ids" });
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, [Object.values(f.entitlements)[0], null], null], { code: "PV203" });
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, ["00000000-0000-4000-8000-000000000000"], null], { code: "PV203" });
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, Object.values(other.entitlements), null], { code: "PV203" });
  });

  it("PV204: an entitlement the identity's roles do not give", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    const g = await createAccessFixture(t.pool, a.tenantId);
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, Object.values(g.entitlements), null], { code: "PV204", column: "entitlement_ids" });
  });

  it("accepts a revoke after the role was removed when the identity has an account in the application", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    await t.pool.query("DELETE FROM identity_role WHERE identity_id = $1", [f.identityId]);
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, Object.values(f.entitlements), null], { code: "PV204" });
    await t.pool.query("INSERT INTO account (tenant_customer_id, identity_id, application_id, user_id_in_app, native_id) VALUES ($1, $2, $3, $4, 'n-1')", [
      a.tenantId,
      f.identityId,
      f.applicationId,
      f.username,
    ]);
    const r = (await t.pool.query(REVOKE, [a.tenantId, f.identityId, Object.values(f.entitlements), null])).rows[0];
    expect(r.entitlement_ids).toHaveLength(2);
  });

  it("23502: no entitlement_ids", async () => {
    const f = await createAccessFixture(t.pool, a.tenantId);
    await expectRejected(t.pool, REVOKE, [a.tenantId, f.identityId, null, null], { code: "23502" });
  });
});
