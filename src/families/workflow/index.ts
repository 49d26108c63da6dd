/**
 * The workflow family (seeds 000 and 004; docs/decisions/0008): the worker's part of a run. The run, its
 * steps and their advance are SQL (stored-procedures/workflow/); the worker only
 *  - starts a run when its job comes due (workflow__start: workflow_run_start creates the step records,
 *    holds the run's job open and dispatches the first steps, in one transaction),
 *  - runs task steps (workflow__task: the handler of the row's task_name, src/families/workflow/tasks.ts),
 *  - completes wait steps when their time has come (workflow__wait; graphile-worker runs them at `until`).
 * Every step's completion advances its run in the database, in the transaction of the job's write-back.
 */
import { z } from "zod";
import { defineTask, type DefinedTask, type FamilyPlugin } from "../../engine/lifecycle.js";
import { query } from "../../engine/sql/query.js";
import { PermanentError } from "../../errors.js";
import { taskStepHandlers } from "./tasks.js";

const runData = z.object({ template_name: z.string(), template_version: z.number().int().nullable().optional() }).passthrough();
const taskData = z.object({ task_name: z.string(), params: z.record(z.string(), z.unknown()) }).passthrough();
const waitData = z.object({ until: z.string() }).passthrough();

/** No context beyond the lifecycle's: the run's state is in the database. */
function plain<D>(): FamilyPlugin<D, object> {
  return { name: "workflow", context: async () => ({}) };
}

export const workflowTasks: DefinedTask[] = [
  defineTask(plain<z.infer<typeof runData>>(), {
    identifier: "workflow__start",
    data: runData,
    async run(ctx) {
      const rows = await query<{ status: string }>(ctx.helpers, "SELECT workflow_run_start($1) AS status", [ctx.job.id]);
      const status = rows[0]?.status ?? "unknown";
      return { resultData: {}, message: `run ${ctx.job.reference_id} ${status}`, skipWriteBack: true };
    },
  }),
  defineTask(plain<z.infer<typeof taskData>>(), {
    identifier: "workflow__task",
    data: taskData,
    async run(ctx) {
      const handler = taskStepHandlers[ctx.data.task_name];
      if (!handler) throw new PermanentError("PV_WF_TASK_UNKNOWN", `task type ${ctx.data.task_name} has no handler in this worker`);
      const params = handler.params.safeParse(ctx.data.params);
      if (!params.success) {
        const issues = params.error.issues.map((i) => `params.${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
        throw new PermanentError("PV_PAYLOAD", `task ${ctx.data.task_name}: ${issues}`);
      }
      const result = await handler.run(params.data, ctx);
      if (result.done) return { resultData: result.output, message: `task ${ctx.data.task_name} done`, skipWriteBack: true };
      return { resultData: result.output, message: `task ${ctx.data.task_name} done` };
    },
  }),
  defineTask(plain<z.infer<typeof waitData>>(), {
    identifier: "workflow__wait",
    data: waitData,
    async run(ctx) {
      const until = new Date(ctx.data.until);
      // graphile-worker runs the job at `until`; a job run early (re-added by recovery without its run_at)
      // is queued again for that time, the attempt not counted
      if (until.getTime() - Date.now() > 1000) {
        const rows = await query<{ at: Date | null }>(ctx.helpers, "SELECT workflow_wait_defer($1) AS at", [ctx.job.id]);
        return { resultData: {}, message: `early; queued again for ${rows[0]?.at?.toISOString() ?? until.toISOString()}`, skipWriteBack: true };
      }
      return { resultData: { waited_until: until.toISOString() }, message: `waited until ${until.toISOString()}` };
    },
  }),
];
