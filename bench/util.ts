/** Small tools the measurements share: progress lines, waiting, a counter, percentiles, PostgreSQL's CPU time. */
import { readdir, readFile } from "node:fs/promises";
import type pg from "pg";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A progress line on stderr (stdout carries only the results), stamped with the UTC time of day. */
export const progress = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** Run `sql` every 50 ms until its first row's `done` is true. */
export async function until(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<void> {
  for (;;) {
    const r = await pool.query<{ done: boolean }>(sql, params);
    if (r.rows[0]!.done) return;
    await sleep(50);
  }
}

/** A counter: `add()` counts one, `reached(target)` resolves once the count is at least `target`. */
export function counter(): { add(): void; reached(target: number): Promise<void> } {
  let count = 0;
  const waiting: { target: number; resolve: () => void }[] = [];
  return {
    add() {
      count++;
      for (const w of waiting.filter((w) => count >= w.target)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    },
    reached: (target) => (count >= target ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ target, resolve }))),
  };
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The q-quantile (0 < q ≤ 1) of ascending `sorted`, nearest-rank. */
export function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function percentiles(values: number[]): Percentiles {
  const v = [...values].sort((a, b) => a - b);
  return { p50: percentile(v, 0.5), p95: percentile(v, 0.95), p99: percentile(v, 0.99), max: v[v.length - 1]! };
}

/** The median of `xs` (the upper one of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds used so far by every process named postgres on this machine (Linux /proc), or NaN. */
export async function postgresCpuSeconds(): Promise<number> {
  let ticks = 0;
  try {
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      const m = /^\d+ \((.*)\) (.*)$/.exec(stat.trim());
      if (!m || m[1] !== "postgres") continue;
      const f = m[2]!.split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
    }
  } catch {
    return Number.NaN;
  }
  return ticks / 100;
}

/** utime, stime, cutime, cstime (clock ticks) and the parent pid of process `pid`, from /proc; undefined when gone. */
async function procStat(pid: string): Promise<{ ppid: string; own: number; reaped: number } | undefined> {
  const m = /^\d+ \(.*\) (.*)$/.exec((await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "")).trim());
  if (!m) return undefined;
  const f = m[1]!.split(" ");
  return { ppid: f[1]!, own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
}

/**
 * CPU seconds used so far by the benchmark's PostgreSQL server only (Linux /proc): its postmaster (found
 * as the parent of this connection's backend), the postmaster's children, and the children it has reaped
 * (backends that ended). Unlike postgresCpuSeconds, other PostgreSQL servers on the machine (a
 * test suite running beside the benchmark) are not counted. NaN when /proc does not show the server.
 */
export async function serverCpuSeconds(pool: pg.Pool): Promise<number> {
  try {
    const backend = (await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const postmaster = (await procStat(String(backend)))?.ppid;
    const pm = postmaster ? await procStat(postmaster) : undefined;
    if (!postmaster || !pm) return Number.NaN;
    let ticks = pm.own + pm.reaped;
    for (const pid of await readdir("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      const st = await procStat(pid);
      if (st?.ppid === postmaster) ticks += st.own;
    }
    return ticks / 100;
  } catch {
    return Number.NaN;
  }
}
