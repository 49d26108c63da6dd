/**
 * job_fail (stored procedure): mark the job failed for good with a message and result_data; the
 * provision, its order item and its order follow in the same transaction. A final job is left alone.
 */
import { query, type PgHelpers } from "./query.js";

export async function jobFail(helpers: PgHelpers, jobId: string, message: string, resultData: Record<string, unknown>): Promise<void> {
  await query(helpers, "SELECT job_fail($1, $2, $3)", [jobId, message, resultData]);
}
