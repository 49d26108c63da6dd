/**
 * Latency (steps 4 and 6 of a run): enqueue→complete latency p50/p95/p99 at a fixed offered rate
 * (BENCH_RATE, default 200/s): a client INSERTs one order + provision per statement on schedule and
 * LISTENs for provisio_order_status; latency = notification received − INSERT sent, as an order system
 * would see it (and from the INSERT's commit reply, the figure reported first). Step 6 runs it again on
 * the same account after history.ts has written BENCH_HISTORY finished jobs.
 */
import { randomUUID } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import pg from "pg";
import { createPool } from "../src/db/pool.js";
import { startWorker, type WorkerOptions } from "../src/worker/runner.js";
import { ONE_ORDER, RUN, type Account } from "./fixtures.js";
import type { BenchOptions } from "./options.js";
import { percentile, percentiles, progress, sleep, type Percentiles } from "./util.js";

export interface Latency extends Percentiles {
  /** from sending the INSERT (what the order system sees, including the INSERT itself) */
  fromSend: Percentiles;
  count: number;
  achievedRate: number;
}

/**
 * Offered load: RATE inserts per second for LATENCY_SECONDS. Latency (ms) = enqueued (the INSERT, which
 * enqueues the job, has committed) → order-completed NOTIFY received; also reported from sending the INSERT.
 */
export async function latencyAtRate(o: BenchOptions, opts: WorkerOptions, url: string, acc: Account, label: string): Promise<Latency> {
  const { rate: RATE, latencySeconds: LATENCY_SECONDS, warmupSeconds: WARMUP_SECONDS } = o;
  const listener = new pg.Client({ connectionString: url });
  listener.on("error", (err) => progress(`listener: ${err.message}`));
  await listener.connect();
  const sentAt = new Map<string, number>();
  const committedAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  // the payload is only the order id: each order's last notification is its completion once a query
  // after the run has read that every counted order is completed (a no-op order changes status once)
  listener.on("notification", (n) => {
    if (n.payload) doneAt.set(n.payload, performance.now());
  });
  await listener.query("LISTEN provisio_order_status");
  const producers = createPool(url, 8);
  const worker = await startWorker(opts);
  await sleep(500); // let the worker settle (LISTEN, first heartbeat)
  // the first WARMUP_SECONDS of load open the worker's connections and warm each backend's function
  // caches (the first jobs waited ~100 ms); their samples are not counted
  const warmup = Math.round(RATE * WARMUP_SECONDS);
  const total = warmup + RATE * LATENCY_SECONDS;
  const interval = 1000 / RATE;
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const t0 = performance.now();
  const inflight = new Set<Promise<void>>();
  const insertMs: number[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const orderId = randomUUID();
    const sent = performance.now();
    const counted = i >= warmup;
    if (counted) sentAt.set(orderId, sent);
    const p = producers
      .query(ONE_ORDER, [acc.tenantId, acc.accreditationId, `${label}-${RUN}-${i}.test`, orderId])
      .then(() => {
        const now = performance.now();
        if (!counted) return;
        committedAt.set(orderId, now);
        insertMs.push(now - sent);
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  const achievedRate = total / ((performance.now() - t0) / 1000);
  const deadline = performance.now() + 60_000;
  const allDone = () => [...sentAt.keys()].every((id) => doneAt.has(id));
  while (!allDone() && performance.now() < deadline) await sleep(20);
  await worker.stop();
  await listener.end();
  if (!allDone()) throw new Error(`${label}: not every order completed within 60 s`);
  const notCompleted = (
    await producers.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "order" o JOIN order_status s ON s.id = o.status_id WHERE o.id = ANY($1) AND s.name <> 'completed'`,
      [[...sentAt.keys()]],
    )
  ).rows[0]!.n;
  await producers.end();
  if (notCompleted > 0) throw new Error(`${label}: ${notCompleted} notified order(s) are not completed`);
  // the "completed" NOTIFY can be handled before the INSERT's own reply: count that as 0
  const fromCommit = [...committedAt].map(([id, c]) => Math.max(0, doneAt.get(id)! - c));
  const fromSend = [...sentAt].map(([id, s]) => doneAt.get(id)! - s);
  insertMs.sort((a, b) => a - b);
  loop.disable();
  progress(
    `${label}: event loop delay p50 ${(loop.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms, max ${(loop.max / 1e6).toFixed(1)} ms`,
  );
  progress(`${label}: INSERT statement p50 ${percentile(insertMs, 0.5).toFixed(1)} ms, p99 ${percentile(insertMs, 0.99).toFixed(1)} ms`);
  return { ...percentiles(fromCommit), fromSend: percentiles(fromSend), count: fromCommit.length, achievedRate };
}
