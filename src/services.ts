/**
 * A provisio process is a list of services (the database, the EPP simulator, the demo's order watcher,
 * the event relay, the worker, later the HTTP API), composed by the CLI: started in order, stopped in
 * reverse order. Signal handling lives here and nowhere else: {@link stopOnSignals}.
 */
import { logger, type Logger } from "./logger.js";

/** One long-running part of a process. */
export interface Service {
  /** for logs ("worker", "event relay", ...) */
  readonly name: string;
  /** resolves once the service runs; rejects if it could not start (nothing of it left running) */
  start(): Promise<void>;
  /** graceful stop; resolves when everything of it is closed. Called at most once, after start() resolved. */
  stop(reason?: string): Promise<void>;
  /**
   * Resolves with the error if the service fails and cannot recover by itself (the worker's
   * {@link import("./worker/runner.js").WorkerHandle.fatal}); never on a graceful stop. Unset: never fails so.
   */
  readonly fatal?: Promise<Error>;
}

/** Services that were started, in order. */
export interface RunningServices {
  readonly services: readonly Service[];
  /**
   * Stop every service in reverse order of starting; a failing stop is logged and the others are still
   * stopped, then the first error is thrown. Runs once: later calls return the same promise.
   */
  stop(reason?: string): Promise<void>;
  /** true once stop() was called */
  readonly stopping: boolean;
  /** resolves with the first service's fatal error (see {@link Service.fatal}) */
  readonly fatal: Promise<{ service: Service; error: Error }>;
}

/** Stop `started` in reverse order, all of them even when one fails; throw the first failure. */
async function stopReverse(started: readonly Service[], reason: string, log: Logger): Promise<void> {
  let first: unknown;
  for (const service of [...started].reverse()) {
    log.debug({ service: service.name, reason }, "stopping service");
    try {
      await service.stop(reason);
    } catch (err) {
      log.error({ err, service: service.name }, "service did not stop cleanly");
      first ??= err;
    }
  }
  if (first !== undefined) throw first instanceof Error ? first : new Error(String(first));
}

/**
 * Start `services` one after another, in order. If one fails to start, those already started are
 * stopped in reverse order and its error is rethrown.
 */
export async function startServices(services: readonly Service[], log: Logger = logger()): Promise<RunningServices> {
  const started: Service[] = [];
  for (const service of services) {
    try {
      log.debug({ service: service.name }, "starting service");
      await service.start();
      started.push(service);
    } catch (err) {
      log.error({ err, service: service.name }, "service could not start; stopping the ones started");
      await stopReverse(started, `${service.name} could not start`, log).catch(() => undefined);
      throw err;
    }
  }
  let stopping: Promise<void> | undefined;
  const fatals = started.flatMap((service) => (service.fatal ? [service.fatal.then((error) => ({ service, error }))] : []));
  return {
    services: started,
    stop: (reason = "stop requested") => (stopping ??= stopReverse(started, reason, log)),
    get stopping() {
      return stopping !== undefined;
    },
    fatal: fatals.length ? Promise.race(fatals) : new Promise(() => undefined),
  };
}

export interface SignalOptions {
  /** ms a graceful stop may take before the process exits 1 (PROVISIO_SHUTDOWN_TIMEOUT_MS) */
  timeoutMs: number;
  /** default process.exit */
  exit?: (code: number) => void;
  /** where the signals come from; default process */
  signals?: Pick<NodeJS.EventEmitter, "on">;
  log?: Logger;
}

/**
 * SIGTERM/SIGINT: stop `running` (reverse order) and exit 0; a failed stop exits 1. A second signal, or
 * the stop taking longer than `timeoutMs`, exits 1 at once with a log line. A service's fatal error
 * stops the others and exits 1 (a supervisor restarts the process).
 */
export function stopOnSignals(running: Pick<RunningServices, "stop" | "fatal">, opts: SignalOptions): void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const signals = opts.signals ?? process;
  const log = opts.log ?? logger();
  let stopping = false;
  const stopThenExit = (reason: string, code: number) => {
    stopping = true;
    const timer = setTimeout(() => {
      log.error({ timeoutMs: opts.timeoutMs }, "graceful shutdown timed out");
      exit(1);
    }, opts.timeoutMs);
    timer.unref();
    running.stop(reason).then(
      () => {
        clearTimeout(timer);
        exit(code);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log.error({ err }, "shutdown failed");
        exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.error({ signal }, "second signal during shutdown; exiting at once");
      exit(1);
      return;
    }
    log.info({ signal }, "stopping");
    stopThenExit(signal, 0);
  };
  signals.on("SIGTERM", onSignal);
  signals.on("SIGINT", onSignal);
  void running.fatal.then(({ service, error }) => {
    log.fatal({ err: error.message, service: service.name }, `exiting with code 1 after a fatal ${service.name} error`);
    if (!stopping) stopThenExit("fatal error", 1);
  });
}
