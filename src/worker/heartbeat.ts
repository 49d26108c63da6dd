/**
 * Heartbeat and crash recovery for one worker process.
 *
 * Every `intervalMs` the process upserts its row in table `worker` (id = graphile-worker pool id, which
 * graphile-worker writes into `locked_by`) through worker_heartbeat(), then runs worker_recover():
 * workers silent for `timeoutMs` are declared dead and their jobs unlocked with
 * graphile_worker.force_unlock_workers(); open jobs idle for `stuckAfterMs` with no live graphile-worker
 * job are re-added (stored-procedures/engine/worker/worker.sql); then workflow_reconcile() repairs workflow
 * runs left inconsistent (stored-procedures/workflow/operations.sql). A failed beat (database restarting) is logged
 * and tried again on the next tick; it never stops the worker.
 */
import os from "node:os";
import type pg from "pg";
import type { Logger } from "../logger.js";

export interface HeartbeatOptions {
  /** ms between beats (PROVISIO_HEARTBEAT_INTERVAL_MS) */
  intervalMs: number;
  /** ms without a beat after which a worker is dead (PROVISIO_WORKER_TIMEOUT_MS) */
  timeoutMs: number;
  /** ms an open job may sit without a live graphile-worker job before it is re-added (PROVISIO_STUCK_JOB_AFTER_MS) */
  stuckAfterMs: number;
}

/** What one recovery pass did (worker_recover's result, then workflow_reconcile's). */
export interface RecoveryResult {
  deadWorkers: string[];
  unlockedJobs: number;
  redrivenJobs: string[];
  /**
   * What the workflow reconciler repaired (stored-procedures/workflow/operations.sql): ready steps nobody
   * dispatched, runs left unsettled, queued jobs of cancelling runs, unreleased run jobs, failed starts.
   * Each should be 0: a repair is a bug found (the chaos run counts them).
   */
  workflowRepairs: { readyDispatched: number; settled: number; cancelledJobs: number; released: number; startFailed: number };
}

export interface Heartbeat {
  /** run one beat and recovery pass now (also used by tests); resolves with what recovery did */
  beat(): Promise<RecoveryResult | undefined>;
  /** stop beating and mark the worker stopped (graceful shutdown) */
  stop(): Promise<void>;
}

/**
 * Start beating for the worker pool `poolId`. `onRecovered` is called with the number of jobs made
 * runnable by a pass (the runner nudges its own pool so they start without waiting for a poll).
 */
export function startHeartbeat(
  pool: pg.Pool,
  poolId: string,
  concurrency: number,
  opts: HeartbeatOptions,
  log: Logger,
  onRecovered?: (jobs: number) => void,
): Heartbeat {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<RecoveryResult | undefined> | undefined;
  let stopped = false;
  let failing = false;

  const once = async (): Promise<RecoveryResult | undefined> => {
    try {
      const prev = await pool.query<{ worker_heartbeat: string }>("SELECT worker_heartbeat($1, $2, $3, $4)", [poolId, os.hostname(), process.pid, concurrency]);
      if (prev.rows[0]?.worker_heartbeat === "dead") {
        log.error({ poolId }, "this worker had been declared dead (heartbeat too late); its locked jobs were released to other workers");
      }
      const r = await pool.query<{ dead_workers: string[]; unlocked_jobs: number; redriven_jobs: string[] }>(
        "SELECT * FROM worker_recover(make_interval(secs => $1::double precision / 1000), make_interval(secs => $2::double precision / 1000))",
        [opts.timeoutMs, opts.stuckAfterMs],
      );
      const row = r.rows[0]!;
      const w = (
        await pool.query<{ ready_dispatched: number; settled: number; cancelled_jobs: number; released: number; start_failed: number }>(
          "SELECT * FROM workflow_reconcile()",
        )
      ).rows[0]!;
      const workflowRepairs = {
        readyDispatched: w.ready_dispatched,
        settled: w.settled,
        cancelledJobs: w.cancelled_jobs,
        released: w.released,
        startFailed: w.start_failed,
      };
      const result: RecoveryResult = { deadWorkers: row.dead_workers, unlockedJobs: row.unlocked_jobs, redrivenJobs: row.redriven_jobs, workflowRepairs };
      if (Object.values(workflowRepairs).some((n) => n > 0)) log.warn({ workflowRepairs }, "workflow reconciler repaired runs (each repair is a bug found)");
      if (result.deadWorkers.length)
        log.warn({ deadWorkers: result.deadWorkers, unlockedJobs: result.unlockedJobs }, "declared silent workers dead and unlocked their jobs");
      if (result.redrivenJobs.length) log.warn({ jobs: result.redrivenJobs }, "re-added open jobs that had no live graphile-worker job");
      if (failing) log.info("heartbeat restored");
      failing = false;
      const runnable = result.unlockedJobs + result.redrivenJobs.length;
      if (runnable > 0) onRecovered?.(runnable);
      return result;
    } catch (err) {
      if (!failing) log.warn({ err: (err as Error).message }, "heartbeat failed; retrying on the next tick");
      failing = true;
      return undefined;
    }
  };

  // one beat now, then one every intervalMs after the previous one has finished
  const tick = () => {
    running = once().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(tick, opts.intervalMs);
    });
  };
  tick();

  return {
    beat: async () => {
      if (running) await running;
      return once();
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (running) await running;
      await pool.query("SELECT worker_stop($1)", [poolId]).catch((err: Error) => log.warn({ err: err.message }, "could not mark the worker stopped"));
    },
  };
}
