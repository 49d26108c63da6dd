/**
 * The access family's tasks (seed 002 processProvisioningTask, on the engine's lifecycle):
 * access__grant and access__revoke. One job per provision; its applications are provisioned one after
 * the other, each through the adapter of its connector_config (getConnector(type, "account")):
 *
 *  1. load the identity; grant: the entitlements its roles give (in one application, or in all),
 *     revoke: the listed entitlements; group them by application;
 *  2. per application, read its connector_config and mapping_config now (a change is seen by the next
 *     job, not after a restart), derive the user's id in the application (user_id_template, lower_case),
 *     and call the adapter's applyDesiredState (plan, then apply only the difference; dry_run: plan only);
 *  3. collect each application's result: `result_data.applications[] = { application_id, application,
 *     user_id_in_app, native_id, disabled, success, operations[], error_code?, error? }`.
 *
 * Per-application retry (docs/decisions/0007): an application that fails transiently (adapter threw a
 * TransientError: server down, 429/503, timeout) makes the job retry with the job type's backoff; the
 * results of the applications that succeeded are kept in the job's result_data, and the next attempt
 * reuses them when nothing they were computed for changed (configuration, mapping, user id, entitlements:
 * a fingerprint), so they are not called again; a changed one is planned again. An application that fails permanently (bad credentials, an
 * invalid config, an operation the target refused) fails the job with that application's error; the
 * others stay applied and recorded. The job completes only when every application is consistent.
 */
import { sql, type InferResult } from "kysely";
import { z } from "zod";
import type { AccountDesiredState, AccountResult } from "../../connectors/capabilities/account.js";
import { getConnector } from "../../connectors/registry.js";
import { queryBuilder } from "../../db/kysely.js";
import { defineTask, noFamily, type DefinedTask, type FamilyPlugin, type TaskContext, type TaskOutcome } from "../../engine/lifecycle.js";
import { query, type PgHelpers } from "../../engine/sql/query.js";
import { PermanentError, ProvisioError, fromPgError } from "../../errors.js";
import { fingerprint } from "../../util/fingerprint.js";

/** One application's outcome, as stored in result_data.applications[]. */
export interface ApplicationResult {
  application_id: string;
  application: string;
  user_id_in_app?: string;
  native_id?: string;
  /** true when this run disabled the account (or found it disabled), false when it created or enabled it; absent otherwise */
  disabled?: boolean;
  /** what the result was computed for (configuration, mapping, user id, entitlements): an earlier attempt's success is reused only for the same */
  fingerprint?: string;
  success: boolean;
  operations: AccountResult["operations"];
  error_code?: string;
  error?: string;
}

/**
 * Some applications are not consistent yet. Retryable when every failure was transient; result_data
 * carries every application's result, so the applications already consistent are kept.
 */
export class AccessApplicationsError extends ProvisioError {
  override readonly retryable: boolean;
  constructor(
    readonly applications: ApplicationResult[],
    retryable: boolean,
  ) {
    const failed = applications.filter((a) => !a.success);
    super(
      retryable ? "PV_ACCESS_RETRY" : (failed.find((a) => a.error_code)?.error_code ?? "PV_ACCESS_FAILED"),
      `${failed.length} of ${applications.length} application(s) not consistent: ${failed.map((a) => `${a.application}: ${a.error ?? "an operation failed"}`).join("; ")}`,
    );
    this.retryable = retryable;
  }

  override resultData(): Record<string, unknown> {
    return { ...super.resultData(), applications: this.applications };
  }
}

const grantData = z.object({
  id: z.string().uuid(),
  tenant_customer_id: z.string().uuid(),
  identity_id: z.string().uuid(),
  application_id: z.string().uuid().nullish(),
  dry_run: z.boolean().default(false),
});
const revokeData = z.object({
  id: z.string().uuid(),
  tenant_customer_id: z.string().uuid(),
  identity_id: z.string().uuid(),
  entitlement_ids: z.array(z.string().uuid()).min(1),
  /** each entitlement's application and native key when the revoke was accepted (validation) */
  entitlement_keys: z.array(z.object({ entitlement_id: z.string().uuid(), application_id: z.string().uuid(), native_key: z.string() })).nullish(),
  deactivate: z.boolean().default(false),
  dry_run: z.boolean().default(false),
});

type Ctx = TaskContext<unknown>;
type GrantData = z.infer<typeof grantData>;
type RevokeData = z.infer<typeof revokeData>;
/** The access family needs nothing per attempt besides the lifecycle's context: it reads its configuration per application. */
const accessFamily = noFamily as FamilyPlugin<never, object>;

async function run<R>(ctx: Ctx, compiled: { sql: string; parameters: readonly unknown[] }): Promise<R[]> {
  return query<R & Record<string, unknown>>(ctx.helpers, compiled.sql, [...compiled.parameters]);
}

/** The identity's attributes (the row's tenant only). @throws ProvisioError PV_ACCESS_IDENTITY when it is gone */
async function loadIdentity(ctx: Ctx, tenant: string, identityId: string) {
  const q = queryBuilder
    .selectFrom("identity")
    .select(["username", "email", "display_name", "is_active"])
    .where("id", "=", identityId)
    .where("tenant_customer_id", "=", tenant)
    .compile();
  const row = (await run<InferResult<typeof q>[number]>(ctx, q))[0];
  if (!row) throw new ProvisioError("PV_ACCESS_IDENTITY", `identity ${identityId} no longer exists`);
  return row;
}

/** Native keys by application: the entitlements with these ids, or those the identity's roles give. */
async function entitlementsByApplication(ctx: Ctx, tenant: string, filter: { identityId: string; applicationId?: string | null } | { ids: string[] }) {
  let q = queryBuilder
    .selectFrom("entitlement as e")
    .innerJoin("application as a", "a.id", "e.application_id")
    .select(["e.application_id", "a.name as application", "e.native_key"])
    .where("e.tenant_customer_id", "=", tenant)
    .distinct();
  if ("ids" in filter) q = q.where("e.id", "in", filter.ids);
  else {
    const { identityId, applicationId } = filter;
    q = q
      .innerJoin("role_entitlement as re", "re.entitlement_id", "e.id")
      .innerJoin("identity_role as ir", "ir.role_id", "re.role_id")
      .where("ir.identity_id", "=", identityId);
    if (applicationId) q = q.where("e.application_id", "=", applicationId);
  }
  const rows = await run<{ application_id: string; application: string; native_key: string }>(ctx, q.orderBy("a.name").orderBy("e.native_key").compile());
  const apps = new Map<string, { name: string; keys: string[] }>();
  for (const r of rows) {
    const app = apps.get(r.application_id) ?? { name: r.application, keys: [] };
    app.keys.push(r.native_key);
    apps.set(r.application_id, app);
  }
  return apps;
}

/** The names of applications `ids` of the tenant, by id (one query). */
async function applicationNames(ctx: Ctx, tenant: string, ids: string[]): Promise<Map<string, string>> {
  const q = queryBuilder.selectFrom("application").select(["id", "name"]).where("tenant_customer_id", "=", tenant).where("id", "in", ids).compile();
  return new Map((await run<InferResult<typeof q>[number]>(ctx, q)).map((r) => [r.id, r.name]));
}

/**
 * The application's name, connector and mapping configuration, read now (a change to a config row is seen
 * by the next job, not after a restart). Also used by discovery (./discovery.ts). A configuration a
 * tenant's session wrote is checked against the tenant's connector policy first (it may have been
 * tightened since the write: stored-procedures/validation/access_definitions.sql), so the adapter never
 * reads a secret or reaches a host the policy no longer allows.
 * @throws ProvisioError PV_CONFIG when the application has no connector_config or mapping_config;
 *   PermanentError PV_ACCESS_POLICY when its tenant-written configuration breaks the tenant's policy
 */
export async function loadApplication(helpers: PgHelpers, applicationId: string, tenant: string) {
  const q = queryBuilder
    .selectFrom("connector_config as c")
    .innerJoin("mapping_config as m", "m.application_id", "c.application_id")
    .innerJoin("application as a", "a.id", "c.application_id")
    .select(["a.name", "c.connector_type", "c.configuration", "m.user_id_template", "m.lower_case"])
    .select(
      sql<string | null>`CASE WHEN c.tenant_written THEN access_connector_policy_error(c.tenant_customer_id, c.connector_type, c.configuration) END`.as(
        "policy_error",
      ),
    )
    .where("c.application_id", "=", applicationId)
    .where("c.tenant_customer_id", "=", tenant)
    .where("m.tenant_customer_id", "=", tenant)
    .compile();
  const row = (await query<InferResult<typeof q>[number]>(helpers, q.sql, [...q.parameters]))[0];
  if (!row) throw new ProvisioError("PV_CONFIG", `application ${applicationId} has no connector_config or mapping_config`);
  if (row.policy_error) throw new PermanentError("PV_ACCESS_POLICY", `application "${row.name}": ${row.policy_error}`);
  return row;
}

/**
 * seed 002 "derive the user's id in the app": the template with {username} and {email} substituted in one
 * pass (a username containing "{email}" stays as it is), lower-cased when asked.
 * @throws PermanentError PV_ACCESS_USER_ID when the template needs an email the identity lacks, or the id is empty
 */
export function userIdInApp(template: string, identity: { username: string; email: string | null }, lowerCase: boolean): string {
  const id = template.replace(/\{(username|email)\}/g, (_, key: string) => {
    const value = key === "username" ? identity.username : identity.email;
    if (!value) throw new PermanentError("PV_ACCESS_USER_ID", `the mapping's user_id_template "${template}" needs the identity's ${key}, which is empty`);
    return value;
  });
  if (!id.trim()) throw new PermanentError("PV_ACCESS_USER_ID", `the mapping's user_id_template "${template}" gives an empty user id`);
  return lowerCase ? id.toLowerCase() : id;
}

/**
 * The user id to act on in the application, checked against the accounts provisio recorded there (one
 * query):
 *  - the identity's own account, if provisio made one: a grant refuses to go on when the mapping now
 *    gives another id (provisio does not rename accounts: it would make a second account and strand the
 *    first), unless the target compares user ids whatever their case and only the case changed (then the
 *    recorded spelling is used); a revoke acts on the recorded account, so offboarding works after a
 *    username or mapping change;
 *  - one person per account: an id recorded for another identity is refused (two mappings giving the same
 *    id would share, and strip, one account). The recorded id itself is unique per application
 *    (migrations/0013), so only the derived id can be another identity's.
 * @throws PermanentError PV_ACCESS_RENAMED (grant only), PV_ACCESS_ACCOUNT_TAKEN
 */
async function accountUserId(
  ctx: Ctx,
  applicationId: string,
  app: string,
  derived: string,
  mode: "grant" | "revoke",
  caseInsensitive: boolean,
): Promise<string> {
  const { identity_id: identityId } = ctx.data as { identity_id: string };
  const rows = await query<{ identity_id: string; user_id_in_app: string }>(
    ctx.helpers,
    "SELECT identity_id, user_id_in_app FROM account WHERE application_id = $1 AND (identity_id = $2 OR lower(user_id_in_app) = lower($3))",
    [applicationId, identityId, derived],
  );
  const recorded = rows.find((r) => r.identity_id === identityId)?.user_id_in_app;
  let userId = derived;
  if (recorded !== undefined && recorded !== derived) {
    // a target that compares user ids whatever their case (LDAP, SCIM) holds the recorded account under either spelling
    if (mode === "revoke" || (caseInsensitive && recorded.toLowerCase() === derived.toLowerCase())) userId = recorded;
    else {
      throw new PermanentError(
        "PV_ACCESS_RENAMED",
        `the identity's account in ${app} is "${recorded}", and the mapping now gives "${derived}": provisio does not rename accounts. ` +
          `Revoke with deactivate (it acts on "${recorded}"), delete the account row, then grant again`,
      );
    }
  }
  if (userId === derived && rows.some((r) => r.identity_id !== identityId)) {
    throw new PermanentError("PV_ACCESS_ACCOUNT_TAKEN", `the user id "${userId}" is another identity's account in this application`);
  }
  return userId;
}

/** Results of an earlier attempt of this job: applications already consistent are not provisioned again. */
async function earlierSuccesses(ctx: Ctx): Promise<Map<string, ApplicationResult>> {
  const rows = await query<{ result_data: { applications?: ApplicationResult[] } | null }>(ctx.helpers, "SELECT result_data FROM job WHERE id = $1", [
    ctx.job.id,
  ]);
  const done = new Map<string, ApplicationResult>();
  for (const a of rows[0]?.result_data?.applications ?? []) if (a.success) done.set(a.application_id, a);
  return done;
}

async function provision(
  ctx: Ctx,
  apps: Map<string, { name: string; keys: string[] }>,
  desiredOf: (keys: string[], userId: string) => AccountDesiredState,
  identity: { username: string; email: string | null },
  dryRun: boolean,
  mode: "grant" | "revoke",
): Promise<TaskOutcome> {
  // a first attempt has no earlier results (job_start counts every attempt, a re-run after a crash too)
  const done = dryRun || ctx.job.attempts <= 1 ? new Map<string, ApplicationResult>() : await earlierSuccesses(ctx);
  const results: ApplicationResult[] = [];
  let transient = false;
  let permanent = false;
  for (const [applicationId, app] of apps) {
    const log = ctx.log.child({ application: app.name });
    let userId: string | undefined;
    try {
      const cfg = await loadApplication(ctx.helpers, applicationId, (ctx.data as { tenant_customer_id: string }).tenant_customer_id);
      const derived = userIdInApp(cfg.user_id_template, identity, cfg.lower_case);
      userId = await accountUserId(ctx, applicationId, app.name, derived, mode, cfg.connector_type === "ldap" || cfg.connector_type === "scim");
      const desired = desiredOf(app.keys, userId);
      const fingerprintNow = fingerprint([cfg.connector_type, cfg.configuration, cfg.user_id_template, cfg.lower_case, desired]);
      const earlier = done.get(applicationId);
      if (earlier && earlier.fingerprint === fingerprintNow) {
        results.push(earlier);
        continue;
      }
      const connector = getConnector(cfg.connector_type, "account");
      const r = await connector.applyDesiredState(cfg.configuration, desired, { ...ctx.cmd, step: applicationId, log, dryRun });
      const settled = (op: string) => r.operations.some((o) => o.op === op && (o.outcome === "applied" || o.outcome === "already"));
      const disabled = settled("disable_account") ? true : settled("enable_account") || settled("create_account") ? false : undefined;
      results.push({
        application_id: applicationId,
        application: app.name,
        user_id_in_app: userId,
        native_id: r.nativeId,
        ...(disabled === undefined ? {} : { disabled }),
        fingerprint: fingerprintNow,
        success: r.success,
        operations: r.operations,
      });
      if (!r.success) permanent = true;
    } catch (raw) {
      const err = fromPgError(raw);
      log.warn({ code: err.code, err: err.message, retryable: err.retryable }, "application not provisioned");
      results.push({
        application_id: applicationId,
        application: app.name,
        user_id_in_app: userId,
        success: false,
        operations: [],
        error_code: err.code,
        error: err.message,
      });
      if (err.retryable) transient = true;
      else permanent = true;
    }
  }
  if (permanent || transient) throw new AccessApplicationsError(results, !permanent);
  const changed = results.reduce((n, a) => n + a.operations.filter((o) => o.outcome === "applied").length, 0);
  return {
    resultData: { applications: results, dry_run: dryRun },
    message: dryRun ? `dry run: ${results.length} application(s) planned` : `${results.length} application(s) consistent, ${changed} change(s) applied`,
  };
}

/**
 * An error of an attempt outside the per-application loop (loading the identity or the entitlements,
 * PV_ACCESS_INACTIVE, the database) that keeps the applications an earlier attempt made consistent in
 * result_data: job_retry and job_fail replace result_data, and without them the next attempt would plan
 * every application again, and a failure would not record the accounts that were made.
 */
class AccessErrorKeepingResults extends ProvisioError {
  override readonly retryable: boolean;
  constructor(
    cause: ProvisioError,
    readonly applications: ApplicationResult[],
  ) {
    super(cause.code, cause.message);
    this.retryable = cause.retryable;
  }

  override resultData(): Record<string, unknown> {
    return { ...super.resultData(), applications: this.applications };
  }
}

/** Run an attempt's body; an error outside the per-application loop keeps the earlier attempts' results. */
async function keepingEarlierResults(ctx: Ctx, body: () => Promise<TaskOutcome>): Promise<TaskOutcome> {
  try {
    return await body();
  } catch (raw) {
    if (raw instanceof AccessApplicationsError || ctx.job.attempts <= 1) throw raw;
    const err = fromPgError(raw);
    const earlier = await earlierSuccesses(ctx).catch(() => new Map<string, ApplicationResult>());
    throw earlier.size ? new AccessErrorKeepingResults(err, [...earlier.values()]) : err;
  }
}

export const accessGrant: DefinedTask = defineTask<GrantData, object>(accessFamily, {
  identifier: "access__grant",
  data: grantData,
  run: (ctx: TaskContext<GrantData>) => keepingEarlierResults(ctx, () => runGrant(ctx)),
});

async function runGrant(ctx: TaskContext<GrantData>): Promise<TaskOutcome> {
  const { data } = ctx;
  const identity = await loadIdentity(ctx, data.tenant_customer_id, data.identity_id);
  if (!identity.is_active) {
    // deactivated after the grant was accepted (PV205 is checked at INSERT): give no access
    throw new PermanentError("PV_ACCESS_INACTIVE", `identity ${data.identity_id} ("${identity.username}") is no longer active`);
  }
  const apps = await entitlementsByApplication(ctx, data.tenant_customer_id, { identityId: data.identity_id, applicationId: data.application_id });
  if (data.application_id && !apps.has(data.application_id)) {
    // the named application with nothing to grant: the account is still made to exist and be enabled
    const names = await applicationNames(ctx, data.tenant_customer_id, [data.application_id]);
    apps.set(data.application_id, { name: names.get(data.application_id) ?? data.application_id, keys: [] });
  }
  const attributes = { userName: identity.username, email: identity.email, displayName: identity.display_name };
  return provision(
    ctx,
    apps,
    (keys, userId) => ({
      userIdInApp: userId,
      attributes,
      ensureAccount: true,
      entitlementsToGrant: keys,
      entitlementsToRevoke: [],
      deactivateWhenEmpty: false,
    }),
    identity,
    data.dry_run,
    "grant",
  );
}

export const accessRevoke: DefinedTask = defineTask<RevokeData, object>(accessFamily, {
  identifier: "access__revoke",
  data: revokeData,
  run: (ctx: TaskContext<RevokeData>) => keepingEarlierResults(ctx, () => runRevoke(ctx)),
});

async function runRevoke(ctx: TaskContext<RevokeData>): Promise<TaskOutcome> {
  const { data } = ctx;
  const identity = await loadIdentity(ctx, data.tenant_customer_id, data.identity_id);
  // the keys captured at INSERT (an entitlement deleted or re-keyed since is still revoked as the account holds it)
  let apps: Map<string, { name: string; keys: string[] }>;
  if (data.entitlement_keys?.length) {
    const names = await applicationNames(ctx, data.tenant_customer_id, [...new Set(data.entitlement_keys.map((k) => k.application_id))]);
    apps = new Map();
    for (const k of data.entitlement_keys) {
      const app = apps.get(k.application_id) ?? { name: names.get(k.application_id) ?? k.application_id, keys: [] };
      app.keys.push(k.native_key);
      apps.set(k.application_id, app);
    }
  } else apps = await entitlementsByApplication(ctx, data.tenant_customer_id, { ids: data.entitlement_ids });
  const attributes = { userName: identity.username, email: identity.email, displayName: identity.display_name };
  return provision(
    ctx,
    apps,
    (keys, userId) => ({
      userIdInApp: userId,
      attributes,
      ensureAccount: false,
      entitlementsToGrant: [],
      entitlementsToRevoke: keys,
      deactivateWhenEmpty: data.deactivate,
    }),
    identity,
    data.dry_run,
    "revoke",
  );
}

export const accessTasks: DefinedTask[] = [accessGrant, accessRevoke];
