/**
 * job_complete (stored procedure): mark the job completed with its result_data and result_message; the
 * provision, its order item and its order follow in the same transaction. Batched: completions requested
 * while one is in flight share one statement and one commit (job_complete_many).
 */
import { Batcher } from "../batcher.js";
import { query, type PgHelpers } from "./query.js";

interface CompleteItem {
  helpers: PgHelpers;
  jobId: string;
  resultData: Record<string, unknown>;
  message: string | null;
}

const completions = new Batcher<CompleteItem, void>(
  async (items) => {
    await query(items[0]!.helpers, "SELECT * FROM job_complete_many($1)", [
      JSON.stringify(items.map((i) => ({ job_id: i.jobId, result_data: i.resultData, result_message: i.message }))),
    ]);
    return items.map(() => undefined);
  },
  async (item) => void (await query(item.helpers, "SELECT job_complete($1, $2, $3)", [item.jobId, item.resultData, item.message])),
);

/** Complete job `jobId`. A job that is already final is left as it is. */
export function jobComplete(helpers: PgHelpers, jobId: string, resultData: Record<string, unknown>, message: string | null): Promise<void> {
  return completions.call({ helpers, jobId, resultData, message });
}
