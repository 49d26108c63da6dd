/**
 * Mode "tables": accounts and entitlements are rows in an application's own tables, reached through the
 * statements of its config (config.ts; named placeholders bound by the server, statements.ts).
 *
 * Plan: find_account (at most one row: `id`, or the first column, and optionally `active`), then
 * list_entitlements (one row per held key: `entitlement`, or the first column). Apply: create_account,
 * enable_account, disable_account, grant, revoke as planned (plan.ts). Each statement runs on its own
 * (autocommit), so a refused one does not undo the others.
 *
 * `active`: a boolean, a number (0 is false), a string (t/true/y/yes/1 are true, any case), a BIT(1)
 * buffer; NULL is false; no `active` column at all means every account found is active.
 * A concurrent job that got there first shows as a unique violation (PostgreSQL 23505, MariaDB 1062) on
 * create_account or grant: reported "already". A grant or revoke whose statement ran without changing
 * what list_entitlements returns is "failed" by plan.ts's check (an unknown entitlement whose
 * INSERT ... SELECT found no row, for example).
 *
 * Discovery ({@link tablesAccountPages}): the config's list_accounts statement reads a page of accounts
 * (rows `user_id`, `id`, optionally `active`, keyset-paged with :after and :pageSize: config.ts), then
 * list_entitlements runs once per account (:accountId the row's id, :userIdInApp its user_id; :userName,
 * :email and :displayName, which a discovery pass does not know, are NULL), all on the page's one
 * connection. That is one statement per account: for a large application, a list_entitlements that is
 * an indexed lookup keeps it cheap. Entitlements are compared with the request's keys exactly, as the
 * plan compares them.
 */
import { ConfigurationError, PermanentError } from "../../errors.js";
import type { AccountAttributes, DiscoveredAccount } from "../capabilities/account.js";
import type { CompiledStatements, StatementName } from "./config.js";
import { heldAmong, uniqueKeys, type AccountPageReader } from "./discovery.js";
import { driverFailure, isDriverCode, nativeCodeOf } from "./errors.js";
import type { AccountBackend, AccountState, StepOutcome } from "./plan.js";
import type { SqlSession } from "./pools.js";
import { bindValues, type CompiledStatement, type PlaceholderName } from "./statements.js";

/** A column of a row by name, case-insensitively (PostgreSQL folds unquoted names, MariaDB keeps them). */
function column(row: Record<string, unknown>, name: string): { found: boolean; value: unknown } {
  if (name in row) return { found: true, value: row[name] };
  const key = Object.keys(row).find((k) => k.toLowerCase() === name);
  return key === undefined ? { found: false, value: undefined } : { found: true, value: row[key] };
}

function firstColumn(row: Record<string, unknown>): unknown {
  const key = Object.keys(row)[0];
  return key === undefined ? undefined : row[key];
}

/** `active` as a boolean (see the module doc). */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "bigint") return v !== 0n;
  if (Buffer.isBuffer(v)) return v.some((b) => b !== 0);
  return ["t", "true", "y", "yes", "1", "on"].includes(String(v).trim().toLowerCase());
}

/** A key or name as text (a binary column's bytes as UTF-8). */
function text(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

/** The keys of list_entitlements' rows (`entitlement`, or the first column; NULLs left out). */
function entitlementKeysOf(rows: Record<string, unknown>[]): Set<string> {
  const keys = new Set<string>();
  for (const row of rows) {
    const c = column(row, "entitlement");
    const v = c.found ? c.value : firstColumn(row);
    if (v !== null && v !== undefined) keys.add(text(v));
  }
  return keys;
}

/** An id as bound to :accountId (numbers and strings as they are, the rest as text). */
function idValue(v: unknown): string | number {
  return typeof v === "number" || typeof v === "string" ? v : String(v);
}

/**
 * The tables backend for account `userIdInApp` with the identity's `attributes` (see the module doc).
 * @throws (at read) PermanentError PV_SQL_ACCOUNT_AMBIGUOUS when find_account returns more than one row
 *   or a row without an id; ConfigurationError when an operation needs a statement the config lacks
 */
export function tablesBackend(session: SqlSession, statements: CompiledStatements, userIdInApp: string, attributes: AccountAttributes): AccountBackend {
  const base: Partial<Record<PlaceholderName, unknown>> = {
    userIdInApp,
    userName: attributes.userName,
    email: attributes.email ?? null,
    displayName: attributes.displayName ?? null,
  };
  let accountId: string | number | undefined;
  const exec = (stmt: CompiledStatement, extra: Partial<Record<PlaceholderName, unknown>> = {}) =>
    session.query(stmt.text, bindValues(stmt, { ...base, accountId, ...extra }));
  const needed = (name: StatementName): CompiledStatement => {
    const stmt = statements[name];
    if (!stmt) throw new ConfigurationError(`sql connector (mode tables): this change needs the ${name} statement, which the config does not give`);
    return stmt;
  };
  const uniqueViolation = (err: unknown) => isDriverCode(err, session.dialect === "postgresql" ? "23505" : 1062);
  const entitlements = async (): Promise<Set<string>> => {
    const r = await exec(statements.list_entitlements);
    return entitlementKeysOf(r.rows);
  };
  return {
    async read(): Promise<AccountState> {
      const r = await exec(statements.find_account);
      if (r.rows.length === 0) {
        accountId = undefined;
        return { exists: false, active: false, entitlements: new Set() };
      }
      if (r.rows.length > 1) {
        throw new PermanentError(
          "PV_SQL_ACCOUNT_AMBIGUOUS",
          `${session.where}: find_account returned ${r.rows.length} rows for one account; it must return at most one`,
        );
      }
      const row = r.rows[0]!;
      const id = column(row, "id");
      const idRaw = id.found ? id.value : firstColumn(row);
      if (idRaw === null || idRaw === undefined)
        throw new PermanentError("PV_SQL_ACCOUNT_AMBIGUOUS", `${session.where}: find_account returned a row without an id`);
      accountId = idValue(idRaw);
      const active = column(row, "active");
      return { exists: true, active: active.found ? truthy(active.value) : true, nativeId: String(accountId), entitlements: await entitlements() };
    },
    readEntitlements: () => entitlements(),
    async create(): Promise<StepOutcome> {
      const stmt = needed("create_account");
      try {
        await exec(stmt);
        return "applied";
      } catch (err) {
        if (uniqueViolation(err)) return "already";
        throw err;
      }
    },
    async enable(): Promise<StepOutcome> {
      await exec(needed("enable_account"));
      return "applied";
    },
    async disable(): Promise<StepOutcome> {
      await exec(needed("disable_account"));
      return "applied";
    },
    async grant(key: string): Promise<StepOutcome> {
      try {
        await exec(statements.grant, { entitlement: key });
        return "applied";
      } catch (err) {
        if (uniqueViolation(err)) return "already";
        throw err;
      }
    },
    async revoke(key: string): Promise<StepOutcome> {
      await exec(statements.revoke, { entitlement: key });
      return "applied";
    },
    prepare(op): void {
      if (op === "create_account" || op === "enable_account" || op === "disable_account") needed(op);
    },
    invalidEntitlement: () => undefined,
    failure: (err) => ({ error: driverFailure(session.dialect, err, session.where, false), nativeCode: nativeCodeOf(session.dialect, err) }),
  };
}

/**
 * Discovery's page reader for mode tables (see the module doc). Keeps the user_ids of the pass, so an
 * account is listed once even from a statement that does not page as it should.
 * @param entitlementKeys the request's keys: reported when list_entitlements returns them
 * @throws ConfigurationError (PV_CONFIG, at once) when the config has no list_accounts statement;
 *   (while reading) PermanentError PV_SQL_LIST_ACCOUNTS when list_accounts returns a row without a
 *   user_id or an id, or a user_id it returned before in this pass (it ignores :after, or does not
 *   order by user_id)
 */
export function tablesAccountPages(statements: CompiledStatements, entitlementKeys: readonly string[]): AccountPageReader {
  const list = statements.list_accounts;
  if (!list) {
    throw new ConfigurationError(
      "sql connector (mode tables): discovering accounts needs the list_accounts statement (user_id, id, optionally active; :after, :pageSize), which the config does not give",
    );
  }
  const keys = uniqueKeys(entitlementKeys);
  const seen = new Set<string>();
  return async (session, after, pageSize) => {
    const r = await session.query(list.text, bindValues(list, { after, pageSize }));
    const accounts: DiscoveredAccount[] = [];
    for (const row of r.rows) {
      const userId = column(row, "user_id");
      if (!userId.found || userId.value === null || userId.value === undefined || text(userId.value) === "") {
        throw new PermanentError("PV_SQL_LIST_ACCOUNTS", `${session.where}: list_accounts returned a row without a user_id (it must return user_id, id)`);
      }
      const user = text(userId.value);
      if (seen.has(user)) {
        throw new PermanentError(
          "PV_SQL_LIST_ACCOUNTS",
          `${session.where}: list_accounts returned user_id ${JSON.stringify(user)} twice in one pass; it must return only user_id > :after, ordered by user_id`,
        );
      }
      seen.add(user);
      const id = column(row, "id");
      if (!id.found || id.value === null || id.value === undefined) {
        throw new PermanentError("PV_SQL_LIST_ACCOUNTS", `${session.where}: list_accounts returned a row without an id (it must return user_id, id)`);
      }
      const accountId = idValue(id.value);
      const held = await session.query(statements.list_entitlements.text, bindValues(statements.list_entitlements, { userIdInApp: user, accountId }));
      const active = column(row, "active");
      accounts.push({
        userIdInApp: user,
        nativeId: String(accountId),
        active: active.found ? truthy(active.value) : true,
        entitlements: heldAmong(keys, entitlementKeysOf(held.rows)),
      });
    }
    return { accounts, rows: r.rows.length, last: accounts.at(-1)?.userIdInApp };
  };
}
