/**
 * job_retry (stored procedure): record a transient failure and schedule the next attempt with the job
 * type's backoff (graphile-worker run_at), or fail the job when no attempts are left.
 * @returns when the next attempt runs, or null when the job failed instead
 */
import { query, type PgHelpers } from "./query.js";

export async function jobRetry(helpers: PgHelpers, jobId: string, message: string, resultData: Record<string, unknown>): Promise<Date | null> {
  const rows = await query<{ job_retry: Date | null }>(helpers, "SELECT job_retry($1, $2, $3)", [jobId, message, resultData]);
  return rows[0]?.job_retry ?? null;
}
