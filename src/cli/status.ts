/** `provisio status`: recent orders and provisions as tables (cli-table3). */
import Table from "cli-table3";
import type pg from "pg";
import { createKysely } from "../db/kysely.js";

export interface StatusOptions {
  limit: number;
  tenant?: string;
  /** also list worker processes (table worker: heartbeats) */
  workers?: boolean;
}

const short = (v: unknown) => (v === null || v === undefined ? "" : String(v));
/**
 * The end of an id, where a version 7 uuid keeps its random bits (its start is the creation time, the
 * same for rows made in the same millisecond): "…" + the last 12 hex digits. Find the row with
 * `WHERE id::text LIKE '%<digits>'`.
 */
export const idTail = (v: unknown) => (v === null || v === undefined ? "" : `…${String(v).slice(-12)}`);
const style = process.stdout.isTTY ? undefined : { head: [], border: [] };
const time = (v: unknown) => (v instanceof Date ? v.toISOString().replace("T", " ").slice(0, 19) : short(v));

/**
 * Render the status tables as text: the latest `limit` orders and provisions, the count of provisions
 * by status, and with `workers` the worker table. With `tenant` (a tenant_customer_id) every part but
 * the worker table is that tenant's only. Reads v_order and v_provision, so a session with
 * app.tenant_id set sees its tenant's rows whatever `tenant` says.
 */
export async function renderStatus(db: pg.Pool, opts: StatusOptions): Promise<string> {
  const k = createKysely(db);
  const tenant = opts.tenant || undefined;
  const orders = await k
    .selectFrom("v_order")
    .selectAll()
    .$if(tenant !== undefined, (q) => q.where("tenant_customer_id", "=", tenant!))
    .orderBy("created_date", "desc")
    .limit(opts.limit)
    .execute();
  const provisions = await k
    .selectFrom("v_provision")
    .selectAll()
    .$if(tenant !== undefined, (q) => q.where("tenant_customer_id", "=", tenant!))
    .orderBy("created_date", (ob) => ob.desc().nullsLast())
    .limit(opts.limit)
    .execute();
  const counts = await k
    .selectFrom("v_provision")
    .select(["status", k.fn.countAll<string>().as("n")])
    .$if(tenant !== undefined, (q) => q.where("tenant_customer_id", "=", tenant!))
    .groupBy("status")
    .orderBy("status")
    .execute();

  const ot = new Table({ style, head: ["order", "reference", "status", "items", "done", "failed", "created", "completed"] });
  for (const r of orders) {
    ot.push([
      idTail(r.id),
      short(r.reference),
      short(r.status),
      short(r.item_count),
      short(r.items_completed),
      short(r.items_failed),
      time(r.created_date),
      time(r.completed_date),
    ]);
  }
  const pt = new Table({ style, head: ["provision", "type", "object", "status", "attempts", "roid", "result"] });
  for (const r of provisions) {
    pt.push([
      idTail(r.id),
      short(r.provision_type),
      short(r.object_name),
      short(r.status),
      `${short(r.attempts)}/${short(r.max_attempts)}`,
      short(r.roid),
      short(r.result_message).slice(0, 60),
    ]);
  }
  const summary = counts.map((r) => `${r.status}: ${r.n}`).join(", ") || "no provisions yet";
  let text = `Orders (latest ${opts.limit})\n${ot.toString()}\n\nProvisions (latest ${opts.limit}) — ${summary}\n${pt.toString()}`;
  if (opts.workers) {
    const workers = await db.query<{
      id: string;
      host: string;
      pid: number;
      concurrency: number;
      status: string;
      started_date: Date;
      last_seen_date: Date;
      age_s: string;
      stopped_date: Date | null;
      unlocked_jobs: number | null;
      locked_jobs: string;
    }>(
      `SELECT id, host, pid, concurrency, status, started_date, last_seen_date, round(extract(epoch FROM now() - last_seen_date)::numeric, 1) AS age_s,
              stopped_date, unlocked_jobs,
              (SELECT count(*) FROM graphile_worker._private_jobs g WHERE g.locked_by = w.id) AS locked_jobs
       FROM worker w ORDER BY status = 'alive' DESC, last_seen_date DESC LIMIT $1`,
      [opts.limit],
    );
    const wt = new Table({
      style,
      head: ["worker (pool id)", "host", "pid", "concurrency", "status", "started", "last seen", "jobs locked", "jobs unlocked at death"],
    });
    for (const r of workers.rows) {
      wt.push([
        short(r.id),
        short(r.host),
        short(r.pid),
        short(r.concurrency),
        short(r.status),
        time(r.started_date),
        `${time(r.last_seen_date)} (${short(r.age_s)} s ago)`,
        short(r.locked_jobs),
        short(r.unlocked_jobs),
      ]);
    }
    text += `\n\nWorkers (heartbeats; dead = silent for PROVISIO_WORKER_TIMEOUT_MS, its jobs unlocked)\n${wt.toString()}`;
  }
  return text;
}
