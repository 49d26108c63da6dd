/**
 * The benchmark's settings: every BENCH_* environment variable, parsed once with zod by run.ts and passed
 * to the measurements (as src/config.ts does for provisio's own variables). A variable that is unset,
 * empty or only blanks takes its default.
 *
 * - BENCH_JOBS (2000): jobs per throughput measurement (throughput.ts);
 * - BENCH_REPEAT (3): counted rounds of (raw, no-op, EPP) throughput;
 * - BENCH_CONCURRENCY (10): the worker's concurrency, also the accreditations' max_sessions;
 * - BENCH_RATE (200): offered INSERTs per second in the latency measurement (latency.ts);
 * - BENCH_LATENCY_SECONDS (40): counted seconds of that load; BENCH_WARMUP_SECONDS (2): uncounted ones before;
 * - BENCH_BULK (10,000): provision_domain rows in the bulk INSERT (bulk.ts);
 * - BENCH_HISTORY (1,000,000): finished jobs written as history before the second latency run (history.ts);
 * - BENCH_ACCESS (1,000): identities, hence provision_access_grant rows in the one INSERT, per target of
 *   the access grant measurement (access.ts); BENCH_ACCESS_TIMEOUT_SECONDS (1,800): how long a target's
 *   grants may take to be final before the benchmark stops with an error;
 * - BENCH_WORKFLOW_LINEAR (200) and BENCH_WORKFLOW_FAN (100): runs of the 5-step linear and of the
 *   10-step fan-out/fan-in template, each inserted in one statement (workflow.ts); then, for the
 *   step-to-step latency without a queue, runs inserted one per statement offering BENCH_WORKFLOW_RATE
 *   (50) steps per second (10 linear or 5 fan runs per second) for BENCH_WORKFLOW_LATENCY_SECONDS (10);
 *   BENCH_WORKFLOW_TIMEOUT_SECONDS (300): how long a pass's runs (or its baseline) may take to be done
 *   before the benchmark stops with an error;
 * - BENCH_ONLY: `throughput` stops after the throughput rounds, `latency` runs only the latency
 *   measurement, `access` only the access grant measurement, `workflow` only the workflow runs; each
 *   prints one line (for trying changes; docs/benchmarks.md is not written). Unset: the full run, which
 *   writes docs/benchmarks.md.
 * DATABASE_URL is read as before: set and non-empty, the benchmark runs on that database; otherwise on a
 * throw-away embedded PostgreSQL (setup.ts).
 */
import { z } from "zod";

/** Thrown by {@link parseBenchOptions}; run.ts prints its message alone, without a stack. */
export class BenchOptionsError extends Error {
  override name = "BenchOptionsError";
}

/** A variable set to the empty string (or only blanks) counts as unset, as in src/config.ts. */
const emptyIsUnset = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), schema);

/** A number from the environment that must satisfy `ok`; `rule` completes "expected …" in the error. */
const numberFromEnv = (def: number, rule: string, ok: (n: number) => boolean) => {
  const error = `expected ${rule}`;
  return emptyIsUnset(z.coerce.number({ error }).refine(ok, { error }).default(def));
};
const positiveInt = (def: number) => numberFromEnv(def, "a positive integer", (n) => Number.isInteger(n) && n >= 1);
const nonNegativeInt = (def: number) => numberFromEnv(def, "an integer of 0 or more", (n) => Number.isInteger(n) && n >= 0);
const positiveNumber = (def: number) => numberFromEnv(def, "a number greater than 0", (n) => n > 0);
const nonNegativeNumber = (def: number) => numberFromEnv(def, "a number of 0 or more", (n) => n >= 0);

const only = ["throughput", "latency", "access", "workflow"] as const;

export const benchEnvSchema = z.object({
  BENCH_JOBS: positiveInt(2000),
  BENCH_REPEAT: positiveInt(3),
  // the accreditations get it as max_sessions, which the schema holds to 1..64 (migrations/0001_core.sql)
  BENCH_CONCURRENCY: numberFromEnv(
    10,
    "an integer from 1 to 64 (it is also the accreditations' max_sessions)",
    (n) => Number.isInteger(n) && n >= 1 && n <= 64,
  ),
  BENCH_RATE: positiveNumber(200),
  BENCH_LATENCY_SECONDS: positiveNumber(40),
  BENCH_WARMUP_SECONDS: nonNegativeNumber(2),
  BENCH_BULK: positiveInt(10_000),
  // 0 is a run whose second latency measurement has no history to cost
  BENCH_HISTORY: nonNegativeInt(1_000_000),
  BENCH_ACCESS: positiveInt(1000),
  BENCH_ACCESS_TIMEOUT_SECONDS: positiveNumber(1800),
  BENCH_WORKFLOW_LINEAR: positiveInt(200),
  BENCH_WORKFLOW_FAN: positiveInt(100),
  BENCH_WORKFLOW_RATE: positiveNumber(50),
  BENCH_WORKFLOW_LATENCY_SECONDS: positiveNumber(10),
  BENCH_WORKFLOW_TIMEOUT_SECONDS: positiveNumber(300),
  BENCH_ONLY: emptyIsUnset(z.enum(only, { error: `expected one of ${only.join(", ")} (or unset for the full run)` }).optional()),
  DATABASE_URL: z.string().optional(),
});

export interface BenchOptions {
  /** BENCH_JOBS */
  jobs: number;
  /** BENCH_REPEAT */
  repeat: number;
  /** BENCH_CONCURRENCY */
  concurrency: number;
  /** BENCH_RATE, per second */
  rate: number;
  /** BENCH_LATENCY_SECONDS */
  latencySeconds: number;
  /** BENCH_WARMUP_SECONDS */
  warmupSeconds: number;
  /** BENCH_BULK */
  bulk: number;
  /** BENCH_HISTORY */
  history: number;
  /** BENCH_ACCESS */
  access: number;
  /** BENCH_ACCESS_TIMEOUT_SECONDS */
  accessTimeoutSeconds: number;
  /** BENCH_WORKFLOW_LINEAR: runs of the 5-step linear template */
  workflowLinear: number;
  /** BENCH_WORKFLOW_FAN: runs of the 10-step fan-out/fan-in template */
  workflowFan: number;
  /** BENCH_WORKFLOW_RATE: steps per second offered by the paced runs */
  workflowRate: number;
  /** BENCH_WORKFLOW_LATENCY_SECONDS */
  workflowLatencySeconds: number;
  /** BENCH_WORKFLOW_TIMEOUT_SECONDS */
  workflowTimeoutSeconds: number;
  /** BENCH_ONLY; undefined: the full run */
  only: (typeof only)[number] | undefined;
  /** DATABASE_URL when set and non-empty; undefined: a throw-away embedded PostgreSQL */
  databaseUrl: string | undefined;
}

/**
 * Parse the benchmark's environment (default: process.env).
 * @throws BenchOptionsError naming every bad variable, the rule it breaks and the value given,
 *   e.g. `BENCH_JOBS: expected a positive integer, got "abc"`
 */
export function parseBenchOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const parsed = benchEnvSchema.safeParse(env);
  if (!parsed.success) {
    // one problem per variable (-1.5 breaks two checks of the same rule)
    const problems = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = issue.path.join(".");
      if (!problems.has(name)) problems.set(name, `${name}: ${issue.message}, got ${JSON.stringify(env[name])}`);
    }
    throw new BenchOptionsError(`invalid benchmark environment: ${[...problems.values()].join("; ")}`);
  }
  const e = parsed.data;
  return {
    jobs: e.BENCH_JOBS,
    repeat: e.BENCH_REPEAT,
    concurrency: e.BENCH_CONCURRENCY,
    rate: e.BENCH_RATE,
    latencySeconds: e.BENCH_LATENCY_SECONDS,
    warmupSeconds: e.BENCH_WARMUP_SECONDS,
    bulk: e.BENCH_BULK,
    history: e.BENCH_HISTORY,
    access: e.BENCH_ACCESS,
    accessTimeoutSeconds: e.BENCH_ACCESS_TIMEOUT_SECONDS,
    workflowLinear: e.BENCH_WORKFLOW_LINEAR,
    workflowFan: e.BENCH_WORKFLOW_FAN,
    workflowRate: e.BENCH_WORKFLOW_RATE,
    workflowLatencySeconds: e.BENCH_WORKFLOW_LATENCY_SECONDS,
    workflowTimeoutSeconds: e.BENCH_WORKFLOW_TIMEOUT_SECONDS,
    only: e.BENCH_ONLY,
    databaseUrl: e.DATABASE_URL || undefined,
  };
}
