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
 */
import mysql from "mysql2";
import pg from "pg";
import { PermanentError } from "../../errors.js";
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
    async read(): Promise<AccountState> {
      const r = await session.query(
        `SELECT current_setting('max_identifier_length')::int AS max_length,
                (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname::text = $1) AS can_login,
                (SELECT rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls OR rolname::text = current_user::text
                   OR left(rolname::text, 3) = 'pg_'
                   FROM pg_catalog.pg_roles WHERE rolname::text = $1) AS reserved`,
        [user],
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
      return { exists, active: row.can_login === true, nativeId: exists ? user : undefined, entitlements: exists ? await entitlements() : new Set() };
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
    async read(): Promise<AccountState> {
      const invalid = badName(user);
      if (invalid) throw new PermanentError("PV_SQL_NAME", `${session.where}: the account name cannot be a MariaDB user: ${invalid}`);
      // never manage the connector's own login or the server's built-in accounts
      const self = await session.query("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AS me", []);
      if (String(self.rows[0]?.me) === user || ["root", "mariadb.sys", "mysql", "PUBLIC"].includes(user)) {
        throw new PermanentError(
          "PV_SQL_RESERVED",
          `${session.where}: "${user}" is the connector's own login or a built-in account; provisio does not manage it`,
        );
      }
      const r = await session.query("SELECT JSON_VALUE(Priv, '$.account_locked') AS locked FROM mysql.global_priv WHERE User = ? AND Host = ?", [user, host]);
      const row = r.rows[0];
      if (!row) return { exists: false, active: false, entitlements: new Set() };
      const locked = row.locked === 1 || row.locked === "1" || row.locked === "true" || row.locked === true;
      return { exists: true, active: !locked, nativeId: user, entitlements: await entitlements() };
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
