/**
 * Workflow runs (docs/decisions/0008; a run is a provision_workflow row, its steps are provisions, and the
 * database advances the run in the transaction that completes a step). Two templates of no-op task steps
 * (task type `noop`, src/families/workflow/tasks.ts), published in the benchmark's database:
 *  - `bench.linear5`: 5 steps in a chain (s1 → s2 → … → s5);
 *  - `bench.fan10`: 10 steps, a root, 8 steps in parallel after it and a join after all 8.
 * Per template, a pass with a fresh tenant, each worker started with the options of the other end-to-end
 * measurements and warmed first (not counted):
 *  1. the baseline of its moment: as many no-op provisions as the runs have steps (provision_domain rows
 *     with the no-op connector, one order each: throughput.ts's "no-op end to end"), inserted in one
 *     statement, timed from its commit until a poll (every 10 ms) reads every order completed;
 *  2. BENCH_WORKFLOW_LINEAR (default 200) or BENCH_WORKFLOW_FAN (default 100) runs, one order each, inserted
 *     in one statement, timed from its commit until a poll (every 10 ms) reads every run final
 *     (workflow_run_status.is_final of its wf_status_id, what v_workflow_run.is_final shows) and every order
 *     completed: runs/s, steps/s, and the per-step overhead = (run time per step) / (baseline time per
 *     provision);
 *  3. then, through the same worker, runs inserted one per statement offering BENCH_WORKFLOW_RATE steps per
 *     second for BENCH_WORKFLOW_LATENCY_SECONDS: step-to-step latency without the queue the bulk makes.
 * From the rows of the runs of 2 and of 3, each: step-to-step latency p50/p99 (percentile_cont) over every
 * step with dependencies, its job's start_date (the attempt's start, in graphile-worker's get_job) minus
 * the latest ended_date of the steps it depends on (the now() of the transaction that completed the last
 * of them); and the checks: every run and step completed, none repaired by workflow_reconcile (a step
 * dispatched, or a run settled or its job released, outside the transaction that completed its last
 * dependency or step would show a later started_date, wf_ended_date or job end_date). A failed or blocked run, a check that fails or a pass not
 * done after BENCH_WORKFLOW_TIMEOUT_SECONDS stops the benchmark with the reason.
 */
import type pg from "pg";
import { startWorker, type WorkerOptions } from "../src/worker/runner.js";
import { account, ORDERS_AND_PROVISIONS, RUN, type Account } from "./fixtures.js";
import type { BenchOptions } from "./options.js";
import { progress, serverCpuSeconds, sleep } from "./util.js";

/** A template the benchmark publishes: its name and definition. */
interface BenchTemplate {
  name: string;
  /** what the report calls it */
  label: string;
  steps: number;
  definition: { steps: Record<string, unknown>[] };
}

const noop = (key: string, dependsOn: string[] = []) => ({ key, kind: "task", target: "noop", ...(dependsOn.length ? { depends_on: dependsOn } : {}) });

/** 5 no-op steps in a chain. */
export const LINEAR5: BenchTemplate = {
  name: "bench.linear5",
  label: "5-step linear",
  steps: 5,
  definition: { steps: [1, 2, 3, 4, 5].map((n) => noop(`s${n}`, n > 1 ? [`s${n - 1}`] : [])) },
};

const BRANCHES = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `b${n}`);
/** 10 no-op steps: a root, 8 in parallel after it, a join after all 8. */
export const FAN10: BenchTemplate = {
  name: "bench.fan10",
  label: "10-step fan-out/fan-in, 1 → 8 → 1",
  steps: 10,
  definition: { steps: [noop("root"), ...BRANCHES.map((b) => noop(b, ["root"])), noop("join", BRANCHES)] },
};

/** Warm-up counts of a pass (not counted): provisions for the baseline, runs for the template. */
export const workflowWarm = (runs: number, steps: number) => ({
  provisions: Math.max(50, Math.floor((runs * steps) / 10)),
  runs: Math.max(10, Math.floor(runs / 10)),
});

/** The baseline of a pass: no-op provisions, one order each. */
export interface Baseline {
  provisions: number;
  /** seconds from the INSERT's commit until every order was completed */
  secs: number;
  /** provisions per second */
  rate: number;
  /** CPU per provision, ms: this process (worker) and the benchmark's PostgreSQL server */
  cpuMs: { node: number; postgres: number };
}

/** One template's pass. */
export interface WorkflowPass {
  template: string;
  label: string;
  /** the template's version the runs used */
  version: number;
  /** runs in the one INSERT */
  runs: number;
  /** steps per run */
  stepsPerRun: number;
  /** the warm-up (not counted): provisions before the baseline, runs before the counted ones */
  warm: { provisions: number; runs: number };
  /** the INSERT of the runs (and their orders), runs per second */
  insertRate: number;
  /** seconds from the INSERT's commit until every run was final and every order completed */
  secs: number;
  /** runs per second, and steps per second, over `secs` */
  runRate: number;
  stepRate: number;
  /** the baseline of the pass: runs × stepsPerRun no-op provisions */
  baseline: Baseline;
  /** (secs / steps) / (baseline.secs / baseline.provisions) */
  overhead: number;
  /** CPU per step over the bulk's window, ms: this process (worker) and the benchmark's PostgreSQL server */
  cpuMs: { node: number; postgres: number };
  /** the bulk's runs, from their rows */
  bulk: RunStats;
  /** runs inserted one per statement at BENCH_WORKFLOW_RATE steps per second: offered and achieved runs/s, and their rows */
  paced: RunStats & { runs: number; offered: number; achieved: number };
}

export interface WorkflowResults {
  linear: WorkflowPass;
  fan: WorkflowPass;
}

/**
 * The template's published version with exactly this definition (one published before, on a database the
 * benchmark ran on already), else a new version INSERTed and published. Returns the version.
 */
async function publish(pool: pg.Pool, t: BenchTemplate): Promise<number> {
  const def = JSON.stringify(t.definition);
  const found = await pool.query<{ version: number }>(
    "SELECT version FROM workflow_template WHERE name = $1 AND status = 'published' AND definition = $2::jsonb ORDER BY version DESC LIMIT 1",
    [t.name, def],
  );
  if (found.rows[0]) return found.rows[0].version;
  const r = await pool.query<{ version: number }>(
    `INSERT INTO workflow_template (name, version, description, definition) VALUES ($1, NULL, $2, $3) RETURNING version`,
    [t.name, `npm run bench: ${t.label}, task steps noop`, def],
  );
  const version = r.rows[0]!.version;
  await pool.query("SELECT workflow_template_publish($1, $2)", [t.name, version]);
  return version;
}

/** $1 tenant, $2 count, $3 template, $4 version, $5 order reference prefix: one order (item, plan) per run, in one statement. */
const ORDERS_AND_RUNS = `
  WITH o AS (INSERT INTO "order" (tenant_customer_id, reference) SELECT $1, $5 || g FROM generate_series(1, $2) g RETURNING id),
       i AS (INSERT INTO order_item (order_id, object_type) SELECT id, 'workflow' FROM o RETURNING id),
       p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id, 'create' FROM i RETURNING id)
  INSERT INTO provision_workflow (tenant_customer_id, template_name, template_version, input, order_item_plan_ids)
  SELECT $1, $3, $4, '{}', ARRAY[p.id] FROM p`;

/** The tenant's orders by outcome. */
const ORDER_STATUS = `
  SELECT count(*) FILTER (WHERE s.name = 'completed')::int AS completed,
         count(*) FILTER (WHERE s.is_final AND NOT s.is_success)::int AS failed,
         count(*)::int AS total
  FROM "order" o JOIN order_status s ON s.id = o.status_id WHERE o.tenant_customer_id = $1`;

/** The tenant's runs by outcome (is_final as v_workflow_run shows it, without the view's per-run step counts). */
const RUN_STATUS = `
  SELECT count(*) FILTER (WHERE s.name = 'completed')::int AS completed,
         count(*) FILTER (WHERE s.is_final AND NOT s.is_success)::int AS failed,
         count(*) FILTER (WHERE s.name = 'blocked')::int AS blocked,
         count(*) FILTER (WHERE NOT s.is_final)::int AS open,
         count(*)::int AS total
  FROM provision_workflow w JOIN workflow_run_status s ON s.id = w.wf_status_id WHERE w.tenant_customer_id = $1`;

interface Counts {
  completed: number;
  failed: number;
  total: number;
}

/**
 * Poll (every 10 ms) until the tenant has `orders` completed orders and, with `runs`, that many runs
 * completed; returns the seconds from `t0`.
 * @throws when a run or an order failed, a run is blocked, or the time is over
 */
async function allDone(pool: pg.Pool, tenant: string, orders: number, runs: number, label: string, timeoutSecs: number, t0: number): Promise<number> {
  let lastReport = performance.now();
  for (;;) {
    const o = (await pool.query<Counts>(ORDER_STATUS, [tenant])).rows[0]!;
    const r = runs > 0 ? (await pool.query<Counts & { blocked: number; open: number }>(RUN_STATUS, [tenant])).rows[0]! : undefined;
    const now = performance.now();
    if (r && (r.failed > 0 || r.blocked > 0)) await failLoudly(pool, tenant, label, r);
    if (o.failed > 0) throw new Error(`workflow ${label}: ${o.failed} of ${o.total} orders FAILED`);
    if (o.completed >= orders && (!r || r.completed >= runs)) return (now - t0) / 1000;
    if (now - t0 > timeoutSecs * 1000) {
      throw new Error(
        `workflow ${label}: not done after ${timeoutSecs} s: ${o.completed} of ${orders} orders completed` +
          (r ? `, ${r.completed} of ${runs} runs completed (${r.open} not final)` : "") +
          " (BENCH_WORKFLOW_TIMEOUT_SECONDS)",
      );
    }
    if (now - lastReport >= 5000) {
      lastReport = now;
      progress(
        `workflow ${label}: ${r ? `${r.completed} of ${runs} runs` : `${o.completed} of ${orders} orders`} completed after ${((now - t0) / 1000).toFixed(0)} s`,
      );
    }
    await sleep(10);
  }
}

/** Runs failed or blocked: say how many and why (the steps' commonest errors), and stop the benchmark. */
async function failLoudly(pool: pg.Pool, tenant: string, label: string, r: Counts & { blocked: number }): Promise<never> {
  const why = await pool.query<{ e: string; n: number }>(
    `SELECT coalesce(s.error_code || ' ' || s.error_message, s.error_code, '(no message)') AS e, count(*)::int AS n
     FROM workflow_step_run s WHERE s.tenant_customer_id = $1 AND s.status_id = wf_step_failed() GROUP BY 1 ORDER BY 2 DESC LIMIT 3`,
    [tenant],
  );
  throw new Error(
    `workflow ${label}: ${r.failed} runs FAILED and ${r.blocked} BLOCKED of ${r.total} (${r.completed} completed): ${why.rows.map((x) => `${x.n}× ${x.e}`).join("; ") || "no step failed"}`,
  );
}

interface CpuMark {
  node: NodeJS.CpuUsage;
  pg: number;
}
const cpuNow = async (pool: pg.Pool): Promise<CpuMark> => ({ node: process.cpuUsage(), pg: await serverCpuSeconds(pool) });
/** CPU ms per unit since `from`, for `n` units: this process (the worker) and the benchmark's PostgreSQL server. */
async function cpuPer(pool: pg.Pool, from: CpuMark, n: number): Promise<{ node: number; postgres: number }> {
  const c = process.cpuUsage(from.node);
  return { node: (c.user + c.system) / 1000 / n, postgres: (((await serverCpuSeconds(pool)) - from.pg) * 1000) / n };
}

/** The database's clock (the bounds of a pass's runs by created_date, which is their INSERT's now()). */
const dbNow = async (pool: pg.Pool) => (await pool.query<{ now: Date }>("SELECT clock_timestamp() AS now")).rows[0]!.now;

/**
 * The baseline: `n` no-op provisions (one order each) through a started worker, after `warm` of them not
 * counted; seconds from the INSERT's commit until the poll reads every order completed, and CPU per provision.
 */
async function baseline(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool, acc: Account, n: number, warm: number, label: string): Promise<Baseline> {
  const worker = await startWorker(opts);
  try {
    await pool.query(ORDERS_AND_PROVISIONS, [acc.tenantId, warm, acc.accreditationId, `wfbase-${label}-warm-${RUN}`]);
    await allDone(pool, acc.tenantId, warm, 0, `${label} baseline warm-up`, o.workflowTimeoutSeconds, performance.now());
    const cpu0 = await cpuNow(pool);
    await pool.query(ORDERS_AND_PROVISIONS, [acc.tenantId, n, acc.accreditationId, `wfbase-${label}-${RUN}`]);
    const t0 = performance.now();
    const secs = await allDone(pool, acc.tenantId, warm + n, 0, `${label} baseline`, o.workflowTimeoutSeconds, t0);
    return { provisions: n, secs, rate: n / secs, cpuMs: await cpuPer(pool, cpu0, n) };
  } finally {
    await worker.stop();
  }
}

/**
 * From the rows of the tenant's runs created in [$2, $3): step-to-step latency (ms, percentile_cont), run
 * duration (created_date → wf_ended_date, ms) and the checks. A step's dependencies are the `deps` of its
 * step in the run's copied definition.
 */
const STEP_STATS = `
  WITH runs AS (SELECT w.* FROM provision_workflow w WHERE w.tenant_customer_id = $1 AND w.created_date >= $2 AND w.created_date < $3),
  steps AS (
    SELECT s.*, j.start_date AS job_start, j.attempts AS job_attempts,
           (SELECT max(d.ended_date) FROM workflow_step_run d
            WHERE d.run_id = s.run_id AND d.phase = 'forward'
              AND d.step_key IN (SELECT jsonb_array_elements_text(x -> 'deps') FROM jsonb_array_elements(r.wf_definition -> 'steps') x
                                 WHERE x ->> 'key' = s.step_key)) AS deps_ended
    FROM runs r JOIN workflow_step_run s ON s.run_id = r.id AND s.phase = 'forward'
    LEFT JOIN job j ON j.id = s.job_id)
  SELECT
    (SELECT count(*)::int FROM runs) AS runs,
    (SELECT count(*)::int FROM runs r JOIN workflow_run_status rs ON rs.id = r.wf_status_id WHERE rs.name <> 'completed') AS runs_not_completed,
    (SELECT count(*)::int FROM steps) AS steps,
    (SELECT count(*)::int FROM steps WHERE status_id <> wf_step_completed() OR job_start IS NULL) AS steps_not_completed,
    (SELECT count(*)::int FROM steps WHERE job_attempts > 1) AS retried,
    (SELECT count(*)::int FROM steps WHERE started_date > deps_ended) AS late_dispatched,
    (SELECT count(*)::int FROM runs r JOIN job j ON j.id = r.job_id
     WHERE r.wf_ended_date > (SELECT max(s.ended_date) FROM workflow_step_run s WHERE s.run_id = r.id) OR j.end_date > r.wf_ended_date) AS late_settled,
    l.n AS latency_count, l.p50, l.p99, l.max,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM wf_ended_date - created_date) * 1000) FROM runs) AS run_p50,
    (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM wf_ended_date - created_date) * 1000) FROM runs) AS run_p99
  FROM (SELECT count(*)::int AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
               max(ms)::float8 AS max
        FROM (SELECT extract(epoch FROM job_start - deps_ended) * 1000 AS ms FROM steps WHERE deps_ended IS NOT NULL) x) l`;

/** Step-to-step latency (ms) over the steps that have dependencies. */
export interface StepLatency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** What the rows of a set of runs say (see STEP_STATS). */
export interface RunStats {
  latency: StepLatency;
  /** created_date → wf_ended_date, ms */
  runMs: { p50: number; p99: number };
  lateDispatched: number;
  lateSettled: number;
  retried: number;
}

/**
 * STEP_STATS over the tenant's runs created in [from, to), with its checks: exactly `runs` runs, each
 * completed, each with `stepsPerRun` completed steps, none repaired by the reconciler.
 * @throws when a check fails
 */
async function runStats(pool: pg.Pool, tenant: string, from: Date, to: Date | "infinity", runs: number, stepsPerRun: number, label: string): Promise<RunStats> {
  const s = (
    await pool.query<{
      runs: number;
      runs_not_completed: number;
      steps: number;
      steps_not_completed: number;
      retried: number;
      late_dispatched: number;
      late_settled: number;
      latency_count: number;
      p50: number;
      p99: number;
      max: number;
      run_p50: number;
      run_p99: number;
    }>(STEP_STATS, [tenant, from, to])
  ).rows[0]!;
  if (s.runs !== runs || s.runs_not_completed > 0) {
    throw new Error(`workflow ${label}: ${s.runs_not_completed} of ${s.runs} counted runs NOT COMPLETED (expected ${runs} runs)`);
  }
  if (s.steps !== runs * stepsPerRun || s.steps_not_completed > 0) {
    throw new Error(`workflow ${label}: ${s.steps_not_completed} of ${s.steps} steps NOT COMPLETED (expected ${runs * stepsPerRun} steps)`);
  }
  if (s.late_dispatched > 0 || s.late_settled > 0) {
    throw new Error(
      `workflow ${label}: ${s.late_dispatched} steps dispatched and ${s.late_settled} runs settled or released outside the transaction that completed their last dependency or step (workflow_reconcile repairs: a bug)`,
    );
  }
  return {
    latency: { count: s.latency_count, p50: s.p50, p99: s.p99, max: s.max },
    runMs: { p50: s.run_p50, p99: s.run_p99 },
    lateDispatched: s.late_dispatched,
    lateSettled: s.late_settled,
    retried: s.retried,
  };
}

const ms = (secs: number, n: number) => ((secs * 1000) / n).toFixed(2);

/** One template's pass: the baseline of its moment, the bulk of runs, the paced runs (see the module doc). */
async function workflowPass(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool, t: BenchTemplate, runs: number, label: string): Promise<WorkflowPass> {
  const steps = runs * t.steps;
  const warm = workflowWarm(runs, t.steps);
  const version = await publish(pool, t);
  progress(`workflow ${label}: baseline, ${steps} no-op provisions (one order each)`);
  const base = await baseline(o, opts, pool, await account(pool, o.concurrency, `wfbase-${label}`, "noop", {}), steps, warm.provisions, label);
  progress(
    `workflow ${label}: baseline ${base.rate.toFixed(0)} provisions/s (${base.secs.toFixed(2)} s); ${runs} runs of ${t.name} v${version} in one statement`,
  );

  const acc = await account(pool, o.concurrency, `wf-${label}`, "noop", {});
  const tenant = acc.tenantId;
  const worker = await startWorker(opts);
  try {
    await pool.query(ORDERS_AND_RUNS, [tenant, warm.runs, t.name, version, "bench-wf-warm-"]);
    await allDone(pool, tenant, warm.runs, warm.runs, `${label} warm-up`, o.workflowTimeoutSeconds, performance.now());

    // the bulk: `runs` runs in one statement
    const bulkFrom = await dbNow(pool);
    const cpu0 = await cpuNow(pool);
    const i0 = performance.now();
    const r = await pool.query(ORDERS_AND_RUNS, [tenant, runs, t.name, version, "bench-wf-"]);
    const t0 = performance.now();
    if (r.rowCount !== runs) throw new Error(`workflow ${label}: the INSERT wrote ${r.rowCount} runs, expected ${runs}`);
    const secs = await allDone(pool, tenant, warm.runs + runs, warm.runs + runs, label, o.workflowTimeoutSeconds, t0);
    const cpuMs = await cpuPer(pool, cpu0, steps);
    const pacedFrom = await dbNow(pool);
    const bulk = await runStats(pool, tenant, bulkFrom, pacedFrom, runs, t.steps, label);
    const overhead = secs / steps / (base.secs / base.provisions);
    progress(
      `workflow ${label}: ${runs} runs (${steps} steps) final in ${secs.toFixed(2)} s: ${(runs / secs).toFixed(1)} runs/s, ${(steps / secs).toFixed(0)} steps/s; ` +
        `${ms(secs, steps)} ms per step vs ${ms(base.secs, base.provisions)} ms per no-op provision (×${overhead.toFixed(2)}); ` +
        `step → step p50 ${bulk.latency.p50.toFixed(1)} p99 ${bulk.latency.p99.toFixed(1)} ms; ` +
        `CPU per step: this process ${cpuMs.node.toFixed(2)} ms, PostgreSQL ${cpuMs.postgres.toFixed(2)} ms ` +
        `(per no-op provision ${base.cpuMs.node.toFixed(2)} / ${base.cpuMs.postgres.toFixed(2)} ms); INSERT ${(runs / ((t0 - i0) / 1000)).toFixed(0)} runs/s`,
    );

    // paced: one run per statement at o.workflowRate steps per second, the queue (nearly) empty
    const perSec = o.workflowRate / t.steps;
    const n = Math.max(1, Math.round(perSec * o.workflowLatencySeconds));
    progress(`workflow ${label}: ${n} runs one at a time, ${perSec.toFixed(1)} runs/s (${o.workflowRate} steps/s)`);
    const p0 = performance.now();
    const inflight = new Set<Promise<unknown>>();
    for (let i = 0; i < n; i++) {
      const wait = p0 + (i * 1000) / perSec - performance.now();
      if (wait > 0) await sleep(wait);
      const q: Promise<unknown> = pool.query(ORDERS_AND_RUNS, [tenant, 1, t.name, version, `bench-wf-paced-${i}-`]).finally(() => inflight.delete(q));
      inflight.add(q);
    }
    await Promise.all(inflight);
    const achieved = n / ((performance.now() - p0) / 1000);
    await allDone(pool, tenant, warm.runs + runs + n, warm.runs + runs + n, `${label} paced`, o.workflowTimeoutSeconds, p0);
    const paced = await runStats(pool, tenant, pacedFrom, "infinity", n, t.steps, `${label} paced`);
    progress(
      `workflow ${label}: paced ${achieved.toFixed(1)} runs/s achieved; step → step p50 ${paced.latency.p50.toFixed(1)} p99 ${paced.latency.p99.toFixed(1)} max ${paced.latency.max.toFixed(1)} ms ` +
        `(${paced.latency.count} steps); run INSERT → completed p50 ${paced.runMs.p50.toFixed(0)} p99 ${paced.runMs.p99.toFixed(0)} ms`,
    );
    return {
      template: t.name,
      label: t.label,
      version,
      runs,
      stepsPerRun: t.steps,
      warm,
      insertRate: runs / ((t0 - i0) / 1000),
      secs,
      runRate: runs / secs,
      stepRate: steps / secs,
      baseline: base,
      overhead,
      cpuMs,
      bulk,
      paced: { runs: n, offered: perSec, achieved, ...paced },
    };
  } finally {
    await worker.stop();
  }
}

/** The workflow measurement: the linear template's pass, then the fan-out/fan-in template's. */
export async function measureWorkflow(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool): Promise<WorkflowResults> {
  const linear = await workflowPass(o, opts, pool, LINEAR5, o.workflowLinear, "linear5");
  const fan = await workflowPass(o, opts, pool, FAN10, o.workflowFan, "fan10");
  return { linear, fan };
}
