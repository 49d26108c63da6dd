/**
 * The access family against MariaDB (127.0.0.1:3306, root without a password, as this machine has it)
 * through the worker: a grant creates the account and its role grants, again is all "already", a
 * discovery pass sees it (no drift), a role granted by hand shows as excess, a revoke with deactivate
 * removes exactly the listed roles and locks the account. The connector logs in as an account of its
 * own with a password (by environment variable) and only the privileges it needs.
 */
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createAccessFixture, type AccessFixture } from "../../helpers/access.js";
import { createTestDatabase, loginAs, type TestDatabase } from "../../helpers/db.js";
import { createAccount, finalProvision, waitFor, type Account } from "../../helpers/fixtures.js";

const suffix = randomBytes(4).toString("hex");
const P = `pvf${suffix}_`;
const DB = `provisio_flow_${suffix}`;
const ADMIN = `${P}adm`;
const PW_ENV = "PROVISIO_TEST_MARIADB_FLOW_PW";
let root: mysql.Connection;
let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
let f: AccessFixture;

beforeAll(async () => {
  process.env[PW_ENV] = `pw-${randomBytes(8).toString("hex")}`;
  root = await mysql.createConnection({ host: "127.0.0.1", port: 3306, user: "root", connectTimeout: 5000 }).catch((err: Error) => {
    throw new Error(`this test needs the local MariaDB at 127.0.0.1:3306 (root, no password): ${err.message}`);
  });
  await root.query(`CREATE DATABASE ${mysql.escapeId(DB)}`);
  await root.query(`CREATE USER ${mysql.escape(ADMIN)}@'%' IDENTIFIED BY ${mysql.escape(process.env[PW_ENV])}`);
  for (const grant of [`CREATE USER ON *.*`, `SELECT ON mysql.global_priv`, `SELECT ON mysql.roles_mapping`, `ALL ON ${mysql.escapeId(DB)}.*`]) {
    await root.query(`GRANT ${grant} TO ${mysql.escape(ADMIN)}@'%'`);
  }
  for (const role of ["reader", "writer", "auditor"]) {
    await root.query(`CREATE ROLE ${mysql.escapeId(P + role, true)}`);
    await root.query(`GRANT ${mysql.escapeId(P + role, true)} TO ${mysql.escape(ADMIN)}@'%' WITH ADMIN OPTION`);
  }
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  f = await createAccessFixture(t.pool, acc.tenantId, {
    configuration: { dialect: "mariadb", host: "127.0.0.1", port: 3306, database: DB, user: ADMIN, password_env: PW_ENV, mode: "roles" },
    nativeKeys: [`${P}reader`, `${P}writer`],
    username: `${P}Grace`,
  });
  await t.pool.query("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'auditor', $3)", [
    acc.tenantId,
    f.applicationId,
    `${P}auditor`,
  ]);
  worker = await startWorker({ connectionString: await loginAs(t, "provisio_worker"), concurrency: 2, pollInterval: 100 });
});

afterAll(async () => {
  await worker?.stop();
  await t?.close();
  if (!root) return;
  const [rows] = await root.query<mysql.RowDataPacket[]>("SELECT User, Host FROM mysql.global_priv WHERE User LIKE CONCAT(?, '%')", [P]);
  for (const r of rows) {
    const user = String(r.User);
    await root
      .query(r.Host === "" ? `DROP ROLE ${mysql.escapeId(user, true)}` : `DROP USER ${mysql.escape(user)}@${mysql.escape(String(r.Host))}`)
      .catch(() => undefined);
  }
  await root.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(DB)}`);
  await root.end();
});

const user = () => `${P}grace`;
async function roles(): Promise<string[]> {
  const [rows] = await root.execute<mysql.RowDataPacket[]>("SELECT Role FROM mysql.roles_mapping WHERE User = ? AND Host = '%' ORDER BY Role", [user()]);
  return rows.map((r) => String(r.Role));
}
const insert = async (sql: string, params: unknown[]) => (await t.pool.query<{ id: string }>(sql, params)).rows[0]!.id;
async function discover(): Promise<string[]> {
  const id = (await t.pool.query<{ id: string }>("SELECT access_discovery_request($1) AS id", [f.applicationId])).rows[0]!.id;
  const run = await waitFor(
    "the pass",
    async () => (await t.pool.query("SELECT status, error FROM access_discovery_run WHERE id = $1 AND status IN ('complete', 'failed')", [id])).rows[0],
  );
  expect(run).toEqual({ status: "complete", error: null });
  const d = await t.pool.query<{ kind: string; user_id_in_app: string; native_key: string | null }>(
    "SELECT kind, user_id_in_app, native_key FROM v_access_drift WHERE application_id = $1 AND user_id_in_app LIKE $2",
    [f.applicationId, `${P}%`],
  );
  return d.rows.map((r) => `${r.kind} ${r.user_id_in_app} ${r.native_key ?? "-"}`).sort();
}

describe("access provisioning over SQL (MariaDB roles) through the worker", () => {
  it("grants, is idempotent, sees drift made by hand, revokes exactly the listed roles, and locks the account left with none", async () => {
    const grant = () =>
      insert("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [acc.tenantId, f.identityId]);
    expect((await finalProvision(t.pool, await grant())).status).toBe("completed");
    expect(await roles()).toEqual([`${P}reader`, `${P}writer`]);
    const again = await finalProvision(t.pool, await grant());
    expect(again.result_data.applications[0].operations.every((o: { outcome: string }) => o.outcome === "already")).toBe(true);
    expect(await discover()).toEqual([]);

    await root.query(`GRANT ${mysql.escapeId(`${P}auditor`, true)} TO ${mysql.escape(user())}@'%'`);
    expect(await discover()).toEqual([`excess ${user()} ${P}auditor`]);

    const revoke = await insert(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true) RETURNING id",
      [acc.tenantId, f.identityId, Object.values(f.entitlements)],
    );
    expect((await finalProvision(t.pool, revoke)).status).toBe("completed");
    // exactly the listed roles: the one granted by hand stays (it was not listed); the account is not emptied, so it stays unlocked
    expect(await roles()).toEqual([`${P}auditor`]);
    const [locked] = await root.execute<mysql.RowDataPacket[]>(
      "SELECT JSON_VALUE(Priv, '$.account_locked') AS l FROM mysql.global_priv WHERE User = ? AND Host = '%'",
      [user()],
    );
    expect(["null", "0", "false"]).toContain(String(locked[0]!.l));
    // revoking the last one with deactivate locks the account
    const auditor = (await t.pool.query<{ id: string }>("SELECT id FROM entitlement WHERE native_key = $1", [`${P}auditor`])).rows[0]!.id;
    const last = await insert(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids, deactivate) VALUES ($1, $2, $3, true) RETURNING id",
      [acc.tenantId, f.identityId, [auditor]],
    );
    expect((await finalProvision(t.pool, last)).status).toBe("completed");
    expect(await roles()).toEqual([]);
    const [after] = await root.execute<mysql.RowDataPacket[]>(
      "SELECT JSON_VALUE(Priv, '$.account_locked') AS l FROM mysql.global_priv WHERE User = ? AND Host = '%'",
      [user()],
    );
    expect(["1", "true"]).toContain(String(after[0]!.l));
    expect((await t.pool.query("SELECT link_state FROM account WHERE identity_id = $1", [f.identityId])).rows[0].link_state).toBe("disabled");
  });
});
