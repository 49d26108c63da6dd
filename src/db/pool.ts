/**
 * node-postgres pools. One pool per process is shared by graphile-worker, the tasks and kysely.
 */
import pg from "pg";
import { logger } from "../logger.js";

/** Create a pool for a postgres:// URL. Idle-client errors (server restart) are logged, not thrown. */
export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: "provisio" });
  const onClientError = (err: Error & { code?: string }) =>
    logger().warn({ code: err.code, err: err.message }, "database client failed; it will be replaced");
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
