/**
 * `provisio migrate`: brings a database to the current schema in three steps (docs/decisions/0001-migrations.md):
 *  1. node-pg-migrate applies new files from migrations/ (forward-only, each in its own transaction);
 *  2. graphile-worker installs or upgrades its own schema (graphile_worker);
 *  3. every file under stored-procedures/ is re-applied in one transaction, folder by folder in
 *     {@link PROCEDURE_FOLDERS} order and by file name within a folder.
 * A session-level advisory lock serialises concurrent migrate runs (several workers starting at once).
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runMigrations } from "graphile-worker";
import { runner } from "node-pg-migrate";
import pg from "pg";
import { logger } from "../logger.js";
import { graphileLogger } from "../worker/graphile-logger.js";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, "migrations");
export const PROCEDURES_DIR = path.join(PROJECT_ROOT, "stored-procedures");
/** Folders of stored-procedures/, in the order they are applied. */
export const PROCEDURE_FOLDERS = ["common", "validation", "pre", "post", "order", "views", "attach", "security"] as const;

const MIGRATE_LOCK_ID = 7_240_019_001;

export interface MigrateResult {
  /** names of migrations/ files applied by this run */
  applied: string[];
  /** stored-procedures/ files re-applied, relative paths */
  procedures: string[];
}

/** List stored-procedures/ files in apply order (relative paths like "common/audit.sql"). */
export async function listProcedureFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const folder of PROCEDURE_FOLDERS) {
    const names = (await readdir(path.join(PROCEDURES_DIR, folder))).filter((n) => n.endsWith(".sql")).sort();
    files.push(...names.map((n) => `${folder}/${n}`));
  }
  return files;
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
        throw new Error(`stored-procedures/${file}: ${(err as Error).message}`, { cause: err });
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
 * Migrate the database at connectionString (see module doc).
 * @throws the first failing step's error; stored procedures are all-or-nothing.
 */
export async function migrate(connectionString: string): Promise<MigrateResult> {
  const log = logger().child({ component: "migrate" });
  const client = new pg.Client({ connectionString, application_name: "provisio-migrate" });
  await client.connect();
  try {
    await client.query("SET client_min_messages = warning");
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATE_LOCK_ID]);
    const ran = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: "up",
      migrationsTable: "pgmigrations",
      count: Infinity,
      checkOrder: true,
      noLock: true,
      log: (msg: string) => log.debug(msg),
    });
    await runMigrations({ connectionString, logger: graphileLogger(log) });
    const procedures = await applyStoredProcedures(client);
    const applied = ran.map((m) => m.name);
    log.info({ applied, procedures: procedures.length }, "database migrated");
    return { applied, procedures };
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATE_LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}
