/**
 * The task steps a workflow template may name (`{"kind": "task", "target": "<name>"}`): one handler per
 * row of table workflow_task_type (migrations/0019; test/families/workflow/task-types.test.ts checks that
 * both lists agree). A handler gets the step's resolved params and returns the step's output (an
 * object, what later steps reference as `steps.<key>.output`). Handlers run at least once: one whose effect
 * is in provisio's database does it in the transaction that completes its job (it returns
 * `{ done: true }`); one that acts elsewhere must be safe to repeat.
 * Errors: a {@link PermanentError} fails the step (its code recorded), a {@link TransientError} retries it
 * with the job type's backoff.
 */
import { z } from "zod";
import type { TaskContext } from "../../engine/lifecycle.js";
import { query } from "../../engine/sql/query.js";
import { PermanentError, TransientError } from "../../errors.js";

/** What a task handler returns: the step's output, or `done` when its SQL completed the job itself. */
export type TaskStepResult = { output: Record<string, unknown>; done?: false } | { output: Record<string, unknown>; done: true };

export interface TaskStepHandler {
  /** the params' schema: params that do not parse fail the step (PV_PAYLOAD) */
  params: z.ZodType<Record<string, unknown>>;
  run(params: Record<string, unknown>, ctx: TaskContext<unknown>): Promise<TaskStepResult>;
}

const noopParams = z
  .object({
    output: z.record(z.string(), z.unknown()).optional(),
    fail: z.string().min(1).optional(),
    fail_attempts: z.number().int().min(0).max(100).optional(),
  })
  .strict();

const notifyParams = z
  .object({
    topic: z.string().min(1).max(200),
    message: z.string().max(10_000).default(""),
    data: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** The built-in task types, by name. */
export const taskStepHandlers: Record<string, TaskStepHandler> = {
  /**
   * Does nothing and returns `params.output` (default `{}`). For trying templates and for tests:
   * `fail` (a message) fails the step for good with PV_WF_NOOP_FAIL; `fail_attempts: n` fails its first n
   * attempts transiently (PV_WF_NOOP_TRANSIENT), so the job type's retry is seen.
   */
  noop: {
    params: noopParams,
    async run(raw, ctx) {
      const p = noopParams.parse(raw);
      if (p.fail) throw new PermanentError("PV_WF_NOOP_FAIL", p.fail);
      if (p.fail_attempts && ctx.job.attempts <= p.fail_attempts) {
        throw new TransientError("PV_WF_NOOP_TRANSIENT", `attempt ${ctx.job.attempts} of the ${p.fail_attempts} asked to fail`);
      }
      return { output: p.output ?? {} };
    },
  },
  /** Emits the event workflow.notification (topic, message, data) through the outbox; output `{event_id, topic}`. */
  notify: {
    params: notifyParams,
    async run(raw, ctx) {
      const p = notifyParams.parse(raw);
      const rows = await query<{ id: string | null }>(ctx.helpers, "SELECT workflow_task_notify($1, $2, $3, $4) AS id", [
        ctx.job.id,
        p.topic,
        p.message,
        JSON.stringify(p.data),
      ]);
      return { output: { event_id: rows[0]?.id ?? null, topic: p.topic }, done: true };
    },
  },
};
