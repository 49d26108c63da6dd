/**
 * The task lifecycle every job shares, whatever its family (docs/design.md "The idea"):
 *  1. start: job_start() locks the job row, skips it when final, marks it processing and counts the
 *     attempt, and commits, so no transaction is held open across network I/O. Normally the database
 *     did this while graphile-worker's get_job locked the job (provisio_start_attempt,
 *     stored-procedures/), its outcome arriving in the payload; else the task does it, batched;
 *  2. parse the job row and its data with the task's zod schema (old jobs may carry old shapes); a row
 *     or data that does not parse fails the job with the reason (PV_PAYLOAD): retrying cannot fix it;
 *  3. build the family's context (for registries: the accreditation and its connector;
 *     src/families/registry/context.ts) and run the task's handler against the external system;
 *  4. write the outcome back: job_complete() on success, job_fail() on a permanent error, job_retry()
 *     on a transient one (which fails the job once max_attempts is reached). result_data of a failure is
 *     the error's own resultData() (src/errors.ts), so adapters map their errors, not the lifecycle.
 * Errors while writing back (database gone) are thrown to graphile-worker, which retries the whole job;
 * handlers reconcile, so a repeated attempt never applies a change twice.
 *
 * A task of a new family is written against this module through a {@link FamilyPlugin}; nothing here
 * knows a protocol or a family.
 */
import type { JobHelpers, Task } from "graphile-worker";
import { z } from "zod";
import type { CommandContext } from "../connectors/types.js";
import { ProvisioError, describeError, fromPgError } from "../errors.js";
import { logger, type Logger } from "../logger.js";
import { jobComplete } from "./sql/job_complete.js";
import { jobFail } from "./sql/job_fail.js";
import { jobRetry } from "./sql/job_retry.js";
import { jobStart } from "./sql/job_start.js";
import type { PgHelpers } from "./sql/query.js";

export type { PgHelpers } from "./sql/query.js";

/** The durable job row as job_start() returns it (table job). */
export const jobRowSchema = z.object({
  id: z.string().uuid(),
  tenant_customer_id: z.string().uuid(),
  type_id: z.number(),
  reference_table: z.string(),
  reference_id: z.string().uuid(),
  data: z.unknown(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
});
export type JobRow = z.infer<typeof jobRowSchema>;

/**
 * graphile-worker payload of every provisio job: the job id (the job row holds the data). When get_job
 * locked the job, the database's provisio_start_attempt trigger has already run job_start() and added
 * its outcome: `started` (false: final or exhausted, nothing to do) and `job` (the started job row).
 * Without `started` (the trigger caught an error) the task runs job_start() itself.
 */
export const jobPayloadSchema = z.object({ job_id: z.string().uuid(), started: z.boolean().optional(), job: z.unknown().optional() });

/** What every task's handler gets, whatever its family. */
export interface TaskContext<D> {
  data: D;
  job: JobRow;
  /** context for the attempt's main command: correlation id = the job id, attempt = job.attempts */
  cmd: CommandContext;
  /** a context for a follow-up command of the same attempt (e.g. "info", "reconcile") */
  followUp: (step: string) => CommandContext;
  log: Logger;
  /** graphile-worker's database access, for families that read their configuration per attempt */
  helpers: PgHelpers;
}

/**
 * What a handler returns: result_data (JSON) and an optional result_message. `skipWriteBack`: the
 * handler's own SQL already decided the job in the transaction that did the work — it completed it, or
 * held it open for its child jobs (job status waiting, a workflow run's: engine/job/parent.sql) — so
 * nothing is written back.
 */
export interface TaskOutcome {
  resultData: Record<string, unknown>;
  message?: string;
  skipWriteBack?: true;
}

/**
 * How a family plugs into the lifecycle: what its handlers get besides {@link TaskContext} (built once
 * per attempt, after the data parsed), and what it does with a failure before it is written back
 * (e.g. forget a cached configuration the failure casts doubt on). An error thrown by `context` is
 * handled like one thrown by the handler.
 */
export interface FamilyPlugin<D, C> {
  name: string;
  context(base: TaskContext<D>): Promise<C>;
  onFailure?(err: ProvisioError, base: TaskContext<D>): void;
}

export interface TaskSpec<D, C> {
  /** graphile-worker task identifier (job_type.task_identifier), e.g. "domain__create" */
  identifier: string;
  /** the job data's schema (the provision row as job_submit stored it) */
  data: z.ZodType<D>;
  run(ctx: TaskContext<D> & C): Promise<TaskOutcome>;
}

export interface DefinedTask {
  identifier: string;
  task: Task;
}

/** No family context: the handler gets {@link TaskContext} only. */
export const noFamily: FamilyPlugin<unknown, object> = { name: "none", context: async () => ({}) };

const issuesText = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

/** Build a graphile-worker Task from a family plug-in and a spec (see the module doc). */
export function defineTask<D, C extends object>(family: FamilyPlugin<D, C>, spec: TaskSpec<D, C>): DefinedTask {
  const task: Task = async (payload, helpers: JobHelpers) => {
    const base = logger().child({ jobType: spec.identifier, gwJobId: helpers.job.id });
    const p = jobPayloadSchema.safeParse(payload);
    if (!p.success) {
      base.error({ payload }, "graphile-worker payload has no job_id; dropping it");
      return;
    }
    const jobId = p.data.job_id;
    const fail = async (err: ProvisioError, log: Logger) => {
      log.warn({ code: err.code, err: err.message }, "job failed");
      await jobFail(helpers, jobId, describeError(err), err.resultData());
    };
    const started = p.data.started === undefined ? await jobStart(helpers, jobId) : p.data.started ? p.data.job : undefined;
    if (!started) {
      base.info({ jobId }, "job is already final; nothing to do");
      return;
    }
    const row = jobRowSchema.safeParse(started);
    if (!row.success) {
      await fail(new ProvisioError("PV_PAYLOAD", `job row ${jobId} does not parse: ${issuesText(row.error)}`), base.child({ jobId }));
      return;
    }
    const job = row.data;
    const log = base.child({ jobId, provisionId: job.reference_id, attempt: job.attempts });
    const data = spec.data.safeParse(job.data);
    if (!data.success) {
      await fail(new ProvisioError("PV_PAYLOAD", `job data does not match ${spec.identifier}: ${issuesText(data.error)}`), log);
      return;
    }
    const cmd: CommandContext = { correlationId: jobId, attempt: job.attempts, log };
    const ctx: TaskContext<D> = { data: data.data, job, cmd, followUp: (step) => ({ ...cmd, step }), log, helpers };
    let outcome: TaskOutcome;
    try {
      outcome = await spec.run({ ...ctx, ...(await family.context(ctx)) });
    } catch (raw) {
      const err = fromPgError(raw);
      family.onFailure?.(err, ctx);
      if (!err.retryable) {
        await fail(err, log);
        return;
      }
      const next = await jobRetry(helpers, jobId, describeError(err), err.resultData());
      if (next) log.info({ code: err.code, err: err.message, retryAt: next }, "transient failure; retry scheduled");
      else log.warn({ code: err.code, err: err.message }, "transient failure and no attempts left; job failed");
      return;
    }
    if (outcome.skipWriteBack) {
      log.info({ result: outcome.message }, "job decided by the handler's own transaction");
      return;
    }
    await jobComplete(helpers, jobId, outcome.resultData, outcome.message ?? null);
    log.info({ result: outcome.message }, "job completed");
  };
  return { identifier: spec.identifier, task };
}
