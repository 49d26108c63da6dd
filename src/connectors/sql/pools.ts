/**
 * Connection pools of the sql connector: one per connection fingerprint (config.ts connectionFingerprint:
 * dialect, host, port, database, user, the secret's reference, TLS, pool size, timeouts), created on first
 * use and closed by {@link SqlPools.close} (SqlConnector.close(), the engine's one shutdown path).
 *
 * The secret is resolved by the caller on every call; when its value changed (a rotated password), the
 * fingerprint's pool is replaced: the old one is ended once the sessions it lent are released. A config
 * whose settings changed gets another fingerprint, hence another pool; a pool no call has used for
 * {@link IDLE_POOL_MS} is ended (checked whenever a session is asked for), and PostgreSQL connections
 * idle for {@link IDLE_TIMEOUT_MS} are closed (mysql2 drops connections the server closes).
 *
 * Session settings: PostgreSQL gets statement_timeout and lock_timeout (statement_timeout_ms) and
 * application_name "provisio"; MariaDB gets max_statement_time and lock_wait_timeout, and its sql_mode
 * without NO_BACKSLASH_ESCAPES (the string literals the roles mode writes with mysql2's escape() rely on
 * backslash escapes), set once per connection before its first statement.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import mysql from "mysql2/promise";
import pg from "pg";
import { ConfigurationError, TransientError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import { connectionFingerprint, describeTarget, type SqlConnectorConfig } from "./config.js";
import { driverFailure } from "./errors.js";
import type { SqlDialect } from "./statements.js";

/** ms an idle pooled PostgreSQL connection stays open. */
export const IDLE_TIMEOUT_MS = 30_000;
/** ms a pool no call has used stays open (a config whose settings changed leaves its old pool unused). */
export const IDLE_POOL_MS = 10 * 60_000;

/** Rows of a statement, and how many rows it changed (null when the driver does not say). */
export interface SqlRows {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/** One connection borrowed from a pool, for one applyDesiredState call. */
export interface SqlSession {
  readonly dialect: SqlDialect;
  /** "postgresql 127.0.0.1:5432/app", for messages */
  readonly where: string;
  /**
   * Run one statement. With `values`, they are bound by the server (PostgreSQL $n; MariaDB a prepared
   * statement with ?); without, the text is sent as it is (DDL whose identifiers the caller has quoted).
   * Driver errors are thrown as they are (classify them with errors.ts driverFailure).
   */
  query(text: string, values?: readonly unknown[]): Promise<SqlRows>;
  /** Give the connection back; `destroy` closes it instead (after an error that may have broken it). */
  release(destroy: boolean): void;
}

interface PoolEntry {
  fingerprint: string;
  dialect: SqlDialect;
  /** the secret the pool logs in with, to notice a rotation */
  secret: string;
  pg?: pg.Pool;
  mysql?: mysql.Pool;
  /** sessions lent plus callers waiting for one */
  inUse: number;
  /** replaced or closing: ended once inUse is 0 */
  retired: boolean;
  /** Date.now() of the last session lent or given back */
  lastUsed: number;
  ended?: Promise<void>;
}

/** The sql connector's pools (see the module doc). */
export class SqlPools {
  private readonly current = new Map<string, PoolEntry>();
  private readonly retired = new Set<PoolEntry>();
  private closed = false;

  /** @param options.idlePoolMs ms after which an unused pool is ended (default {@link IDLE_POOL_MS}) */
  constructor(private readonly options: { idlePoolMs?: number } = {}) {}

  /**
   * Borrow a connection for config `c`, logging in with `secret` (resolved by the caller).
   * @throws TransientError (connection refused, timeout, too many connections; configSuspect) or
   *   PermanentError with configSuspect (bad credentials, unknown database, TLS) from errors.ts;
   *   ConfigurationError when tls.ca_file cannot be read; TransientError PV_SQL_CLOSED after close()
   */
  async session(c: SqlConnectorConfig, secret: string, log: Logger): Promise<SqlSession> {
    if (this.closed) throw new TransientError("PV_SQL_CLOSED", "the sql connector is closed (the worker is stopping)");
    const fingerprint = connectionFingerprint(c);
    this.endUnused(fingerprint);
    let entry = this.current.get(fingerprint);
    if (entry && entry.secret !== secret) {
      log.info(
        { target: describeTarget(c), pool: fingerprint.slice(0, 12) },
        "sql connector: the secret changed; new connections use it, the old pool is closed when idle",
      );
      this.retire(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = this.create(c, fingerprint, secret, log);
      this.current.set(fingerprint, entry);
    }
    const e = entry;
    const where = describeTarget(c);
    e.inUse++;
    e.lastUsed = Date.now();
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      e.inUse--;
      e.lastUsed = Date.now();
      if (e.retired && e.inUse === 0) void this.end(e);
    };
    try {
      if (e.pg) {
        const client = await e.pg.connect();
        return {
          dialect: "postgresql",
          where,
          query: async (text, values) => {
            const r = await client.query({ text, values: values ? [...values] : undefined });
            return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount };
          },
          release: (destroy) => {
            if (released) return;
            client.release(destroy ? true : undefined);
            done();
          },
        };
      }
      const conn = await e.mysql!.getConnection();
      try {
        await initMariadbConnection(conn, c.statement_timeout_ms);
      } catch (err) {
        conn.destroy();
        throw err;
      }
      return {
        dialect: "mariadb",
        where,
        query: async (text, values) => {
          const [result] = values && values.length > 0 ? await conn.execute(text, [...values] as never) : await conn.query(text);
          if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], rowCount: result.length };
          const header = result as mysql.ResultSetHeader;
          return { rows: [], rowCount: typeof header.affectedRows === "number" ? header.affectedRows : null };
        },
        release: (destroy) => {
          if (released) return;
          if (destroy) conn.destroy();
          else conn.release();
          done();
        },
      };
    } catch (err) {
      done();
      throw driverFailure(c.dialect, err, where, true);
    }
  }

  /** The number of pools open (current and being retired), for tests. */
  get size(): number {
    return this.current.size + this.retired.size;
  }

  /**
   * End every pool and refuse new sessions (PV_SQL_CLOSED). Pools with sessions lent end when the last
   * one is released; the returned promise waits for that.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.current.values()) this.retire(e);
    this.current.clear();
    await Promise.all([...this.retired].map((e) => (e.inUse === 0 ? this.end(e) : waitEnded(e))));
  }

  /** Retire the pools (but `keep`) that lent nothing for idlePoolMs. */
  private endUnused(keep: string): void {
    const limit = Date.now() - (this.options.idlePoolMs ?? IDLE_POOL_MS);
    for (const e of [...this.current.values()]) {
      if (e.fingerprint !== keep && e.inUse === 0 && e.lastUsed < limit) this.retire(e);
    }
  }

  private retire(e: PoolEntry): void {
    e.retired = true;
    if (this.current.get(e.fingerprint) === e) this.current.delete(e.fingerprint);
    this.retired.add(e);
    if (e.inUse === 0) void this.end(e);
  }

  private end(e: PoolEntry): Promise<void> {
    e.ended ??= (async () => {
      try {
        if (e.pg) await e.pg.end();
        if (e.mysql) await e.mysql.end();
      } catch {
        // a pool that fails to end has nothing left we could do anything about
      } finally {
        this.retired.delete(e);
        for (const w of waiters.get(e) ?? []) w();
        waiters.delete(e);
      }
    })();
    return e.ended;
  }

  private create(c: SqlConnectorConfig, fingerprint: string, secret: string, log: Logger): PoolEntry {
    const entry: PoolEntry = { fingerprint, dialect: c.dialect, secret, inUse: 0, retired: false, lastUsed: Date.now() };
    const ca = c.tls?.ca_file ? readCa(c.tls.ca_file) : undefined;
    if (c.dialect === "postgresql") {
      const ssl: TlsOptions | false = c.tls ? { ca, rejectUnauthorized: c.tls.reject_unauthorized, servername: c.tls.servername } : false;
      const pool = new pg.Pool({
        host: c.host,
        port: c.port,
        database: c.database,
        user: c.user,
        password: secret,
        ssl,
        max: c.pool_size,
        connectionTimeoutMillis: c.connect_timeout_ms,
        idleTimeoutMillis: IDLE_TIMEOUT_MS,
        statement_timeout: c.statement_timeout_ms,
        lock_timeout: c.statement_timeout_ms,
        application_name: "provisio",
      });
      // an idle connection that breaks (server restart) must not crash the process; the pool drops it
      pool.on("error", (err) => log.warn({ target: describeTarget(c), err: err.message }, "sql connector: an idle PostgreSQL connection failed"));
      entry.pg = pool;
    } else {
      entry.mysql = mysql.createPool({
        host: c.host,
        port: c.port,
        database: c.database,
        user: c.user,
        password: secret,
        ssl: c.tls ? { ca, rejectUnauthorized: c.tls.reject_unauthorized, verifyIdentity: c.tls.reject_unauthorized } : undefined,
        connectionLimit: c.pool_size,
        connectTimeout: c.connect_timeout_ms,
        waitForConnections: true,
        queueLimit: 0,
        multipleStatements: false,
        charset: "utf8mb4_general_ci",
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
      });
    }
    return entry;
  }
}

const waiters = new WeakMap<PoolEntry, (() => void)[]>();
function waitEnded(e: PoolEntry): Promise<void> {
  return new Promise((resolve) => {
    const list = waiters.get(e) ?? [];
    list.push(resolve);
    waiters.set(e, list);
  });
}

/** MariaDB connections set up by {@link initMariadbConnection} (keyed by mysql2's core connection). */
const initialised = new WeakSet<object>();

/** Set a new MariaDB connection's session variables once (see the module doc). */
async function initMariadbConnection(conn: mysql.PoolConnection, statementTimeoutMs: number): Promise<void> {
  const core = conn.connection as unknown as object;
  if (initialised.has(core)) return;
  const [rows] = await conn.query("SELECT @@SESSION.sql_mode AS m");
  const mode = String((rows as { m: unknown }[])[0]?.m ?? "");
  const cleaned = mode
    .split(",")
    .filter((m) => m && m.toUpperCase() !== "NO_BACKSLASH_ESCAPES")
    .join(",");
  await conn.query("SET SESSION sql_mode = ?, SESSION max_statement_time = ?, SESSION lock_wait_timeout = ?", [
    cleaned,
    statementTimeoutMs / 1000,
    Math.max(1, Math.ceil(statementTimeoutMs / 1000)),
  ]);
  initialised.add(core);
}

/**
 * The PEM text of tls.ca_file, read when a pool is created.
 * @throws ConfigurationError (PV_CONFIG) when it cannot be read
 */
function readCa(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigurationError(`sql connector: cannot read tls.ca_file ${file}`, { cause: err });
  }
}
