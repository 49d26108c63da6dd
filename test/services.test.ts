/**
 * The composition of a process's services (src/services.ts): start in order, stop in reverse, clean up
 * after a failed start, and the signal handling (one stop, a second signal or the timeout exits 1, a
 * fatal service error stops the rest and exits 1). The services are plain objects implementing Service;
 * signals come from an EventEmitter and exit is injected.
 */
import { EventEmitter } from "node:events";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { startServices, stopOnSignals, type Service } from "../src/services.js";

const log = pino({ level: "silent" });

interface Fake extends Service {
  stops: number;
  resolveFatal(err: Error): void;
  releaseStop(): void;
}

/** A service that records start/stop in `calls`; `failStart`/`failStop` make those reject; `holdStop` makes stop wait for releaseStop(). */
function fake(name: string, calls: string[], opts: { failStart?: boolean; failStop?: boolean; holdStop?: boolean } = {}): Fake {
  let resolveFatal!: (err: Error) => void;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const svc: Fake = {
    name,
    stops: 0,
    fatal: new Promise<Error>((resolve) => (resolveFatal = resolve)),
    resolveFatal: (err) => resolveFatal(err),
    releaseStop: () => release(),
    async start() {
      calls.push(`start ${name}`);
      if (opts.failStart) throw new Error(`${name} cannot start`);
    },
    async stop() {
      svc.stops++;
      calls.push(`stop ${name}`);
      if (opts.holdStop) await released;
      if (opts.failStop) throw new Error(`${name} cannot stop`);
    },
  };
  return svc;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** An exit function that records its codes, and a promise of the first one. */
function recordExit() {
  const codes: number[] = [];
  let first!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (first = resolve));
  return {
    codes,
    exited,
    exit: (code: number) => {
      codes.push(code);
      first(code);
    },
  };
}

describe("startServices", () => {
  it("starts services in order and stops them in reverse order, once", async () => {
    const calls: string[] = [];
    const running = await startServices([fake("database", calls), fake("simulator", calls), fake("relay", calls), fake("worker", calls)], log);
    expect(calls).toEqual(["start database", "start simulator", "start relay", "start worker"]);
    expect(running.stopping).toBe(false);
    await Promise.all([running.stop("test"), running.stop("again")]);
    expect(running.stopping).toBe(true);
    expect(calls.slice(4)).toEqual(["stop worker", "stop relay", "stop simulator", "stop database"]);
  });

  it("stops the services already started, in reverse, when one fails to start, and rethrows its error", async () => {
    const calls: string[] = [];
    const broken = fake("relay", calls, { failStart: true });
    const never = fake("worker", calls);
    await expect(startServices([fake("database", calls), fake("simulator", calls), broken, never], log)).rejects.toThrow("relay cannot start");
    expect(calls).toEqual(["start database", "start simulator", "start relay", "stop simulator", "stop database"]);
    expect(broken.stops).toBe(0);
    expect(never.stops).toBe(0);
  });

  it("stops every service even when one fails to stop, then rejects with that error", async () => {
    const calls: string[] = [];
    const running = await startServices([fake("database", calls), fake("relay", calls, { failStop: true }), fake("worker", calls)], log);
    await expect(running.stop()).rejects.toThrow("relay cannot stop");
    expect(calls.slice(3)).toEqual(["stop worker", "stop relay", "stop database"]);
  });
});

describe("stopOnSignals", () => {
  it("stops once on SIGTERM and exits 0", async () => {
    const calls: string[] = [];
    const services = [fake("database", calls), fake("worker", calls)];
    const running = await startServices(services, log);
    const signals = new EventEmitter();
    const x = recordExit();
    stopOnSignals(running, { timeoutMs: 10_000, exit: x.exit, signals, log });
    signals.emit("SIGTERM", "SIGTERM");
    expect(await x.exited).toBe(0);
    expect(calls.slice(2)).toEqual(["stop worker", "stop database"]);
    expect(services.map((s) => s.stops)).toEqual([1, 1]);
  });

  it("a second signal exits 1 at once, without stopping anything twice", async () => {
    const calls: string[] = [];
    const worker = fake("worker", calls, { holdStop: true });
    const database = fake("database", calls);
    const running = await startServices([database, worker], log);
    const signals = new EventEmitter();
    const x = recordExit();
    stopOnSignals(running, { timeoutMs: 10_000, exit: x.exit, signals, log });
    signals.emit("SIGINT", "SIGINT");
    await tick();
    signals.emit("SIGINT", "SIGINT");
    expect(x.codes).toEqual([1]);
    expect(worker.stops).toBe(1);
    expect(database.stops).toBe(0); // the worker's stop is still under way
    worker.releaseStop();
    await running.stop();
    expect(database.stops).toBe(1);
  });

  it("exits 1 when the graceful stop takes longer than the timeout", async () => {
    const calls: string[] = [];
    const worker = fake("worker", calls, { holdStop: true });
    const running = await startServices([fake("database", calls), worker], log);
    const signals = new EventEmitter();
    const x = recordExit();
    stopOnSignals(running, { timeoutMs: 50, exit: x.exit, signals, log });
    signals.emit("SIGTERM", "SIGTERM");
    expect(await x.exited).toBe(1);
    expect(worker.stops).toBe(1);
    worker.releaseStop();
  });

  it("exits 1 when a service fails to stop", async () => {
    const calls: string[] = [];
    const running = await startServices([fake("database", calls), fake("worker", calls, { failStop: true })], log);
    const signals = new EventEmitter();
    const x = recordExit();
    stopOnSignals(running, { timeoutMs: 10_000, exit: x.exit, signals, log });
    signals.emit("SIGTERM", "SIGTERM");
    expect(await x.exited).toBe(1);
    expect(calls.slice(2)).toEqual(["stop worker", "stop database"]);
  });

  it("a service's fatal error stops the others in reverse order and exits 1", async () => {
    const calls: string[] = [];
    const worker = fake("worker", calls);
    const running = await startServices([fake("database", calls), fake("relay", calls), worker], log);
    const signals = new EventEmitter();
    const x = recordExit();
    stopOnSignals(running, { timeoutMs: 10_000, exit: x.exit, signals, log });
    worker.resolveFatal(new Error("the worker pool cannot be replaced"));
    expect(await x.exited).toBe(1);
    expect(calls.slice(3)).toEqual(["stop worker", "stop relay", "stop database"]);
    expect(worker.stops).toBe(1);
  });
});
