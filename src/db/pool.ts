/**
 * node-postgres pools. One pool per process is shared by graphile-worker, the tasks and kysely.
 */
import pRetry from "p-retry";
import pg from "pg";
import { isDatabaseUnavailable } from "../errors.js";
import { logger, type Logger } from "../logger.js";

/** Create a pool for a postgres:// URL. Idle-client errors (server restart) are logged, not thrown. */
export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: "provisio" });
  const onClientError = (err: Error & { code?: string }) => logger().warn({ code: err.code, err: err.message }, "database client failed; it will be replaced");
  pool.on("error", onClientError);
  // graphile-worker asks for an error handler on every client, so a dropped connection is logged, not fatal
  pool.on("connect", (client) => client.on("error", onClientError));
  return pool;
}

/** Run fn inside BEGIN/COMMIT on one client; ROLLBACK and rethrow on error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Run fn, and run it again with exponential backoff (0.2 s doubling to 5 s, via p-retry) while it fails
 * because the database is unreachable ({@link isDatabaseUnavailable}: restart, dropped connection), for
 * up to `seconds`. Any other error, or the last one after `seconds`, is thrown unchanged.
 * fn must be safe to repeat: a statement may have committed before its connection dropped.
 */
export async function retryWhileDatabaseUnavailable<T>(fn: () => Promise<T>, opts: { seconds: number; log: Logger; what: string }): Promise<T> {
  if (opts.seconds <= 0) return fn();
  try {
    return await fn(); // the usual case: no retry machinery on the hot path
  } catch (err) {
    if (!isDatabaseUnavailable(err)) throw err;
    opts.log.warn({ err: (err as Error).message, what: opts.what }, "database unreachable; retrying");
  }
  return pRetry(fn, {
    shouldRetry: (err) => isDatabaseUnavailable(err),
    retries: Math.ceil(opts.seconds / 5) + 10, // enough for opts.seconds at the 5 s cap; maxRetryTime ends it
    minTimeout: 200,
    maxTimeout: 5_000,
    factor: 2,
    maxRetryTime: opts.seconds * 1000,
  });
}
