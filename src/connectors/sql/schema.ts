/**
 * The schema capability of the sql connector (src/connectors/capabilities/schema.ts): a tenant's schema
 * in a PostgreSQL application database. Identifiers are quoted with pg's escapeIdentifier; the schema
 * name must also be a plain lower-case identifier (PV_SQL_NAME), so that it means the same in every tool
 * an operator uses on it. Each migration runs in its own transaction with the INSERT that records it.
 */
import pg from "pg";
import { PermanentError, ProvisioError } from "../../errors.js";
import type { SchemaMigration } from "../capabilities/schema.js";
import { driverFailure } from "./errors.js";
import type { SqlSession } from "./pools.js";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const LEDGER = "provisio_schema_migrations";

function assertPostgres(session: SqlSession): void {
  if (session.dialect !== "postgresql") {
    throw new PermanentError("PV_SQL_DIALECT", `${session.where}: tenant schemas are built for PostgreSQL targets only (this one is ${session.dialect})`);
  }
}

/** `name` quoted, after checking it is a plain identifier. @throws PermanentError PV_SQL_NAME */
export function schemaIdent(name: string): string {
  if (!SCHEMA_NAME.test(name) || name.startsWith("pg_") || name === "public" || name === "information_schema") {
    throw new PermanentError("PV_SQL_NAME", `schema "${name}" must match ${SCHEMA_NAME.source} and not be public, information_schema or pg_*`);
  }
  return pg.escapeIdentifier(name);
}

/** Run `fn`, turning a driver error into the connector's error (transient or permanent). */
async function classified<T>(session: SqlSession, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProvisioError) throw err;
    throw driverFailure(session.dialect, err, session.where, false);
  }
}

export async function ensureSchema(session: SqlSession, schema: string, migrations: SchemaMigration[]): Promise<{ applied: string[]; already: string[] }> {
  assertPostgres(session);
  const s = schemaIdent(schema);
  const seen = new Set<string>();
  for (const m of migrations) {
    if (seen.has(m.version)) throw new PermanentError("PV_SQL_MIGRATION", `migration version "${m.version}" is given twice`);
    seen.add(m.version);
  }
  return classified(session, async () => {
    await session.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await session.query(`CREATE TABLE IF NOT EXISTS ${s}.${LEDGER} (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await session.query(`SELECT version FROM ${s}.${LEDGER}`)).rows.map((r) => String(r.version)));
    const applied: string[] = [];
    const already: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) {
        already.push(m.version);
        continue;
      }
      await session.query("BEGIN");
      try {
        await session.query(`SET LOCAL search_path = ${s}`);
        await session.query(m.sql);
        // a concurrent attempt that applied it first makes this INSERT fail: the transaction rolls back
        await session.query(`INSERT INTO ${s}.${LEDGER} (version) VALUES ($1)`, [m.version]);
        await session.query("COMMIT");
      } catch (err) {
        await session.query("ROLLBACK").catch(() => undefined);
        const e = err as { code?: string; message?: string };
        if (e.code && /^(42|22|23|2B|3F)/.test(e.code)) {
          throw new PermanentError("PV_SQL_MIGRATION", `${session.where}: migration ${m.version} of schema ${schema} failed: ${e.code} ${e.message ?? ""}`);
        }
        throw err;
      }
      applied.push(m.version);
    }
    return { applied, already };
  });
}

export async function exportSchema(
  session: SqlSession,
  schema: string,
): Promise<{ exists: boolean; tables: { table: string; rows: Record<string, unknown>[] }[] }> {
  assertPostgres(session);
  const s = schemaIdent(schema);
  return classified(session, async () => {
    const exists = (await session.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rows.length > 0;
    if (!exists) return { exists, tables: [] };
    const tables = (
      await session.query(
        "SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
        [schema],
      )
    ).rows.map((r) => String(r.t));
    const out = [];
    for (const table of tables) {
      const rows = (await session.query(`SELECT to_jsonb(x) AS r FROM ${s}.${pg.escapeIdentifier(table)} x ORDER BY 1`)).rows.map(
        (r) => r.r as Record<string, unknown>,
      );
      out.push({ table, rows });
    }
    return { exists, tables: out };
  });
}

export async function dropSchema(session: SqlSession, schema: string): Promise<{ dropped: boolean }> {
  assertPostgres(session);
  const s = schemaIdent(schema);
  return classified(session, async () => {
    const exists = (await session.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])).rows.length > 0;
    if (exists) await session.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    return { dropped: exists };
  });
}
