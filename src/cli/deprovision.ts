/**
 * `provisio deprovision tenant <id>` (seed 004's "deprovision tenant"): starts the built-in
 * tenant.deprovision for a tenant — back up, notify, disable access, wait the grace period, clean up,
 * delete the domain, keep or purge audit logs and backups. What the run needs to know about the tenant
 * (its schema slug, application, admin identity, domain and accreditation) comes from its last completed
 * tenant.onboard run unless given; the run is started with workflow_start (get-or-create: the same
 * tenant and --idempotency-key return the run already started). Cancel it during the grace period with
 * `provisio progress cancel <run>`: the deprovision's on_cancel compensates (access granted again, the
 * tenant active again).
 */
import type pg from "pg";
import { ConfigurationError } from "../errors.js";

export interface DeprovisionOptions {
  gracePeriod?: number;
  preserveAuditLogs?: boolean;
  preserveBackups?: boolean;
  notifyUsers?: boolean;
  at?: string;
  application?: string;
  admin?: string;
  slug?: string;
  domain?: string;
  idempotencyKey?: string;
}

interface OnboardRow {
  input: { tenant_slug?: string; application_id?: string; accreditation_id?: string; domain?: string };
  result: { admin_identity_id?: string } | null;
}

/** The tenant.deprovision input for `tenant` from its last completed onboarding and the options. @throws ConfigurationError naming what is missing */
export async function deprovisionInput(db: pg.Pool, tenant: string, o: DeprovisionOptions): Promise<Record<string, unknown>> {
  const last = (
    await db.query<OnboardRow>(
      "SELECT input, result FROM v_workflow_run WHERE tenant_customer_id = $1 AND template_name = 'tenant.onboard' AND status = 'completed' ORDER BY ended_date DESC LIMIT 1",
      [tenant],
    )
  ).rows[0];
  const input: Record<string, unknown> = {
    tenant_slug: o.slug ?? last?.input.tenant_slug,
    application_id: o.application ?? last?.input.application_id,
    admin_identity_id: o.admin ?? last?.result?.admin_identity_id,
  };
  const domain = o.domain ?? last?.input.domain;
  if (domain) {
    input.domain = domain;
    input.accreditation_id = last?.input.accreditation_id;
  }
  const missing = Object.entries({ tenant_slug: "--slug", application_id: "--application", admin_identity_id: "--admin" })
    .filter(([k]) => !input[k])
    .map(([, flag]) => flag);
  if (missing.length) {
    throw new ConfigurationError(`tenant ${tenant} has no completed tenant.onboard run to read it from: give ${missing.join(", ")}`);
  }
  if (o.gracePeriod !== undefined) input.grace_period_hours = o.gracePeriod;
  if (o.preserveAuditLogs !== undefined) input.preserve_audit_logs = o.preserveAuditLogs;
  if (o.preserveBackups !== undefined) input.preserve_backups = o.preserveBackups;
  if (o.notifyUsers !== undefined) input.notify_users = o.notifyUsers;
  return input;
}

/** `provisio deprovision tenant <id>`: starts (or finds) the run; returns what to print. */
export async function deprovisionTenant(db: pg.Pool, tenant: string, o: DeprovisionOptions): Promise<string> {
  let at: Date | null = null;
  if (o.at) {
    at = new Date(o.at);
    if (Number.isNaN(at.getTime())) throw new ConfigurationError(`--at ${o.at}: not a date-time (e.g. 2026-12-24T18:00:00Z)`);
  }
  const input = await deprovisionInput(db, tenant, o);
  const r = (
    await db.query<{ run_id: string; created: boolean }>("SELECT * FROM workflow_start($1, 'tenant.deprovision', $2, $3, NULL, $4)", [
      tenant,
      JSON.stringify(input),
      o.idempotencyKey ?? null,
      at,
    ])
  ).rows[0]!;
  const when = at ? ` at ${at.toISOString()}` : "";
  return `${r.created ? "started" : "already started"}: tenant.deprovision run ${r.run_id} for tenant ${tenant}${when}
input: ${JSON.stringify(input)}
follow it: provisio progress show ${r.run_id} --follow; undo it during the grace period: provisio progress cancel ${r.run_id}`;
}
