/** Route graphile-worker's log lines into pino. */
import { Logger as GraphileLogger } from "graphile-worker";
import type { Logger } from "../logger.js";

/** graphile-worker's log meta (@graphile/logger's LogMeta) */
type LogMeta = Record<string, unknown>;

/** A job row as graphile-worker logs it, its payload replaced. */
function withoutPayload(job: unknown): unknown {
  return job && typeof job === "object" && "payload" in job ? { ...job, payload: "[omitted]" } : job;
}

/**
 * graphile-worker's log meta carries whole job rows (`job`, `jobs`, `cancelledJobs`, `specs[].job`).
 * Their payload stays out of log lines: for a provisio job it holds the started job row with its data,
 * a domain's authInfo (`pw`) included, deeper than pino's redaction reaches (src/logger.ts).
 */
export function logMetaWithoutPayloads(meta: LogMeta | undefined): LogMeta {
  if (!meta) return {};
  const out: Record<string, unknown> = { ...meta };
  if ("job" in out) out.job = withoutPayload(out.job);
  for (const key of ["jobs", "cancelledJobs"]) if (Array.isArray(out[key])) out[key] = out[key].map(withoutPayload);
  if (Array.isArray(out.specs))
    out.specs = out.specs.map((s: unknown) => (s && typeof s === "object" && "job" in s ? { ...s, job: withoutPayload(s.job) } : s));
  return out;
}

/** A graphile-worker Logger that writes to the given pino logger (scope becomes bindings). */
export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => {
    const child = log.child({ gw: scope });
    return (level, message, meta) => {
      const name: string = level;
      const method = name === "error" ? "error" : name === "warning" ? "warn" : name === "info" ? "info" : "debug";
      child[method](logMetaWithoutPayloads(meta), message);
    };
  });
}
