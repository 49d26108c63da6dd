/**
 * An access grant and revoke end to end against a database (the local PostgreSQL at 127.0.0.1:5432,
 * roles mode): INSERT → job → worker → SqlConnector (connector type "sql", registered by the access
 * family) → a LOGIN role for the person and GRANTs of the role's entitlements (database roles) →
 * accounts recorded. Throw-away roles carry a random prefix and are dropped afterwards.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createAccessFixture } from "../../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, finalProvision, type Account } from "../../helpers/fixtures.js";

const LOCAL = "postgres://postgres@127.0.0.1:5432/postgres";
const PW_ENV = "PROVISIO_TEST_SQL_PASSWORD";
const prefix = `prv_${randomUUID().slice(0, 6)}`;
let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
let admin: pg.Client;
beforeAll(async () => {
  admin = new pg.Client({ connectionString: LOCAL, connectionTimeoutMillis: 3000 });
  await admin.connect().catch((err: Error) => {
    throw new Error(`the local PostgreSQL at 127.0.0.1:5432 must answer for this test (trust auth, user postgres): ${err.message}`);
  });
  await admin.query(`CREATE ROLE ${prefix}_reader NOLOGIN; CREATE ROLE ${prefix}_writer NOLOGIN`);
  process.env[PW_ENV] = "unused-under-trust";
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  if (admin) {
    const roles = await admin.query<{ r: string }>("SELECT rolname AS r FROM pg_roles WHERE rolname LIKE $1", [`${prefix}%`]);
    for (const { r } of roles.rows) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(r)}`);
    await admin.end();
  }
});

const memberships = async (user: string) =>
  (
    await admin.query<{ r: string }>(
      "SELECT g.rolname AS r FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1",
      [user],
    )
  ).rows.map((x) => x.r);

describe("access provisioning over SQL (PostgreSQL roles) through the worker", () => {
  it("creates the login, grants the roles once, revokes and deactivates", async () => {
    const f = await createAccessFixture(t.pool, acc.tenantId, {
      connectorType: "sql",
      configuration: { dialect: "postgresql", host: "127.0.0.1", port: 5432, database: "postgres", user: "postgres", password_env: PW_ENV, mode: "roles" },
      nativeKeys: [`${prefix}_reader`, `${prefix}_writer`],
      username: `${prefix}_Mary.Jackson`,
    });
    const user = `${prefix}_mary.jackson`;
    const grant = async () =>
      (
        await t.pool.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
          acc.tenantId,
          f.identityId,
        ])
      ).rows[0]!.id;
    const p = await finalProvision(t.pool, await grant());
    expect(p.status).toBe("completed");
    expect(await memberships(user)).toEqual([`${prefix}_reader`, `${prefix}_writer`]);
    expect((await admin.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [user])).rows[0].rolcanlogin).toBe(true);

    const again = await finalProvision(t.pool, await grant());
    expect(again.result_data.applications[0].operations.every((o: { outcome: string }) => o.outcome === "already")).toBe(true);

    const r = await t.pool.query<{ id: string }>(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true) RETURNING id",
      [acc.tenantId, f.identityId, Object.values(f.entitlements)],
    );
    expect((await finalProvision(t.pool, r.rows[0]!.id)).status).toBe("completed");
    expect(await memberships(user)).toEqual([]);
    expect((await admin.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [user])).rows[0].rolcanlogin).toBe(false);
    expect((await t.pool.query("SELECT link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0].link_state).toBe("disabled");
  });
});
