/**
 * `provisio workflow …`, `provisio progress …` and `provisio stats`: workflow runs (docs/decisions/0008
 * §6 and §8). Each command is one SQL function or view of stored-procedures/workflow/, called with the
 * operator's connection (DATABASE_URL, or the embedded database, as every command):
 *   workflow start <template> --tenant <id> [--input f] [--set k=v] [--idempotency-key K] [--version N] [--at T]
 *                                                    workflow_start(): get-or-create a run
 *   workflow plan <template> [--tenant <id>] [--input f] [--set k=v] [--version N] [--json]
 *                                                    workflow_plan(): a dry run, rolled back
 *   progress list [--status S] [--template T] [--tenant id] [--limit N] [--json]   v_workflow_run
 *   progress show <run> [--follow] [--json]          v_workflow_run and v_workflow_step (LISTEN provisio_workflow_status)
 *   progress cancel <run> [--compensate | --no-compensate]                          workflow_cancel()
 *   progress retry <run> <step> [--params f | --set k=v] [--phase P]               workflow_retry_step()
 *   progress skip <run> <step> [--output f | --set k=v] [--phase P]                workflow_skip_step()
 *   progress resume|recover|cleanup <run>            workflow_resume(), workflow_recover(), workflow_compensate()
 *   stats [--template T] [--tenant id] [--json]      v_workflow_stats
 * Exit codes: 0 done; 1 the database refused (the error line names its SQLSTATE, column and hint), a plan
 * with errors, a followed run that did not complete; 2 a usage error (an option, a file, a --set).
 */
import { readFile } from "node:fs/promises";
import Table from "cli-table3";
import { Argument, type Command, type CommanderError, InvalidArgumentError, Option } from "commander";
import type pg from "pg";
import { ProvisioError } from "../errors.js";
import { bar } from "../util/progress-bar.js";
import { positiveInt, uuidArg } from "./args.js";
import { idTail } from "./status.js";

/** How index.ts runs a command against the database: a pool on the resolved database, closed after. */
export type WithPool = <T>(fn: (pool: pg.Pool) => Promise<T>) => Promise<T>;

/** The channel tg_provision_workflow__status notifies on, with the run id as payload. */
export const WORKFLOW_STATUS_CHANNEL = "provisio_workflow_status";
/** How often `progress show --follow` reads the run again without a notification (step changes do not notify). */
const FOLLOW_POLL_MS = 2_000;

export const RUN_STATUSES = ["pending", "running", "blocked", "cancelling", "compensating", "completed", "failed", "cancelled", "compensated"] as const;

const style = process.stdout.isTTY ? undefined : { head: [], border: [] };
const time = (v: unknown) => (v instanceof Date ? v.toISOString().replace("T", " ").slice(0, 19) : v === null || v === undefined ? "" : String(v));
const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const json = (v: unknown) => (v === null || v === undefined ? "" : JSON.stringify(v));

/** A duration in seconds as people read it: 0.4 s, 12 s, 3 min 4 s, 2 h 5 min, 3 d 4 h. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** `[#####.....] 50% 2/4 steps`: done = completed + skipped, as v_workflow_run's percent_done counts them. */
export function progressBar(percent: number, done: number, total: number, width = 10): string {
  return `${bar(percent, width)} ${Math.round(percent)}% ${done}/${total} steps`;
}

// ---------------------------------------------------------------------------------------------------
// usage errors: exit code 2

/** A command line that cannot be run as written (a bad file, a bad --set): exit code 2, one line. */
export class UsageError extends Error {}

/** commander's own usage errors (an unknown option, a bad value, a missing argument) exit 2; help exits 0. */
const usageExit = (err: CommanderError): never => process.exit(err.exitCode === 0 ? 0 : 2);

/**
 * The action wrapper of every command here: a {@link UsageError} prints `provisio: <message>` and exits
 * 2; a database error gets its DETAIL and COLUMN in its message (the error line adds SQLSTATE and hint)
 * and goes on to index.ts, which prints it and exits 1.
 */
function act<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof UsageError) {
        console.error(`provisio: ${err.message}`);
        process.exitCode = 2;
        return;
      }
      throw withDetail(err);
    }
  };
}

/** A PostgreSQL error with DETAIL or COLUMN, as an error whose message says them (the original as its cause). */
function withDetail(err: unknown): unknown {
  const e = err as { message?: unknown; severity?: unknown; detail?: unknown; column?: unknown };
  if (!(err instanceof Error) || typeof e.severity !== "string") return err;
  const detail = typeof e.detail === "string" && e.detail ? ` — ${e.detail}` : "";
  const column = typeof e.column === "string" && e.column ? ` [column ${e.column}]` : "";
  if (!detail && !column) return err;
  return new Error(`${err.message}${detail}${column}`, { cause: err });
}

// ---------------------------------------------------------------------------------------------------
// JSON from the command line: --input/--params/--output files and --set key=value

/** commander collector of a repeated `--set key=value`: checks the form, keeps the text. */
export function collectSet(value: string, previous: string[] = []): string[] {
  parseSet(value);
  return [...previous, value];
}

/**
 * `a.b=value` → path ["a", "b"] and the value: JSON when it parses (numbers, true, null, objects,
 * "quoted strings"), else the text as a string. @throws InvalidArgumentError (a usage error)
 */
export function parseSet(arg: string): { path: string[]; value: unknown } {
  const eq = arg.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError(`--set takes key=value (a.b=value for a nested key), got "${arg}"`);
  const path = arg.slice(0, eq).split(".");
  if (path.some((k) => k === "")) throw new InvalidArgumentError(`--set ${arg}: an empty key in "${arg.slice(0, eq)}"`);
  const raw = arg.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // not JSON: the text itself
  }
  return { path, value };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string) => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
const put = (o: Record<string, unknown>, k: string, v: unknown) =>
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

/**
 * The object `base` with every `--set` applied in order (a later one wins; the file's value is
 * replaced). @throws UsageError when a --set goes through a value that is not an object
 */
export function applySets(base: Record<string, unknown>, sets: string[]): Record<string, unknown> {
  const out = structuredClone(base);
  for (const s of sets) {
    const { path, value } = parseSet(s);
    let node = out;
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i]!;
      const next = own(node, k);
      if (next === undefined) {
        const created: Record<string, unknown> = {};
        put(node, k, created);
        node = created;
      } else if (isObject(next)) {
        node = next;
      } else {
        throw new UsageError(`--set ${s}: ${path.slice(0, i + 1).join(".")} is ${JSON.stringify(next)}, not an object`);
      }
    }
    put(node, path[path.length - 1]!, value);
  }
  return out;
}

/** A JSON object from a file. @throws UsageError naming the file and what is wrong */
export async function readJsonObject(file: string, what: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new UsageError(`${what} ${file}: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new UsageError(`${what} ${file}: must hold a JSON object, got ${Array.isArray(parsed) ? "an array" : JSON.stringify(parsed)}`);
  return parsed;
}

/** The object of `--<file option>` and `--set`s combined (set wins), or undefined when neither was given. */
async function jsonFromArgs(file: string | undefined, sets: string[], what: string): Promise<Record<string, unknown> | undefined> {
  if (file === undefined && sets.length === 0) return undefined;
  return applySets(file === undefined ? {} : await readJsonObject(file, what), sets);
}

/** An ISO 8601 time (`--at`), returned as ISO text. */
const isoTime = (v: string): string => {
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw new InvalidArgumentError(`--at must be an ISO 8601 time (2027-01-31T09:00:00Z), got "${v}"`);
  }
  return new Date(v).toISOString();
};

// ---------------------------------------------------------------------------------------------------
// workflow start, workflow plan

export interface StartOptions {
  tenant: string;
  input?: string;
  set: string[];
  idempotencyKey?: string;
  version?: number;
  at?: string;
}

/** `provisio workflow start`: workflow_start(), get-or-create by idempotency key. */
export async function workflowStart(db: pg.Pool, template: string, input: Record<string, unknown>, opts: Omit<StartOptions, "input" | "set">): Promise<string> {
  const r = await db.query<{ run_id: string; created: boolean }>(
    "SELECT run_id, created FROM workflow_start($1::uuid, $2, $3::jsonb, $4, $5::int, $6::timestamptz)",
    [opts.tenant, template, JSON.stringify(input), opts.idempotencyKey ?? null, opts.version ?? null, opts.at ?? null],
  );
  const { run_id, created } = r.rows[0]!;
  const run = (await db.query<RunRow>(`${RUN_SELECT} WHERE id = $1`, [run_id])).rows[0];
  const what = run ? `${run.template_name} v${run.template_version}, ${run.status}${run.scheduled_at ? `, scheduled for ${time(run.scheduled_at)}` : ""}` : "";
  return created
    ? `created run ${run_id} (${what})\nfollow it: provisio progress show ${run_id} --follow`
    : `run ${run_id} exists already for idempotency key ${opts.idempotencyKey ?? ""} (${what}): not created again`;
}

interface PlanStep {
  key: string;
  kind: string;
  target: string | null;
  depends_on: string[] | null;
  params: Record<string, unknown> | null;
  unresolved: string[] | null;
  when: boolean | null;
  error_code: string | null;
  error_message: string | null;
  after_upstream: boolean;
  compensate: Record<string, unknown> | null;
}
export interface Plan {
  template_name: string;
  template_version: number | null;
  input: unknown;
  input_error: { path?: string; code?: string; message: string } | null;
  steps: PlanStep[];
}

/** workflow_plan(): the dry run as jsonb. */
export async function workflowPlan(db: pg.Pool, template: string, input: Record<string, unknown>, opts: { tenant?: string; version?: number }): Promise<Plan> {
  const r = await db.query<{ plan: Plan }>("SELECT workflow_plan($1, $2::jsonb, $3::int, $4::uuid) AS plan", [
    template,
    JSON.stringify(input),
    opts.version ?? null,
    opts.tenant ?? null,
  ]);
  return r.rows[0]!.plan;
}

/** True when the plan found an error: in the input or in a step. */
export const planFailed = (p: Plan) => p.input_error !== null || p.steps.some((s) => s.error_code !== null);

/** `provisio workflow plan` as text: the input's verdict and a table of the steps. */
export function renderPlan(p: Plan): string {
  const t = new Table({ style, head: ["step", "kind", "target", "after", "when", "params", "error"] });
  for (const s of p.steps) {
    const unresolved = s.unresolved ?? [];
    t.push([
      s.key,
      s.kind,
      text(s.target),
      (s.depends_on ?? []).join(", "),
      s.when === true ? "yes" : s.when === false ? "no: skipped" : "at run time",
      unresolved.length ? `known at run time: ${unresolved.join(", ")}` : clip(json(s.params ?? {}), 80),
      s.error_code ? `${s.error_code}: ${s.error_message ?? ""}${s.after_upstream ? " (may not happen: upstream provisions do not exist in a plan)" : ""}` : "",
    ]);
  }
  const ie = p.input_error;
  const inputLine = ie
    ? `input refused: ${ie.path ? `${ie.path}: ` : ""}${ie.message}${ie.code ? ` (${ie.code})` : ""}`
    : `input (defaults applied): ${clip(json(p.input), 200)}`;
  const errors = p.steps.filter((s) => s.error_code !== null).length;
  const verdict = planFailed(p)
    ? `not runnable as given: ${[ie ? "the input" : "", errors ? `${errors} step(s)` : ""].filter(Boolean).join(" and ")} refused`
    : "every step that can be checked before it runs is accepted";
  return `plan of ${p.template_name} v${text(p.template_version)} (nothing was written)\n${inputLine}\n${t.toString()}\n${verdict}`;
}

// ---------------------------------------------------------------------------------------------------
// progress list, show

interface RunRow {
  id: string;
  tenant_customer_id: string;
  template_name: string;
  template_version: number;
  status: string;
  is_final: boolean;
  is_success: boolean;
  total: number;
  completed: number;
  failed: number;
  skipped: number;
  running: number;
  percent_done: number;
  current_steps: string[];
  error_code: string | null;
  error: string | null;
  warnings: { step: string; phase: string; warning: string }[];
  input: unknown;
  output: unknown;
  idempotency_key: string | null;
  scheduled_at: Date | null;
  recovered_from_id: string | null;
  job_id: string;
  created_date: Date;
  started_date: Date | null;
  ended_date: Date | null;
  duration_seconds: number | null;
}

const RUN_SELECT = `SELECT id, tenant_customer_id, template_name, template_version, status, is_final, is_success,
  total::int, completed::int, failed::int, skipped::int, running::int, percent_done::float8 AS percent_done, current_steps,
  error_code, error, warnings, input, output, idempotency_key, scheduled_at, recovered_from_id, job_id, created_date, started_date, ended_date,
  extract(epoch FROM duration)::float8 AS duration_seconds
FROM v_workflow_run`;

interface StepRow {
  phase: string;
  step_key: string;
  kind: string;
  target: string | null;
  step_index: number | null;
  status: string;
  attempts: number;
  remaining_deps: number;
  params: unknown;
  params_override: unknown;
  output: unknown;
  skipped_reason: string | null;
  error_code: string | null;
  last_error: string | null;
  next_retry: Date | null;
  job_attempts: number | null;
  job_max_attempts: number | null;
  provision_table: string | null;
  provision_id: string | null;
  job_id: string | null;
  copied_from_id: string | null;
  started_date: Date | null;
  ended_date: Date | null;
}

export interface ListOptions {
  status?: string;
  template?: string;
  tenant?: string;
  limit: number;
}

/** `--template name` or `--template name@version` */
function templateFilter(t: string | undefined): { name: string | null; version: number | null } {
  if (!t) return { name: null, version: null };
  const m = /^(.+)@v?(\d+)$/.exec(t);
  return m ? { name: m[1]!, version: Number(m[2]) } : { name: t, version: null };
}

/** v_workflow_run rows, newest first. */
export async function listRuns(db: pg.Pool, opts: ListOptions): Promise<RunRow[]> {
  const tf = templateFilter(opts.template);
  const r = await db.query<RunRow>(
    `${RUN_SELECT}
     WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR template_name = $2) AND ($3::int IS NULL OR template_version = $3)
       AND ($4::uuid IS NULL OR tenant_customer_id = $4)
     ORDER BY created_date DESC, id DESC LIMIT $5`,
    [opts.status ?? null, tf.name, tf.version, opts.tenant ?? null, opts.limit],
  );
  return r.rows;
}

/** `provisio progress list` as text. */
export function renderRunList(rows: RunRow[], opts: ListOptions): string {
  if (!rows.length)
    return `no workflow runs${opts.status || opts.template || opts.tenant ? " match" : " yet (provisio workflow start <template> --tenant <id>)"}`;
  const head = ["run", "template", ...(opts.tenant ? [] : ["tenant"]), "status", "progress", "current steps", "error", "started", "ended", "duration"];
  const t = new Table({ style, head });
  for (const r of rows) {
    t.push([
      r.id,
      `${r.template_name}@${r.template_version}`,
      ...(opts.tenant ? [] : [idTail(r.tenant_customer_id)]),
      r.status,
      `${Math.round(r.percent_done)}% ${r.completed + r.skipped}/${r.total}`,
      r.current_steps.join(", "),
      clip(text(r.error ?? r.error_code), 60),
      time(r.started_date),
      time(r.ended_date),
      duration(r.duration_seconds),
    ]);
  }
  return t.toString();
}

export interface RunSnapshot {
  run: RunRow;
  steps: StepRow[];
}

/** The run and its steps: forward steps first, then compensations, each in the template's order. @throws ProvisioError PV330 */
export async function readRun(db: pg.Pool, run: string): Promise<RunSnapshot> {
  const r = (await db.query<RunRow>(`${RUN_SELECT} WHERE id = $1`, [run])).rows[0];
  if (!r) throw new ProvisioError("PV330", `workflow run ${run} does not exist (provisio progress list shows the runs)`);
  const steps = await db.query<StepRow>(
    `SELECT phase, step_key, kind, target, step_index, status, attempts, remaining_deps, params, params_override, output, skipped_reason,
            error_code, last_error, next_retry, job_attempts, job_max_attempts, provision_table, provision_id, job_id, copied_from_id,
            started_date, ended_date
     FROM v_workflow_step WHERE run_id = $1 ORDER BY phase <> 'forward', step_index NULLS LAST, step_key`,
    [run],
  );
  return { run: r, steps: steps.rows };
}

/** One line of a run's state: status, progress bar, steps in flight, error. */
export function runLine(r: RunRow): string {
  return [
    `run ${r.id} ${r.status}`,
    progressBar(r.percent_done, r.completed + r.skipped, r.total),
    r.current_steps.length ? `current: ${r.current_steps.join(", ")}` : "",
    r.error ? `error: ${r.error}` : r.error_code ? `error: ${r.error_code}` : "",
  ]
    .filter(Boolean)
    .join(" — ");
}

const stepStatus = (s: StepRow) =>
  s.status === "skipped" && s.skipped_reason
    ? `skipped (${s.skipped_reason})`
    : s.status === "cancelled" && s.skipped_reason === "on_failure"
      ? "cancelled (on failure)"
      : s.copied_from_id
        ? `${s.status} (copied)`
        : s.status;

/** `provisio progress show` as text: the run, then a table of its steps. */
export function renderRun({ run: r, steps }: RunSnapshot): string {
  const lines = [
    `run ${r.id}: ${r.template_name} v${r.template_version} — ${r.status}`,
    `tenant ${r.tenant_customer_id}${r.idempotency_key ? `, idempotency key ${r.idempotency_key}` : ""}${r.recovered_from_id ? `, recovered from run ${r.recovered_from_id}` : ""}`,
    `${progressBar(r.percent_done, r.completed + r.skipped, r.total)}${r.failed ? `, ${r.failed} failed` : ""}${r.running ? `, ${r.running} running` : ""}`,
    `created ${time(r.created_date)}${r.scheduled_at ? `, scheduled for ${time(r.scheduled_at)}` : ""}${r.started_date ? `, started ${time(r.started_date)}` : ""}${
      r.ended_date ? `, ended ${time(r.ended_date)}` : ""
    }, duration ${duration(r.duration_seconds)}`,
  ];
  if (r.current_steps.length) lines.push(`current steps: ${r.current_steps.join(", ")}`);
  if (r.error || r.error_code) lines.push(`error: ${text(r.error ?? r.error_code)}`);
  if (r.warnings.length) lines.push(`warnings: ${r.warnings.map((w) => `${w.step}${w.phase === "forward" ? "" : ` (${w.phase})`} ${w.warning}`).join("; ")}`);
  const t = new Table({ style, head: ["phase", "step", "kind", "target", "status", "attempts", "last error", "next retry", "output"] });
  for (const s of steps) {
    t.push([
      s.phase,
      s.step_key,
      s.kind,
      text(s.target),
      stepStatus(s),
      `${s.attempts}${s.job_attempts !== null ? ` (job ${s.job_attempts}/${text(s.job_max_attempts)})` : ""}`,
      clip(s.last_error ? `${text(s.error_code)}: ${s.last_error}` : text(s.error_code), 60),
      time(s.next_retry),
      clip(json(s.output), 50),
    ]);
  }
  lines.push(steps.length ? t.toString() : "no step rows yet: the run has not started (its job waits for a worker)");
  return lines.join("\n");
}

/**
 * `progress show --follow`: LISTEN on provisio_workflow_status (payload: a run id), read the run again on
 * its notification and every 2 s (a step's change does not always notify), and write each new state:
 * on a terminal, the whole view redrawn in place; otherwise one line per change (the full view once the
 * run is final); with `json`, one JSON object per line per change. Returns the final snapshot.
 */
export async function followRun(db: pg.Pool, runId: string, opts: { json?: boolean; out?: NodeJS.WriteStream }): Promise<RunSnapshot> {
  const out = opts.out ?? process.stdout;
  const tty = out.isTTY === true && !opts.json;
  const listener = await db.connect();
  let wake: (() => void) | undefined;
  const onNotify = (n: pg.Notification) => {
    if (n.channel === WORKFLOW_STATUS_CHANNEL && n.payload === runId) wake?.();
  };
  listener.on("notification", onNotify);
  try {
    await listener.query(`LISTEN ${WORKFLOW_STATUS_CHANNEL}`);
    let last = "";
    let drawnLines = 0;
    for (;;) {
      const snap = await readRun(db, runId);
      // compare without the clock (duration), so an unchanged run prints nothing
      const key = JSON.stringify({ ...snap, run: { ...snap.run, duration_seconds: null, output: null } });
      if (tty) {
        const view = renderRun(snap);
        if (drawnLines) out.write(`\x1b[${drawnLines}F\x1b[J`);
        out.write(`${view}\n`);
        drawnLines = view.split("\n").length;
      } else if (key !== last) {
        out.write(opts.json ? `${JSON.stringify(snap)}\n` : `${time(new Date())} ${runLine(snap.run)}\n`);
      }
      last = key;
      if (snap.run.is_final) {
        if (!tty && !opts.json) out.write(`${renderRun(snap)}\n`);
        return snap;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    listener.off("notification", onNotify);
    await listener.query(`UNLISTEN ${WORKFLOW_STATUS_CHANNEL}`).catch(() => undefined);
    listener.release();
  }
}

// ---------------------------------------------------------------------------------------------------
// operations

/** workflow_cancel(): returns what the status means for the person who cancelled. */
export async function cancelRun(db: pg.Pool, run: string, compensate: boolean | undefined): Promise<string> {
  const r = await db.query<{ status: string }>("SELECT workflow_cancel($1::uuid, $2::boolean) AS status", [run, compensate ?? null]);
  const status = r.rows[0]!.status;
  const meaning: Record<string, string> = {
    cancelling: "no step starts any more; steps in flight finish and are recorded, then the run is cancelled",
    cancelled: "no step runs any more",
    compensating: "the completed steps are being undone (their compensate steps)",
    compensated: "the completed steps were undone",
    completed: "it had completed: nothing to cancel",
    failed: "it had failed: nothing to cancel (provisio progress cleanup undoes its completed steps)",
  };
  return `run ${run} is ${status}${meaning[status] ? `: ${meaning[status]}` : ""}`;
}

interface StepRunRow {
  step_key: string;
  phase: string;
  attempt: number;
  status: string;
  output: unknown;
  params_override: unknown;
}

const runStatus = async (db: pg.Pool, run: string) =>
  (await db.query<{ status: string; error: string | null }>("SELECT status, error FROM v_workflow_run WHERE id = $1", [run])).rows[0];

/** workflow_retry_step() */
export async function retryStep(db: pg.Pool, run: string, step: string, override: Record<string, unknown> | undefined, phase: string): Promise<string> {
  const r = await db.query<StepRunRow>(
    `SELECT s.step_key, s.phase, s.attempt, ss.name AS status, s.output, s.params_override
     FROM workflow_retry_step($1::uuid, $2, $3::jsonb, $4) s JOIN workflow_step_status ss ON ss.id = s.status_id`,
    [run, step, override === undefined ? null : JSON.stringify(override), phase],
  );
  const s = r.rows[0]!;
  const after = await runStatus(db, run);
  return `${s.phase === "forward" ? "" : `${s.phase} `}step ${s.step_key}: attempt ${s.attempt} is ${s.status}${
    s.params_override ? ` (params override ${json(s.params_override)})` : ""
  }; run ${run} is ${text(after?.status)}`;
}

/** workflow_skip_step() */
export async function skipStep(db: pg.Pool, run: string, step: string, output: Record<string, unknown> | undefined, phase: string): Promise<string> {
  const r = await db.query<StepRunRow>(
    `SELECT s.step_key, s.phase, s.attempt, ss.name AS status, s.output, s.params_override
     FROM workflow_skip_step($1::uuid, $2, $3::jsonb, $4) s JOIN workflow_step_status ss ON ss.id = s.status_id`,
    [run, step, output === undefined ? null : JSON.stringify(output), phase],
  );
  const s = r.rows[0]!;
  const after = await runStatus(db, run);
  return `${s.phase === "forward" ? "" : `${s.phase} `}step ${s.step_key}: attempt ${s.attempt} is ${s.status}${
    s.status === "skipped" ? ` with output ${json(s.output ?? {})}` : ""
  }; run ${run} is ${text(after?.status)}`;
}

/** workflow_resume() */
export async function resumeRun(db: pg.Pool, run: string): Promise<string> {
  const r = await db.query<{ keys: string[] }>("SELECT workflow_resume($1::uuid) AS keys", [run]);
  const keys = r.rows[0]!.keys;
  const after = await runStatus(db, run);
  return keys.length ? `retried ${keys.join(", ")}; run ${run} is ${text(after?.status)}` : `no failed step to retry; run ${run} is ${text(after?.status)}`;
}

/** workflow_recover(): the new run's id first, so scripts can take it. */
export async function recoverRun(db: pg.Pool, run: string): Promise<string> {
  const r = await db.query<{ id: string }>("SELECT workflow_recover($1::uuid) AS id", [run]);
  const id = r.rows[0]!.id;
  const after = await runStatus(db, id);
  return `${id}\nrun ${id} recovers run ${run} (${text(after?.status)}): its completed and skipped steps are copied, the others run again`;
}

/** workflow_compensate() */
export async function cleanupRun(db: pg.Pool, run: string): Promise<string> {
  const r = await db.query<{ status: string }>("SELECT workflow_compensate($1::uuid) AS status", [run]);
  const status = r.rows[0]!.status;
  const meaning: Record<string, string> = {
    compensating: "the compensations of its completed steps run, in reverse order",
    compensated: "every completed step with a compensate was undone",
    blocked: "a compensation failed: provisio progress retry|skip <run> <step> --phase compensate",
  };
  return `run ${run} is ${status}${meaning[status] ? `: ${meaning[status]}` : ""}`;
}

// ---------------------------------------------------------------------------------------------------
// stats

interface StatsRow {
  template_name: string;
  template_version: number;
  runs: number;
  completed: number;
  failed: number;
  running: number;
  blocked: number;
  success_rate: number | null;
  mean_seconds: number | null;
  p95_seconds: number | null;
  most_failing_step: string | null;
}

/**
 * v_workflow_stats, or with `tenant` the same figures computed for that tenant from v_workflow_run and
 * workflow_step_run (the view has no tenant column: it shows the session's tenant, or every tenant to
 * the engine roles).
 */
export async function readStats(db: pg.Pool, opts: { template?: string; tenant?: string }): Promise<StatsRow[]> {
  const tf = templateFilter(opts.template);
  if (!opts.tenant) {
    const r = await db.query<StatsRow>(
      `SELECT template_name, template_version, runs::int, completed::int, failed::int, running::int, blocked::int, success_rate::float8 AS success_rate,
              extract(epoch FROM mean_duration)::float8 AS mean_seconds, p95_duration_seconds::float8 AS p95_seconds, most_failing_step
       FROM v_workflow_stats WHERE ($1::text IS NULL OR template_name = $1) AND ($2::int IS NULL OR template_version = $2)
       ORDER BY template_name, template_version`,
      [tf.name, tf.version],
    );
    return r.rows;
  }
  const r = await db.query<StatsRow>(
    `SELECT w.template_name, w.template_version, count(*)::int AS runs,
            count(*) FILTER (WHERE w.status = 'completed')::int AS completed,
            count(*) FILTER (WHERE w.status IN ('failed', 'cancelled', 'compensated'))::int AS failed,
            count(*) FILTER (WHERE NOT w.is_final)::int AS running,
            count(*) FILTER (WHERE w.status = 'blocked')::int AS blocked,
            round(100.0 * count(*) FILTER (WHERE w.status = 'completed') / nullif(count(*) FILTER (WHERE w.is_final), 0), 1)::float8 AS success_rate,
            extract(epoch FROM avg(w.ended_date - w.started_date) FILTER (WHERE w.status = 'completed'))::float8 AS mean_seconds,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM w.ended_date - w.started_date))
              FILTER (WHERE w.status = 'completed') AS p95_seconds,
            (SELECT s.step_key FROM workflow_step_run s JOIN provision_workflow x ON x.id = s.run_id
             WHERE x.tenant_customer_id = $1 AND x.template_name = w.template_name AND x.template_version = w.template_version
               AND s.status_id = wf_step_failed()
             GROUP BY s.step_key ORDER BY count(*) DESC, s.step_key LIMIT 1) AS most_failing_step
     FROM v_workflow_run w
     WHERE w.tenant_customer_id = $1 AND ($2::text IS NULL OR w.template_name = $2) AND ($3::int IS NULL OR w.template_version = $3)
     GROUP BY w.template_name, w.template_version ORDER BY w.template_name, w.template_version`,
    [opts.tenant, tf.name, tf.version],
  );
  return r.rows;
}

/** Totals across template versions: counts summed, success rate of the final runs, mean weighted by completed runs. */
export function statsTotals(rows: StatsRow[]) {
  const sum = (f: (r: StatsRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const completed = sum((r) => r.completed);
  const failed = sum((r) => r.failed);
  const timed = rows.filter((r) => r.mean_seconds !== null && r.completed > 0);
  const timedRuns = timed.reduce((a, r) => a + r.completed, 0);
  return {
    templates: new Set(rows.map((r) => r.template_name)).size,
    runs: sum((r) => r.runs),
    completed,
    failed,
    running: sum((r) => r.running),
    blocked: sum((r) => r.blocked),
    success_rate: completed + failed ? Math.round((1000 * completed) / (completed + failed)) / 10 : null,
    mean_seconds: timedRuns ? timed.reduce((a, r) => a + r.mean_seconds! * r.completed, 0) / timedRuns : null,
  };
}

/** `provisio stats` as text. */
export function renderStats(rows: StatsRow[]): string {
  if (!rows.length) return "no workflow runs yet";
  const tot = statsTotals(rows);
  const pct = (v: number | null) => (v === null ? "" : `${v}%`);
  const summary =
    `${tot.runs} run(s) of ${tot.templates} template(s): ${tot.completed} completed, ${tot.failed} failed, cancelled or compensated, ` +
    `${tot.running} running now (${tot.blocked} blocked); success rate ${pct(tot.success_rate) || "n/a"}, mean completion time ${duration(tot.mean_seconds) || "n/a"}`;
  const t = new Table({
    style,
    head: ["template", "version", "runs", "completed", "failed", "running now", "success rate", "mean", "p95", "most failing step"],
  });
  for (const r of rows) {
    t.push([
      r.template_name,
      r.template_version,
      r.runs,
      r.completed,
      r.failed,
      `${r.running}${r.blocked ? ` (${r.blocked} blocked)` : ""}`,
      pct(r.success_rate),
      duration(r.mean_seconds),
      duration(r.p95_seconds),
      text(r.most_failing_step),
    ]);
  }
  return `${summary}\n${t.toString()}`;
}

// ---------------------------------------------------------------------------------------------------
// the commands

const runArg = () => new Argument("<run>", "the run id (provisio progress list)").argParser(uuidArg("<run>"));
const setOption = (what: string) =>
  new Option("--set <key=value>", `${what}: a.b=value sets a nested key; value as JSON when it parses, else a string (repeatable)`)
    .argParser(collectSet)
    .default([]);
const phaseOption = () =>
  new Option("--phase <phase>", "forward steps, or the compensations of a cleanup").choices(["forward", "compensate"]).default("forward");

/** Register `workflow`, `progress` and `stats` on the program. */
export function registerWorkflowCommands(program: Command, withPool: WithPool): void {
  const print = (s: string) => console.log(s);

  const workflow = program
    .command("workflow")
    .description("start workflow runs and plan them (README 'Workflows'; docs/decisions/0008); `provisio progress` follows and operates them")
    .exitOverride(usageExit);
  workflow
    .command("start <template>")
    .description(
      "start a run of the template's latest published version (or --version) for a tenant: get-or-create by --idempotency-key. Calls workflow_start(tenant, template, input, idempotency_key, version, scheduled_at)",
    )
    .requiredOption("-t, --tenant <uuid>", "the tenant_customer_id the run is for", uuidArg("--tenant"))
    .option("-i, --input <json file>", "the run's input: a JSON object (checked against the template's input schema, PV321)")
    .addOption(setOption("an input field"))
    .option(
      "-k, --idempotency-key <key>",
      "one run per tenant and key: the same request again returns the run (created: no); another request under it is PV323",
    )
    .option("-v, --version <n>", "the template version (default: the latest published)", positiveInt("--version"))
    .option("--at <time>", "start at this ISO 8601 time (scheduled_at), not now", isoTime)
    .addHelpText(
      "after",
      "\nPrints the run id and whether it was created or existed already. Exit 1 when the database refuses (PV320 template, PV321 input, PV323 key).",
    )
    .action(
      act(async (template: string, opts: StartOptions) => {
        const input = (await jsonFromArgs(opts.input, opts.set, "--input")) ?? {};
        print(await withPool((pool) => workflowStart(pool, template, input, opts)));
      }),
    );
  workflow
    .command("plan <template>")
    .description(
      "a dry run: the run and each step whose params resolve from the input are INSERTed and validated as a real run would be, then rolled back; a table of the steps' params and errors. Calls workflow_plan(template, input, version, tenant)",
    )
    .option("-t, --tenant <uuid>", "the tenant (default: the session's app.tenant_id)", uuidArg("--tenant"))
    .option("-i, --input <json file>", "the input: a JSON object")
    .addOption(setOption("an input field"))
    .option("-v, --version <n>", "the template version (default: the latest published)", positiveInt("--version"))
    .option("--json", "print workflow_plan's JSON")
    .addHelpText("after", "\nExit 1 when the input or a step would be refused (the table says which and why).")
    .action(
      act(async (template: string, opts: { tenant?: string; input?: string; set: string[]; version?: number; json?: boolean }) => {
        const input = (await jsonFromArgs(opts.input, opts.set, "--input")) ?? {};
        const plan = await withPool((pool) => workflowPlan(pool, template, input, opts));
        print(opts.json ? JSON.stringify(plan, null, 2) : renderPlan(plan));
        if (planFailed(plan)) process.exitCode = 1;
      }),
    );

  const progress = program
    .command("progress")
    .description("workflow runs: their progress (v_workflow_run, v_workflow_step) and the operator's operations on them (workflow_cancel, _retry_step, ...)")
    .exitOverride(usageExit);
  progress
    .command("list")
    .description("runs, newest first: status, percent done, steps in flight, error, timings. Reads v_workflow_run")
    .addOption(new Option("-s, --status <status>", "only runs in this status").choices([...RUN_STATUSES]))
    .option("--template <name[@version]>", "only runs of this template (and version)")
    .option("-t, --tenant <uuid>", "only this tenant's runs", uuidArg("--tenant"))
    .option("-n, --limit <n>", "at most this many runs", positiveInt("--limit"), 20)
    .option("--json", "the rows as JSON")
    .action(
      act(async (opts: ListOptions & { json?: boolean }) => {
        const rows = await withPool((pool) => listRuns(pool, opts));
        print(opts.json ? JSON.stringify(rows, null, 2) : renderRunList(rows, opts));
      }),
    );
  progress
    .command("show")
    .description(
      "one run and its steps (forward, then compensations): status, attempts, last error, next retry, output. Reads v_workflow_run and v_workflow_step; --follow LISTENs on provisio_workflow_status",
    )
    .addArgument(runArg())
    .option(
      "-f, --follow",
      "redraw as the run advances (one line per change when stdout is not a terminal) until it is final; exit 0 when it completed, 1 otherwise",
    )
    .option("--json", "the run and its steps as JSON (with --follow: one object per line per change)")
    .action(
      act(async (run: string, opts: { follow?: boolean; json?: boolean }) => {
        if (!opts.follow) {
          const snap = await withPool((pool) => readRun(pool, run));
          print(opts.json ? JSON.stringify(snap, null, 2) : renderRun(snap));
          return;
        }
        const snap = await withPool((pool) => followRun(pool, run, { json: opts.json }));
        if (snap.run.status !== "completed") process.exitCode = 1;
      }),
    );
  progress
    .command("cancel")
    .description(
      "cancel a run: queued steps are removed, steps in flight finish and are recorded; with compensation, its completed steps are then undone. A final run is left as it is. Calls workflow_cancel(run, compensate)",
    )
    .addArgument(runArg())
    .option("--compensate", "undo the completed steps afterwards")
    .option("--no-compensate", "do not undo them (default without either flag: the template's on_cancel)")
    .action(act(async (run: string, opts: { compensate?: boolean }) => print(await withPool((pool) => cancelRun(pool, run, opts.compensate)))));
  progress
    .command("retry")
    .description(
      "a new attempt of a failed step of a blocked run (a new provision row; the failed attempt stays as evidence), then the run goes on. Calls workflow_retry_step(run, step, params_override, phase)",
    )
    .addArgument(runArg())
    .argument("<step>", "the step key")
    .option("-p, --params <json file>", "top-level params that replace the template's for this attempt (a JSON object)")
    .addOption(setOption("a params override"))
    .addOption(phaseOption())
    .action(
      act(async (run: string, step: string, opts: { params?: string; set: string[]; phase: string }) => {
        const override = await jsonFromArgs(opts.params, opts.set, "--params");
        print(await withPool((pool) => retryStep(pool, run, step, override, opts.phase)));
      }),
    );
  progress
    .command("skip")
    .description(
      "skip a failed step of a blocked run: a new attempt, skipped, with the output its dependents read; then the run goes on. Calls workflow_skip_step(run, step, output, phase)",
    )
    .addArgument(runArg())
    .argument("<step>", "the step key")
    .option("-o, --output <json file>", "the step's output (a JSON object; default {})")
    .addOption(setOption("an output field"))
    .addOption(phaseOption())
    .action(
      act(async (run: string, step: string, opts: { output?: string; set: string[]; phase: string }) => {
        const output = await jsonFromArgs(opts.output, opts.set, "--output");
        print(await withPool((pool) => skipStep(pool, run, step, output, opts.phase)));
      }),
    );
  progress
    .command("resume")
    .description("retry every failed step of a blocked run, in the template's order, in one transaction. Calls workflow_resume(run)")
    .addArgument(runArg())
    .action(act(async (run: string) => print(await withPool((pool) => resumeRun(pool, run)))));
  progress
    .command("recover")
    .description(
      "a new run of a failed or cancelled run: same tenant, template version and input; its completed and skipped steps are copied, not run again. Prints the new run's id. Calls workflow_recover(run)",
    )
    .addArgument(runArg())
    .action(act(async (run: string) => print(await withPool((pool) => recoverRun(pool, run)))));
  progress
    .command("cleanup")
    .description(
      "undo what a failed or cancelled run did: the compensations of its completed steps run in reverse dependency order. Calls workflow_compensate(run)",
    )
    .addArgument(runArg())
    .action(act(async (run: string) => print(await withPool((pool) => cleanupRun(pool, run)))));

  program
    .command("stats")
    .description(
      "workflow statistics: totals across templates, then per template version: runs, success rate, mean and p95 duration of completed runs, running now, the step that fails most. Reads v_workflow_stats",
    )
    .option("--template <name[@version]>", "only this template (and version)")
    .option("-t, --tenant <uuid>", "only this tenant's runs (computed from v_workflow_run: v_workflow_stats has no tenant column)", uuidArg("--tenant"))
    .option("--json", "{ totals, templates } as JSON")
    .exitOverride(usageExit)
    .action(
      act(async (opts: { template?: string; tenant?: string; json?: boolean }) => {
        const rows = await withPool((pool) => readStats(pool, opts));
        print(opts.json ? JSON.stringify({ totals: statsTotals(rows), templates: rows }, null, 2) : renderStats(rows));
      }),
    );
}
