/**
 * The sql connector against the local MariaDB at 127.0.0.1:3306 (root, no password): mode roles
 * ('user'@'%' accounts and MariaDB roles, read back from mysql.global_priv / mysql.roles_mapping) and a
 * short mode tables run. The connector logs in as an account of its own with a password and only the
 * privileges the module doc of src/connectors/sql/roles.ts lists (CREATE USER, SELECT on
 * mysql.global_priv and mysql.roles_mapping, each role WITH ADMIN OPTION; ALL on the test database for
 * mode tables). Everything is created in a throw-away database provisio_sqladapter_<random> and with a
 * random name prefix, and dropped afterwards. When that server does not answer the tests fail.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigurationError, PermanentError, TransientError } from "../../../src/errors.js";
import { logger } from "../../../src/logger.js";
import type { AccountDesiredState, AccountResult, DiscoveredAccount } from "../../../src/connectors/capabilities/account.js";
import { SqlConnector } from "../../../src/connectors/sql/connector.js";

const HOST = "127.0.0.1";
const PORT = 3306;
const suffix = randomBytes(4).toString("hex");
const DB = `provisio_sqladapter_${suffix}`;
/** every user and role this file creates starts with it */
const P = `pvt${suffix}_`;
const ADMIN = `${P}adm`;
const ADMIN_PASSWORD = `pw-${randomBytes(8).toString("hex")}`;
const ENV = { PROVISIO_SQLTEST_MARIADB_PW: ADMIN_PASSWORD, PROVISIO_SQLTEST_WRONG_PW: "not-the-password" };
const ctx = { correlationId: "sqltest", attempt: 1, log: logger() };

let root: mysql.Connection;
const connector = new SqlConnector({ env: ENV });
const hostileRoles = [`${P}r\`ole'; DROP USER root; --`, `${P}Admins Team`, `${P}a.b`, `${P}back\\slash "q"`];

function config(extra: Record<string, unknown> = {}) {
  return { dialect: "mariadb", host: HOST, port: PORT, database: DB, user: ADMIN, password_env: "PROVISIO_SQLTEST_MARIADB_PW", mode: "roles", ...extra };
}

function want(user: string, o: Partial<AccountDesiredState> = {}): AccountDesiredState {
  return {
    userIdInApp: user,
    attributes: { userName: user },
    ensureAccount: false,
    entitlementsToGrant: [],
    entitlementsToRevoke: [],
    deactivateWhenEmpty: false,
    ...o,
  };
}

/** Every page of a discovery pass. */
async function discover(cfg: unknown, entitlementKeys: string[], pageSize: number): Promise<DiscoveredAccount[][]> {
  const pages: DiscoveredAccount[][] = [];
  for await (const page of connector.discoverAccounts(cfg, { entitlementKeys, pageSize }, ctx)) pages.push(page);
  return pages;
}

/** Code point order (utf8mb3_bin, utf8mb4_bin) for ASCII names. */
const byName = (a: DiscoveredAccount, b: DiscoveredAccount) => (a.userIdInApp < b.userIdInApp ? -1 : a.userIdInApp > b.userIdInApp ? 1 : 0);

const outcomes = (r: AccountResult) => r.operations.map((o) => `${o.op} ${o.target} ${o.outcome}`);
const sortStrings = (a: string[]) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

/** 'user'@'%': "missing", "locked" or "open". */
async function accountState(user: string, host = "%"): Promise<string> {
  const [rows] = await root.execute<mysql.RowDataPacket[]>(
    "SELECT JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User = ? AND Host = ?",
    [user, host],
  );
  if (rows.length === 0) return "missing";
  return rows[0]!.locked === "1" || rows[0]!.locked === 1 || rows[0]!.locked === "true" ? "locked" : "open";
}

/** The roles granted to 'user'@'%', sorted. */
async function roles(user: string, host = "%"): Promise<string[]> {
  const [rows] = await root.execute<mysql.RowDataPacket[]>("SELECT Role FROM mysql.roles_mapping WHERE User = ? AND Host = ?", [user, host]);
  return sortStrings(rows.map((r) => String(r.Role)));
}

/** Every account and role mapping of this file: what a dry run must leave alone. */
async function catalog(): Promise<unknown> {
  const [users] = await root.query("SELECT User, Host, Priv FROM mysql.global_priv WHERE User LIKE CONCAT(?, '%') ORDER BY User, Host", [P]);
  const [maps] = await root.query("SELECT User, Host, Role FROM mysql.roles_mapping WHERE User LIKE CONCAT(?, '%') ORDER BY User, Host, Role", [P]);
  return { users, maps };
}

/** Create roles (root gets them WITH ADMIN OPTION) and give them to the connector's account WITH ADMIN OPTION. */
async function createRoles(...names: string[]): Promise<void> {
  for (const n of names) {
    await root.query(`CREATE ROLE ${mysql.escapeId(n, true)}`);
    await root.query(`GRANT ${mysql.escapeId(n, true)} TO ${mysql.escape(ADMIN)}@'%' WITH ADMIN OPTION`);
  }
}

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, HOST, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function expectError<T extends Error>(p: Promise<unknown>, cls: new (...args: never[]) => T): Promise<T> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected the call to throw").toBeInstanceOf(cls);
  return err as T;
}

beforeAll(async () => {
  try {
    root = await mysql.createConnection({ host: HOST, port: PORT, user: "root", connectTimeout: 5000 });
  } catch (err) {
    throw new Error(
      `the sql connector tests need the local MariaDB at ${HOST}:${PORT} (user root, no password), which does not answer: ${(err as Error).message}`,
    );
  }
  await root.query(`CREATE DATABASE ${mysql.escapeId(DB)}`);
  await root.query(`CREATE USER ${mysql.escape(ADMIN)}@'%' IDENTIFIED BY ${mysql.escape(ADMIN_PASSWORD)}`);
  await root.query(`GRANT CREATE USER ON *.* TO ${mysql.escape(ADMIN)}@'%'`);
  await root.query(`GRANT SELECT ON mysql.global_priv TO ${mysql.escape(ADMIN)}@'%'`);
  await root.query(`GRANT SELECT ON mysql.roles_mapping TO ${mysql.escape(ADMIN)}@'%'`);
  await root.query(`GRANT ALL ON ${mysql.escapeId(DB)}.* TO ${mysql.escape(ADMIN)}@'%'`);
});

afterAll(async () => {
  await connector.close();
  if (!root) return;
  const [rows] = await root.query<mysql.RowDataPacket[]>("SELECT User, Host FROM mysql.global_priv WHERE User LIKE CONCAT(?, '%')", [P]);
  for (const r of rows) {
    const user = String(r.User);
    const stmt = r.Host === "" ? `DROP ROLE ${mysql.escapeId(user, true)}` : `DROP USER ${mysql.escape(user)}@${mysql.escape(String(r.Host))}`;
    await root.query(stmt).catch(() => undefined);
  }
  await root.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(DB)}`);
  await root.end();
});

describe("sql connector, MariaDB, mode roles", () => {
  it("creates the account and grants two roles, then everything is already; revokes, then already", async () => {
    const user = `${P}alice`;
    const [r1, r2] = [`${P}reader`, `${P}writer`];
    await createRoles(r1, r2);

    const first = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), ctx);
    expect(outcomes(first)).toEqual([`create_account ${user} applied`, `grant ${r1} applied`, `grant ${r2} applied`]);
    expect(first).toMatchObject({ success: true, nativeId: user });
    expect(await accountState(user)).toBe("open");
    expect(await roles(user)).toEqual([r1, r2]);

    const again = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), ctx);
    expect(outcomes(again)).toEqual([`create_account ${user} already`, `grant ${r1} already`, `grant ${r2} already`]);

    const revoke = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1] }), ctx);
    expect(outcomes(revoke)).toEqual([`revoke ${r1} applied`]);
    expect(await roles(user)).toEqual([r2]);
    const revokeAgain = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1] }), ctx);
    expect(outcomes(revokeAgain)).toEqual([`revoke ${r1} already`]);
    expect(revokeAgain.success).toBe(true);
  });

  it("the account it creates cannot log in by password", async () => {
    const user = `${P}nopass`;
    await connector.applyDesiredState(config(), want(user, { ensureAccount: true }), ctx);
    for (const password of [undefined, "", "invalid"]) {
      const err = await mysql.createConnection({ host: HOST, port: PORT, user, password }).then(
        async (c) => {
          await c.end();
          return undefined;
        },
        (e: { errno?: number }) => e,
      );
      expect(err?.errno, `login with password ${JSON.stringify(password)}`).toBe(1045);
    }
  });

  it("deactivateWhenEmpty locks the account once nothing is held; ensureAccount unlocks it", async () => {
    const user = `${P}bob`;
    const [r1, r2] = [`${P}bob_a`, `${P}bob_b`];
    await createRoles(r1, r2);
    await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), ctx);

    const partial = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(partial)).toEqual([`revoke ${r1} applied`]);
    expect(await accountState(user)).toBe("open");

    const last = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r2], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(last)).toEqual([`revoke ${r2} applied`, `disable_account ${user} applied`]);
    expect(await accountState(user)).toBe("locked");
    const lastAgain = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r2], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(lastAgain)).toEqual([`revoke ${r2} already`, `disable_account ${user} already`]);

    const back = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1] }), ctx);
    expect(outcomes(back)).toEqual([`enable_account ${user} applied`, `grant ${r1} applied`]);
    expect(await accountState(user)).toBe("open");
    expect(await roles(user)).toEqual([r1]);
  });

  it("a dry run plans (skipped / already) and changes nothing in mysql.global_priv or mysql.roles_mapping", async () => {
    const user = `${P}carol`;
    const newcomer = `${P}dave`;
    const [r1, r2] = [`${P}carol_a`, `${P}carol_b`];
    await createRoles(r1, r2);
    await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1] }), ctx);
    const before = await catalog();

    const plan = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), { ...ctx, dryRun: true });
    expect(outcomes(plan)).toEqual([`create_account ${user} already`, `grant ${r1} already`, `grant ${r2} skipped`]);
    const planNew = await connector.applyDesiredState(config(), want(newcomer, { ensureAccount: true, entitlementsToGrant: [r1] }), { ...ctx, dryRun: true });
    expect(outcomes(planNew)).toEqual([`create_account ${newcomer} skipped`, `grant ${r1} skipped`]);
    const planRevoke = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1], deactivateWhenEmpty: true }), {
      ...ctx,
      dryRun: true,
    });
    expect(outcomes(planRevoke)).toEqual([`revoke ${r1} skipped`, `disable_account ${user} skipped`]);

    expect(await catalog()).toEqual(before);
    expect(await accountState(newcomer)).toBe("missing");
  });

  it("hostile user and role names round-trip exactly: quotes, backticks, backslashes, semicolons, spaces, dots, mixed case", async () => {
    await createRoles(...hostileRoles);
    const users = [`${P}O'Brien "Q" \\ ; DROP USER root; --`, `${P}Mixed Case`, `${P}mixed case`, `${P}x\`y.z`];
    for (const user of users) {
      const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: hostileRoles }), ctx);
      expect(r.success, JSON.stringify(r)).toBe(true);
      expect(await accountState(user)).toBe("open");
      expect(await roles(user)).toEqual(sortStrings(hostileRoles));
      const again = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: hostileRoles }), ctx);
      expect(again.operations.every((o) => o.outcome === "already")).toBe(true);
    }
    expect(await accountState("root", "localhost")).toBe("open");
    const revoke = await connector.applyDesiredState(config(), want(users[0]!, { entitlementsToRevoke: [hostileRoles[0]!] }), ctx);
    expect(outcomes(revoke)).toEqual([`revoke ${hostileRoles[0]} applied`]);
    expect(await roles(users[0]!)).toEqual(sortStrings(hostileRoles.slice(1)));
    expect(await roles(users[1]!)).toHaveLength(hostileRoles.length);
  });

  it("a role that does not exist fails that grant with its errno while the others apply", async () => {
    const user = `${P}erin`;
    const [r1, r2] = [`${P}erin_a`, `${P}erin_b`];
    const missing = `${P}no_such_role`;
    await createRoles(r1, r2);
    const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, missing, r2] }), ctx);
    expect(r.success).toBe(false);
    expect(outcomes(r)).toEqual([`create_account ${user} applied`, `grant ${r1} applied`, `grant ${missing} failed`, `grant ${r2} applied`]);
    expect(r.operations[2]).toMatchObject({ native_code: 1959 });
    expect(await roles(user)).toEqual([r1, r2]);
  });

  it("user_host: the account is 'user'@'<host>' (lower-cased, as MariaDB stores it)", async () => {
    const user = `${P}hosted`;
    const r1 = `${P}hosted_a`;
    await createRoles(r1);
    const r = await connector.applyDesiredState(
      config({ user_host: "App-Server.example" }),
      want(user, { ensureAccount: true, entitlementsToGrant: [r1] }),
      ctx,
    );
    expect(r.success).toBe(true);
    expect(await accountState(user, "app-server.example")).toBe("open");
    expect(await accountState(user)).toBe("missing");
    const again = await connector.applyDesiredState(
      config({ user_host: "app-server.EXAMPLE" }),
      want(user, { ensureAccount: true, entitlementsToGrant: [r1] }),
      ctx,
    );
    expect(again.operations.map((o) => o.outcome)).toEqual(["already", "already"]);
  });
});

describe("sql connector, MariaDB, errors", () => {
  it("a wrong password is a PermanentError (ER_ACCESS_DENIED_ERROR) marked configSuspect, without the password in it", async () => {
    const err = await expectError(
      connector.applyDesiredState(config({ password_env: "PROVISIO_SQLTEST_WRONG_PW" }), want(`${P}x`, { ensureAccount: true }), ctx),
      PermanentError,
    );
    expect(err.code).toBe("ER_ACCESS_DENIED_ERROR");
    expect(err.configSuspect).toBe(true);
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain(ENV.PROVISIO_SQLTEST_WRONG_PW);
    expect(err.message).not.toContain(ADMIN_PASSWORD);
  });

  it("connection refused (a closed port) is a TransientError marked configSuspect", async () => {
    const port = await closedPort();
    const err = await expectError(connector.applyDesiredState(config({ port }), want(`${P}x`, { ensureAccount: true }), ctx), TransientError);
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.configSuspect).toBe(true);
  });

  it("an unknown database is a PermanentError marked configSuspect", async () => {
    const err = await expectError(connector.applyDesiredState(config({ database: `${DB}_missing` }), want(`${P}x`), ctx), PermanentError);
    expect(["ER_DBACCESS_DENIED_ERROR", "ER_BAD_DB_ERROR"]).toContain(err.code);
    expect(err.configSuspect).toBe(true);
  });
});

describe("sql connector, MariaDB, mode tables", () => {
  const statements = {
    find_account: "SELECT id, active FROM users WHERE login = :userIdInApp # ':x' in a comment",
    create_account: "INSERT INTO users (login, email) VALUES (:userIdInApp, :email)",
    enable_account: "UPDATE users SET active = 1 WHERE id = :accountId",
    disable_account: "UPDATE users SET active = 0 WHERE id = :accountId",
    list_entitlements: "SELECT role AS entitlement FROM user_roles WHERE user_id = :accountId",
    grant: "INSERT INTO user_roles (user_id, role) VALUES (:accountId, :entitlement)",
    revoke: "DELETE FROM user_roles WHERE user_id = :accountId AND role = :entitlement",
  };

  beforeAll(async () => {
    await root.query(
      `CREATE TABLE ${mysql.escapeId(DB)}.users (id INT AUTO_INCREMENT PRIMARY KEY, login VARCHAR(200) NOT NULL UNIQUE, email VARCHAR(200), active BOOLEAN NOT NULL DEFAULT 1)`,
    );
    await root.query(`CREATE TABLE ${mysql.escapeId(DB)}.user_roles (user_id INT NOT NULL, role VARCHAR(200) NOT NULL, PRIMARY KEY (user_id, role))`);
  });

  it("plans and applies through prepared statements; hostile values are stored as they are", async () => {
    const login = `o'brien\\"; DROP TABLE users; --`;
    const cfg = config({ mode: "tables", statements });
    const first = await connector.applyDesiredState(
      cfg,
      want(login, {
        attributes: { userName: login, email: "a'b@example.org" },
        ensureAccount: true,
        entitlementsToGrant: ["viewer", "x'); DROP TABLE user_roles; --"],
      }),
      ctx,
    );
    expect(first.operations.map((o) => o.outcome)).toEqual(["applied", "applied", "applied"]);
    const again = await connector.applyDesiredState(cfg, want(login, { ensureAccount: true, entitlementsToGrant: ["viewer"] }), ctx);
    expect(again.operations.map((o) => o.outcome)).toEqual(["already", "already"]);
    const revoke = await connector.applyDesiredState(
      cfg,
      want(login, { entitlementsToRevoke: ["viewer", "x'); DROP TABLE user_roles; --"], deactivateWhenEmpty: true }),
      ctx,
    );
    expect(revoke.operations.map((o) => `${o.op} ${o.outcome}`)).toEqual(["revoke applied", "revoke applied", "disable_account applied"]);
    const [rows] = await root.query<mysql.RowDataPacket[]>(`SELECT login, email, active FROM ${mysql.escapeId(DB)}.users`);
    expect(rows.map((r) => ({ ...r }))).toEqual([{ login, email: "a'b@example.org", active: 0 }]);
    expect(revoke.nativeId).toBe(first.nativeId);
  });
});

describe("reserved accounts (MariaDB)", () => {
  it("refuses to manage the connector's own login or a built-in account (PV_SQL_RESERVED)", async () => {
    for (const user of [ADMIN, "root", "mariadb.sys"]) {
      await expect(connector.applyDesiredState(config(), want(user, { deactivateWhenEmpty: true }), ctx)).rejects.toMatchObject({ code: "PV_SQL_RESERVED" });
    }
  });

  it("refuses to grant or revoke the connector's own login or a built-in account as an entitlement (PV_SQL_RESERVED) while the others are applied", async () => {
    const user = `${P}res_acct`;
    const [ok, ok2] = [`${P}res_ok`, `${P}res_ok2`];
    await createRoles(ok, ok2);
    const reserved = ["root", "mariadb.sys", ADMIN, "PUBLIC"];
    const show = (r: AccountResult) => r.operations.map((o) => `${o.op} ${o.target} ${o.outcome}${o.native_code !== undefined ? ` ${o.native_code}` : ""}`);

    const before = await catalog();
    const dry = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [...reserved, ok] }), {
      ...ctx,
      dryRun: true,
    });
    expect(show(dry)).toEqual([`create_account ${user} skipped`, ...reserved.map((k) => `grant ${k} failed PV_SQL_RESERVED`), `grant ${ok} skipped`]);
    expect(await catalog()).toEqual(before);

    const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [...reserved, ok] }), ctx);
    expect(show(r)).toEqual([`create_account ${user} applied`, ...reserved.map((k) => `grant ${k} failed PV_SQL_RESERVED`), `grant ${ok} applied`]);
    expect(r.success).toBe(false);
    const byTarget = new Map(r.operations.map((o) => [o.target, o.message ?? ""]));
    expect(byTarget.get("root")).toMatch(
      /"root" is a reserved name: a built-in account or role \(root, mariadb\.sys, mysql, PUBLIC\); provisio does not grant it/,
    );
    expect(byTarget.get(ADMIN)).toMatch(new RegExp(`"${ADMIN}" is a reserved name: the connector's own login; provisio does not grant it`));
    expect(await roles(user)).toEqual([ok]);

    await root.query(`GRANT ${mysql.escapeId(ok2, true)} TO ${mysql.escape(user)}@'%'`);
    const revoke = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: ["root", ok, ADMIN, "mariadb.sys"] }), ctx);
    expect(show(revoke)).toEqual([
      "revoke root failed PV_SQL_RESERVED",
      `revoke ${ok} applied`,
      `revoke ${ADMIN} failed PV_SQL_RESERVED`,
      "revoke mariadb.sys failed PV_SQL_RESERVED",
    ]);
    expect(revoke.operations[0]!.message).toMatch(/does not revoke it/);
    expect(await roles(user)).toEqual([ok2]);
  });
});

describe("sql connector, MariaDB, discoverAccounts", () => {
  /** every user and role of this block starts with it (no other test of this file uses it) */
  const D = `${P}d_`;

  it("mode roles: pages of 3 in name order of the user_host accounts; ACCOUNT LOCK as active false; role grants among the keys exactly; roles and reserved accounts left out", async () => {
    const [r1, r2, hostileRole, other] = [`${D}r1`, `${D}r2`, `${D}r\`ole'; DROP USER root; --`, `${D}other`];
    await createRoles(r1, r2, hostileRole, other);
    const hostileUser = `${D}O'Brien "Q" \\ ; DROP USER root; --`;
    const grants: Record<string, string[]> = {
      [`${D}acc1`]: [r1, r2, other],
      [`${D}acc2`]: [hostileRole],
      [hostileUser]: [r1],
      [`${D}Mixed Case`]: [],
      [`${D}mixed case`]: [r2],
      [`${D}x\`y.z`]: [r1],
      [`${D}disabled`]: [r2],
    };
    for (const [user, granted] of Object.entries(grants)) {
      const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: granted }), ctx);
      expect(r.success, JSON.stringify(r)).toBe(true);
    }
    const off = await connector.applyDesiredState(config(), want(`${D}disabled`, { entitlementsToRevoke: [r2], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(off)).toEqual([`revoke ${r2} applied`, `disable_account ${D}disabled applied`]);
    expect(await accountState(`${D}disabled`)).toBe("locked");
    // an account of another host: not one of this config's accounts
    await root.query(`CREATE USER ${mysql.escape(`${D}elsewhere`)}@'otherhost' ACCOUNT LOCK`);
    await root.query(`GRANT ${mysql.escapeId(r1, true)} TO ${mysql.escape(`${D}elsewhere`)}@'otherhost'`);
    const before = await catalog();

    // the request's order and spelling; a key no role has, and one differing only in case, are never held
    const keys = [r2, hostileRole, r1, `${D}R1`, `${D}no_such_role`];
    const pages = await discover(config(), keys, 3);

    // the server is shared: other accounts may sit between ours, so the pages are checked for their
    // shape, and this block's accounts for their exact contents
    const all = pages.flat();
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const page of pages.slice(0, -1)) expect(page).toHaveLength(3);
    expect(pages.at(-1)!.length).toBeGreaterThanOrEqual(1);
    expect(pages.at(-1)!.length).toBeLessThanOrEqual(3);
    const names = all.map((a) => a.userIdInApp);
    expect(new Set(names).size, "each account once").toBe(names.length);
    expect(
      [...all].sort(byName).map((a) => a.userIdInApp),
      "in name order",
    ).toEqual(names);
    const account = (userIdInApp: string, active: boolean, entitlements: string[]) => ({ userIdInApp, nativeId: userIdInApp, active, entitlements });
    expect(all.filter((a) => a.userIdInApp.startsWith(D))).toEqual(
      [
        account(`${D}acc1`, true, [r2, r1]),
        account(`${D}acc2`, true, [hostileRole]),
        account(hostileUser, true, [r1]),
        account(`${D}Mixed Case`, true, []),
        account(`${D}mixed case`, true, [r2]),
        account(`${D}x\`y.z`, true, [r1]),
        account(`${D}disabled`, false, []),
      ].sort(byName),
    );
    expect(pages.filter((page) => page.some((a) => a.userIdInApp.startsWith(D))).length).toBeGreaterThanOrEqual(3);
    // the connector's own login and the built-in accounts are never listed
    for (const reserved of [ADMIN, "root", "mariadb.sys", "mysql", "PUBLIC"]) expect(names).not.toContain(reserved);

    // user_host picks the accounts: another host, another listing
    const elsewhere = (await discover(config({ user_host: "OtherHost" }), keys, 3)).flat().filter((a) => a.userIdInApp.startsWith(D));
    expect(elsewhere).toEqual([account(`${D}elsewhere`, false, [r1])]);

    // read-only: nothing created, changed or dropped
    expect(await catalog()).toEqual(before);
    expect(await accountState("root", "localhost")).toBe("open");
  });

  describe("mode tables", () => {
    const statements = {
      find_account: "SELECT id, active FROM disc_users WHERE login = :userIdInApp",
      list_entitlements: "SELECT role AS entitlement FROM disc_user_roles WHERE user_id = :accountId",
      grant: "INSERT INTO disc_user_roles (user_id, role) VALUES (:accountId, :entitlement)",
      revoke: "DELETE FROM disc_user_roles WHERE user_id = :accountId AND role = :entitlement",
      list_accounts: "SELECT login AS user_id, id, active FROM disc_users WHERE login > :after ORDER BY login LIMIT :pageSize",
    };
    const tables = (extra: Record<string, unknown> = {}) => config({ mode: "tables", statements, ...extra });
    const hostile = `o'brien\\"; DROP TABLE disc_users; --`;
    const hostileRole = "x'); DROP TABLE disc_user_roles; --";
    /** login, active, roles */
    const users: [string, boolean, string[]][] = [
      ["alice", true, ["viewer", "editor"]],
      ["bob", false, []],
      ["carol", true, ["viewer", "unlisted"]],
      ["dave", true, [hostileRole]],
      ["erin", true, []],
      [hostile, true, ["editor"]],
      ["Frank", true, ["viewer"]],
    ];
    const ids = new Map<string, number>();
    const keys = ["editor", "viewer", hostileRole, "no-such-role"];
    const expected = (login: string): DiscoveredAccount => {
      const [, active, roles] = users.find(([l]) => l === login)!;
      return { userIdInApp: login, nativeId: String(ids.get(login)), active, entitlements: keys.filter((k) => roles.includes(k)) };
    };
    /** the logins in code point order (utf8mb4_bin) */
    const order = ["Frank", "alice", "bob", "carol", "dave", "erin", hostile];

    beforeAll(async () => {
      const db = mysql.escapeId(DB);
      await root.query(
        `CREATE TABLE ${db}.disc_users (id INT AUTO_INCREMENT PRIMARY KEY, login VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL UNIQUE, active BOOLEAN NOT NULL DEFAULT 1)`,
      );
      await root.query(`CREATE TABLE ${db}.disc_user_roles (user_id INT NOT NULL, role VARCHAR(200) NOT NULL, PRIMARY KEY (user_id, role))`);
      for (const [login, active, roles] of users) {
        const [r] = await root.execute<mysql.ResultSetHeader>(`INSERT INTO ${db}.disc_users (login, active) VALUES (?, ?)`, [login, active]);
        ids.set(login, r.insertId);
        for (const role of roles) await root.execute(`INSERT INTO ${db}.disc_user_roles (user_id, role) VALUES (?, ?)`, [r.insertId, role]);
      }
    });

    it("pages of 3 by user_id (keyset :after, :pageSize through a prepared statement), active as the row says, entitlements among the keys", async () => {
      const pages = await discover(tables(), keys, 3);
      expect(pages).toEqual([order.slice(0, 3).map(expected), order.slice(3, 6).map(expected), order.slice(6).map(expected)]);
      expect(pages[0]![2]).toEqual({ userIdInApp: "bob", nativeId: String(ids.get("bob")), active: false, entitlements: [] });
      expect(pages[1]![1]).toEqual({ userIdInApp: "dave", nativeId: String(ids.get("dave")), active: true, entitlements: [hostileRole] });
      expect(pages[2]).toEqual([{ userIdInApp: hostile, nativeId: String(ids.get(hostile)), active: true, entitlements: ["editor"] }]);
      const [count] = await root.query<mysql.RowDataPacket[]>(
        `SELECT (SELECT count(*) FROM ${mysql.escapeId(DB)}.disc_users) AS u, (SELECT count(*) FROM ${mysql.escapeId(DB)}.disc_user_roles) AS r`,
      );
      expect({ ...count[0] }).toEqual({ u: 7, r: 7 });
    });

    it("without list_accounts, discovery is a ConfigurationError (PV_CONFIG) naming it", async () => {
      const { list_accounts: _omit, ...without } = statements;
      const err = await expectError(discover(tables({ statements: without }), keys, 3), ConfigurationError);
      expect(err.code).toBe("PV_CONFIG");
      expect(err.message).toMatch(/list_accounts/);
    });
  });

  it("a wrong password is a PermanentError marked configSuspect, from the first iteration", async () => {
    const err = await expectError(discover(config({ password_env: "PROVISIO_SQLTEST_WRONG_PW" }), [], 3), PermanentError);
    expect(err.code).toBe("ER_ACCESS_DENIED_ERROR");
    expect(err.configSuspect).toBe(true);
  });
});
