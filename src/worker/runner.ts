/**
 * The worker process: graphile-worker with provisio's task list on one shared pg pool.
 * Stop it with {@link WorkerHandle.stop}: graphile-worker stops taking jobs and waits for in-flight
 * ones, then connector cleanups run (EPP logout, pools closed) and the pool is ended.
 */
import { run, type Runner } from "graphile-worker";
import type pg from "pg";
import { runCleanups } from "../connectors/cleanup.js";
import { closeConnectors } from "../connectors/registry.js";
import { createPool } from "../db/pool.js";
import { logger } from "../logger.js";
import { taskList } from "../tasks/index.js";
import { graphileLogger } from "./graphile-logger.js";

export interface WorkerOptions {
  connectionString: string;
  /** jobs run at once by this process */
  concurrency: number;
  /** ms between polls for scheduled (retry) jobs */
  pollInterval: number;
  poolMax?: number;
}

export interface WorkerHandle {
  runner: Runner;
  pool: pg.Pool;
  /** graceful stop; resolves when everything is closed. Safe to call more than once. */
  stop(reason?: string): Promise<void>;
}

/** Start a worker. Resolves once graphile-worker is listening for jobs. */
export async function startWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  const log = logger().child({ component: "worker" });
  const pool = createPool(opts.connectionString, opts.poolMax ?? Math.max(opts.concurrency + 4, 10));
  const runner = await run({
    pgPool: pool,
    taskList,
    concurrency: opts.concurrency,
    pollInterval: opts.pollInterval,
    noHandleSignals: true,
    logger: graphileLogger(log),
  });
  log.info({ concurrency: opts.concurrency }, "worker started");
  let stopping: Promise<void> | undefined;
  const stop = (reason = "stop requested") =>
    (stopping ??= (async () => {
      log.info({ reason }, "worker stopping: no new jobs, waiting for in-flight ones");
      await runner.stop(reason);
      const errors = await runCleanups();
      await closeConnectors();
      for (const err of errors) log.warn({ err }, "cleanup failed");
      await pool.end();
      log.info("worker stopped");
    })());
  return { runner, pool, stop };
}

/**
 * SIGTERM/SIGINT: stop gracefully and exit 0; a second signal, or the timeout, exits 1 at once.
 */
export function handleSignals(handle: WorkerHandle, timeoutMs: number): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) process.exit(1);
    received = true;
    const timer = setTimeout(() => {
      logger().error({ timeoutMs }, "graceful shutdown timed out");
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    handle.stop(signal).then(
      () => process.exit(0),
      (err) => {
        logger().error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
