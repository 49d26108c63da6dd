/**
 * The one way the task lifecycle talks to the database: one statement on graphile-worker's pool.
 * Retried while the database is unreachable (restart, dropped connection) for
 * PROVISIO_WRITEBACK_RETRY_SECONDS: every job_* statement is safe to repeat (they do nothing to a final
 * job), and an outcome the external system already applied must not be lost.
 */
import type { JobHelpers } from "graphile-worker";
import type pg from "pg";
import { config } from "../../config.js";
import { retryWhileDatabaseUnavailable } from "../../db/pool.js";
import { logger } from "../../logger.js";

/** What the statements need of graphile-worker's JobHelpers: a client of its pool. */
export type PgHelpers = Pick<JobHelpers, "withPgClient">;

/** Run `text` with `values`; returns the rows. Throws the database's error once retries are exhausted. */
export async function query<R extends pg.QueryResultRow>(helpers: PgHelpers, text: string, values: unknown[]): Promise<R[]> {
  return retryWhileDatabaseUnavailable(() => helpers.withPgClient(async (client) => (await client.query<R>(text, values)).rows), {
    seconds: config().PROVISIO_WRITEBACK_RETRY_SECONDS,
    log: logger(),
    what: text.slice(0, 40),
  });
}
