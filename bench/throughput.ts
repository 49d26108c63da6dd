/**
 * Throughput (steps 1-3 of a run):
 *  1. raw graphile-worker no-op job rate, with the same concurrency and batching options as provisio's
 *     worker: the dispatch limit of this machine (each throughput measurement runs warm-up jobs through
 *     a started worker first, then times N jobs from the commit that adds them to the N-th completion);
 *  2. provisio end to end (INSERT → job → worker → connector → completed → order rolled up) with the
 *     no-op connector, and 3. through the EPP simulator over TLS; each as a fraction of the raw rate.
 * N is BENCH_JOBS; a warm-up round (not counted), then BENCH_REPEAT interleaved rounds of (raw, no-op, EPP),
 * each figure the median of its rounds.
 */
import { run } from "graphile-worker";
import pg from "pg";
import { createPool } from "../src/db/pool.js";
import { logger } from "../src/logger.js";
import { graphileLogger } from "../src/worker/graphile-logger.js";
import { graphileWorkerPreset, startWorker, type WorkerOptions } from "../src/worker/runner.js";
import { account, ORDERS_AND_PROVISIONS, RUN, type Account } from "./fixtures.js";
import type { BenchOptions } from "./options.js";
import { counter, median, postgresCpuSeconds, progress, sleep, until } from "./util.js";

/** Warm-up jobs before each throughput measurement: a running worker's connections, caches and JIT are warm. */
export const warmJobs = (o: BenchOptions) => Math.min(500, Math.max(50, Math.floor(o.jobs / 4)));

/**
 * graphile-worker's own rate: a running pool (warmed with WARM jobs) runs N no-op jobs added in one
 * add_jobs; timed from that statement's commit to the N-th task run. Also measured beside the access
 * grants (access.ts).
 */
export async function rawNoopRate(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool): Promise<number> {
  const N = o.jobs;
  const WARM = warmJobs(o);
  const addJobs = (n: number) =>
    pool.query(
      `SELECT graphile_worker.add_jobs(array_agg(ROW('bench_noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec)) FROM generate_series(1, $1)`,
      [n],
    );
  const ran = counter();
  const rawPool = createPool(opts.connectionString, opts.poolMax ?? opts.concurrency + 4);
  const runner = await run({
    pgPool: rawPool,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    pollInterval: opts.pollInterval,
    taskList: { bench_noop: async () => ran.add() },
    logger: graphileLogger(logger()),
    preset: graphileWorkerPreset(opts),
  });
  await addJobs(WARM);
  await ran.reached(WARM);
  await addJobs(N);
  const t0 = performance.now();
  await ran.reached(WARM + N);
  const secs = (performance.now() - t0) / 1000;
  await runner.stop();
  await rawPool.end();
  await until(pool, `SELECT count(*) = 0 AS done FROM graphile_worker.jobs WHERE task_identifier = 'bench_noop'`);
  return N / secs;
}

/**
 * Wait until `count` orders of tenant `tenantId` are completed, as read from the order table: called when
 * that many distinct orders have been notified on provisio_order_status, whose payload is only an order
 * id and says nothing of the status (README "Roles and tenants"). One query when every notified order
 * completed, as a no-op order does in one step; a poll every 5 ms otherwise.
 * @throws when one of the tenant's orders failed (the count would never be reached)
 */
async function ordersCompleted(db: pg.Pool, tenantId: string, count: number, label: string): Promise<void> {
  for (;;) {
    const r = (
      await db.query<{ completed: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE s.name = 'completed')::int AS completed, count(*) FILTER (WHERE s.is_final AND NOT s.is_success)::int AS failed
       FROM "order" o JOIN order_status s ON s.id = o.status_id WHERE o.tenant_customer_id = $1`,
        [tenantId],
      )
    ).rows[0]!;
    if (r.failed > 0) throw new Error(`${label}: ${r.failed} order(s) failed`);
    if (r.completed >= count) return;
    await sleep(5);
  }
}

/**
 * provisio's rate: a running worker (warmed with WARM provisions) and N provision_domain rows, one order
 * each, inserted in one statement; timed from that statement's commit to the N-th "completed" order
 * notification (provisio_order_status), i.e. every job started, run, completed and rolled up to its order.
 */
async function endToEndRate(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool, acc: Account, label: string): Promise<number> {
  const N = o.jobs;
  const WARM = warmJobs(o);
  const listener = new pg.Client({ connectionString: opts.connectionString });
  await listener.connect();
  // a notification carries only an order id: orders are counted on their first notification, and their
  // status is then read back once (ordersCompleted), not per notification inside the timed window
  const notified = counter();
  const seen = new Set<string>();
  listener.on("notification", (n) => {
    if (n.payload && !seen.has(n.payload)) {
      seen.add(n.payload);
      notified.add();
    }
  });
  await listener.query("LISTEN provisio_order_status");
  const worker = await startWorker(opts);
  try {
    await pool.query(ORDERS_AND_PROVISIONS, [acc.tenantId, WARM, acc.accreditationId, `${label}-warm-${RUN}`]);
    await notified.reached(WARM);
    await ordersCompleted(pool, acc.tenantId, WARM, label);
    await pool.query(ORDERS_AND_PROVISIONS, [acc.tenantId, N, acc.accreditationId, `${label}-${RUN}`]);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const pg0 = await postgresCpuSeconds();
    await notified.reached(WARM + N);
    await ordersCompleted(pool, acc.tenantId, WARM + N, label);
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const pgCpu = (await postgresCpuSeconds()) - pg0;
    progress(
      `${label}: ${((secs * 1000) / N).toFixed(2)} ms wall per job; CPU per job: this process ${((cpu.user + cpu.system) / 1000 / N).toFixed(2)} ms, PostgreSQL ${((pgCpu * 1000) / N).toFixed(2)} ms`,
    );
    return N / secs;
  } finally {
    await worker.stop();
    await listener.end();
  }
}

/** One counted round's rates, per second. */
export interface Round {
  raw: number;
  noop: number;
  epp: number;
}

export interface Throughput {
  rounds: Round[];
  /** medians over the rounds */
  raw: number;
  noop: number;
  epp: number;
  noopRatio: number;
  eppRatio: number;
}

/**
 * The warm-up round and the BENCH_REPEAT counted rounds; each round takes fresh no-op and EPP accounts
 * (`eppConfig`: the accreditation config that reaches the simulator).
 */
export async function measureThroughput(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool, eppConfig: Record<string, unknown>): Promise<Throughput> {
  const { jobs: N, repeat: REPEAT, concurrency: CONCURRENCY } = o;
  // rounds of (raw, no-op, EPP), interleaved so that the machine's slow and fast phases hit all three;
  // each figure is the median of its rounds
  const rounds: Round[] = [];
  // a warm-up round, not counted: the first round was always the slowest (JIT, connections, caches)
  progress("warm-up round (not counted)");
  await rawNoopRate(o, opts, pool);
  await endToEndRate(o, opts, pool, await account(pool, CONCURRENCY, "warmup", "noop", {}), "warmup");
  for (let r = 1; r <= REPEAT; r++) {
    progress(`round ${r} of ${REPEAT}: raw graphile-worker no-op rate (${N} jobs), then end to end with the no-op connector and the EPP simulator`);
    const raw = await rawNoopRate(o, opts, pool);
    const noop = await endToEndRate(o, opts, pool, await account(pool, CONCURRENCY, "noop", "noop", {}), `noop${r}`);
    const epp = await endToEndRate(o, opts, pool, await account(pool, CONCURRENCY, "epp", "epp", eppConfig), `epp${r}`);
    progress(
      `round ${r}: raw ${raw.toFixed(0)}/s, no-op ${noop.toFixed(0)}/s (${((noop / raw) * 100).toFixed(1)}%), EPP ${epp.toFixed(0)}/s (${((epp / raw) * 100).toFixed(1)}%)`,
    );
    rounds.push({ raw, noop, epp });
  }
  return {
    rounds,
    raw: median(rounds.map((r) => r.raw)),
    noop: median(rounds.map((r) => r.noop)),
    epp: median(rounds.map((r) => r.epp)),
    noopRatio: median(rounds.map((r) => r.noop / r.raw)),
    eppRatio: median(rounds.map((r) => r.epp / r.raw)),
  };
}
