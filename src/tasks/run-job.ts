/**
 * The lifecycle every provision task shares (docs/design.md "The idea"):
 *  1. job_start(): lock the job row, skip if final, mark processing, count the attempt — and commit,
 *     so no transaction is held open across network I/O. Normally done by the database while
 *     graphile-worker's get_job locks the job (provisio_start_attempt, stored-procedures/post/
 *     job_lifecycle.sql), its outcome arriving in the payload; else by the task, batched;
 *  2. parse the job's data with the task's zod schema (old jobs may carry old shapes);
 *  3. load the accreditation and its connector, run the handler against the external system;
 *  4. write the outcome back: job_complete() on success, job_fail() on a permanent error, job_retry()
 *     on a transient one (which fails the job once max_attempts is reached).
 * Errors while writing back (database gone) are thrown to graphile-worker, which retries the whole job;
 * handlers reconcile, so a repeated attempt never applies a change twice.
 */
import { performance } from "node:perf_hooks";
import type { JobHelpers, Task } from "graphile-worker";
import type { InferResult } from "kysely";
import type pg from "pg";
import { z } from "zod";
import { getConnector } from "../connectors/registry.js";
import type { Accreditation, CommandContext, RegistryConnector } from "../connectors/types.js";
import { EppCommandError } from "../connectors/epp/errors.js";
import { ConfigurationError, ProvisioError, describeError, fromPgError } from "../errors.js";
import { logger, type Logger } from "../logger.js";
import { config } from "../config.js";
import { retryWhileDatabaseUnavailable } from "../db/pool.js";
import { queryBuilder } from "../db/kysely.js";
import { Batcher } from "./batcher.js";

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

export interface TaskContext<D> {
  data: D;
  job: JobRow;
  acc: Accreditation;
  connector: RegistryConnector;
  /** context for the attempt's main command: clTRID = "<job id>-<attempt>" */
  cmd: CommandContext;
  /** a context for a follow-up command of the same attempt, clTRID "<job id>-<attempt>-<suffix>" */
  followUp(suffix: string): CommandContext;
  log: Logger;
}

/** What a handler returns: result_data (JSON) and an optional result_message. */
export interface TaskOutcome {
  resultData: Record<string, unknown>;
  message?: string;
}

/** Every provision table has accreditation_id, so every task's data schema parses it. */
export interface ProvisionTaskSpec<D extends { accreditation_id: string }> {
  /** graphile-worker task identifier (job_type.task_identifier), e.g. "domain__create" */
  identifier: string;
  data: z.ZodType<D>;
  run(ctx: TaskContext<D>): Promise<TaskOutcome>;
}

/** What the statements here need of graphile-worker's JobHelpers: a client of its pool. */
export type PgHelpers = Pick<JobHelpers, "withPgClient">;

/**
 * One statement on graphile-worker's pool. Retried while the database is unreachable (restart, dropped
 * connection) for PROVISIO_WRITEBACK_RETRY_SECONDS: every statement here is safe to repeat (the job_*
 * functions do nothing to a final job), and an outcome the registry already applied must not be lost.
 */
async function query<R extends pg.QueryResultRow>(helpers: PgHelpers, text: string, values: unknown[]): Promise<R[]> {
  return retryWhileDatabaseUnavailable(() => helpers.withPgClient(async (client) => (await client.query<R>(text, values)).rows), {
    seconds: config().PROVISIO_WRITEBACK_RETRY_SECONDS,
    log: logger(),
    what: text.slice(0, 40),
  });
}

/**
 * Accreditations are read once per ACCREDITATION_TTL_MS per process, not once per job: a job costs one
 * round trip less. Each copy carries `readAt` (performance.now() when its SELECT returned): the EPP
 * connector keeps the settings of the copy read last, so a job still holding a copy read before an
 * UPDATE does not bring the old settings back. A changed accreditation (new host, new password_env, new max_sessions) is picked up
 * within the TTL, and by the next attempt of a job whose attempt failed with a `configSuspect` error (the
 * connector could not open a session: connection refused, TLS failure, login refused), which forgets the
 * cached row. The secret itself is never cached here (the connector resolves it when it opens a session).
 */
const ACCREDITATION_TTL_MS = 5_000;
const accreditationCache = new Map<string, { at: number; acc: Promise<Accreditation> }>();

/** Forget the cached row of accreditation `id`: the next job using it reads it again. */
export function forgetAccreditation(id: string): void {
  accreditationCache.delete(id);
}

/**
 * The accreditation row `id`, from the cache when read less than ACCREDITATION_TTL_MS ago. Exported for
 * tests.
 * @throws ConfigurationError when the row does not exist; the database's error when the read fails
 */
export async function loadAccreditation(helpers: PgHelpers, id: string): Promise<Accreditation> {
  const hit = accreditationCache.get(id);
  if (hit && Date.now() - hit.at < ACCREDITATION_TTL_MS) return hit.acc;
  const acc = readAccreditation(helpers, id);
  const entry = { at: Date.now(), acc };
  accreditationCache.set(id, entry);
  // a failed read forgets its own entry only: it may fail after the row was forgotten and read again
  acc.catch(() => {
    if (accreditationCache.get(id) === entry) accreditationCache.delete(id);
  });
  return acc;
}

async function readAccreditation(helpers: PgHelpers, id: string): Promise<Accreditation> {
  // built with kysely, run on graphile-worker's client through query() (its retries)
  const read = queryBuilder
    .selectFrom("accreditation")
    .select(["id", "tenant_customer_id", "name", "provider", "connector_type", "config", "max_sessions"])
    .where("id", "=", id)
    .compile();
  const rows = await query<InferResult<typeof read>[number]>(helpers, read.sql, [...read.parameters]);
  const readAt = performance.now(); // when this copy was read: connectors keep the settings read last
  const r = rows[0];
  if (!r) throw new ConfigurationError(`accreditation ${id} no longer exists`);
  return { id: r.id, tenantCustomerId: r.tenant_customer_id, name: r.name, provider: r.provider, connectorType: r.connector_type, config: r.config, maxSessions: r.max_sessions, readAt };
}

/**
 * job_start and job_complete go through batchers: jobs starting or finishing while a previous write is
 * in flight share one statement and one commit (job_start_many / job_complete_many).
 */
interface StartItem {
  helpers: JobHelpers;
  jobId: string;
}
interface CompleteItem {
  helpers: JobHelpers;
  jobId: string;
  resultData: Record<string, unknown>;
  message: string | null;
}
const starts = new Batcher<StartItem, Record<string, unknown> | undefined>(
  async (items) => {
    const rows = await query<Record<string, unknown> & { id: string }>(items[0]!.helpers, "SELECT * FROM job_start_many($1)", [items.map((i) => i.jobId)]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return items.map((i) => byId.get(i.jobId));
  },
  async (item) => (await query(item.helpers, "SELECT * FROM job_start($1)", [item.jobId]))[0],
);
const completions = new Batcher<CompleteItem, void>(
  async (items) => {
    await query(items[0]!.helpers, "SELECT * FROM job_complete_many($1)", [
      JSON.stringify(items.map((i) => ({ job_id: i.jobId, result_data: i.resultData, result_message: i.message }))),
    ]);
    return items.map(() => undefined);
  },
  async (item) => void (await query(item.helpers, "SELECT job_complete($1, $2, $3)", [item.jobId, item.resultData, item.message])),
);

/** result_data for a failure: our error code, and the EPP result when the registry gave one. */
function failureData(err: ProvisioError): Record<string, unknown> {
  const data: Record<string, unknown> = { error_code: err.code, error: err.message };
  if (err instanceof EppCommandError) {
    Object.assign(data, { code: err.result.code, msg: err.result.msg, reason: err.result.reason, svTRID: err.result.svTRID, clTRID: err.result.clTRID });
  }
  return data;
}

/** Build a graphile-worker Task from a spec (see module doc). */
export function defineProvisionTask<D extends { accreditation_id: string }>(spec: ProvisionTaskSpec<D>): { identifier: string; task: Task } {
  const task: Task = async (payload, helpers) => {
    const base = logger().child({ jobType: spec.identifier, gwJobId: helpers.job.id });
    const p = jobPayloadSchema.safeParse(payload);
    if (!p.success) {
      base.error({ payload }, "graphile-worker payload has no job_id; dropping it");
      return;
    }
    const jobId = p.data.job_id;
    const started = p.data.started === undefined ? await starts.call({ helpers, jobId }) : p.data.started ? p.data.job : undefined;
    if (!started) {
      base.info({ jobId }, "job is already final; nothing to do");
      return;
    }
    const job = jobRowSchema.parse(started);
    const log = base.child({ jobId, provisionId: job.reference_id, attempt: job.attempts });
    const fail = async (err: ProvisioError) => {
      log.warn({ code: err.code, err: err.message }, "job failed");
      await query(helpers, "SELECT job_fail($1, $2, $3)", [jobId, describeError(err), failureData(err)]);
    };

    const data = spec.data.safeParse(job.data);
    if (!data.success) {
      await fail(new ProvisioError("PV_PAYLOAD", `job data does not match ${spec.identifier}: ${data.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`));
      return;
    }
    const clTRID = `${jobId}-${job.attempts}`;
    let outcome: TaskOutcome;
    try {
      const acc = await loadAccreditation(helpers, data.data.accreditation_id);
      const connector = getConnector(acc.connectorType);
      outcome = await spec.run({
        data: data.data,
        job,
        acc,
        connector,
        cmd: { clTRID, log },
        followUp: (suffix) => ({ clTRID: `${clTRID}-${suffix}`, log }),
        log,
      });
    } catch (raw) {
      const err = fromPgError(raw);
      if (err.configSuspect) forgetAccreditation(data.data.accreditation_id);
      if (!err.retryable) {
        await fail(err);
        return;
      }
      const rows2 = await query<{ job_retry: Date | null }>(helpers, "SELECT job_retry($1, $2, $3)", [jobId, describeError(err), failureData(err)]);
      const next = rows2[0]?.job_retry;
      if (next) log.info({ code: err.code, err: err.message, retryAt: next }, "transient failure; retry scheduled");
      else log.warn({ code: err.code, err: err.message }, "transient failure and no attempts left; job failed");
      return;
    }
    await completions.call({ helpers, jobId, resultData: outcome.resultData, message: outcome.message ?? null });
    log.info({ result: outcome.message }, "job completed");
  };
  return { identifier: spec.identifier, task };
}

/** result_data fields every registry success carries: EPP result code, message and transaction ids. */
export function eppResultData(result: { code: number; msg: string; svTRID?: string; clTRID?: string }): Record<string, unknown> {
  return { code: result.code, msg: result.msg, svTRID: result.svTRID, clTRID: result.clTRID };
}
