/**
 * job_start (stored procedure of the same name): lock the job row, skip it when final or out of
 * attempts, mark it processing and count the attempt; returns the started row, or undefined when there
 * is nothing to do. Batched: starts requested while one is in flight go out together as job_start_many.
 * Normally the database has already started the job when graphile-worker's get_job locked it
 * (provisio_start_attempt), and this is not called.
 */
import { Batcher } from "../batcher.js";
import { query, type PgHelpers } from "./query.js";

interface StartItem {
  helpers: PgHelpers;
  jobId: string;
}

const starts = new Batcher<StartItem, Record<string, unknown> | undefined>(
  async (items) => {
    const rows = await query<Record<string, unknown> & { id: string }>(items[0]!.helpers, "SELECT * FROM job_start_many($1)", [items.map((i) => i.jobId)]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return items.map((i) => byId.get(i.jobId));
  },
  async (item) => (await query(item.helpers, "SELECT * FROM job_start($1)", [item.jobId]))[0],
);

/** Start job `jobId`: its row as job_start returns it, or undefined when it is final or exhausted. */
export function jobStart(helpers: PgHelpers, jobId: string): Promise<Record<string, unknown> | undefined> {
  return starts.call({ helpers, jobId });
}
