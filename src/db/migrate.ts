/**
 * `provisio migrate`: brings a database to the current schema in four steps (docs/decisions/0001-migrations.md):
 *  1. node-pg-migrate applies new files from migrations/ (forward-only, each in its own transaction);
 *  2. graphile-worker installs or upgrades its own schema (graphile_worker);
 *  3. every object of provisio's schemas (public, class, graphile_worker) is handed to the owner role
 *     provisio_owner (migrations/0004_roles.sql), when the login may act as that role: see
 *     {@link handOverToOwner};
 *  4. every file under stored-procedures/ is re-applied in one transaction, folder by folder in
 *     {@link PROCEDURE_FOLDERS} order and by file name within a folder, as provisio_owner (SET ROLE), so
 *     what it creates is owned by that role and the SECURITY DEFINER triggers run with its rights.
 * A session-level advisory lock serialises concurrent migrate runs (several workers starting at once).
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runMigrations } from "graphile-worker";
import { runner } from "node-pg-migrate";
import pg from "pg";
import { logger } from "../logger.js";
import { loadBuiltinTemplates } from "./builtin-templates.js";
import { graphileLogger } from "../worker/graphile-logger.js";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, "migrations");
export const PROCEDURES_DIR = path.join(PROJECT_ROOT, "stored-procedures");
/**
 * Folders of stored-procedures/, in the order they are applied (docs/design.md "The SQL: engine and family
 * folders").
 * `engine/...`: what every provision type shares (statuses are named by migrations/0009's functions);
 * `validation/`, `post/`, `operations/`, `attach/`: the families' own (validation and completion triggers of
 * their provision types; their other functions and views, such as the access family's discovery). The order keeps
 * each object after what it needs when it is created: SQL-language bodies, views and triggers name
 * functions that must exist (PL/pgSQL bodies are resolved only when they run); `attach/` calls
 * provision_attach_triggers, which looks up each table's validate and complete functions; `engine/security`
 * comes last, to set the rights of everything created before it.
 */
export const PROCEDURE_FOLDERS = [
  "engine/common",
  "engine/event",
  "engine/job",
  "engine/worker",
  "engine/provision",
  "engine/order",
  "engine/views",
  "validation",
  "post",
  "operations",
  "workflow",
  "attach",
  "engine/security",
] as const;

const MIGRATE_LOCK_ID = 7_240_019_001;

/** The role that owns provisio's schema (migrations/0004_roles.sql, README "Roles and tenants"). */
export const OWNER_ROLE = "provisio_owner";

/**
 * Gives every object in the schemas public, class and graphile_worker that provisio_owner does not own
 * to provisio_owner, after granting it USAGE and CREATE on public with the grant option where it lacks
 * them: the schemas class and
 * graphile_worker first (so the role may create in them), then tables, views and sequences not owned by
 * a table, functions and procedures, and stand-alone types.
 * Extension members and the public schema itself (owned by pg_database_owner) are left alone. An object
 * whose owner the current login cannot act for (not a member of that role, not a superuser) is not
 * touched: the statement raises 42501 naming the first such object and its owner.
 */
const HAND_OVER_SQL = `
DO $handover$
DECLARE
  v_owner oid := 'provisio_owner'::regrole;
  r record;
BEGIN
  -- since PostgreSQL 15 only the database owner may create in public (the stored procedures need to),
  -- and engine/security/roles.sql grants USAGE on it to the other roles (it needs the grant option for that)
  IF NOT (has_schema_privilege('provisio_owner', 'public', 'CREATE WITH GRANT OPTION')
          AND has_schema_privilege('provisio_owner', 'public', 'USAGE WITH GRANT OPTION')) THEN
    GRANT USAGE, CREATE ON SCHEMA public TO provisio_owner WITH GRANT OPTION;
  END IF;
  FOR r IN
    WITH objs AS (
      SELECT 0 AS ord, 'pg_namespace'::regclass AS classid, n.oid AS objid, n.nspowner AS owner,
             format('ALTER SCHEMA %I', n.nspname) AS alter_sql, format('schema %I', n.nspname) AS what
        FROM pg_namespace n WHERE n.nspname IN ('class', 'graphile_worker')
      UNION ALL
      SELECT 1, 'pg_class'::regclass, c.oid, c.relowner,
             format(CASE c.relkind WHEN 'v' THEN 'ALTER VIEW %s' WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %s'
                                   WHEN 'S' THEN 'ALTER SEQUENCE %s' ELSE 'ALTER TABLE %s' END, c.oid::regclass),
             format('relation %s', c.oid::regclass)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname IN ('public', 'class', 'graphile_worker') AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
         -- a sequence owned by a column (serial, identity) follows its table
         AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
      UNION ALL
      SELECT 2, 'pg_proc'::regclass, p.oid, p.proowner,
             format(CASE p.prokind WHEN 'p' THEN 'ALTER PROCEDURE %s' WHEN 'a' THEN 'ALTER AGGREGATE %s'
                                   ELSE 'ALTER FUNCTION %s' END, p.oid::regprocedure),
             format('function %s', p.oid::regprocedure)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname IN ('public', 'class', 'graphile_worker')
      UNION ALL
      SELECT 3, 'pg_type'::regclass, t.oid, t.typowner,
             format(CASE t.typtype WHEN 'd' THEN 'ALTER DOMAIN %s' ELSE 'ALTER TYPE %s' END, t.oid::regtype),
             format('type %s', t.oid::regtype)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname IN ('public', 'class', 'graphile_worker')
         AND t.typtype IN ('e', 'd', 'r', 'c') AND t.typelem = 0
         -- a table's row type follows its table
         AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    )
    SELECT o.* FROM objs o
     WHERE o.owner <> v_owner
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'e')
     ORDER BY o.ord, o.what
  LOOP
    IF NOT pg_has_role(current_user, r.owner, 'USAGE') THEN
      RAISE EXCEPTION 'cannot hand % (owned by %) to provisio_owner: % is not a member of %',
        r.what, r.owner::regrole, current_user, r.owner::regrole USING ERRCODE = 'insufficient_privilege',
        HINT = format('run provisio migrate once as %s or as a superuser', r.owner::regrole);
    END IF;
    EXECUTE r.alter_sql || ' OWNER TO provisio_owner';
  END LOOP;
END
$handover$`;

/**
 * Step 3 of {@link migrate}: when the login may act as provisio_owner (a member of it, or a superuser),
 * hand every object of provisio's schemas to that role (see HAND_OVER_SQL) and return true; the stored
 * procedures are then applied under SET ROLE provisio_owner. Otherwise return false and change nothing:
 * objects stay owned by the login that created them (as before migrations/0004), and migrate logs a
 * warning saying how to fix that.
 * @throws 42501 when an object belongs to a role the login is not a member of (the message names it)
 */
export async function handOverToOwner(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ member: boolean }>(
    "SELECT coalesce(pg_has_role(session_user, oid, 'MEMBER'), false) AS member FROM pg_roles WHERE rolname = $1",
    [OWNER_ROLE],
  );
  if (!r.rows[0]?.member) return false;
  await client.query(HAND_OVER_SQL);
  return true;
}

export interface MigrateResult {
  /** names of migrations/ files applied by this run */
  applied: string[];
  /** stored-procedures/ files re-applied, relative paths */
  procedures: string[];
  /** built-in workflow template versions published by this run ("domain.register v1") */
  templatesPublished: string[];
}

/** List stored-procedures/ files in apply order (relative paths like "engine/common/audit.sql"). */
export async function listProcedureFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const folder of PROCEDURE_FOLDERS) {
    const names = (await readdir(path.join(PROCEDURES_DIR, folder))).filter((n) => n.endsWith(".sql")).sort();
    files.push(...names.map((n) => `${folder}/${n}`));
  }
  return files;
}

/**
 * Where in a file's `text` PostgreSQL's error `err` points, as ":line:column" (1-based), or "" when it
 * does not say. From `position`, a character offset into the text sent: PostgreSQL gives it for errors
 * in a statement (a missing table in a view) and for a PL/pgSQL body that does not parse (it maps the
 * body's position back into the CREATE FUNCTION).
 */
export function sqlErrorLocation(text: string, err: unknown): string {
  const e = err as { position?: unknown };
  const at = (offset: number) => {
    const before = [...text].slice(0, offset).join("");
    const lines = before.split("\n");
    return `:${lines.length}:${lines[lines.length - 1]!.length + 1}`;
  };
  const position = Number(e.position);
  if (Number.isInteger(position) && position > 0) return at(position - 1);
  return "";
}

/** Re-apply every stored procedure in one transaction on the given client. */
export async function applyStoredProcedures(client: pg.ClientBase): Promise<string[]> {
  const files = await listProcedureFiles();
  await client.query("BEGIN");
  try {
    for (const file of files) {
      const text = await readFile(path.join(PROCEDURES_DIR, file), "utf8");
      try {
        await client.query(text);
      } catch (err) {
        throw new Error(`stored-procedures/${file}${sqlErrorLocation(text, err)}: ${(err as Error).message}`, { cause: err });
      }
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  return files;
}

/**
 * `client` as node-pg-migrate sees it, remembering the last error a query raised. node-pg-migrate 8
 * replaces some database errors with `new Error(\`Unable to ensure migrations table: ${err.stack}\`)`:
 * no `cause`, no SQLSTATE, and a stack trace in the message; {@link migrationsFailure} puts them back.
 */
function recordQueryErrors(client: pg.Client): { client: pg.Client; lastError(): unknown } {
  let last: unknown;
  const query = (text: string | pg.QueryConfig, values?: unknown[]) =>
    client.query(text, values).catch((err: unknown) => {
      last = err;
      throw err;
    });
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === "query") return query;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { client: proxy, lastError: () => last };
}

/**
 * The error to throw for a failed node-pg-migrate run: the error itself when it is one line (a
 * migration's SQL failing raises the database error unchanged); otherwise one line, `migrations/:
 * <what node-pg-migrate was doing>: <database message>`, with the database error (its SQLSTATE in
 * `code`, its `hint`) as `cause` when node-pg-migrate folded one into its text, else the original error.
 */
function migrationsFailure(err: unknown, dbError: unknown): unknown {
  if (!(err instanceof Error) || err === dbError || !err.message.includes("\n")) return err;
  const first = err.message.split("\n", 1)[0]!.trim();
  if (dbError instanceof Error && dbError.message && first.endsWith(dbError.message)) {
    const doing = first.slice(0, -dbError.message.length).replace(/:?\s*(error:\s*)?$/i, "");
    return new Error(`migrations/: ${doing ? `${doing}: ` : ""}${dbError.message}`, { cause: dbError });
  }
  return new Error(`migrations/: ${first}`, { cause: err });
}

/**
 * Migrate the database at connectionString (see module doc).
 * @throws the first failing step's error, in one line (a database error keeps its SQLSTATE in `code`,
 *   itself or as `cause`); stored procedures are all-or-nothing.
 */
export async function migrate(connectionString: string): Promise<MigrateResult> {
  const log = logger().child({ component: "migrate" });
  const client = new pg.Client({ connectionString, application_name: "provisio-migrate" });
  await client.connect();
  try {
    await client.query("SET client_min_messages = warning");
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATE_LOCK_ID]);
    const recording = recordQueryErrors(client);
    const ran = await runner({
      dbClient: recording.client,
      dir: MIGRATIONS_DIR,
      direction: "up",
      migrationsTable: "pgmigrations",
      count: Infinity,
      checkOrder: true,
      noLock: true,
      log: (msg: string) => log.debug(msg),
    }).catch((err: unknown) => {
      throw migrationsFailure(err, recording.lastError());
    });
    await runMigrations({ connectionString, logger: graphileLogger(log) });
    const asOwner = await handOverToOwner(client);
    if (asOwner) {
      await client.query(`SET ROLE ${OWNER_ROLE}`);
    } else {
      const who = await client.query<{ u: string }>("SELECT session_user AS u");
      log.warn(
        { login: who.rows[0]!.u },
        `this login is not a member of ${OWNER_ROLE}: provisio's objects stay owned by it (GRANT ${OWNER_ROLE} TO it, then migrate again)`,
      );
    }
    const procedures = await applyStoredProcedures(client);
    const templates = await loadBuiltinTemplates(client);
    if (templates.drifted.length)
      log.warn({ drifted: templates.drifted }, "built-in workflow templates differ from their published versions: a change is a new version file");
    if (asOwner) await client.query("RESET ROLE");
    const applied = ran.map((m) => m.name);
    log.info({ applied, procedures: procedures.length, templatesPublished: templates.published }, "database migrated");
    return { applied, procedures, templatesPublished: templates.published };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATE_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}
