/**
 * Mode "roles": users are database logins and entitlements are database roles.
 *
 * PostgreSQL: the account is the role named userIdInApp, exactly as given (quoted: "Alice" and "alice"
 * are two roles; the access family's mapping passes a lower-cased login name). Created with
 * `CREATE ROLE "<user>" LOGIN` and no password: password authentication always fails for it until an
 * administrator sets one (or pg_hba.conf lets it in another way: trust, peer, cert, ldap, ...).
 * Disabled with `ALTER ROLE ... NOLOGIN` (sessions already open are not ended), enabled with `LOGIN`.
 * Entitlements are roles it is a direct member of: `GRANT "<role>" TO "<user>"` / `REVOKE ... FROM`.
 * State is read from pg_roles (rolcanlogin) and pg_auth_members (direct memberships). Names longer than
 * max_identifier_length (63 bytes by default) are refused, not truncated as PostgreSQL would.
 * The connecting user needs CREATEROLE (PostgreSQL 16+: and ADMIN OPTION on the roles it grants) or
 * superuser.
 *
 * MariaDB (10.4.2+): the account is `'<user>'@'<user_host>'` (user_host from the config, default '%'),
 * created with `IDENTIFIED VIA mysql_native_password USING 'invalid'`: no password logs in (the way
 * MariaDB's own installer creates accounts nobody may log in to by password) until an administrator sets
 * one; no password is generated, stored or logged. Disabled with `ALTER USER ... ACCOUNT LOCK`, enabled
 * with `ACCOUNT UNLOCK`. Entitlements are MariaDB roles (CREATE ROLE, 10.0.5+): `GRANT <role> TO
 * <user>@<host>`. A granted role is not active in the user's sessions until it runs SET ROLE or it is the
 * user's default role (SET DEFAULT ROLE: not managed here). State is read from mysql.global_priv (exists,
 * `$.account_locked`) and mysql.roles_mapping (granted roles); information_schema.APPLICABLE_ROLES and
 * mysql.user are of no use here (the former shows the current user's roles only, the latter has no
 * account_locked column in 10.4+). The connecting user needs the CREATE USER privilege, SELECT on
 * mysql.global_priv and mysql.roles_mapping, and each role it grants WITH ADMIN OPTION.
 *
 * Identifiers are quoted with the driver's own functions (pg escapeIdentifier; mysql2 escapeId with
 * qualified names forbidden, so a dot stays part of the name) and the user@host parts, which MariaDB takes
 * as string literals, with mysql2's escape() (backslash escapes: the session's sql_mode is kept without
 * NO_BACKSLASH_ESCAPES, pools.ts). Values of the state reads are bound.
 *
 * Reserved roles (PV_SQL_RESERVED), never managed nor listed: PostgreSQL's {@link pgReservedRole}
 * (the connector's own login, superusers and other administrative roles, `pg_` roles), MariaDB's
 * {@link mariadbReservedUsers} (the connector's own login, the built-in accounts and PUBLIC).
 * - As the account: read() throws PermanentError PV_SQL_RESERVED (nothing is done for the call).
 * - As an entitlement (a key to grant or to revoke): neither granted nor revoked, whatever the account
 *   holds: that operation is "failed" with native_code "PV_SQL_RESERVED" and a message naming the role
 *   and the rule (a dry run reports the same), the call's other operations go on (plan.ts). Membership
 *   in such a role would hand the account its powers (SET ROLE postgres, pg_execute_server_program's
 *   COPY ... PROGRAM, the connector's own grants). Read in the same statement as the account:
 *   PostgreSQL evaluates pgReservedRole on each key's pg_roles row (a key no role has is not reserved:
 *   its grant fails with 42704); MariaDB compares the keys with mariadbReservedUsers, case-sensitively.
 *   Only the key itself is checked, not the roles it is a member of.
 *
 * Discovery (SqlConnector.discoverAccounts, discovery.ts) lists the accounts page by page, keyset-paged
 * on the name (ORDER BY name, name > the previous page's last, LIMIT pageSize; every value bound):
 * - PostgreSQL ({@link postgresAccountPages}): the roles that are neither reserved nor one of the
 *   request's entitlementKeys (those are the application's entitlements) and that either can log in or
 *   are not a group (no role other than a reserved one is a member of it: the adapter never grants
 *   anything to an account, while PostgreSQL 16+ makes a CREATEROLE login a member of every role it
 *   creates). `active` is rolcanlogin (LOGIN / NOLOGIN, as enable and disable set it); entitlements are
 *   the direct memberships among the keys, as read() reads them. Ordered by rolname (type name,
 *   collation "C": byte order).
 * - MariaDB ({@link mariadbAccountPages}): the accounts `'<user>'@'<user_host>'` of the config's host
 *   (mysql.global_priv), reserved ones left out; `active` is not `$.account_locked` (ACCOUNT LOCK /
 *   UNLOCK); entitlements the roles of mysql.roles_mapping among the keys. Ordered by User (utf8mb3_bin:
 *   code point order).
 */
import mysql from "mysql2";
import pg from "pg";
import { PermanentError } from "../../errors.js";
import type { DiscoveredAccount } from "../capabilities/account.js";
import { heldAmong, uniqueKeys, type AccountPageReader } from "./discovery.js";
import type { AccountBackend, AccountState, StepOutcome } from "./plan.js";
import { driverFailure, isDriverCode, nativeCodeOf } from "./errors.js";
import type { SqlSession } from "./pools.js";

/**
 * A concurrent job got there first: 42710 duplicate_object (CREATE ROLE of a role that exists), 23505
 * unique_violation (CREATE ROLE or GRANT that waited for the other's insert into pg_authid or
 * pg_auth_members to commit).
 */
const pgAlready = (err: unknown) => isDriverCode(err, "42710") || isDriverCode(err, "23505");

/**
 * The one definition of a PostgreSQL role provisio never manages nor lists (PV_SQL_RESERVED): the
 * connector's own login (current_user), a superuser or another administrative role (CREATEROLE,
 * REPLICATION, BYPASSRLS), a `pg_` role. A boolean SQL expression over pg_catalog.pg_roles row `r`.
 * @param r the alias of the pg_roles row (an identifier of the caller's own query, not a value)
 */
export function pgReservedRole(r: string): string {
  return `(${r}.rolsuper OR ${r}.rolcreaterole OR ${r}.rolreplication OR ${r}.rolbypassrls
           OR ${r}.rolname::text = current_user::text OR left(${r}.rolname::text, 3) = 'pg_')`;
}

/** A key that is a reserved role (pgReservedRole), as postgresRoles' read returns it. */
interface PgReservedKey {
  name: string;
  own: boolean;
  super: boolean;
  createrole: boolean;
  replication: boolean;
  bypassrls: boolean;
}

/** Why a reserved role is reserved, for an operation's message: the rule of pgReservedRole it meets. */
function pgReservedReason(where: string, k: PgReservedKey): string {
  const flags = [k.super && "SUPERUSER", k.createrole && "CREATEROLE", k.replication && "REPLICATION", k.bypassrls && "BYPASSRLS"].filter(Boolean);
  const rules: string[] = [];
  if (k.own) rules.push("the connector's own login");
  if (flags.length > 0) rules.push(`${k.super ? "a superuser" : "an administrative"} role (${flags.join(", ")})`);
  if (k.name.startsWith("pg_")) rules.push("a pg_ (predefined) role");
  return `${where}: the entitlement "${k.name}" is a reserved role: ${rules.join(", ") || "an administrative role"}`;
}

/**
 * The PostgreSQL roles backend for account `user` (see the module doc).
 * @throws PermanentError PV_SQL_NAME (at read) when `user` is empty, holds a NUL character or is longer
 *   than the server's max_identifier_length
 */
export function postgresRoles(session: SqlSession, user: string): AccountBackend {
  const q = (name: string) => pg.escapeIdentifier(name);
  let maxLength = 63;
  const tooLong = (name: string) => Buffer.byteLength(name, "utf8") > maxLength;
  const badName = (name: string): string | undefined => {
    if (name.length === 0) return "an empty name";
    if (name.includes("\u0000")) return "a name with a NUL character";
    if (tooLong(name)) return `a name longer than ${maxLength} bytes (PostgreSQL's max_identifier_length)`;
    return undefined;
  };
  const entitlements = async (): Promise<Set<string>> => {
    const r = await session.query(
      `SELECT DISTINCT g.rolname::text AS role
         FROM pg_catalog.pg_auth_members m
         JOIN pg_catalog.pg_roles u ON u.oid = m.member
         JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
        WHERE u.rolname::text = $1`,
      [user],
    );
    return new Set(r.rows.map((row) => String(row.role)));
  };
  return {
    async read(entitlementKeys: readonly string[] = []): Promise<AccountState> {
      // the keys that are reserved roles (pgReservedRole), each with the flags its message names
      const r = await session.query(
        `SELECT current_setting('max_identifier_length')::int AS max_length,
                (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname::text = $1) AS can_login,
                (SELECT ${pgReservedRole("r")} FROM pg_catalog.pg_roles r WHERE r.rolname::text = $1) AS reserved,
                (SELECT coalesce(json_agg(json_build_object(
                          'name', k.rolname::text, 'own', k.rolname::text = current_user::text, 'super', k.rolsuper,
                          'createrole', k.rolcreaterole, 'replication', k.rolreplication, 'bypassrls', k.rolbypassrls)), '[]')
                   FROM pg_catalog.pg_roles k
                  WHERE k.rolname::text = ANY($2::text[]) AND ${pgReservedRole("k")}) AS reserved_keys`,
        // a key with a NUL character cannot be sent (its operation fails on invalidEntitlement)
        [user, uniqueKeys(entitlementKeys).filter((k) => !k.includes("\u0000"))],
      );
      const row = r.rows[0] ?? {};
      maxLength = Number(row.max_length) || 63;
      const invalid = badName(user);
      if (invalid) throw new PermanentError("PV_SQL_NAME", `${session.where}: the account name cannot be a PostgreSQL role: ${invalid}`);
      // never manage the connector's own login, a superuser or another administrative role: a person's
      // mapping that happens to name one must not grant, revoke or disable it
      if (row.reserved === true) {
        throw new PermanentError(
          "PV_SQL_RESERVED",
          `${session.where}: "${user}" is the connector's own login or an administrative role; provisio does not manage it`,
        );
      }
      const exists = row.can_login !== null && row.can_login !== undefined;
      const reservedEntitlements = new Map<string, string>();
      for (const k of (row.reserved_keys ?? []) as PgReservedKey[]) reservedEntitlements.set(k.name, pgReservedReason(session.where, k));
      return {
        exists,
        active: row.can_login === true,
        nativeId: exists ? user : undefined,
        entitlements: exists ? await entitlements() : new Set(),
        reservedEntitlements,
      };
    },
    readEntitlements: () => entitlements(),
    async create(): Promise<StepOutcome> {
      try {
        await session.query(`CREATE ROLE ${q(user)} LOGIN`);
        return "applied";
      } catch (err) {
        if (pgAlready(err)) return "already";
        throw err;
      }
    },
    async enable(): Promise<StepOutcome> {
      await session.query(`ALTER ROLE ${q(user)} LOGIN`);
      return "applied";
    },
    async disable(): Promise<StepOutcome> {
      await session.query(`ALTER ROLE ${q(user)} NOLOGIN`);
      return "applied";
    },
    async grant(role: string): Promise<StepOutcome> {
      try {
        await session.query(`GRANT ${q(role)} TO ${q(user)}`);
        return "applied";
      } catch (err) {
        if (isDriverCode(err, "23505")) return "already";
        throw err;
      }
    },
    async revoke(role: string): Promise<StepOutcome> {
      await session.query(`REVOKE ${q(role)} FROM ${q(user)}`);
      return "applied";
    },
    invalidEntitlement(role: string): string | undefined {
      const invalid = badName(role);
      return invalid && `the entitlement cannot be a PostgreSQL role: ${invalid}`;
    },
    failure: (err) => ({ error: driverFailure("postgresql", err, session.where, false), nativeCode: nativeCodeOf("postgresql", err) }),
  };
}

/** MariaDB's built-in accounts (and the PUBLIC role): never managed nor listed. */
const MARIADB_BUILTIN_ACCOUNTS = ["root", "mariadb.sys", "mysql", "PUBLIC"] as const;

/**
 * The one definition of the MariaDB user names provisio never manages nor lists (PV_SQL_RESERVED): the
 * connector's own login (the user part of CURRENT_USER(), whatever its host) and the built-in accounts.
 */
export async function mariadbReservedUsers(session: SqlSession): Promise<string[]> {
  const r = await session.query("SELECT CURRENT_USER() AS me", []);
  const me = String(r.rows[0]?.me ?? "");
  // 'user@host': the host part holds no '@', the user part may
  const at = me.lastIndexOf("@");
  return [at < 0 ? me : me.slice(0, at), ...MARIADB_BUILTIN_ACCOUNTS];
}

/** `$.account_locked` of mysql.global_priv's Priv, as JSON_VALUE returns it: locked or not. */
function isLocked(v: unknown): boolean {
  return v === 1 || v === "1" || v === "true" || v === true;
}

/** MariaDB errnos that mean an operation already holds (a concurrent job got there first). */
const ER_CANNOT_USER = 1396; // CREATE USER of an existing account
const ER_CANNOT_REVOKE_ROLE = 1962; // REVOKE of a role not granted

/**
 * The MariaDB roles backend for account `'<user>'@'<host>'` (see the module doc).
 * @throws PermanentError PV_SQL_NAME (at read) when `user` is empty or holds a NUL character
 */
export function mariadbRoles(session: SqlSession, user: string, host: string): AccountBackend {
  const account = `${mysql.escape(user)}@${mysql.escape(host)}`;
  const q = (role: string) => mysql.escapeId(role, true);
  const badName = (name: string): string | undefined => {
    if (name.length === 0) return "an empty name";
    if (name.includes("\u0000")) return "a name with a NUL character";
    return undefined;
  };
  const entitlements = async (): Promise<Set<string>> => {
    const r = await session.query("SELECT Role AS role FROM mysql.roles_mapping WHERE User = ? AND Host = ?", [user, host]);
    return new Set(r.rows.map((row) => String(row.role)));
  };
  return {
    async read(entitlementKeys: readonly string[] = []): Promise<AccountState> {
      const invalid = badName(user);
      if (invalid) throw new PermanentError("PV_SQL_NAME", `${session.where}: the account name cannot be a MariaDB user: ${invalid}`);
      // never manage the connector's own login or the server's built-in accounts, as the account or as a
      // role granted to it
      const reserved = await mariadbReservedUsers(session);
      const reservedEntitlements = new Map<string, string>();
      for (const key of entitlementKeys) {
        if (!reserved.includes(key)) continue;
        const rule = key === reserved[0] ? "the connector's own login" : `a built-in account or role (${MARIADB_BUILTIN_ACCOUNTS.join(", ")})`;
        reservedEntitlements.set(key, `${session.where}: the entitlement "${key}" is a reserved name: ${rule}`);
      }
      if (reserved.includes(user)) {
        throw new PermanentError(
          "PV_SQL_RESERVED",
          `${session.where}: "${user}" is the connector's own login or a built-in account; provisio does not manage it`,
        );
      }
      const r = await session.query("SELECT JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User = ? AND Host = ?", [user, host]);
      const row = r.rows[0];
      if (!row) return { exists: false, active: false, entitlements: new Set(), reservedEntitlements };
      return { exists: true, active: !isLocked(row.locked), nativeId: user, entitlements: await entitlements(), reservedEntitlements };
    },
    readEntitlements: () => entitlements(),
    async create(): Promise<StepOutcome> {
      try {
        await session.query(`CREATE USER ${account} IDENTIFIED VIA mysql_native_password USING 'invalid'`);
        return "applied";
      } catch (err) {
        if (isDriverCode(err, ER_CANNOT_USER)) return "already";
        throw err;
      }
    },
    async enable(): Promise<StepOutcome> {
      await session.query(`ALTER USER ${account} ACCOUNT UNLOCK`);
      return "applied";
    },
    async disable(): Promise<StepOutcome> {
      await session.query(`ALTER USER ${account} ACCOUNT LOCK`);
      return "applied";
    },
    async grant(role: string): Promise<StepOutcome> {
      await session.query(`GRANT ${q(role)} TO ${account}`);
      return "applied";
    },
    async revoke(role: string): Promise<StepOutcome> {
      try {
        await session.query(`REVOKE ${q(role)} FROM ${account}`);
        return "applied";
      } catch (err) {
        if (isDriverCode(err, ER_CANNOT_REVOKE_ROLE)) return "already";
        throw err;
      }
    },
    invalidEntitlement(role: string): string | undefined {
      const invalid = badName(role);
      return invalid && `the entitlement cannot be a MariaDB role: ${invalid}`;
    },
    failure: (err) => ({ error: driverFailure("mariadb", err, session.where, false), nativeCode: nativeCodeOf("mariadb", err) }),
  };
}

/**
 * Discovery's page reader for PostgreSQL roles (see the module doc): one statement per page, rows
 * `name` (rolname), `can_login`, `roles` (its direct memberships among the keys).
 * @param entitlementKeys the request's keys: reported when held, and never listed as accounts
 */
export function postgresAccountPages(entitlementKeys: readonly string[]): AccountPageReader {
  const keys = uniqueKeys(entitlementKeys);
  return async (session, after, pageSize) => {
    const r = await session.query(
      `SELECT r.rolname::text AS name, r.rolcanlogin AS can_login,
              ARRAY(SELECT DISTINCT g.rolname::text
                      FROM pg_catalog.pg_auth_members m
                      JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid AND g.rolname::text = ANY($2::text[])) AS roles
         FROM pg_catalog.pg_roles r
        WHERE r.rolname > $1::name
          AND NOT ${pgReservedRole("r")}
          AND NOT (r.rolname::text = ANY($2::text[]))
          AND (r.rolcanlogin OR NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_auth_members x
                  JOIN pg_catalog.pg_roles mr ON mr.oid = x.member
                 WHERE x.roleid = r.oid AND NOT ${pgReservedRole("mr")}))
        ORDER BY r.rolname
        LIMIT $3`,
      [after, keys, pageSize],
    );
    const accounts: DiscoveredAccount[] = r.rows.map((row) => {
      const name = String(row.name);
      return {
        userIdInApp: name,
        nativeId: name,
        active: row.can_login === true,
        entitlements: heldAmong(keys, Array.isArray(row.roles) ? row.roles.map(String) : []),
      };
    });
    return { accounts, rows: r.rows.length, last: accounts.at(-1)?.userIdInApp };
  };
}

/**
 * Discovery's page reader for MariaDB accounts `'<user>'@'<host>'` (see the module doc): per page, the
 * accounts of mysql.global_priv, then the role grants of mysql.roles_mapping for the same range of
 * names. The reserved names are read once per pass (the first page).
 * @param host the config's user_host (lower-cased, as MariaDB stores it)
 * @param entitlementKeys the request's keys (role names): reported when held
 */
export function mariadbAccountPages(host: string, entitlementKeys: readonly string[]): AccountPageReader {
  const keys = uniqueKeys(entitlementKeys);
  let reserved: string[] | undefined;
  return async (session, after, pageSize) => {
    reserved ??= await mariadbReservedUsers(session);
    const r = await session.query(
      `SELECT User AS name, JSON_VALUE(Priv, '$.account_locked') AS locked
         FROM mysql.global_priv
        WHERE Host = ? AND User > ? AND User NOT IN (${reserved.map(() => "?").join(", ")})
        ORDER BY User
        LIMIT ?`,
      [host, after, ...reserved, pageSize],
    );
    if (r.rows.length === 0) return { accounts: [], rows: 0, last: undefined };
    const last = String(r.rows[r.rows.length - 1]!.name);
    // the grants of every name in (after, last]: the page's accounts, and reserved ones (not looked up)
    const m = await session.query("SELECT User AS name, Role AS role FROM mysql.roles_mapping WHERE Host = ? AND User > ? AND User <= ?", [host, after, last]);
    const held = new Map<string, Set<string>>();
    for (const row of m.rows) {
      const name = String(row.name);
      let set = held.get(name);
      if (!set) held.set(name, (set = new Set()));
      set.add(String(row.role));
    }
    const accounts: DiscoveredAccount[] = r.rows.map((row) => {
      const name = String(row.name);
      return { userIdInApp: name, nativeId: name, active: !isLocked(row.locked), entitlements: heldAmong(keys, held.get(name) ?? []) };
    });
    return { accounts, rows: r.rows.length, last };
  };
}
