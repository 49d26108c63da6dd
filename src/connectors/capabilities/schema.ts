/**
 * The schema capability: a tenant's own schema in an application's database (seed 004 "tenant
 * provisioning": create the tenant's schema and run the template's migrations; back it up; clean it
 * up). Implemented by the sql connector for PostgreSQL targets.
 *
 * Effectively once: the schema is created IF NOT EXISTS, each migration is recorded in
 * `<schema>.provisio_schema_migrations` in the transaction that applies it, so a repeated call applies
 * only what is not recorded; a drop of a schema that is gone reports `dropped: false`.
 * Errors as the account capability's: TransientError for what may pass (connection refused, timeout),
 * PermanentError / ConfigurationError for the rest (a migration's SQL error: PV_SQL_MIGRATION naming the
 * version; a schema name that is not an identifier: PV_SQL_NAME; a MariaDB target: PV_SQL_DIALECT).
 */
import type { CommandContext } from "../types.js";

/** A migration the template gives: applied once per schema, in the order given. */
export interface SchemaMigration {
  /** unique per schema, e.g. "001_users" */
  version: string;
  /** SQL run with search_path set to the schema */
  sql: string;
}

export interface SchemaOperations {
  /**
   * CREATE SCHEMA IF NOT EXISTS `schema`, then apply the migrations not yet recorded there.
   * @returns the versions applied now and those already recorded
   */
  ensureSchema(config: unknown, req: { schema: string; migrations: SchemaMigration[] }, ctx: CommandContext): Promise<{ applied: string[]; already: string[] }>;
  /**
   * Every row of every table of `schema` (for a backup), table by table, in primary-key order where
   * there is one. `exists` false when the schema does not exist.
   */
  exportSchema(
    config: unknown,
    req: { schema: string },
    ctx: CommandContext,
  ): Promise<{ exists: boolean; tables: { table: string; rows: Record<string, unknown>[] }[] }>;
  /** DROP SCHEMA `schema` CASCADE; `dropped` false when it did not exist. */
  dropSchema(config: unknown, req: { schema: string }, ctx: CommandContext): Promise<{ dropped: boolean }>;
}
