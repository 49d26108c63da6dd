/**
 * The sql connector's configuration (connector_config of an application whose connector type is "sql"),
 * parsed with zod. Shape (JSON):
 *
 *   { "dialect": "postgresql" | "mariadb",
 *     "host": "db.example", "port": 5432,                 // default 5432 (postgresql) / 3306 (mariadb)
 *     "database": "app", "user": "provisio",
 *     "password_env": "APP_DB_PASSWORD" | "password_file": "/run/secrets/app-db",   // exactly one, by reference
 *     "tls": { "ca_file": "/path/ca.pem", "reject_unauthorized": true, "servername": "db.example" },
 *                                                         // optional; absent: no TLS. servername: postgresql only
 *     "pool_size": 4, "connect_timeout_ms": 10000, "statement_timeout_ms": 30000,
 *     "mode": "roles" | "tables",
 *     "user_host": "%",                                   // mariadb, mode roles: the host part of 'user'@'host'
 *     "statements": { ... } }                             // mode tables only, see below
 *
 * mode "tables" statements (named placeholders, bound, never interpolated: src/connectors/sql/statements.ts):
 *   find_account       returns at most one row: `id` (or the first column) and optionally `active`
 *                      (:userIdInApp, :userName, :email, :displayName)
 *   create_account     optional (:userIdInApp, :userName, :email, :displayName)
 *   enable_account     optional (+ :accountId)
 *   disable_account    optional (+ :accountId)
 *   list_entitlements  returns one row per held entitlement: `entitlement` (or the first column)
 *                      (+ :accountId)
 *   grant, revoke      (+ :accountId, :entitlement)
 *   list_accounts      optional; discovery only (SqlConnector.discoverAccounts): one page of accounts,
 *                      rows `user_id` (the userIdInApp), `id` (the account id, as find_account returns
 *                      it: list_entitlements gets it as :accountId) and optionally `active`, ordered by
 *                      user_id and keyset-paged (:after, the last user_id of the previous page, '' for
 *                      the first; :pageSize, the most rows to return), e.g.
 *                      SELECT login AS user_id, id, active FROM users WHERE login > :after
 *                       ORDER BY login LIMIT :pageSize
 *                      (no other placeholder; a user_id that is not text is compared as the statement
 *                      says: cast it there). Without it, discovery throws a ConfigurationError.
 * Keys this schema does not know are ignored (stripped), so a config row may carry settings of others.
 */
import { z } from "zod";
import { secretRefSchema } from "../../config.js";
import { ConfigurationError } from "../../errors.js";
import { compileStatement, StatementError, type CompiledStatement, type PlaceholderName } from "./statements.js";
import { fingerprint } from "../../util/fingerprint.js";

const ACCOUNT_INPUTS: PlaceholderName[] = ["userIdInApp", "userName", "email", "displayName"];
const WITH_ID: PlaceholderName[] = [...ACCOUNT_INPUTS, "accountId"];
const WITH_ENTITLEMENT: PlaceholderName[] = [...WITH_ID, "entitlement"];

/** The placeholders each tables-mode statement may use. */
export const STATEMENT_PLACEHOLDERS = {
  find_account: ACCOUNT_INPUTS,
  create_account: ACCOUNT_INPUTS,
  enable_account: WITH_ID,
  disable_account: WITH_ID,
  list_entitlements: WITH_ID,
  grant: WITH_ENTITLEMENT,
  revoke: WITH_ENTITLEMENT,
  list_accounts: ["after", "pageSize"],
} as const satisfies Record<string, readonly PlaceholderName[]>;
export type StatementName = keyof typeof STATEMENT_PLACEHOLDERS;

const statementsSchema = z.object({
  find_account: z.string().min(1),
  create_account: z.string().min(1).optional(),
  enable_account: z.string().min(1).optional(),
  disable_account: z.string().min(1).optional(),
  list_entitlements: z.string().min(1),
  grant: z.string().min(1),
  revoke: z.string().min(1),
  list_accounts: z.string().min(1).optional(),
});

const tlsSchema = z.object({
  /** PEM file of the CA(s) to trust; read when a pool is created */
  ca_file: z.string().min(1).optional(),
  /** verify the server's certificate (and, for mariadb, its host name) */
  reject_unauthorized: z.boolean().default(true),
  /** the name to verify the certificate against (postgresql only) */
  servername: z.string().min(1).optional(),
});

const common = {
  host: z.string().min(1),
  database: z.string().min(1),
  user: z.string().min(1),
  password_env: z.string().min(1).optional(),
  password_file: z.string().min(1).optional(),
  tls: tlsSchema.optional(),
  /** connections per pool (one pool per connection settings, src/connectors/sql/pools.ts) */
  pool_size: z.number().int().min(1).max(100).default(4),
  /** ms to open a connection (and, postgresql, to wait for a free one) */
  connect_timeout_ms: z.number().int().min(100).max(300_000).default(10_000),
  /** ms a statement may run (postgresql statement_timeout and lock_timeout; mariadb max_statement_time and lock_wait_timeout) */
  statement_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000),
  mode: z.enum(["roles", "tables"]),
  statements: statementsSchema.optional(),
};

const postgresqlSchema = z.object({
  dialect: z.literal("postgresql"),
  port: z.number().int().min(1).max(65535).default(5432),
  ...common,
});

const mariadbSchema = z.object({
  dialect: z.literal("mariadb"),
  port: z.number().int().min(1).max(65535).default(3306),
  ...common,
  /** the host part of the accounts created in mode roles ('user'@'host'); MariaDB stores it lower-cased */
  user_host: z
    .string()
    .min(1)
    .max(255)
    .default("%")
    .transform((h) => h.toLowerCase()),
});

/**
 * The sql connector's configuration schema, discriminated by `dialect` (see the module doc for the
 * shape). Checks besides the fields' own: exactly one of password_env / password_file; mode "tables"
 * needs `statements`, each one compiling with only the placeholders it may use; mode "roles" takes no
 * `statements`; `user_host` only with mariadb roles; `tls.servername` only with postgresql.
 */
export const sqlConnectorConfigSchema = z.discriminatedUnion("dialect", [postgresqlSchema, mariadbSchema]).superRefine((c, ctx) => {
  const secret = secretRefSchema.safeParse({ password_env: c.password_env, password_file: c.password_file });
  if (!secret.success) ctx.addIssue({ code: "custom", message: secret.error.issues[0]!.message, path: ["password_env"] });
  if (c.mode === "tables") {
    if (!c.statements) {
      ctx.addIssue({
        code: "custom",
        message:
          "mode tables needs statements (find_account, list_entitlements, grant, revoke; optionally create_account, enable_account, disable_account, list_accounts)",
        path: ["statements"],
      });
    } else {
      for (const [name, sql] of Object.entries(c.statements) as [StatementName, string | undefined][]) {
        if (sql === undefined) continue;
        try {
          compileStatement(sql, c.dialect, STATEMENT_PLACEHOLDERS[name]);
        } catch (err) {
          if (!(err instanceof StatementError)) throw err;
          ctx.addIssue({ code: "custom", message: err.message, path: ["statements", name] });
        }
      }
    }
  } else if (c.statements) {
    ctx.addIssue({ code: "custom", message: "statements are used with mode tables only", path: ["statements"] });
  }
  if (c.dialect === "mariadb" && c.mode === "tables" && c.user_host !== "%") {
    ctx.addIssue({ code: "custom", message: "user_host is used with mode roles only", path: ["user_host"] });
  }
  if (c.dialect === "mariadb" && c.tls?.servername) {
    ctx.addIssue({
      code: "custom",
      message: "tls.servername is supported with dialect postgresql only (mariadb verifies the host name itself)",
      path: ["tls", "servername"],
    });
  }
});
export type SqlConnectorConfig = z.infer<typeof sqlConnectorConfigSchema>;

/**
 * Parse an application's connector configuration.
 * @throws ConfigurationError (PV_CONFIG) naming every bad field and the rule it breaks (never a value)
 */
export function parseSqlConfig(config: unknown): SqlConnectorConfig {
  const parsed = sqlConnectorConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`).join("; ");
    throw new ConfigurationError(`invalid sql connector config: ${problems}`);
  }
  return parsed.data;
}

/** The tables-mode statements a config may leave out. */
type OptionalStatement = "create_account" | "enable_account" | "disable_account" | "list_accounts";

/** The tables-mode statements of a config, compiled for its dialect (absent optional ones stay undefined). */
export type CompiledStatements = {
  [K in StatementName]: K extends OptionalStatement ? CompiledStatement | undefined : CompiledStatement;
};

/**
 * Compile a tables-mode config's statements.
 * @throws ConfigurationError when the config is not in mode tables (the schema has checked the statements)
 */
export function compileStatements(c: SqlConnectorConfig): CompiledStatements {
  const s = c.statements;
  if (c.mode !== "tables" || !s) throw new ConfigurationError("sql connector: statements are compiled for mode tables only");
  const one = (name: StatementName) => {
    const sql = s[name];
    return sql === undefined ? undefined : compileStatement(sql, c.dialect, STATEMENT_PLACEHOLDERS[name]);
  };
  return {
    find_account: one("find_account")!,
    create_account: one("create_account"),
    enable_account: one("enable_account"),
    disable_account: one("disable_account"),
    list_entitlements: one("list_entitlements")!,
    grant: one("grant")!,
    revoke: one("revoke")!,
    list_accounts: one("list_accounts"),
  };
}

/** The settings a connection pool depends on (not the statements, not the mode). */
export function connectionSettings(c: SqlConnectorConfig) {
  return {
    dialect: c.dialect,
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password_env: c.password_env,
    password_file: c.password_file,
    tls: c.tls,
    pool_size: c.pool_size,
    connect_timeout_ms: c.connect_timeout_ms,
    statement_timeout_ms: c.statement_timeout_ms,
  };
}
export type SqlConnectionSettings = ReturnType<typeof connectionSettings>;

/**
 * Hex SHA-256 of the connection settings (object keys sorted, undefined left out): one pool per
 * fingerprint. Holds the secret's reference (variable name or file path), never its value.
 */
export function connectionFingerprint(c: SqlConnectorConfig): string {
  return fingerprint(connectionSettings(c));
}

/** "postgresql 127.0.0.1:5432/app" — for messages and logs (no user, no secret). */
export function describeTarget(c: SqlConnectorConfig | SqlConnectionSettings): string {
  return `${c.dialect} ${c.host}:${c.port}/${c.database}`;
}
