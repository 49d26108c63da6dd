/**
 * The sql connector (connector type "sql", capability "account"): an application's accounts and
 * entitlements in a PostgreSQL or MariaDB database, for the access family (seed 002 "Provisioning
 * Connector Adapters"; issue 12 "sql"). Two modes (config.ts for the configuration):
 * - "roles": users are database logins and entitlements database roles (roles.ts);
 * - "tables": rows in the application's own user and role tables, through the config's parameterised
 *   statements (tables.ts, statements.ts).
 * Each call plans then applies (plan.ts): reads the account and what it holds, runs only what changes
 * something, checks the result; `dryRun` reads only. One connection per call, from a pool per
 * connection settings (pools.ts); identifiers are quoted with the driver's functions, values bound.
 * Errors (errors.ts): transient ones (connection refused, timeouts, too many connections, deadlock,
 * serialization failure) are thrown as TransientError, a session that cannot be opened with these
 * settings (bad credentials, unknown database, TLS) as PermanentError with configSuspect, a bad config
 * or missing secret as ConfigurationError; a refused operation (an unknown role) is recorded on that
 * operation with its SQLSTATE / errno and the others go on.
 * Secrets are resolved by reference (password_env / password_file) on every call, never logged or
 * returned; a rotated secret replaces the pool.
 * Discovery (discoverAccounts, discovery.ts): the accounts page by page with the entitlements they hold,
 * read-only: roles mode from the catalog (roles.ts), tables mode through the optional list_accounts
 * statement (tables.ts).
 */
import { resolveSecret } from "../../config.js";
import { PermanentError } from "../../errors.js";
import type { AccountDesiredState, AccountOperations, AccountResult, DiscoveredAccount, DiscoveryRequest } from "../capabilities/account.js";
import type { SchemaMigration, SchemaOperations } from "../capabilities/schema.js";
import type { Capability, CommandContext, Connector } from "../types.js";
import { compileStatements, describeTarget, parseSqlConfig } from "./config.js";
import { discoverPages, type AccountPageReader } from "./discovery.js";
import { reconcile, type AccountBackend } from "./plan.js";
import { SqlPools, type SqlSession } from "./pools.js";
import { mariadbAccountPages, mariadbRoles, postgresAccountPages, postgresRoles } from "./roles.js";
import { dropSchema, ensureSchema, exportSchema } from "./schema.js";
import { tablesAccountPages, tablesBackend } from "./tables.js";

export { sqlConnectorConfigSchema, parseSqlConfig, type SqlConnectorConfig } from "./config.js";

/** Options of a {@link SqlConnector}. */
export interface SqlConnectorOptions {
  /** where password_env is looked up (default process.env) */
  env?: NodeJS.ProcessEnv;
}

/**
 * The sql connector (see the module doc). One instance per process (src/connectors/registry.ts);
 * {@link SqlConnector.close} ends its pools.
 */
export class SqlConnector implements Connector, AccountOperations, SchemaOperations {
  readonly type = "sql";
  readonly capabilities: readonly Capability[] = ["account", "schema"];
  private readonly pools = new SqlPools();

  constructor(private readonly options: SqlConnectorOptions = {}) {}

  /**
   * Bring the account of `desired.userIdInApp` to the desired state (src/connectors/capabilities/account.ts).
   * @param config the application's connector configuration, parsed with sqlConnectorConfigSchema
   * @returns every operation with its outcome; nativeId is the login name (roles) or the id find_account
   *   returned (tables), when the account exists; in roles mode, the grant or revoke of an entitlement
   *   that is a reserved role (the connector's own login, a superuser or administrative role, a `pg_`
   *   role, MariaDB's built-in accounts) is "failed" with native_code PV_SQL_RESERVED (roles.ts)
   * @throws ConfigurationError (PV_CONFIG: invalid config, secret not set or unreadable, tls.ca_file
   *   unreadable, a tables-mode statement the change needs and the config lacks); TransientError
   *   (retry); PermanentError (bad credentials or unknown database: configSuspect; PV_SQL_NAME: the
   *   account name cannot be a role; PV_SQL_ACCOUNT_AMBIGUOUS: find_account returned several rows)
   */
  async applyDesiredState(config: unknown, desired: AccountDesiredState, ctx: CommandContext & { dryRun?: boolean }): Promise<AccountResult> {
    const c = parseSqlConfig(config);
    if (typeof desired.userIdInApp !== "string" || desired.userIdInApp.length === 0) {
      throw new PermanentError("PV_SQL_NAME", `${describeTarget(c)}: userIdInApp is empty`);
    }
    const secret = resolveSecret({ password_env: c.password_env, password_file: c.password_file }, this.options.env);
    const dryRun = ctx.dryRun === true;
    const log = ctx.log.child({ connector: "sql", target: describeTarget(c), mode: c.mode, userIdInApp: desired.userIdInApp });
    const session = await this.pools.session(c, secret, log);
    let failed = true;
    try {
      let backend: AccountBackend;
      if (c.mode === "tables") backend = tablesBackend(session, compileStatements(c), desired.userIdInApp, desired.attributes);
      else if (c.dialect === "postgresql") backend = postgresRoles(session, desired.userIdInApp);
      else backend = mariadbRoles(session, desired.userIdInApp, c.user_host);
      const result = await reconcile(backend, desired, dryRun);
      failed = false;
      const changed = result.operations.filter((o) => o.outcome === "applied" || o.outcome === "failed");
      log[changed.length > 0 ? "info" : "debug"](
        {
          dryRun,
          success: result.success,
          operations: result.operations.map((o) => `${o.op}:${o.target}:${o.outcome}${o.native_code !== undefined ? `:${o.native_code}` : ""}`),
        },
        dryRun ? "sql account planned" : "sql account applied",
      );
      return result;
    } finally {
      // after an error the connection may be broken or mid-statement: close it rather than reuse it
      session.release(failed);
    }
  }

  /**
   * List the application's accounts, page by page, each with the entitlements it holds among
   * `request.entitlementKeys` (src/connectors/capabilities/account.ts; discovery.ts, roles.ts, tables.ts).
   * Each page is at most `request.pageSize` accounts `{ userIdInApp, nativeId, active, entitlements }`:
   * - roles mode: userIdInApp and nativeId are the login name (PostgreSQL role, MariaDB user of
   *   `'<user>'@'<user_host>'`); active is LOGIN (PostgreSQL) or not ACCOUNT LOCK (MariaDB);
   *   entitlements the directly granted roles among the keys. Reserved accounts (PV_SQL_RESERVED:
   *   the connector's own login, superusers and administrative roles, `pg_` roles, MariaDB's built-in
   *   accounts) are left out, as are PostgreSQL roles that are one of the keys or a group (roles.ts).
   * - tables mode: the rows of the list_accounts statement (userIdInApp its user_id, nativeId its id,
   *   active its `active` or true), entitlements from list_entitlements per account, among the keys.
   * Keys are compared exactly and reported in the request's order, once each. Nothing is changed.
   * Errors are thrown from the iteration (the first one for a bad config or request); the pages
   * yielded before stand, the pass is partial.
   * @param config the application's connector configuration, parsed with sqlConnectorConfigSchema
   * @throws ConfigurationError (PV_CONFIG: invalid config, secret not set or unreadable, tls.ca_file
   *   unreadable, mode tables without list_accounts); PermanentError PV_SQL_REQUEST (pageSize not an
   *   integer of at least 1, entitlementKeys not an array of strings); TransientError (server down,
   *   timeout, too many connections: retry the pass); PermanentError (bad credentials or unknown
   *   database: configSuspect; a refused read, e.g. no SELECT on mysql.global_priv; PV_SQL_LIST_ACCOUNTS:
   *   list_accounts returned a row without user_id or id, or a user_id twice)
   */
  async *discoverAccounts(config: unknown, request: DiscoveryRequest, ctx: CommandContext): AsyncGenerator<DiscoveredAccount[], void, undefined> {
    const c = parseSqlConfig(config);
    const { pageSize, entitlementKeys } = request ?? {};
    if (typeof pageSize !== "number" || !Number.isSafeInteger(pageSize) || pageSize < 1) {
      throw new PermanentError("PV_SQL_REQUEST", `${describeTarget(c)}: discovery pageSize must be an integer of at least 1`);
    }
    if (!Array.isArray(entitlementKeys) || entitlementKeys.some((k) => typeof k !== "string")) {
      throw new PermanentError("PV_SQL_REQUEST", `${describeTarget(c)}: discovery entitlementKeys must be an array of strings`);
    }
    let read: AccountPageReader;
    if (c.mode === "tables") read = tablesAccountPages(compileStatements(c), entitlementKeys);
    else if (c.dialect === "postgresql") read = postgresAccountPages(entitlementKeys);
    else read = mariadbAccountPages(c.user_host, entitlementKeys);
    const log = ctx.log.child({ connector: "sql", target: describeTarget(c), mode: c.mode, discovery: true });
    // the secret is resolved for every page, as for every call: a rotation mid-pass replaces the pool
    const open = () => this.pools.session(c, resolveSecret({ password_env: c.password_env, password_file: c.password_file }, this.options.env), log);
    yield* discoverPages(c.dialect, open, read, pageSize, log);
  }

  /** A session of the application's pool for one schema operation, released (destroyed after an error) when `fn` ends. */
  private async withSession<T>(config: unknown, ctx: CommandContext, what: string, fn: (session: SqlSession) => Promise<T>): Promise<T> {
    const c = parseSqlConfig(config);
    const secret = resolveSecret({ password_env: c.password_env, password_file: c.password_file }, this.options.env);
    const log = ctx.log.child({ connector: "sql", target: describeTarget(c), op: what });
    const session = await this.pools.session(c, secret, log);
    let failed = true;
    try {
      const r = await fn(session);
      failed = false;
      log.info(what);
      return r;
    } finally {
      session.release(failed);
    }
  }

  /** The schema capability (src/connectors/capabilities/schema.ts; schema.ts). */
  ensureSchema(config: unknown, req: { schema: string; migrations: SchemaMigration[] }, ctx: CommandContext) {
    return this.withSession(config, ctx, `tenant schema ${req.schema} ensured`, (s) => ensureSchema(s, req.schema, req.migrations));
  }

  exportSchema(config: unknown, req: { schema: string }, ctx: CommandContext) {
    return this.withSession(config, ctx, `tenant schema ${req.schema} exported`, (s) => exportSchema(s, req.schema));
  }

  dropSchema(config: unknown, req: { schema: string }, ctx: CommandContext) {
    return this.withSession(config, ctx, `tenant schema ${req.schema} dropped`, (s) => dropSchema(s, req.schema));
  }

  /** End every pool (sessions lent are ended when released) and refuse further calls (PV_SQL_CLOSED). */
  async close(): Promise<void> {
    await this.pools.close();
  }
}
