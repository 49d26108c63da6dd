/**
 * Discovery and repair of the access family (seed 002 "Discovery pipeline"); the SQL side, tables and
 * the drift view are in stored-procedures/operations/access_discovery.sql and migrations/0015.
 *
 * Three graphile-worker tasks (not provisions: a pass changes nothing in the application, and its record
 * is table access_discovery_run, not job):
 *  - access__discover_due (cron, every minute; src/families/index.ts): access_discovery_schedule() queues a
 *    pass of every application whose discovery_interval has elapsed.
 *  - access__discover {run_id}: lists the application's accounts through its adapter's discoverAccounts,
 *    one page at a time (application.discovery_page_size), recording each page
 *    (access_discovery_record); when the listing ends, access_discovery_finish completes the pass. A
 *    transient failure (server down, 429/503, timeout) lets graphile-worker retry the pass, which then
 *    starts over; a permanent one, or the last attempt, fails it (access_discovery_fail): a failed or
 *    partial pass marks nothing.
 *  - access__repair {run_id}: in repair mode, applies the pass's planned difference (repair_plan: per
 *    identity the keys to grant and to revoke), restricted to what v_access_drift still shows and
 *    leaving out identities with a grant or revoke in flight (PV_ACCESS_IN_FLIGHT), through
 *    the adapter's applyDesiredState (plan, then only the difference). Transient failures retry the
 *    repair (adapters are effectively once); the result of every account is written by
 *    access_repair_finish, which records the accounts made consistent.
 */
import type { Task } from "graphile-worker";
import { z } from "zod";
import type { AccountOperation } from "../../connectors/capabilities/account.js";
import { getConnector } from "../../connectors/registry.js";
import type { DefinedTask } from "../../engine/lifecycle.js";
import { query, type PgHelpers } from "../../engine/sql/query.js";
import { fromPgError } from "../../errors.js";
import { logger, type Logger } from "../../logger.js";
import { loadApplication } from "./task.js";

const runPayload = z.object({ run_id: z.string().uuid() });

interface RunRow {
  id: string;
  tenant_customer_id: string;
  application_id: string;
  attempts: number;
  repair_plan: PlanEntry[] | null;
}

/** One identity's entry of a repair plan (access_discovery_finish). */
interface PlanEntry {
  identity_id: string;
  user_id_in_app: string;
  grant: string[];
  revoke: string[];
}

/** One account's repair result, as access_repair_finish stores it in repair_result.accounts[]. */
export interface RepairAccountResult {
  identity_id: string;
  user_id_in_app: string;
  native_id?: string;
  success: boolean;
  operations: AccountOperation[];
  error_code?: string;
  error?: string;
}

/** The run id of a payload, or undefined (logged) when the payload is not one of ours. */
function runIdOf(payload: unknown, log: Logger): string | undefined {
  const p = runPayload.safeParse(payload);
  if (!p.success) log.error({ payload }, "payload has no run_id; dropping it");
  return p.success ? p.data.run_id : undefined;
}

/** True when graphile-worker will run this job again if the task throws. */
const attemptsLeft = (helpers: { job: { attempts: number; max_attempts: number } }) => helpers.job.attempts < helpers.job.max_attempts;

/** The application's entitlement keys and page size. */
async function discoverySettings(helpers: PgHelpers, applicationId: string) {
  const keys = await query<{ native_key: string }>(helpers, "SELECT native_key FROM entitlement WHERE application_id = $1 ORDER BY native_key", [
    applicationId,
  ]);
  const app = await query<{ discovery_page_size: number }>(helpers, "SELECT discovery_page_size FROM application WHERE id = $1", [applicationId]);
  return { entitlementKeys: keys.map((k) => k.native_key), pageSize: app[0]?.discovery_page_size ?? 200 };
}

const discoverTask: Task = async (payload, helpers) => {
  const base = logger().child({ jobType: "access__discover", gwJobId: helpers.job.id });
  const runId = runIdOf(payload, base);
  if (!runId) return;
  const run = (await query<RunRow>(helpers, "SELECT * FROM access_discovery_start($1)", [runId]))[0];
  if (!run) {
    base.info({ runId }, "discovery pass is already final; nothing to do");
    return;
  }
  const log = base.child({ runId, applicationId: run.application_id, attempt: run.attempts });
  try {
    const cfg = await loadApplication(helpers, run.application_id, run.tenant_customer_id);
    const request = await discoverySettings(helpers, run.application_id);
    const connector = getConnector(cfg.connector_type, "account");
    let seen = 0;
    for await (const page of connector.discoverAccounts(cfg.configuration, request, { correlationId: runId, attempt: run.attempts, log })) {
      const rows = page.map((a) => ({ user_id_in_app: a.userIdInApp, native_id: a.nativeId ?? null, active: a.active, entitlements: a.entitlements }));
      seen = (await query<{ n: number }>(helpers, "SELECT access_discovery_record($1, $2) AS n", [runId, JSON.stringify(rows)]))[0]!.n;
      log.debug({ page: rows.length, seen }, "discovery page recorded");
    }
    const repair = (await query<{ repair: string | null }>(helpers, "SELECT access_discovery_finish($1) AS repair", [runId]))[0]!.repair;
    log.info({ application: cfg.name, accounts: seen, repair }, "discovery pass complete");
  } catch (raw) {
    const err = fromPgError(raw);
    if (err.retryable && attemptsLeft(helpers)) {
      log.warn({ code: err.code, err: err.message }, "discovery pass interrupted; graphile-worker retries it from the start");
      throw err;
    }
    await query(helpers, "SELECT access_discovery_fail($1, $2, $3)", [runId, err.code, err.message]);
    log.warn({ code: err.code, err: err.message }, "discovery pass failed; nothing is concluded from it");
  }
};

const repairTask: Task = async (payload, helpers) => {
  const base = logger().child({ jobType: "access__repair", gwJobId: helpers.job.id });
  const runId = runIdOf(payload, base);
  if (!runId) return;
  const run = (await query<RunRow>(helpers, "SELECT * FROM access_repair_start($1)", [runId]))[0];
  if (!run) {
    base.info({ runId }, "no repair to run for this pass (superseded or done)");
    return;
  }
  const log = base.child({ runId, applicationId: run.application_id, attempt: helpers.job.attempts });
  // only what is still drift: a role given or taken since the pass changes the plan
  const drift = await query<{ identity_id: string; kind: string; native_key: string }>(
    helpers,
    "SELECT identity_id, kind, native_key FROM v_access_drift WHERE run_id = $1 AND kind IN ('missing', 'excess') AND identity_id IS NOT NULL AND native_key IS NOT NULL",
    [runId],
  );
  const still = new Set(drift.map((d) => `${d.identity_id}\u0000${d.kind}\u0000${d.native_key}`));
  const results: RepairAccountResult[] = [];
  let transient: Error | undefined;
  try {
    const cfg = await loadApplication(helpers, run.application_id, run.tenant_customer_id);
    const connector = getConnector(cfg.connector_type, "account");
    for (const entry of run.repair_plan ?? []) {
      const grant = entry.grant.filter((k) => still.has(`${entry.identity_id}\u0000missing\u0000${k}`));
      const revoke = entry.revoke.filter((k) => still.has(`${entry.identity_id}\u0000excess\u0000${k}`));
      if (!grant.length && !revoke.length) continue;
      const identity = (
        await query<{ username: string; email: string | null; display_name: string | null; is_active: boolean }>(
          helpers,
          "SELECT username, email, display_name, is_active FROM identity WHERE id = $1",
          [entry.identity_id],
        )
      )[0];
      if (!identity) continue;
      // a grant or revoke of this identity in flight decides its accounts now: the repair leaves it alone
      // (it would undo what that provision does), and the next pass plans again from what is there
      if (await accessInFlight(helpers, entry.identity_id)) {
        results.push({
          identity_id: entry.identity_id,
          user_id_in_app: entry.user_id_in_app,
          success: false,
          operations: [],
          error_code: "PV_ACCESS_IN_FLIGHT",
          error: "a grant or revoke of this identity is in flight; the next pass repairs what is still drift",
        });
        continue;
      }
      try {
        const r = await connector.applyDesiredState(
          cfg.configuration,
          {
            userIdInApp: entry.user_id_in_app,
            attributes: { userName: identity.username, email: identity.email, displayName: identity.display_name },
            ensureAccount: grant.length > 0 && identity.is_active,
            entitlementsToGrant: identity.is_active ? grant : [],
            entitlementsToRevoke: revoke,
            deactivateWhenEmpty: false,
          },
          { correlationId: runId, attempt: helpers.job.attempts, step: entry.identity_id, log },
        );
        results.push({
          identity_id: entry.identity_id,
          user_id_in_app: entry.user_id_in_app,
          native_id: r.nativeId,
          success: r.success,
          operations: r.operations,
        });
      } catch (raw) {
        const err = fromPgError(raw);
        if (err.retryable && attemptsLeft(helpers)) throw err;
        results.push({
          identity_id: entry.identity_id,
          user_id_in_app: entry.user_id_in_app,
          success: false,
          operations: [],
          error_code: err.code,
          error: err.message,
        });
      }
    }
  } catch (raw) {
    const err = fromPgError(raw);
    if (err.retryable && attemptsLeft(helpers)) transient = err;
    else results.push({ identity_id: "", user_id_in_app: "", success: false, operations: [], error_code: err.code, error: err.message });
  }
  if (transient) {
    log.warn({ err: transient.message }, "repair interrupted; graphile-worker retries it (adapters apply only what is still missing)");
    throw transient;
  }
  const status = (await query<{ s: string }>(helpers, "SELECT access_repair_finish($1, $2) AS s", [runId, JSON.stringify({ accounts: results })]))[0]!.s;
  log.info({ accounts: results.length, failed: results.filter((r) => !r.success).length, status }, "repair finished");
};

/** Whether a grant or revoke of the identity is not final yet. */
async function accessInFlight(helpers: PgHelpers, identityId: string): Promise<boolean> {
  const rows = await query<{ n: number }>(
    helpers,
    `SELECT count(*)::int AS n FROM (
       SELECT status_id FROM provision_access_grant WHERE identity_id = $1
       UNION ALL SELECT status_id FROM provision_access_revoke WHERE identity_id = $1) p
     WHERE p.status_id NOT IN (status_completed(), status_failed())`,
    [identityId],
  );
  return rows[0]!.n > 0;
}

const dueTask: Task = async (_payload, helpers) => {
  const n = (await query<{ n: number }>(helpers, "SELECT access_discovery_schedule() AS n", []))[0]!.n;
  if (n > 0) logger().child({ jobType: "access__discover_due" }).info({ queued: n }, "discovery passes queued");
};

export const discoveryTasks: DefinedTask[] = [
  { identifier: "access__discover", task: discoverTask },
  { identifier: "access__repair", task: repairTask },
  { identifier: "access__discover_due", task: dueTask },
];

/** graphile-worker crontab lines of the access family: the discovery scheduler, once a minute, never queued twice. */
export const discoveryCrontab = ["* * * * * access__discover_due ?max=1&jobKey=access__discover_due"];
