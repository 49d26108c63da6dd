/**
 * The sql connector against the local PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres): mode
 * roles (LOGIN roles and role memberships, read back from pg_roles / pg_auth_members) and mode tables
 * (an application's own users / user_roles tables created here). Each run works in a throw-away database
 * provisio_sqladapter_<random> and prefixes every role it creates (roles are cluster-wide) with a random
 * prefix; both are dropped afterwards. When that server does not answer the tests fail (they do not skip).
 *
 * Wrong credentials: trust auth accepts any password, so 28P01 is produced by a stand-in server that
 * speaks PostgreSQL's wire protocol far enough to refuse the password as a real one does; the real server
 * gives 28000 (a login role that does not exist) and 3D000 (a database that does not exist).
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigurationError, PermanentError, TransientError } from "../../../src/errors.js";
import { logger } from "../../../src/logger.js";
import type { AccountDesiredState, AccountResult, DiscoveredAccount } from "../../../src/connectors/capabilities/account.js";
import { SqlConnector } from "../../../src/connectors/sql/connector.js";
import { parseSqlConfig } from "../../../src/connectors/sql/config.js";
import { SqlPools } from "../../../src/connectors/sql/pools.js";

const HOST = "127.0.0.1";
const PORT = 5432;
const suffix = randomBytes(4).toString("hex");
const DB = `provisio_sqladapter_${suffix}`;
/** every role this file creates starts with it */
const P = `pvt${suffix}_`;
const ENV = { PROVISIO_SQLTEST_PW: "any password: trust auth ignores it" };
const ctx = { correlationId: "sqltest", attempt: 1, log: logger() };

let admin: pg.Client;
const connector = new SqlConnector({ env: ENV });

function config(extra: Record<string, unknown> = {}) {
  return { dialect: "postgresql", host: HOST, port: PORT, database: DB, user: "postgres", password_env: "PROVISIO_SQLTEST_PW", mode: "roles", ...extra };
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

/** Byte order (PostgreSQL's "C" collation, type name) for ASCII names. */
const byName = (a: DiscoveredAccount, b: DiscoveredAccount) => (a.userIdInApp < b.userIdInApp ? -1 : a.userIdInApp > b.userIdInApp ? 1 : 0);

const outcomes = (r: AccountResult) => r.operations.map((o) => `${o.op} ${o.target} ${o.outcome}`);
const q = (name: string) => pg.escapeIdentifier(name);

/** LOGIN of role `name`: true / false, null when it does not exist. */
async function canLogin(name: string): Promise<boolean | null> {
  const r = await admin.query<{ rolcanlogin: boolean }>("SELECT rolcanlogin FROM pg_roles WHERE rolname::text = $1", [name]);
  return r.rows[0]?.rolcanlogin ?? null;
}

/** The roles `name` is a direct member of, sorted. */
async function memberships(name: string): Promise<string[]> {
  const r = await admin.query<{ role: string }>(
    `SELECT g.rolname::text AS role FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
      WHERE u.rolname::text = $1 ORDER BY g.rolname::text COLLATE "C"`,
    [name],
  );
  return r.rows.map((x) => x.role);
}

/** Every role of this file with its LOGIN flag and memberships: the catalog a dry run must leave alone. */
async function catalog(): Promise<unknown> {
  const r = await admin.query(
    `SELECT r.rolname::text AS name, r.rolcanlogin, r.rolsuper, r.rolcreaterole,
            ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY g.rolname::text COLLATE "C") AS member_of
       FROM pg_roles r WHERE starts_with(r.rolname::text, $1) ORDER BY r.rolname::text COLLATE "C"`,
    [P],
  );
  return r.rows;
}

async function createRoles(...names: string[]): Promise<void> {
  for (const n of names) await admin.query(`CREATE ROLE ${q(n)} NOLOGIN`);
}

/** A TCP port nothing listens on (it was free a moment ago). */
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

/** A server on a free port that runs `onSocket` for each connection; close() also cuts open connections. */
async function standIn(onSocket: (s: Socket) => void): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
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
  const server = new pg.Client({ host: HOST, port: PORT, user: "postgres", database: "postgres", connectionTimeoutMillis: 5000 });
  try {
    await server.connect();
  } catch (err) {
    throw new Error(
      `the sql connector tests need the local PostgreSQL at ${HOST}:${PORT} (user postgres, trust auth), which does not answer: ${(err as Error).message}`,
    );
  }
  try {
    await server.query(`CREATE DATABASE ${q(DB)}`);
  } finally {
    await server.end();
  }
  admin = new pg.Client({ host: HOST, port: PORT, user: "postgres", database: DB });
  await admin.connect();
});

afterAll(async () => {
  await connector.close();
  if (!admin) return;
  const roles = await admin.query<{ name: string }>("SELECT rolname::text AS name FROM pg_roles WHERE starts_with(rolname::text, $1)", [P]);
  for (const { name } of roles.rows) await admin.query(`DROP ROLE IF EXISTS ${q(name)}`).catch(() => undefined);
  await admin.end();
  const server = new pg.Client({ host: HOST, port: PORT, user: "postgres", database: "postgres" });
  await server.connect();
  await server.query(`DROP DATABASE IF EXISTS ${q(DB)} WITH (FORCE)`);
  await server.end();
});

describe("sql connector, PostgreSQL, mode roles", () => {
  it("creates the login and grants two roles, then reports everything already; revokes, then already", async () => {
    const user = `${P}alice`;
    const [r1, r2] = [`${P}reader`, `${P}writer`];
    await createRoles(r1, r2);

    const first = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), ctx);
    expect(outcomes(first)).toEqual([`create_account ${user} applied`, `grant ${r1} applied`, `grant ${r2} applied`]);
    expect(first).toMatchObject({ success: true, nativeId: user });
    expect(await canLogin(user)).toBe(true);
    expect(await memberships(user)).toEqual([r1, r2]);

    const again = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2, r1] }), ctx);
    expect(outcomes(again)).toEqual([`create_account ${user} already`, `grant ${r1} already`, `grant ${r2} already`]);
    expect(again.success).toBe(true);

    const revoke = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1] }), ctx);
    expect(outcomes(revoke)).toEqual([`revoke ${r1} applied`]);
    expect(await memberships(user)).toEqual([r2]);
    const revokeAgain = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1] }), ctx);
    expect(outcomes(revokeAgain)).toEqual([`revoke ${r1} already`]);
    expect(revokeAgain.success).toBe(true);
    expect(await memberships(user)).toEqual([r2]);
  });

  it("deactivateWhenEmpty sets NOLOGIN once nothing is held; ensureAccount sets LOGIN again", async () => {
    const user = `${P}bob`;
    const [r1, r2] = [`${P}bob_a`, `${P}bob_b`];
    await createRoles(r1, r2);
    await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), ctx);

    // one role left: not disabled
    const partial = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(partial)).toEqual([`revoke ${r1} applied`]);
    expect(await canLogin(user)).toBe(true);

    const last = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r2], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(last)).toEqual([`revoke ${r2} applied`, `disable_account ${user} applied`]);
    expect(await canLogin(user)).toBe(false);
    const lastAgain = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r2], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(lastAgain)).toEqual([`revoke ${r2} already`, `disable_account ${user} already`]);

    const back = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1] }), ctx);
    expect(outcomes(back)).toEqual([`enable_account ${user} applied`, `grant ${r1} applied`]);
    expect(await canLogin(user)).toBe(true);
    expect(await memberships(user)).toEqual([r1]);
  });

  it("a dry run plans (skipped / already) and changes nothing in the catalog", async () => {
    const user = `${P}carol`;
    const newcomer = `${P}dave`;
    const [r1, r2] = [`${P}carol_a`, `${P}carol_b`];
    await createRoles(r1, r2);
    await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1] }), ctx);
    const before = await catalog();

    const plan = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), { ...ctx, dryRun: true });
    expect(outcomes(plan)).toEqual([`create_account ${user} already`, `grant ${r1} already`, `grant ${r2} skipped`]);
    expect(plan.success).toBe(true);
    const planNew = await connector.applyDesiredState(config(), want(newcomer, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), {
      ...ctx,
      dryRun: true,
    });
    expect(outcomes(planNew)).toEqual([`create_account ${newcomer} skipped`, `grant ${r1} skipped`, `grant ${r2} skipped`]);
    expect(planNew.nativeId).toBeUndefined();
    const planRevoke = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1, r2], deactivateWhenEmpty: true }), {
      ...ctx,
      dryRun: true,
    });
    expect(outcomes(planRevoke)).toEqual([`revoke ${r1} skipped`, `revoke ${r2} already`, `disable_account ${user} skipped`]);

    expect(await catalog()).toEqual(before);
    expect(await canLogin(newcomer)).toBeNull();
  });

  it("hostile names round-trip exactly: quotes, backslashes, semicolons, spaces, mixed case, dots", async () => {
    const users = [`${P}O'Brien "Q" \\ ; DROP ROLE postgres; --`, `${P}Mixed Case`, `${P}mixed case`, `${P}a.b$1`];
    const roles = [`${P}r'; DROP ROLE postgres; --`, `${P}R"\\"x`, `${P}Admins Team`];
    await createRoles(...roles);
    const countBefore = (await admin.query("SELECT count(*)::int AS n FROM pg_roles")).rows[0].n as number;
    for (const user of users) {
      const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: roles }), ctx);
      expect(r.success, JSON.stringify(r)).toBe(true);
      expect(r.nativeId).toBe(user);
      expect(await canLogin(user)).toBe(true);
      expect(await memberships(user)).toEqual([...roles].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      const again = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: roles }), ctx);
      expect(again.operations.every((o) => o.outcome === "already")).toBe(true);
    }
    // four new roles, one per user: "Mixed Case" and "mixed case" are two; nothing was dropped
    expect((await admin.query("SELECT count(*)::int AS n FROM pg_roles")).rows[0].n).toBe(countBefore + users.length);
    expect(await canLogin("postgres")).toBe(true);

    const revoke = await connector.applyDesiredState(config(), want(users[0]!, { entitlementsToRevoke: [roles[0]!], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(revoke)).toEqual([`revoke ${roles[0]} applied`]);
    expect(await memberships(users[0]!)).toEqual([roles[1], roles[2]].sort((a, b) => (a! < b! ? -1 : 1)));
    expect(await memberships(users[1]!)).toHaveLength(3);
  });

  it("a role that does not exist fails that grant with its SQLSTATE while the others apply", async () => {
    const user = `${P}erin`;
    const [r1, r2] = [`${P}erin_a`, `${P}erin_b`];
    const missing = `${P}no_such_role`;
    await createRoles(r1, r2);
    const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, missing, r2] }), ctx);
    expect(r.success).toBe(false);
    expect(outcomes(r)).toEqual([`create_account ${user} applied`, `grant ${r1} applied`, `grant ${missing} failed`, `grant ${r2} applied`]);
    expect(r.operations[2]).toMatchObject({ native_code: "42704" });
    expect(r.operations[2]!.message).toMatch(/does not exist/);
    expect(await memberships(user)).toEqual([r1, r2]);
  });

  it("names PostgreSQL would truncate are refused, not truncated; an entitlement in both lists fails its revoke", async () => {
    const long = `${P}${"x".repeat(64)}`;
    const user = `${P}frank`;
    const r1 = `${P}frank_a`;
    await createRoles(r1);
    const r = await connector.applyDesiredState(
      config(),
      want(user, { ensureAccount: true, entitlementsToGrant: [long, r1], entitlementsToRevoke: [r1] }),
      ctx,
    );
    expect(outcomes(r)).toEqual([`create_account ${user} applied`, `grant ${long} failed`, `grant ${r1} applied`, `revoke ${r1} failed`]);
    expect(r.operations[1]!.message).toMatch(/longer than 63 bytes/);
    const err = await expectError(connector.applyDesiredState(config(), want(long, { ensureAccount: true }), ctx), PermanentError);
    expect(err.code).toBe("PV_SQL_NAME");
    expect(await canLogin(long.slice(0, 63))).toBeNull();
  });

  it("without ensureAccount a missing account fails its grants and its revokes are already", async () => {
    const user = `${P}ghost`;
    const r1 = `${P}ghost_a`;
    await createRoles(r1);
    const grant = await connector.applyDesiredState(config(), want(user, { entitlementsToGrant: [r1] }), ctx);
    expect(grant.success).toBe(false);
    expect(outcomes(grant)).toEqual([`grant ${r1} failed`]);
    const revoke = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [r1], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(revoke)).toEqual([`revoke ${r1} already`, `disable_account ${user} already`]);
    expect(await canLogin(user)).toBeNull();
  });

  it("concurrent identical grants end in the same state, every call successful", async () => {
    const user = `${P}henry`;
    const [r1, r2] = [`${P}henry_a`, `${P}henry_b`];
    await createRoles(r1, r2);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [r1, r2] }), ctx)),
    );
    for (const r of results) expect(r.success, JSON.stringify(r)).toBe(true);
    expect(await canLogin(user)).toBe(true);
    expect(await memberships(user)).toEqual([r1, r2]);
  });
});

describe("sql connector, PostgreSQL, errors", () => {
  it("connection refused (a closed port) is a TransientError marked configSuspect", async () => {
    const port = await closedPort();
    const err = await expectError(connector.applyDesiredState(config({ port }), want(`${P}x`, { ensureAccount: true }), ctx), TransientError);
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.configSuspect).toBe(true);
    expect(err.message).toContain(`postgresql ${HOST}:${port}/${DB}`);
  });

  it("a server that accepts the connection and never answers times out: TransientError", async () => {
    const { port, close } = await standIn(() => undefined);
    try {
      const err = await expectError(
        connector.applyDesiredState(config({ port, connect_timeout_ms: 300 }), want(`${P}x`, { ensureAccount: true }), ctx),
        TransientError,
      );
      expect(err.configSuspect).toBe(true);
    } finally {
      close();
    }
  });

  it("a refused password (28P01, from a stand-in server: trust auth accepts any) is a PermanentError marked configSuspect", async () => {
    const { port, close } = await standIn((sock) => {
      let buf = Buffer.alloc(0);
      let stage = 0;
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (stage === 0 && buf.length >= 4 && buf.length >= buf.readInt32BE(0)) {
          buf = buf.subarray(buf.readInt32BE(0));
          stage = 1;
          const auth = Buffer.alloc(9); // AuthenticationCleartextPassword
          auth.write("R", 0);
          auth.writeInt32BE(8, 1);
          auth.writeInt32BE(3, 5);
          sock.write(auth);
        }
        if (stage === 1 && buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
          stage = 2;
          const fields = Buffer.from('SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "postgres"\0\0');
          const head = Buffer.alloc(5);
          head.write("E", 0);
          head.writeInt32BE(4 + fields.length, 1);
          sock.end(Buffer.concat([head, fields]));
        }
      });
    });
    try {
      const err = await expectError(connector.applyDesiredState(config({ port }), want(`${P}x`, { ensureAccount: true }), ctx), PermanentError);
      expect(err.code).toBe("28P01");
      expect(err.configSuspect).toBe(true);
      expect(err.retryable).toBe(false);
      expect(err.message).not.toContain(ENV.PROVISIO_SQLTEST_PW);
    } finally {
      close();
    }
  });

  it("a login role that does not exist (28000) and a database that does not exist (3D000) are PermanentErrors marked configSuspect", async () => {
    const noUser = await expectError(connector.applyDesiredState(config({ user: `${P}nobody` }), want(`${P}x`), ctx), PermanentError);
    expect(noUser.code).toBe("28000");
    expect(noUser.configSuspect).toBe(true);
    const noDb = await expectError(connector.applyDesiredState(config({ database: `${DB}_missing` }), want(`${P}x`), ctx), PermanentError);
    expect(noDb.code).toBe("3D000");
    expect(noDb.configSuspect).toBe(true);
  });

  it("an invalid config or an unset secret is a ConfigurationError; nothing is sent", async () => {
    const bad = await expectError(connector.applyDesiredState({ ...config(), port: "5432x" }, want(`${P}x`), ctx), ConfigurationError);
    expect(bad.message).toMatch(/port/);
    const both = await expectError(connector.applyDesiredState(config({ password_file: "/nonexistent" }), want(`${P}x`), ctx), ConfigurationError);
    expect(both.message).toMatch(/exactly one of password_env or password_file/);
    const unset = await expectError(connector.applyDesiredState(config({ password_env: "PROVISIO_SQLTEST_UNSET" }), want(`${P}x`), ctx), ConfigurationError);
    expect(unset.message).toMatch(/PROVISIO_SQLTEST_UNSET is not set/);
    expect(() =>
      parseSqlConfig(config({ statements: { find_account: "SELECT 1", list_entitlements: "SELECT 1", grant: "SELECT 1", revoke: "SELECT 1" } })),
    ).toThrow(/statements are used with mode tables only/);
  });

  it("one pool per connection fingerprint; a rotated secret replaces it; close() ends them and refuses new sessions", async () => {
    const pools = new SqlPools();
    const c1 = parseSqlConfig(config());
    const c2 = parseSqlConfig(config({ statement_timeout_ms: 5000 }));
    const s1 = await pools.session(c1, "pw", ctx.log);
    const s2 = await pools.session(c1, "pw", ctx.log);
    expect(pools.size).toBe(1);
    const s3 = await pools.session(c2, "pw", ctx.log);
    expect(pools.size).toBe(2);
    expect((await s3.query("SHOW statement_timeout")).rows[0]).toEqual({ statement_timeout: "5s" });
    // rotated secret: a new pool; the old one stays until its sessions are back
    const s4 = await pools.session(c1, "pw2", ctx.log);
    expect(pools.size).toBe(3);
    s1.release(false);
    s2.release(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(pools.size).toBe(2);
    s3.release(false);
    s4.release(false);
    await pools.close();
    expect(pools.size).toBe(0);
    const closed = await expectError(pools.session(c1, "pw", ctx.log), TransientError);
    expect(closed.code).toBe("PV_SQL_CLOSED");
  });

  it("a pool no call has used for a while is ended when another one is asked for", async () => {
    const pools = new SqlPools({ idlePoolMs: 20 });
    const c1 = parseSqlConfig(config());
    const c2 = parseSqlConfig(config({ pool_size: 2 }));
    (await pools.session(c1, "pw", ctx.log)).release(false);
    expect(pools.size).toBe(1);
    await new Promise((r) => setTimeout(r, 40));
    const s = await pools.session(c2, "pw", ctx.log);
    await new Promise((r) => setTimeout(r, 20));
    expect(pools.size).toBe(1);
    s.release(false);
    await pools.close();
  });
});

describe("sql connector, PostgreSQL, mode tables", () => {
  const statements = {
    find_account: "SELECT id, active FROM app.users WHERE lower(login) = lower(:userIdInApp)",
    create_account: "INSERT INTO app.users (login, email, display_name) VALUES (:userIdInApp, :email, :displayName)",
    enable_account: "UPDATE app.users SET active = true WHERE id = :accountId",
    disable_account: "UPDATE app.users SET active = false WHERE id = :accountId",
    list_entitlements: `SELECT r.name AS entitlement FROM app.user_roles ur JOIN app.roles r ON r.id = ur.role_id
                         WHERE ur.user_id = :accountId -- ':entitlement' in a comment is not a placeholder`,
    grant:
      "INSERT INTO app.user_roles (user_id, role_id) SELECT CAST(:accountId AS integer), id FROM app.roles WHERE name = :entitlement ON CONFLICT DO NOTHING",
    revoke: "DELETE FROM app.user_roles WHERE user_id = :accountId::int AND role_id = (SELECT id FROM app.roles WHERE name = :entitlement)",
  };
  const tables = (extra: Record<string, unknown> = {}) => config({ mode: "tables", statements, ...extra });

  beforeAll(async () => {
    await admin.query(`CREATE SCHEMA app;
      CREATE TABLE app.users (id serial PRIMARY KEY, login text NOT NULL, email text, display_name text, active boolean NOT NULL DEFAULT true);
      CREATE UNIQUE INDEX ON app.users (lower(login));
      CREATE TABLE app.roles (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
      CREATE TABLE app.user_roles (user_id int REFERENCES app.users, role_id int REFERENCES app.roles, PRIMARY KEY (user_id, role_id));
      INSERT INTO app.roles (name) VALUES ('viewer'), ('editor'), ('x''; DROP TABLE app.users; --')`);
  });

  const rows = async () =>
    (
      await admin.query(`SELECT u.login, u.email, u.display_name, u.active,
          ARRAY(SELECT r.name FROM app.user_roles ur JOIN app.roles r ON r.id = ur.role_id WHERE ur.user_id = u.id ORDER BY r.name COLLATE "C") AS roles
        FROM app.users u ORDER BY u.id`)
    ).rows;

  it("plans with find/list, applies create, grant, revoke, disable, enable; values are bound, never interpolated", async () => {
    const login = `o'brien"; DROP TABLE app.users; --\\`;
    const hostileRole = "x'; DROP TABLE app.users; --";
    const desired = want(login, {
      attributes: { userName: login, email: "o'brien@example.org", displayName: "Ó'Brien \\ :userName" },
      ensureAccount: true,
      entitlementsToGrant: ["viewer", "editor", hostileRole, "no-such-role"],
    });
    const first = await connector.applyDesiredState(tables(), desired, ctx);
    expect(outcomes(first)).toEqual([
      `create_account ${login} applied`,
      "grant viewer applied",
      "grant editor applied",
      `grant ${hostileRole} applied`,
      "grant no-such-role failed",
    ]);
    expect(first.operations[4]!.message).toMatch(/does not hold the entitlement afterwards/);
    expect(first.nativeId).toMatch(/^\d+$/);
    expect(await rows()).toEqual([
      { login, email: "o'brien@example.org", display_name: "Ó'Brien \\ :userName", active: true, roles: ["editor", "viewer", hostileRole].sort() },
    ]);

    // found case-insensitively by the application's own statement; everything already (the unknown role fails again)
    const again = await connector.applyDesiredState(tables(), { ...desired, userIdInApp: login.toUpperCase() }, ctx);
    expect(again.operations.map((o) => o.outcome)).toEqual(["already", "already", "already", "already", "failed"]);
    expect(again.nativeId).toBe(first.nativeId);

    const revoke = await connector.applyDesiredState(
      tables(),
      want(login, { entitlementsToRevoke: ["editor", hostileRole, "viewer"], deactivateWhenEmpty: true }),
      ctx,
    );
    expect(outcomes(revoke)).toEqual(["revoke editor applied", `revoke ${hostileRole} applied`, "revoke viewer applied", `disable_account ${login} applied`]);
    expect((await rows())[0]).toMatchObject({ active: false, roles: [] });

    const before = await rows();
    const plan = await connector.applyDesiredState(tables(), want(login, { ensureAccount: true, entitlementsToGrant: ["viewer"] }), { ...ctx, dryRun: true });
    expect(outcomes(plan)).toEqual([`enable_account ${login} skipped`, "grant viewer skipped"]);
    expect(await rows()).toEqual(before);

    const back = await connector.applyDesiredState(tables(), want(login, { ensureAccount: true, entitlementsToGrant: ["viewer"] }), ctx);
    expect(outcomes(back)).toEqual([`enable_account ${login} applied`, "grant viewer applied"]);
    expect((await rows())[0]).toMatchObject({ active: true, roles: ["viewer"] });
    expect((await admin.query("SELECT count(*)::int AS n FROM app.users")).rows[0].n).toBe(1);
  });

  it("a statement timeout is a TransientError; several accounts found is a PermanentError; a missing statement is a ConfigurationError", async () => {
    const slow = tables({
      statement_timeout_ms: 200,
      statements: { ...statements, find_account: "SELECT id, active FROM app.users WHERE login = :userIdInApp AND pg_sleep(1) IS NOT NULL" },
    });
    const timeout = await expectError(connector.applyDesiredState(slow, want("anyone"), ctx), TransientError);
    expect(timeout.code).toBe("57014");

    const many = tables({ statements: { ...statements, find_account: "SELECT id, active FROM app.users UNION ALL SELECT id, active FROM app.users" } });
    const ambiguous = await expectError(connector.applyDesiredState(many, want("anyone"), ctx), PermanentError);
    expect(ambiguous.code).toBe("PV_SQL_ACCOUNT_AMBIGUOUS");

    const { create_account: _omit, ...noCreate } = statements;
    const missing = await expectError(
      connector.applyDesiredState(tables({ statements: noCreate }), want("newcomer", { ensureAccount: true }), { ...ctx, dryRun: true }),
      ConfigurationError,
    );
    expect(missing.message).toMatch(/create_account/);
  });

  it("statements with unknown placeholders or positional parameters are refused when the config is parsed", () => {
    expect(() => parseSqlConfig(tables({ statements: { ...statements, grant: "INSERT INTO t VALUES (:accountId, :role)" } }))).toThrow(
      /statements\.grant: unknown placeholder :role/,
    );
    expect(() => parseSqlConfig(tables({ statements: { ...statements, find_account: "SELECT id FROM t WHERE login = $1" } }))).toThrow(
      /positional parameter \$1/,
    );
    expect(() => parseSqlConfig(tables({ statements: { ...statements, find_account: "SELECT id FROM t WHERE id = :accountId" } }))).toThrow(
      /placeholder :accountId cannot be used here/,
    );
    expect(() => parseSqlConfig(config({ mode: "tables" }))).toThrow(/mode tables needs statements/);
  });
});

describe("reserved accounts", () => {
  it("refuses to manage the connector's own login, a superuser or a pg_ role (PV_SQL_RESERVED)", async () => {
    for (const user of ["postgres", "pg_monitor"]) {
      await expect(connector.applyDesiredState(config(), want(user, { deactivateWhenEmpty: true }), ctx)).rejects.toMatchObject({ code: "PV_SQL_RESERVED" });
    }
  });

  /** the operations of `r` on keys, as "op target outcome native_code" */
  const refusals = (r: AccountResult) => r.operations.map((o) => `${o.op} ${o.target} ${o.outcome}${o.native_code !== undefined ? ` ${o.native_code}` : ""}`);

  it("refuses to grant or revoke an entitlement that is a reserved role (PV_SQL_RESERVED) while the call's other entitlements are applied", async () => {
    const user = `${P}res_acct`;
    const [ok, ok2, superRole, adminRole] = [`${P}res_ok`, `${P}res_ok2`, `${P}res_super`, `${P}res_createrole`];
    await createRoles(ok, ok2);
    await admin.query(`CREATE ROLE ${q(superRole)} NOLOGIN SUPERUSER; CREATE ROLE ${q(adminRole)} NOLOGIN CREATEROLE BYPASSRLS`);
    const reserved = ["postgres", superRole, adminRole, "pg_execute_server_program", "pg_read_server_files"];

    // a dry run reports the refusals as failed and changes nothing
    const before = await catalog();
    const dry = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [...reserved, ok] }), {
      ...ctx,
      dryRun: true,
    });
    expect(refusals(dry)).toEqual([`create_account ${user} skipped`, ...reserved.map((k) => `grant ${k} failed PV_SQL_RESERVED`), `grant ${ok} skipped`]);
    expect(dry.success).toBe(false);
    expect(await catalog()).toEqual(before);

    const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: [...reserved, ok] }), ctx);
    expect(refusals(r)).toEqual([`create_account ${user} applied`, ...reserved.map((k) => `grant ${k} failed PV_SQL_RESERVED`), `grant ${ok} applied`]);
    expect(r.success).toBe(false);
    const byTarget = new Map(r.operations.map((o) => [o.target, o.message ?? ""]));
    expect(byTarget.get("postgres")).toMatch(/"postgres" is a reserved role: .*superuser role \(SUPERUSER/);
    expect(byTarget.get("postgres")).toMatch(/the connector's own login/);
    expect(byTarget.get(superRole)).toMatch(new RegExp(`"${superRole}" is a reserved role: a superuser role \\(SUPERUSER`));
    expect(byTarget.get(adminRole)).toMatch(/an administrative role \(CREATEROLE, BYPASSRLS\)/);
    expect(byTarget.get("pg_execute_server_program")).toMatch(/"pg_execute_server_program" is a reserved role: a pg_ \(predefined\) role.*does not grant it/);
    expect(await memberships(user)).toEqual([ok]);

    // held (granted by an administrator): a revoke of a reserved role is refused too, the others applied
    await admin.query(`GRANT pg_read_server_files, ${q(superRole)} TO ${q(user)}`);
    await admin.query(`GRANT ${q(ok2)} TO ${q(user)}`);
    const revoke = await connector.applyDesiredState(
      config(),
      want(user, { entitlementsToRevoke: ["pg_read_server_files", superRole, ok, "pg_execute_server_program"], entitlementsToGrant: [] }),
      ctx,
    );
    expect(refusals(revoke)).toEqual([
      "revoke pg_read_server_files failed PV_SQL_RESERVED",
      `revoke ${superRole} failed PV_SQL_RESERVED`,
      `revoke ${ok} applied`,
      "revoke pg_execute_server_program failed PV_SQL_RESERVED",
    ]);
    expect(revoke.operations[0]!.message).toMatch(/does not revoke it/);
    expect(await memberships(user)).toEqual([ok2, superRole, "pg_read_server_files"].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("refuses to grant or revoke the connector's own login as an entitlement (PV_SQL_RESERVED), even without administrative attributes", async () => {
    // a login with no attribute: reserved as an entitlement only for being the connector's own login
    // (PostgreSQL 15 lets a session user grant membership in itself)
    const conn = `${P}res_conn`;
    const user = `${P}res_conn_acct`;
    const ok = `${P}res_conn_ok`;
    await admin.query(`CREATE ROLE ${q(conn)} LOGIN; CREATE ROLE ${q(user)} LOGIN`);
    await createRoles(ok);
    await admin.query(`GRANT ${q(ok)} TO ${q(conn)} WITH ADMIN OPTION`);
    const cfg = config({ user: conn });
    const r = await connector.applyDesiredState(cfg, want(user, { entitlementsToGrant: [conn, ok] }), ctx);
    expect(refusals(r)).toEqual([`grant ${conn} failed PV_SQL_RESERVED`, `grant ${ok} applied`]);
    expect(r.operations[0]!.message).toMatch(new RegExp(`"${conn}" is a reserved role: the connector's own login; provisio does not grant it`));
    expect(await memberships(user)).toEqual([ok]);

    await admin.query(`GRANT ${q(conn)} TO ${q(user)}`);
    const revoke = await connector.applyDesiredState(cfg, want(user, { entitlementsToRevoke: [conn, ok] }), ctx);
    expect(refusals(revoke)).toEqual([`revoke ${conn} failed PV_SQL_RESERVED`, `revoke ${ok} applied`]);
    expect(await memberships(user)).toEqual([conn]);
    // the same login is not reserved for another connector login
    const other = await connector.applyDesiredState(config(), want(user, { entitlementsToRevoke: [conn] }), ctx);
    expect(refusals(other)).toEqual([`revoke ${conn} applied`]);
  });
});

describe("sql connector, PostgreSQL, discoverAccounts", () => {
  /** every role of this block starts with it (no other test of this file uses it) */
  const D = `${P}d_`;

  it("mode roles: pages of 3 in name order; LOGIN / NOLOGIN as active; memberships among the keys exactly; keys, groups and reserved roles left out", async () => {
    const [r1, r2, hostileRole] = [`${D}r1`, `${D}r2`, `${D}r'; DROP ROLE x; --`];
    const group = `${D}group`; // not a key, has a member: a group, not an account
    const lonely = `${D}lonely`; // NOLOGIN, not a key, no member: what a disabled account looks like
    await createRoles(r1, r2, hostileRole, group, lonely);
    await admin.query(`CREATE ROLE ${q(`${D}admin`)} LOGIN CREATEROLE; CREATE ROLE ${q(`${D}super`)} LOGIN SUPERUSER`);
    const hostileUser = `${D}O'Brien "Q" \\ ; DROP ROLE postgres; --`;
    const grants: Record<string, string[]> = {
      [`${D}acc1`]: [r1, r2],
      [`${D}acc2`]: [hostileRole],
      [hostileUser]: [r1],
      [`${D}Mixed Case`]: [],
      [`${D}mixed case`]: [r2],
      [`${D}acc7`]: [r1],
      [`${D}disabled`]: [r2],
    };
    for (const [user, roles] of Object.entries(grants)) {
      const r = await connector.applyDesiredState(config(), want(user, { ensureAccount: true, entitlementsToGrant: roles }), ctx);
      expect(r.success, JSON.stringify(r)).toBe(true);
    }
    await admin.query(`GRANT ${q(group)} TO ${q(`${D}acc7`)}`);
    const off = await connector.applyDesiredState(config(), want(`${D}disabled`, { entitlementsToRevoke: [r2], deactivateWhenEmpty: true }), ctx);
    expect(outcomes(off)).toEqual([`revoke ${r2} applied`, `disable_account ${D}disabled applied`]);
    const before = await catalog();
    const rolesBefore = (await admin.query("SELECT count(*)::int AS n FROM pg_roles")).rows[0].n as number;

    // the request's order and spelling; a key no role has, and one differing only in case, are never held
    const keys = [r2, hostileRole, r1, `${D}R1`, `${D}no_such_role`];
    const pages = await discover(config(), keys, 3);

    // the cluster is shared: other roles may sit between ours, so the pages are checked for their shape,
    // and this block's accounts for their exact contents
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
    const ours = all.filter((a) => a.userIdInApp.startsWith(D));
    const account = (userIdInApp: string, active: boolean, entitlements: string[]) => ({ userIdInApp, nativeId: userIdInApp, active, entitlements });
    expect(ours).toEqual(
      [
        account(`${D}acc1`, true, [r2, r1]),
        account(`${D}acc2`, true, [hostileRole]),
        account(hostileUser, true, [r1]),
        account(`${D}Mixed Case`, true, []),
        account(`${D}mixed case`, true, [r2]),
        account(`${D}acc7`, true, [r1]),
        account(`${D}disabled`, false, []),
        account(lonely, false, []),
      ].sort(byName),
    );
    // 8 accounts in pages of at most 3: they span at least 3 pages
    expect(pages.filter((page) => page.some((a) => a.userIdInApp.startsWith(D))).length).toBeGreaterThanOrEqual(3);
    // reserved roles: the connector's own login (a superuser), superusers, CREATEROLE, pg_ roles
    for (const reserved of ["postgres", `${D}admin`, `${D}super`]) expect(names).not.toContain(reserved);
    expect(names.filter((n) => n.startsWith("pg_"))).toEqual([]);

    // read-only: nothing created, changed or dropped
    expect(await catalog()).toEqual(before);
    expect((await admin.query("SELECT count(*)::int AS n FROM pg_roles")).rows[0].n).toBe(rolesBefore);
    expect(await canLogin("postgres")).toBe(true);
  });

  describe("mode tables", () => {
    const statements = {
      find_account: "SELECT id, active FROM disc.users WHERE login = :userIdInApp",
      list_entitlements: "SELECT r.name AS entitlement FROM disc.user_roles ur JOIN disc.roles r ON r.id = ur.role_id WHERE ur.user_id = :accountId::int",
      grant: "INSERT INTO disc.user_roles (user_id, role_id) SELECT :accountId::int, id FROM disc.roles WHERE name = :entitlement",
      revoke: "DELETE FROM disc.user_roles WHERE user_id = :accountId::int AND role_id = (SELECT id FROM disc.roles WHERE name = :entitlement)",
      list_accounts: `SELECT login AS user_id, id, active FROM disc.users
                       WHERE login COLLATE "C" > :after ORDER BY login COLLATE "C" LIMIT :pageSize`,
    };
    const tables = (extra: Record<string, unknown> = {}) => config({ mode: "tables", statements, ...extra });
    const hostile = `o'brien"; DROP TABLE disc.users; --`;
    const hostileRole = "x'; DROP TABLE disc.roles; --";
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
    /** the ids by login */
    const ids = new Map<string, number>();

    beforeAll(async () => {
      await admin.query(`CREATE SCHEMA disc;
        CREATE TABLE disc.users (id serial PRIMARY KEY, login text NOT NULL UNIQUE, active boolean NOT NULL DEFAULT true);
        CREATE TABLE disc.roles (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE TABLE disc.user_roles (user_id int REFERENCES disc.users, role_id int REFERENCES disc.roles, PRIMARY KEY (user_id, role_id))`);
      await admin.query("INSERT INTO disc.roles (name) VALUES ('viewer'), ('editor'), ('unlisted'), ($1)", [hostileRole]);
      for (const [login, active, roles] of users) {
        const id = (await admin.query<{ id: number }>("INSERT INTO disc.users (login, active) VALUES ($1, $2) RETURNING id", [login, active])).rows[0]!.id;
        ids.set(login, id);
        for (const role of roles) {
          await admin.query("INSERT INTO disc.user_roles SELECT $1, id FROM disc.roles WHERE name = $2", [id, role]);
        }
      }
    });

    const keys = ["editor", "viewer", hostileRole, "no-such-role"];
    const expected = (login: string): DiscoveredAccount => {
      const [, active, roles] = users.find(([l]) => l === login)!;
      return { userIdInApp: login, nativeId: String(ids.get(login)), active, entitlements: keys.filter((k) => roles.includes(k)) };
    };
    /** the logins in byte order */
    const order = ["Frank", "alice", "bob", "carol", "dave", "erin", hostile];

    it("pages of 3 by user_id (keyset :after, :pageSize), active as the row says, entitlements from list_entitlements among the keys", async () => {
      const before = (await admin.query("SELECT * FROM disc.users ORDER BY id")).rows;
      const pages = await discover(tables(), keys, 3);
      expect(pages).toEqual([order.slice(0, 3).map(expected), order.slice(3, 6).map(expected), order.slice(6).map(expected)]);
      expect(pages[2]![0]).toEqual({ userIdInApp: hostile, nativeId: String(ids.get(hostile)), active: true, entitlements: ["editor"] });
      expect(pages[1]![1]).toEqual({ userIdInApp: "dave", nativeId: String(ids.get("dave")), active: true, entitlements: [hostileRole] });
      expect(pages[0]![2]).toEqual({ userIdInApp: "bob", nativeId: String(ids.get("bob")), active: false, entitlements: [] });
      // 7 accounts, pageSize 7: one full page, then an empty read that ends the pass
      expect(await discover(tables(), keys, 7)).toEqual([order.map(expected)]);
      expect(await discover(tables(), [], 100)).toEqual([order.map((l) => ({ ...expected(l), entitlements: [] }))]);
      expect((await admin.query("SELECT * FROM disc.users ORDER BY id")).rows).toEqual(before);
      expect((await admin.query("SELECT count(*)::int AS n FROM disc.roles")).rows[0].n).toBe(4);
    });

    it("a statement that ignores :pageSize still gives pages of at most pageSize; one that ignores :after fails (PV_SQL_LIST_ACCOUNTS) instead of looping", async () => {
      const noLimit = tables({
        statements: { ...statements, list_accounts: `SELECT login AS user_id, id FROM disc.users WHERE login COLLATE "C" > :after ORDER BY login COLLATE "C"` },
      });
      const pages = await discover(noLimit, keys, 3);
      expect(pages.map((p) => p.map((a) => a.userIdInApp))).toEqual([order.slice(0, 3), order.slice(3, 6), order.slice(6)]);
      expect(pages.flat().every((a) => a.active)).toBe(true); // no active column: every account is active

      const noAfter = tables({
        statements: { ...statements, list_accounts: `SELECT login AS user_id, id FROM disc.users ORDER BY login COLLATE "C" LIMIT :pageSize` },
      });
      const seen: DiscoveredAccount[][] = [];
      const err = await expectError(
        (async () => {
          for await (const page of connector.discoverAccounts(noAfter, { entitlementKeys: keys, pageSize: 3 }, ctx)) seen.push(page);
        })(),
        PermanentError,
      );
      expect(err.code).toBe("PV_SQL_LIST_ACCOUNTS");
      expect(err.message).toMatch(/twice/);
      expect(seen.map((p) => p.map((a) => a.userIdInApp))).toEqual([order.slice(0, 3)]);

      const noId = tables({ statements: { ...statements, list_accounts: "SELECT login AS user_id FROM disc.users WHERE login > :after LIMIT :pageSize" } });
      await expect(discover(noId, keys, 3)).rejects.toMatchObject({ code: "PV_SQL_LIST_ACCOUNTS", message: expect.stringMatching(/without an id/) });
    });

    it("an error mid-way is thrown after the pages already yielded (TransientError for a timeout); the connection goes back to the pool", async () => {
      // one connection: a page that kept it would leave the next pass waiting for it (and time out)
      const onePool = { pool_size: 1, statement_timeout_ms: 300, connect_timeout_ms: 2000 };
      const slow = tables({
        ...onePool,
        statements: {
          ...statements,
          // a NULL row (ignored) from a sleep that outlasts the statement timeout for erin, the third account of page 2
          list_entitlements: `SELECT r.name AS entitlement FROM disc.user_roles ur JOIN disc.roles r ON r.id = ur.role_id WHERE ur.user_id = :accountId::int
                              UNION ALL SELECT NULL FROM pg_sleep(CASE WHEN :userIdInApp = 'erin' THEN 2 ELSE 0 END)`,
        },
      });
      const seen: DiscoveredAccount[][] = [];
      const err = await expectError(
        (async () => {
          for await (const page of connector.discoverAccounts(slow, { entitlementKeys: keys, pageSize: 3 }, ctx)) seen.push(page);
        })(),
        TransientError,
      );
      expect(err.code).toBe("57014");
      expect(seen).toEqual([order.slice(0, 3).map(expected)]);
      // the same pool (statements are not part of its settings): the failed page's connection was given
      // back (closed), and so is the one of a pass left by a break
      for await (const page of connector.discoverAccounts(tables(onePool), { entitlementKeys: keys, pageSize: 2 }, ctx)) {
        expect(page).toEqual(order.slice(0, 2).map(expected));
        break;
      }
      expect((await discover(tables(onePool), keys, 3)).flat()).toEqual(order.map(expected));
    });

    it("without list_accounts, discovery is a ConfigurationError (PV_CONFIG) naming it; a bad request is PV_SQL_REQUEST", async () => {
      const { list_accounts: _omit, ...without } = statements;
      const err = await expectError(discover(tables({ statements: without }), keys, 3), ConfigurationError);
      expect(err.code).toBe("PV_CONFIG");
      expect(err.message).toMatch(/list_accounts/);
      for (const pageSize of [0, 1.5, Number.NaN]) {
        await expect(discover(tables(), keys, pageSize)).rejects.toMatchObject({ code: "PV_SQL_REQUEST" });
      }
      expect(() =>
        parseSqlConfig(tables({ statements: { ...statements, list_accounts: "SELECT login AS user_id, id FROM disc.users WHERE id = :accountId" } })),
      ).toThrow(/statements\.list_accounts: placeholder :accountId cannot be used here/);
    });
  });

  it("connection refused is a TransientError from the first iteration", async () => {
    const port = await closedPort();
    const err = await expectError(discover(config({ port }), [], 3), TransientError);
    expect(err.code).toBe("ECONNREFUSED");
  });
});
