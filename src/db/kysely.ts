/**
 * kysely over the process's node-postgres pool: typed queries for the code that is not the hot path
 * (status, reads of configuration, everything new). The hot job_* calls stay plain SQL (src/engine/sql/).
 */
import { DummyDriver, Kysely, PostgresAdapter, PostgresDialect, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import type pg from "pg";
import type { Database } from "./schema.js";

export type { Database } from "./schema.js";
/** A kysely instance over provisio's {@link Database}. */
export type Db = Kysely<Database>;

/**
 * A kysely instance that borrows clients from `pool` (the pool is shared, not owned: `db.destroy()` would
 * end it, so let whoever created the pool end it instead). Cheap: create one per pool and keep it, or one
 * per call where only a pool is at hand. Types come from src/db/schema.ts; values are what node-postgres
 * returns (numeric and bigint as strings, timestamps as Date).
 */
export function createKysely(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * A kysely that only builds queries: `.compile()` gives `{ sql, parameters }` to run on a client already
 * at hand (graphile-worker's `withPgClient`, a transaction's client) with node-postgres, keeping that
 * code's retries and transactions; `InferResult<typeof compiled>` types the rows. Executing a query
 * built here directly is an error (there is no connection).
 */
export const queryBuilder: Db = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
