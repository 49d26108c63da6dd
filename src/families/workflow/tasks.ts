/**
 * The task steps a workflow template may name (`{"kind": "task", "target": "<name>"}`): one handler per
 * row of table workflow_task_type (migrations/0019 and 0020; test/families/workflow/tenant-lifecycle.test.ts checks that
 * both lists agree). A handler gets the step's resolved params and returns the step's output (an
 * object, what later steps reference as `steps.<key>.output`). Handlers run at least once: one whose effect
 * is in provisio's database does it in the transaction that completes its job (it returns
 * `{ done: true }`); one that acts elsewhere must be safe to repeat.
 * Errors: a {@link PermanentError} fails the step (its code recorded), a {@link TransientError} retries it
 * with the job type's backoff.
 */
import { createHash } from "node:crypto";
import { mkdir, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { config } from "../../config.js";
import { getConnector } from "../../connectors/registry.js";
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

const uuid = z.string().uuid();
/** a schema name as the sql connector takes it (src/connectors/sql/schema.ts checks it again) */
const schemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case identifier");

const tenantSchemaParams = z
  .object({
    application_id: uuid,
    schema: schemaName,
    migrations: z
      .array(z.object({ version: z.string().min(1).max(200), sql: z.string().min(1) }).strict())
      .max(1000)
      .default([]),
  })
  .strict();
const schemaParams = z.object({ application_id: uuid, schema: schemaName }).strict();
const settingsParams = z
  .object({
    slug: schemaName,
    category: z.string(),
    settings: z.record(z.string(), z.unknown()).default({}),
    limits: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
const stateParams = z.object({ state: z.enum(["active", "disabled", "deprovisioned"]) }).strict();
const identityParams = z
  .object({
    username: z.string().min(1).max(256),
    email: z.string().email().nullable().default(null),
    display_name: z.string().max(256).nullable().default(null),
    role: z.string().min(1),
  })
  .strict();
const entitlementsParams = z.object({ identity_id: uuid }).strict();
const purgeParams = z.object({ location: z.string().min(1) }).strict();

/**
 * The configuration of the tenant's application with a sql connector, re-checked against the tenant's
 * policy, for an operation on schema `schema`, which must be the tenant's own: its tenant_profile's slug
 * (tenant.settings records it first), so that no run touches another tenant's schema or the
 * application's own. @throws PermanentError PV_ACCESS_POLICY, PV_WF_SCHEMA
 */
async function sqlApplication(ctx: TaskContext<unknown>, applicationId: string, schema: string): Promise<unknown> {
  const rows = await query<{ configuration: unknown; policy_error: string | null; slug: string | null }>(
    ctx.helpers,
    "SELECT * FROM workflow_task_sql_config($1, $2)",
    [ctx.job.id, applicationId],
  );
  const row = rows[0]!;
  if (row.policy_error) throw new PermanentError("PV_ACCESS_POLICY", `application ${applicationId}: ${row.policy_error}`);
  if (row.slug !== schema) {
    throw new PermanentError(
      "PV_WF_SCHEMA",
      `schema ${schema} is not this tenant's (its tenant_profile slug is ${row.slug ?? "not recorded: tenant.settings records it"})`,
    );
  }
  return row.configuration;
}

/** A task step done by one SQL function that also completes the job (its output is the function's result). */
async function inSql(ctx: TaskContext<unknown>, text: string, values: unknown[]): Promise<TaskStepResult> {
  const rows = await query<{ out: Record<string, unknown> | null }>(ctx.helpers, `SELECT ${text} AS out`, [ctx.job.id, ...values]);
  return { output: rows[0]?.out ?? {}, done: true };
}

/** The tenant's backup folder: PROVISIO_BACKUP_DIR/<tenant id> (PROVISIO_HOME/backups/<tenant id> when unset). */
function backupDir(tenant: string): string {
  const c = config();
  return path.resolve(c.PROVISIO_BACKUP_DIR ?? path.join(c.PROVISIO_HOME, "backups"), tenant);
}

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
  /** Seed 004 "create tenant schema, run migrations": through the application's sql connector (schema capability). */
  "sql.tenant_schema": {
    params: tenantSchemaParams,
    async run(raw, ctx) {
      const p = tenantSchemaParams.parse(raw);
      const cfg = await sqlApplication(ctx, p.application_id, p.schema);
      const r = await getConnector("sql", "schema").ensureSchema(cfg, { schema: p.schema, migrations: p.migrations }, ctx.cmd);
      return { output: { schema: p.schema, applied: r.applied, already: r.already } };
    },
  },
  /** Seed 004 "apply settings and limits": the tenant's profile (workflow_task_tenant_settings). */
  "tenant.settings": {
    params: settingsParams,
    run: (raw, ctx) => {
      const p = settingsParams.parse(raw);
      return inSql(ctx, "workflow_task_tenant_settings($1, $2, $3, $4, $5)", [p.slug, p.category, JSON.stringify(p.settings), JSON.stringify(p.limits)]);
    },
  },
  /** The tenant's lifecycle state (workflow_task_tenant_state). */
  "tenant.state": {
    params: stateParams,
    run: (raw, ctx) => inSql(ctx, "workflow_task_tenant_state($1, $2)", [stateParams.parse(raw).state]),
  },
  /** Seed 004 "create admin user": an identity with a role (workflow_task_identity_ensure). */
  "identity.ensure": {
    params: identityParams,
    run: (raw, ctx) => {
      const p = identityParams.parse(raw);
      return inSql(ctx, "workflow_task_identity_ensure($1, $2, $3, $4, $5)", [p.username, p.email, p.display_name, p.role]);
    },
  },
  /** The entitlement ids an identity's roles give (workflow_task_list_entitlements). */
  "access.list_entitlements": {
    params: entitlementsParams,
    run: (raw, ctx) => inSql(ctx, "workflow_task_list_entitlements($1, $2)", [entitlementsParams.parse(raw).identity_id]),
  },
  /**
   * Seed 004 "backup": every table of the tenant's schema as one JSON file under PROVISIO_BACKUP_DIR/<tenant>,
   * named after the schema and the job (a repeated attempt overwrites its own file). Output {location,
   * size (bytes), sha256, tables, rows, schema_exists}.
   */
  "backup.export": {
    params: schemaParams,
    async run(raw, ctx) {
      const p = schemaParams.parse(raw);
      const cfg = await sqlApplication(ctx, p.application_id, p.schema);
      const dump = await getConnector("sql", "schema").exportSchema(cfg, { schema: p.schema }, ctx.cmd);
      const body = JSON.stringify({ tenant_customer_id: ctx.job.tenant_customer_id, schema: p.schema, exported_at: new Date().toISOString(), ...dump });
      const dir = backupDir(ctx.job.tenant_customer_id);
      await mkdir(dir, { recursive: true });
      const location = path.join(dir, `${p.schema}-${ctx.job.id}.json`);
      await writeFile(`${location}.part`, body, { mode: 0o600 });
      await rename(`${location}.part`, location);
      const rows = dump.tables.reduce((n, t) => n + t.rows.length, 0);
      return {
        output: {
          location,
          size: Buffer.byteLength(body),
          sha256: createHash("sha256").update(body).digest("hex"),
          tables: dump.tables.length,
          rows,
          schema_exists: dump.exists,
        },
      };
    },
  },
  /** Deletes a backup.export file; only one in the tenant's own backup folder (PV_WF_BACKUP_PATH otherwise). Output {deleted}. */
  "backup.purge": {
    params: purgeParams,
    async run(raw, ctx) {
      const p = purgeParams.parse(raw);
      const dir = backupDir(ctx.job.tenant_customer_id);
      const target = path.resolve(p.location);
      if (path.dirname(target) !== dir || !target.endsWith(".json")) {
        throw new PermanentError("PV_WF_BACKUP_PATH", `${p.location} is not a backup of this tenant (${dir}/*.json)`);
      }
      try {
        await unlink(target);
        return { output: { location: target, deleted: true } };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return { output: { location: target, deleted: false } };
        throw err;
      }
    },
  },
  /** Seed 004 "cleanup": drops the tenant's schema in the application's database. Output {schema, dropped}. */
  "data.cleanup": {
    params: schemaParams,
    async run(raw, ctx) {
      const p = schemaParams.parse(raw);
      const cfg = await sqlApplication(ctx, p.application_id, p.schema);
      const r = await getConnector("sql", "schema").dropSchema(cfg, { schema: p.schema }, ctx.cmd);
      return { output: { schema: p.schema, dropped: r.dropped } };
    },
  },
  /** Deletes the audit_trail_log rows of the tenant's rows (workflow_task_audit_purge). Output {deleted}. */
  "audit.purge": {
    params: z.object({}).strict(),
    run: (_raw, ctx) => inSql(ctx, "workflow_task_audit_purge($1)", []),
  },
};
