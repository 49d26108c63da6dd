/**
 * The workflow part of `npm start` (seeds 000 and 004): one run of the built-in tenant.onboard for the demo
 * tenant — its schema and migrations in the demo's application database, the "district" limits, an
 * admin identity granted the engineering role in the demo's applications, and a domain registered
 * through domain.register (a sub-run) at the EPP simulator — then its tenant.deprovision with a grace
 * period of a few seconds, each with its steps drawn as they progress.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { bar } from "../util/progress-bar.js";

interface StepRow {
  step_key: string;
  kind: string;
  target: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
}

interface RunRow {
  status: string;
  is_final: boolean;
  percent_done: string;
  completed: string;
  total: string;
  error: string | null;
  result: Record<string, unknown> | null;
}

/**
 * INSERT a tenant.onboard run for `tenantId`, then (when it completed) a tenant.deprovision of it, and
 * print each step's status change and the progress until each run is final or blocked (at most
 * `timeoutMs` each). Returns the onboarding run's id.
 */
export async function showWorkflowDemo(pool: pg.Pool, ids: { tenantId: string; accreditationId: string }, timeoutMs = 60_000): Promise<string> {
  const app = await pool.query<{ id: string }>("SELECT id FROM application WHERE tenant_customer_id = $1 AND name = 'wiki (SQL)'", [ids.tenantId]);
  const suffix = randomBytes(3).toString("hex");
  const slug = `school_${suffix}`;
  const contact = (role: string) => ({
    contact_id: `sch-${role}-${suffix}`,
    name: `School ${role}`,
    city: "Oslo",
    cc: "NO",
    email: `${role}@school-${suffix}.example`,
  });
  const input = {
    tenant_slug: slug,
    category: "district",
    application_id: app.rows[0]!.id,
    admin: { username: `admin.${suffix}`, email: `admin@school-${suffix}.example`, display_name: "School Admin" },
    admin_role: "engineering",
    accreditation_id: ids.accreditationId,
    domain: `school-${suffix}.example`,
    contacts: { registrant: contact("reg"), admin: contact("adm"), tech: contact("tech") },
  };
  const run = (
    await pool.query<{ id: string }>(
      "INSERT INTO provision_workflow (tenant_customer_id, template_name, input) VALUES ($1, 'tenant.onboard', $2) RETURNING id",
      [ids.tenantId, JSON.stringify(input)],
    )
  ).rows[0]!.id;
  console.log(`\nWorkflows (seeds 000 and 004): INSERT INTO provision_workflow (template_name = 'tenant.onboard') for tenant "${slug}", run ${run}:`);
  const onboarded = await followRun(pool, run, timeoutMs);
  if (onboarded?.status !== "completed") return run;
  // and its end: tenant.deprovision with a grace period of a few seconds, keeping the audit logs and the backup
  const deprovision = (
    await pool.query<{ id: string }>(
      "INSERT INTO provision_workflow (tenant_customer_id, template_name, input) VALUES ($1, 'tenant.deprovision', $2) RETURNING id",
      [
        ids.tenantId,
        JSON.stringify({
          tenant_slug: slug,
          application_id: input.application_id,
          admin_identity_id: (onboarded.result as { admin_identity_id: string }).admin_identity_id,
          accreditation_id: ids.accreditationId,
          domain: input.domain,
          grace_period_hours: 0.001,
        }),
      ],
    )
  ).rows[0]!.id;
  console.log(`\nThen tenant.deprovision for "${slug}" (grace period 0.001 h; a cancel before it ends would undo the disabling), run ${deprovision}:`);
  await followRun(pool, deprovision, timeoutMs);
  return run;
}

/** Print each step's status change of run `run` with a progress bar until it is final or blocked (at most `timeoutMs`); returns its last v_workflow_run row. */
async function followRun(pool: pg.Pool, run: string, timeoutMs: number): Promise<RunRow | undefined> {
  const seen = new Map<string, string>();
  const started = Date.now();
  let r: RunRow | undefined;
  for (;;) {
    const steps = (
      await pool.query<StepRow>(
        "SELECT step_key, kind, target, status, attempts, last_error FROM v_workflow_step WHERE run_id = $1 AND phase = 'forward' ORDER BY step_index",
        [run],
      )
    ).rows;
    r = (await pool.query<RunRow>("SELECT status, is_final, percent_done, completed, total, error, result FROM v_workflow_run WHERE id = $1", [run])).rows[0];
    for (const s of steps) {
      if (seen.get(s.step_key) === s.status) continue;
      seen.set(s.step_key, s.status);
      const what = `${s.kind} ${s.target ?? ""}`.trim();
      console.log(
        `  ${bar(Number(r?.percent_done ?? 0), 20)} ${s.step_key.padEnd(15)} ${what.padEnd(32)} ${s.status}${s.last_error ? ` (${s.last_error})` : ""}`,
      );
    }
    if (!r || r.is_final || r.status === "blocked" || Date.now() - started > timeoutMs) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  console.log(`  run ${r?.status ?? "?"}: ${r?.completed}/${r?.total} steps${r?.error ? `; ${r.error}` : ""}`);
  if (r?.result) console.log(`  result: ${JSON.stringify(r.result)}`);
  console.log(`  SELECT * FROM v_workflow_step WHERE run_id = '${run}';   or: npm run provisio -- progress show ${run}`);
  return r;
}
