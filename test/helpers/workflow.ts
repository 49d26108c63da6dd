/**
 * Workflow test helpers: publish a template, and drive a run without a worker, the way the worker
 * would (job_start, then workflow_run_start; a step's job_start, then job_complete or job_fail, whose
 * transaction advances the run).
 */
import type pg from "pg";
import { expect } from "vitest";
import { waitFor } from "./fixtures.js";

type Db = pg.Pool | pg.ClientBase;

/** INSERT and publish version `version` (default: next) of template `name`; returns the version. */
export async function publishTemplate(db: Db, name: string, definition: unknown, inputSchema: unknown = { type: "object" }): Promise<number> {
  const r = await db.query<{ version: number }>(
    `INSERT INTO workflow_template (name, version, input_schema, definition) VALUES ($1, NULL, $2, $3) RETURNING version`,
    [name, JSON.stringify(inputSchema), JSON.stringify(definition)],
  );
  const version = r.rows[0]!.version;
  await db.query("SELECT workflow_template_publish($1, $2)", [name, version]);
  return version;
}

/** INSERT a run; returns its id. */
export async function insertRun(
  db: Db,
  tenantId: string,
  template: string,
  input: unknown = {},
  extra: { key?: string; planIds?: string[]; version?: number } = {},
): Promise<string> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO provision_workflow (tenant_customer_id, template_name, template_version, input, idempotency_key, order_item_plan_ids)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [tenantId, template, extra.version ?? null, JSON.stringify(input), extra.key ?? null, extra.planIds ?? null],
  );
  return r.rows[0]!.id;
}

/** Start run `runId` as the worker's workflow__start would; returns the run's status. */
export async function startRun(db: Db, runId: string): Promise<string> {
  const job = (await db.query<{ job_id: string }>("SELECT job_id FROM provision_workflow WHERE id = $1", [runId])).rows[0]!.job_id;
  await db.query("SELECT * FROM job_start($1)", [job]);
  return (await db.query<{ s: string }>("SELECT workflow_run_start($1) AS s", [job])).rows[0]!.s;
}

/** The live attempt of each step of a run (v_workflow_step), by key. */
export async function stepsOf(db: Db, runId: string, phase = "forward"): Promise<Record<string, Record<string, any>>> {
  const r = await db.query("SELECT * FROM v_workflow_step WHERE run_id = $1 AND phase = $2 ORDER BY step_index", [runId, phase]);
  return Object.fromEntries(r.rows.map((row) => [row.step_key, row]));
}

/** The job of the live attempt of step `key`. */
export async function stepJob(db: Db, runId: string, key: string, phase = "forward"): Promise<string> {
  const s = (await stepsOf(db, runId, phase))[key];
  if (!s?.job_id) throw new Error(`step ${key} of run ${runId} has no job (status ${s?.status})`);
  return s.job_id as string;
}

/** Start and complete the job of step `key` with result_data `data`. */
export async function completeStep(db: Db, runId: string, key: string, data: Record<string, unknown> = {}, phase = "forward"): Promise<void> {
  const job = await stepJob(db, runId, key, phase);
  await db.query("SELECT * FROM job_start($1)", [job]);
  await db.query("SELECT job_complete($1, $2)", [job, JSON.stringify(data)]);
}

/** Start and fail the job of step `key` for good with error code `code`. */
export async function failStep(db: Db, runId: string, key: string, code = "PV_TEST", phase = "forward"): Promise<void> {
  const job = await stepJob(db, runId, key, phase);
  await db.query("SELECT * FROM job_start($1)", [job]);
  await db.query("SELECT job_fail($1, $2, $3)", [job, `test failure ${code}`, JSON.stringify({ error_code: code, error: `test failure ${code}` })]);
}

/** The run's v_workflow_run row. */
export async function runRow(db: Db, runId: string): Promise<Record<string, any>> {
  return (await db.query("SELECT * FROM v_workflow_run WHERE id = $1", [runId])).rows[0]!;
}

/** A noop task step. */
export function noop(key: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { key, kind: "task", target: "noop", ...extra };
}

/** Await `p` and expect it to be rejected by PostgreSQL with `expected.code` (and column, message). */
export async function expectPgError(p: Promise<unknown>, expected: { code: string; column?: string; message?: RegExp }): Promise<Error> {
  let err: (Error & { code?: string; column?: string }) | undefined;
  try {
    await p;
  } catch (e) {
    err = e as Error & { code?: string; column?: string };
  }
  if (!err) throw new Error(`expected an error ${expected.code}, got none`);
  expect({ code: err.code, message: err.message }).toMatchObject({ code: expected.code });
  if (expected.column) expect(err.column).toBe(expected.column);
  if (expected.message) expect(err.message).toMatch(expected.message);
  return err;
}

/** Wait until run `id` is final or blocked (a worker runs it); returns its v_workflow_run row. */
export function settledRun(db: Db, id: string, timeoutMs = 45_000): Promise<Record<string, any>> {
  return waitFor(
    `run ${id} final or blocked`,
    async () => {
      const r = await runRow(db, id);
      return r?.is_final || r?.status === "blocked" ? r : undefined;
    },
    timeoutMs,
  );
}
