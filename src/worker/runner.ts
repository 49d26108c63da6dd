/**
 * The worker process: graphile-worker with provisio's task list on one shared pg pool, plus a heartbeat
 * (./heartbeat.ts) that lets other workers recover this one's jobs within seconds if it dies.
 * Stop it with {@link WorkerHandle.stop}: graphile-worker stops taking jobs and waits for in-flight
 * ones, then the heartbeat row is marked stopped, connector cleanups run (EPP logout, pools closed) and
 * the pool is ended. A failed graphile-worker pool is replaced in-process (see {@link startWorker}); if
 * even that fails, {@link WorkerHandle.fatal} resolves and the CLI exits 1, so a supervisor restarts it
 * and the heartbeat timeout hands its jobs to others. {@link WorkerService} is the worker as a service
 * the CLI composes with others (src/services.ts).
 */
import { EventEmitter } from "node:events";
import { run, type Runner, type WorkerEvents, type WorkerPool } from "graphile-worker";
import type pg from "pg";
import { loadConfig, type Config } from "../config.js";
import { closeConnectors } from "../connectors/registry.js";
import { createPool, retryWhileDatabaseUnavailable } from "../db/pool.js";
import { logger, type Logger } from "../logger.js";
import { crontab, taskList } from "../families/index.js";
import type { Service } from "../services.js";
import { graphileLogger } from "./graphile-logger.js";
import { startHeartbeat, type Heartbeat, type HeartbeatOptions } from "./heartbeat.js";

export interface WorkerOptions {
  connectionString: string;
  /** jobs run at once by this process */
  concurrency: number;
  /** ms between polls for scheduled (retry) jobs */
  pollInterval: number;
  poolMax?: number;
  /** heartbeat and recovery timing; defaults: 2 s beats, dead after 10 s, stuck after 60 s */
  heartbeat?: Partial<HeartbeatOptions>;
  /** graphile-worker localQueue.size (-1 or unset: off) */
  localQueueSize?: number;
  /** graphile-worker completeJobBatchDelay and failJobBatchDelay in ms (-1: off; default 0) */
  completeBatchDelayMs?: number;
  /** ms to wait for a failed graphile-worker pool's in-flight jobs before releasing its locks (default 10 s) */
  replaceWaitMs?: number;
  /**
   * run the families' recurring tasks (graphile-worker cron: the access family's discovery scheduler).
   * Default false here (tests and benchmarks start workers without it); `provisio worker` and
   * `provisio start` turn it on unless PROVISIO_CRON=off. Any number of workers may run it: graphile-worker
   * queues each tick once.
   */
  cron?: boolean;
}

export interface WorkerHandle {
  pool: pg.Pool;
  /** the current graphile-worker pool id: this process's `worker.id` and its jobs' `locked_by` */
  readonly poolId: string;
  /** how many times a failed graphile-worker pool was replaced */
  readonly restarts: number;
  /** the current pool's heartbeat */
  heartbeat(): Heartbeat;
  /** graceful stop; resolves when everything is closed. Safe to call more than once. */
  stop(reason?: string): Promise<void>;
  /** resolves with the error if a failed pool cannot be replaced (never on a graceful stop) */
  fatal: Promise<Error>;
}

/** The defaults of every PROVISIO_* variable (src/config.ts), for options a caller leaves unset. */
const DEFAULTS = loadConfig({});

/**
 * graphile-worker's batching options for these WorkerOptions (unset: the defaults of src/config.ts).
 * The benchmark's raw graphile-worker measurement uses the same builder, so both run with one setting.
 */
export function graphileWorkerPreset(opts: Pick<WorkerOptions, "localQueueSize" | "completeBatchDelayMs">) {
  const batchDelay = opts.completeBatchDelayMs ?? DEFAULTS.PROVISIO_COMPLETE_BATCH_DELAY_MS;
  const localQueueSize = opts.localQueueSize ?? DEFAULTS.PROVISIO_LOCAL_QUEUE_SIZE;
  return {
    worker: {
      completeJobBatchDelay: batchDelay,
      failJobBatchDelay: batchDelay,
      ...(localQueueSize > 1 ? { localQueue: { size: localQueueSize } } : {}),
    },
  };
}

/** WorkerOptions from the environment (PROVISIO_* variables, see src/config.ts). */
export function workerOptionsFromConfig(cfg: Config, connectionString: string, overrides: Partial<WorkerOptions> = {}): WorkerOptions {
  return {
    connectionString,
    concurrency: cfg.PROVISIO_WORKER_CONCURRENCY,
    pollInterval: cfg.PROVISIO_POLL_INTERVAL_MS,
    poolMax: cfg.PROVISIO_PG_POOL_MAX,
    heartbeat: { intervalMs: cfg.PROVISIO_HEARTBEAT_INTERVAL_MS, timeoutMs: cfg.PROVISIO_WORKER_TIMEOUT_MS, stuckAfterMs: cfg.PROVISIO_STUCK_JOB_AFTER_MS },
    localQueueSize: cfg.PROVISIO_LOCAL_QUEUE_SIZE,
    completeBatchDelayMs: cfg.PROVISIO_COMPLETE_BATCH_DELAY_MS,
    cron: cfg.PROVISIO_CRON === "on",
    ...overrides,
  };
}

/** One graphile-worker pool with its heartbeat; replaced by a new one if it fails. */
interface Generation {
  runner: Runner;
  workerPool: WorkerPool;
  heartbeat: Heartbeat;
  failed: boolean;
}

/**
 * graphile-worker 0.17 can release its LISTEN client twice when that connection drops, which pg-pool
 * reports as an unhandled rejection ("Release called on client which has already been released").
 * That one is logged and ignored (the listener reconnects by itself); any other unhandled rejection is
 * rethrown, which ends the process as Node would have.
 */
let guardInstalled = false;
function guardKnownUnhandledRejection(log: Logger): void {
  if (guardInstalled) return;
  guardInstalled = true;
  process.on("unhandledRejection", (reason) => {
    if (reason instanceof Error && /Release called on client which has already been released/.test(reason.message)) {
      log.warn({ err: reason.message }, "ignored graphile-worker's double release of its LISTEN client after a dropped connection");
      return;
    }
    throw reason;
  });
}

/**
 * Start a worker. Resolves once graphile-worker is listening for jobs (the first heartbeat is on its way).
 *
 * graphile-worker 0.17 gives up on a pool when it cannot record a job's completion (for instance the
 * server was restarted between the task's end and that write: "queue is in an inconsistent state").
 * The worker then starts a fresh pool: it waits for the failed pool's in-flight jobs, releases that
 * pool's locks (worker_release) and runs a new one, retrying while the database is unreachable. Jobs are
 * neither lost (they are unlocked) nor applied twice (job_* functions ignore final jobs; handlers
 * reconcile with the registry).
 */
export async function startWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  const log = logger().child({ component: "worker" });
  guardKnownUnhandledRejection(log);
  const pool = createPool(opts.connectionString, opts.poolMax ?? Math.max(opts.concurrency + 4, 10));
  const preset = graphileWorkerPreset(opts);
  const hbOpts: HeartbeatOptions = {
    intervalMs: DEFAULTS.PROVISIO_HEARTBEAT_INTERVAL_MS,
    timeoutMs: DEFAULTS.PROVISIO_WORKER_TIMEOUT_MS,
    stuckAfterMs: DEFAULTS.PROVISIO_STUCK_JOB_AFTER_MS,
    ...opts.heartbeat,
  };
  let stopping: Promise<void> | undefined;
  let restarts = 0;
  let resolveFatal!: (err: Error) => void;
  const fatal = new Promise<Error>((resolve) => (resolveFatal = resolve));

  const startGeneration = async (): Promise<Generation> => {
    const events: WorkerEvents = new EventEmitter();
    let workerPool: WorkerPool | undefined;
    events.on("pool:create", ({ workerPool: created }) => {
      workerPool = created;
    });
    const runner = await run({
      pgPool: pool,
      taskList,
      crontab: opts.cron ? crontab : "",
      concurrency: opts.concurrency,
      pollInterval: opts.pollInterval,
      noHandleSignals: true,
      logger: graphileLogger(log),
      events,
      preset,
    });
    if (!workerPool) throw new Error("graphile-worker did not report its worker pool (pool:create)");
    const wp: WorkerPool = workerPool;
    const heartbeat = startHeartbeat(pool, wp.id, opts.concurrency, hbOpts, log, (n) => wp.nudge(Math.min(n, opts.concurrency)));
    log.info({ concurrency: opts.concurrency, poolId: wp.id, ...preset.worker, restarts }, "worker started");
    const onFailure = (err: unknown) => {
      if (stopping || gen.failed) return;
      gen.failed = true;
      log.error({ err: (err as Error)?.message ?? String(err), poolId: wp.id }, "graphile-worker's pool failed; starting a new one");
      void replace(gen, err);
    };
    // graphile-worker shuts a pool down by itself on "pool:fatalError" (a completion it could not record)
    // and when one of its workers exits prematurely (a getJob that failed on a dropped connection); any
    // shutdown we did not ask for means the pool is failing, so it is replaced at once
    events.on("pool:fatalError", ({ error }) => onFailure(error));
    events.on("pool:gracefulShutdown", ({ message }) => onFailure(new Error(`graphile-worker shut its pool down: ${message}`)));
    // graphile-worker 0.17 caches the promise of its task-id lookup; if that query fails (a connection
    // dropped while the pool started), every later getJob rethrows the same error and the pool never
    // takes a job again, without shutting down. A pool whose getJob has failed for as long as a worker
    // may stay silent (heartbeat timeoutMs) is therefore replaced too; a success resets the clock.
    let getJobFailingSince: number | undefined;
    events.on("worker:getJob:error", ({ error }) => {
      const now = Date.now();
      getJobFailingSince ??= now;
      if (now - getJobFailingSince >= hbOpts.timeoutMs) {
        onFailure(new Error(`graphile-worker could not fetch a job for ${now - getJobFailingSince} ms: ${(error as Error)?.message ?? String(error)}`));
      }
    });
    const getJobWorked = () => (getJobFailingSince = undefined);
    events.on("worker:getJob:empty", getJobWorked);
    events.on("job:start", getJobWorked);
    runner.promise.then(() => onFailure(new Error("graphile-worker's pool ended unexpectedly")), onFailure);
    const gen: Generation = { runner, workerPool: wp, heartbeat, failed: false };
    return gen;
  };

  let current = await startGeneration();
  // replacements run one after another: a pool that fails while the previous one is being replaced
  // (a storm of dropped connections) is replaced in its turn, never forgotten
  let replacing: Promise<void> = Promise.resolve();
  const replaceOne = async (failed: Generation, cause: unknown) => {
    try {
      // wait (bounded) for the failed pool's in-flight jobs; graphile-worker may already be shutting it down
      const waited = await Promise.race([
        failed.runner.stop("pool failed").then(
          () => true,
          () => true,
        ),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), opts.replaceWaitMs ?? 10_000).unref()),
      ]);
      if (!waited) log.warn({ poolId: failed.workerPool.id }, "the failed pool did not finish in time; releasing its jobs anyway");
      await failed.heartbeat.stop();
      const dbRetry = { seconds: 3600, log, what: "restart the worker pool" };
      const n = await retryWhileDatabaseUnavailable(() => pool.query<{ n: number }>("SELECT worker_release($1) AS n", [failed.workerPool.id]), dbRetry);
      if (stopping || failed !== current) return;
      current = await retryWhileDatabaseUnavailable(startGeneration, dbRetry);
      restarts++;
      log.warn({ released: n.rows[0]?.n, failedPool: failed.workerPool.id, poolId: current.workerPool.id }, "worker pool replaced");
    } catch (err) {
      if (stopping) {
        log.warn({ err }, "could not release a failed worker pool while stopping");
        return;
      }
      log.fatal({ err, cause }, "could not replace the failed worker pool; this process must be restarted");
      resolveFatal(err instanceof Error ? err : new Error(String(err)));
    }
  };
  const replace = (failed: Generation, cause: unknown) => {
    replacing = replacing.then(() => replaceOne(failed, cause));
    return replacing;
  };

  const stop = (reason = "stop requested") =>
    (stopping ??= (async () => {
      log.info({ reason }, "worker stopping: no new jobs, waiting for in-flight ones");
      await replacing; // a replacement under way finishes first (and starts no new pool: stopping is set)
      await current.runner.stop(reason).catch((err: unknown) => log.error({ err }, "graphile-worker did not stop cleanly"));
      await current.heartbeat.stop();
      for (const err of await closeConnectors()) log.warn({ err }, "a connector did not close cleanly");
      await pool.end();
      log.info("worker stopped");
    })());
  return {
    pool,
    get poolId() {
      return current.workerPool.id;
    },
    get restarts() {
      return restarts;
    },
    heartbeat: () => current.heartbeat,
    stop,
    fatal,
  };
}

/** The worker as a {@link Service}: started with `options()` (read at start, when the database is known). */
export class WorkerService implements Service {
  readonly name = "worker";
  readonly fatal: Promise<Error>;
  private resolveFatal!: (err: Error) => void;
  private current: WorkerHandle | undefined;

  constructor(private readonly options: () => WorkerOptions) {
    this.fatal = new Promise<Error>((resolve) => (this.resolveFatal = resolve));
  }

  /** the running worker (undefined before start) */
  get handle(): WorkerHandle | undefined {
    return this.current;
  }

  async start(): Promise<void> {
    this.current = await startWorker(this.options());
    void this.current.fatal.then(this.resolveFatal);
  }

  async stop(reason?: string): Promise<void> {
    await this.current?.stop(reason);
  }
}
