/**
 * `provisio access …`: the access family's operator commands (seed 002). Everything they do goes through
 * SQL a person could run by hand (README "Access provisioning"):
 *   plan <identity>            a dry-run grant (provision_access_grant, dry_run = true): what a grant
 *                              would change in each application, without changing it
 *   discover <application>     access_discovery_request(), then the pass's progress until it is final
 *   drift [--application]      v_access_drift, each application's last pass and held repairs
 *   approve <run>              access_repair_approve(): release a repair held by the mass-deletion guard
 * plan and discover need a running worker (`provisio worker` or `provisio start`); they say so when none
 * is alive and give up after --timeout seconds (the request stays queued: a worker started later runs it).
 * An application or identity is named by its id or its name; a name several tenants use needs --tenant.
 */
import Table from "cli-table3";
import type pg from "pg";
import { ConfigurationError } from "../errors.js";
import { isUuid } from "./args.js";
import { idTail } from "./status.js";

const style = process.stdout.isTTY ? undefined : { head: [], border: [] };
const short = (v: unknown) => (v === null || v === undefined ? "" : String(v));

/** A row of v_access_discovery_run, as node-postgres returns it. */
interface PassRow {
  id: string;
  tenant_customer_id: string;
  application_id: string;
  application: string;
  reconcile_mode: string;
  status: string;
  pages: number;
  accounts_seen: number;
  error_code: string | null;
  error: string | null;
  finished_date: Date | null;
  repair_status: string | null;
  repair_accounts: number;
  repair_revoking: string;
  repair_max_revoke_share: string;
}

/** A row of v_provision, as far as plan reads it. */
interface ProvisionRow {
  status: string;
  result_data: { applications?: PlannedApplication[] } | null;
}
interface PlannedApplication {
  application: string;
  user_id_in_app?: string;
  success: boolean;
  error?: string;
  operations: { op: string; target: string; outcome: string; message?: string }[];
}

interface Named {
  id: string;
  name: string;
  tenant_customer_id: string;
}

/**
 * The row of `table` (application or identity) named `ref`: its id, or its name (application.name,
 * identity.username, case-insensitively) within `tenant` when given.
 * @throws ConfigurationError (PV_CONFIG) when nothing matches, or a name matches in several tenants
 */
export async function resolveNamed(db: pg.Pool, table: "application" | "identity", ref: string, tenant?: string): Promise<Named> {
  const nameCol = table === "application" ? "name" : "username";
  const rows = isUuid(ref)
    ? await db.query<Named>(`SELECT id, ${nameCol} AS name, tenant_customer_id FROM ${table} WHERE id = $1`, [ref])
    : await db.query<Named>(
        `SELECT id, ${nameCol} AS name, tenant_customer_id FROM ${table} WHERE lower(${nameCol}) = lower($1) AND ($2::uuid IS NULL OR tenant_customer_id = $2) ORDER BY tenant_customer_id`,
        [ref, tenant ?? null],
      );
  if (rows.rows.length === 0) throw new ConfigurationError(`no ${table} "${ref}"${tenant ? ` in tenant ${tenant}` : ""}`);
  if (rows.rows.length > 1) {
    throw new ConfigurationError(
      `${rows.rows.length} tenants have an ${table} named "${ref}" (${rows.rows.map((r) => r.tenant_customer_id).join(", ")}): give --tenant or the id`,
    );
  }
  return rows.rows[0]!;
}

/** Whether a worker has sent a heartbeat in the last 30 seconds (table worker). */
async function workerAlive(db: pg.Pool): Promise<boolean> {
  const r = await db.query("SELECT 1 FROM worker WHERE status = 'alive' AND last_seen_date > now() - interval '30 seconds' LIMIT 1");
  return r.rows.length > 0;
}

/** Poll `probe` every 250 ms until it returns a row, or `timeoutS` pass (then undefined). */
async function poll<T>(probe: () => Promise<T | undefined>, timeoutS: number, onTick?: () => Promise<void>): Promise<T | undefined> {
  const until = Date.now() + timeoutS * 1000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) return undefined;
    await onTick?.();
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface WaitOptions {
  /** seconds to wait for the worker before giving up (the request stays queued) */
  timeout: number;
  tenant?: string;
  /** a progress line per change on stderr */
  progress?: (line: string) => void;
}

/**
 * `provisio access discover`: request a pass of the application and follow it to its end. Returns the
 * report text. @throws ConfigurationError when it is not final within the timeout
 */
export async function discoverCommand(db: pg.Pool, ref: string, opts: WaitOptions): Promise<string> {
  const app = await resolveNamed(db, "application", ref, opts.tenant);
  const runId = (await db.query<{ id: string }>("SELECT access_discovery_request($1, 'manual') AS id", [app.id])).rows[0]!.id;
  if (!(await workerAlive(db))) opts.progress?.(`no worker is running: pass ${runId} waits in the queue until one starts (provisio worker)`);
  let last = "";
  const run = await poll(
    async () => (await db.query<PassRow>("SELECT * FROM v_access_discovery_run WHERE id = $1 AND status IN ('complete', 'failed')", [runId])).rows[0],
    opts.timeout,
    async () => {
      const r = (await db.query<PassRow>("SELECT status, pages, accounts_seen FROM access_discovery_run WHERE id = $1", [runId])).rows[0];
      const line = `pass ${idTail(runId)} of ${app.name}: ${short(r?.status)} — ${short(r?.pages)} page(s), ${short(r?.accounts_seen)} account(s)`;
      if (line !== last) opts.progress?.((last = line));
    },
  );
  if (!run) throw new ConfigurationError(`discovery pass ${runId} of ${app.name} is not final after ${opts.timeout} s; it stays queued (is a worker running?)`);
  if (run.status === "failed")
    return `discovery of ${app.name} failed (pass ${runId}): ${run.error_code}: ${run.error}\nNothing is concluded from a failed pass.`;
  const kinds = await db.query<{ kind: string; n: string }>(
    "SELECT kind, count(*) AS n FROM v_access_drift WHERE application_id = $1 GROUP BY kind ORDER BY kind",
    [app.id],
  );
  const drift = kinds.rows.map((k) => `${k.kind} ${k.n}`).join(", ") || "none";
  let text = `discovery of ${app.name} complete (pass ${runId}): ${run.accounts_seen} account(s) in ${run.pages} page(s); drift: ${drift}`;
  text += `\n${repairLine(run)}`;
  return text;
}

function repairLine(run: PassRow): string {
  switch (run.repair_status) {
    case null:
    case undefined:
      return "reconcile mode report: nothing repaired (provisio access drift shows the rows)";
    case "none":
      return "reconcile mode repair: nothing to repair";
    case "held":
      return `repair HELD: it would revoke from ${run.repair_revoking} of ${run.accounts_seen} account(s), over the application's repair_max_revoke_share ${run.repair_max_revoke_share}; release it with: provisio access approve ${run.id}`;
    default:
      return `repair ${run.repair_status}: ${run.repair_accounts} account(s) in the plan`;
  }
}

/** `provisio access drift`: the drift rows, each application's last pass, held repairs. */
export async function driftCommand(db: pg.Pool, opts: { application?: string; tenant?: string; limit: number }): Promise<string> {
  const app = opts.application ? await resolveNamed(db, "application", opts.application, opts.tenant) : undefined;
  const rows = await db.query<{ application: string; kind: string; username: string | null; user_id_in_app: string | null; native_key: string | null }>(
    `SELECT a.name AS application, d.kind, d.username, d.user_id_in_app, d.native_key
     FROM v_access_drift d JOIN application a ON a.id = d.application_id
     WHERE ($1::uuid IS NULL OR d.application_id = $1) AND ($2::uuid IS NULL OR a.tenant_customer_id = $2)
     ORDER BY a.name, d.kind, d.user_id_in_app, d.native_key NULLS FIRST LIMIT $3`,
    [app?.id ?? null, opts.tenant ?? null, opts.limit],
  );
  const dt = new Table({ style, head: ["application", "kind", "identity", "user id in app", "entitlement"] });
  for (const r of rows.rows) dt.push([short(r.application), short(r.kind), short(r.username), short(r.user_id_in_app), short(r.native_key)]);
  const passes = await db.query<PassRow>(
    `SELECT DISTINCT ON (application_id) * FROM v_access_discovery_run
     WHERE ($1::uuid IS NULL OR application_id = $1) AND ($2::uuid IS NULL OR tenant_customer_id = $2)
     ORDER BY application_id, created_date DESC`,
    [app?.id ?? null, opts.tenant ?? null],
  );
  const pt = new Table({ style, head: ["application", "last pass", "status", "accounts", "finished", "mode", "repair"] });
  for (const r of passes.rows) {
    pt.push([
      short(r.application),
      idTail(r.id),
      r.status === "failed" ? `failed: ${short(r.error_code)}` : short(r.status),
      short(r.accounts_seen),
      r.finished_date instanceof Date ? r.finished_date.toISOString().replace("T", " ").slice(0, 19) : "",
      short(r.reconcile_mode),
      short(r.repair_status),
    ]);
  }
  const held = passes.rows.filter((r) => r.repair_status === "held");
  let text = `Drift (against each application's last complete pass; ${rows.rows.length} row(s)${rows.rows.length === opts.limit ? `, first ${opts.limit}` : ""})\n${dt.toString()}`;
  text += `\n\nDiscovery passes (latest per application)\n${pt.toString()}`;
  for (const r of held) text += `\n${r.application}: ${repairLine(r)}`;
  return text;
}

/**
 * `provisio access plan`: insert a dry-run grant for the identity (optionally one application) and show
 * each application's planned operations once the worker has computed them.
 */
export async function planCommand(db: pg.Pool, ref: string, opts: WaitOptions & { application?: string }): Promise<string> {
  const identity = await resolveNamed(db, "identity", ref, opts.tenant);
  const app = opts.application ? await resolveNamed(db, "application", opts.application, identity.tenant_customer_id) : undefined;
  const id = (
    await db.query<{ id: string }>(
      "INSERT INTO provision_access_grant (tenant_customer_id, identity_id, application_id, dry_run) VALUES ($1, $2, $3, true) RETURNING id",
      [identity.tenant_customer_id, identity.id, app?.id ?? null],
    )
  ).rows[0]!.id;
  if (!(await workerAlive(db))) opts.progress?.(`no worker is running: the dry run ${id} waits until one starts (provisio worker)`);
  const p = await poll(async () => (await db.query<ProvisionRow>("SELECT * FROM v_provision WHERE id = $1 AND is_final", [id])).rows[0], opts.timeout);
  if (!p) throw new ConfigurationError(`the dry run ${id} is not final after ${opts.timeout} s (is a worker running?)`);
  const apps = p.result_data?.applications ?? [];
  const t = new Table({ style, head: ["application", "user id in app", "operation", "target", "would"] });
  for (const a of apps) {
    if (a.error) t.push([a.application, short(a.user_id_in_app), "", "", `error: ${a.error}`]);
    for (const o of a.operations) t.push([a.application, short(a.user_id_in_app), o.op, o.target, o.outcome === "skipped" ? "apply" : o.outcome]);
  }
  const changes = apps.flatMap((a) => a.operations).filter((o) => o.outcome === "skipped").length;
  return `plan for ${identity.name} (dry run ${id}, ${p.status}): ${changes} change(s) in ${apps.length} application(s)\n${t.toString()}`;
}

/** `provisio access approve`: release a held repair. */
export async function approveCommand(db: pg.Pool, runId: string): Promise<string> {
  const s = (await db.query<{ s: string }>("SELECT access_repair_approve($1) AS s", [runId])).rows[0]!.s;
  return `repair of pass ${runId}: ${s}`;
}
