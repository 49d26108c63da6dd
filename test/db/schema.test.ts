/**
 * The kysely `Database` (src/db/schema.ts) against the migrated database: SCHEMA_COLUMNS, from which the
 * types are derived, must name every table and view provisio owns in schemas public and class, each
 * column with its PostgreSQL type, nullability (tables only: views record none) and whether the database
 * fills it in. A migration that changes a relation fails here until src/db/schema.ts follows.
 */
import type { Insertable, Selectable, Updateable } from "kysely";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { createKysely } from "../../src/db/kysely.js";
import { SCHEMA_COLUMNS, type Database, type PgInterval, type RelationSpec } from "../../src/db/schema.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

/** relations in public and class that are not provisio's */
const NOT_OURS = new Set(["pgmigrations"]); // node-pg-migrate's bookkeeping

interface ActualColumn {
  type: string;
  nullable: boolean;
  generated: boolean;
}
interface ActualRelation {
  kind: "table" | "view";
  columns: Map<string, ActualColumn>;
}

/** Tables and views of schemas public and class, by kysely name (public's unqualified), from the catalog. */
async function introspect(client: pg.ClientBase | pg.Pool): Promise<Map<string, ActualRelation>> {
  const r = await client.query<{ nspname: string; relname: string; relkind: string; attname: string; type: string; notnull: boolean; filled: boolean }>(
    `SELECT n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS notnull, (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS filled
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE n.nspname IN ('public', 'class') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
     ORDER BY n.nspname, c.relname, a.attnum`,
  );
  const out = new Map<string, ActualRelation>();
  for (const row of r.rows) {
    if (row.nspname === "public" && NOT_OURS.has(row.relname)) continue;
    const name = row.nspname === "public" ? row.relname : `${row.nspname}.${row.relname}`;
    let rel = out.get(name);
    if (!rel) out.set(name, (rel = { kind: row.relkind === "v" || row.relkind === "m" ? "view" : "table", columns: new Map() }));
    rel.columns.set(row.attname, { type: row.type, nullable: !row.notnull, generated: row.filled });
  }
  return out;
}

/** Every difference between the catalog and a description, one line each; none when they agree. */
function diffSchema(actual: Map<string, ActualRelation>, expected: Record<string, RelationSpec>): string[] {
  const diffs: string[] = [];
  for (const [name, rel] of actual) {
    const spec = expected[name];
    if (!spec) {
      diffs.push(`${name}: ${rel.kind} in the database, missing from SCHEMA_COLUMNS`);
      continue;
    }
    if (spec.kind !== rel.kind) diffs.push(`${name}: a ${rel.kind} in the database, a ${spec.kind} in SCHEMA_COLUMNS`);
    for (const [col, a] of rel.columns) {
      const e = spec.columns[col];
      if (!e) {
        diffs.push(`${name}.${col}: column in the database (${a.type}), missing from SCHEMA_COLUMNS`);
        continue;
      }
      if (e.type !== a.type) diffs.push(`${name}.${col}: type ${a.type} in the database, ${e.type} in SCHEMA_COLUMNS`);
      if (rel.kind === "view") continue; // views record no nullability or defaults
      if (e.nullable !== a.nullable)
        diffs.push(`${name}.${col}: ${a.nullable ? "nullable" : "NOT NULL"} in the database, ${e.nullable ? "nullable" : "NOT NULL"} in SCHEMA_COLUMNS`);
      if ((e.generated ?? false) !== a.generated)
        diffs.push(
          `${name}.${col}: ${a.generated ? "has" : "has no"} default in the database, ${e.generated ? "generated" : "not generated"} in SCHEMA_COLUMNS`,
        );
    }
    for (const col of Object.keys(spec.columns)) if (!rel.columns.has(col)) diffs.push(`${name}.${col}: in SCHEMA_COLUMNS, no such column in the database`);
  }
  for (const name of Object.keys(expected)) if (!actual.has(name)) diffs.push(`${name}: in SCHEMA_COLUMNS, no such relation in the database`);
  return diffs;
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

describe("src/db/schema.ts against the migrated database", () => {
  it("describes every table and view of schemas public and class, column by column", async () => {
    const actual = await introspect(t.pool);
    expect(actual.size).toBeGreaterThan(30);
    expect(diffSchema(actual, SCHEMA_COLUMNS)).toEqual([]);
  });

  it("reports a drift: an added column, a changed type, a dropped NOT NULL, a dropped column, a new table", async () => {
    const client = await t.pool.connect();
    try {
      // DDL is transactional: the drift lives in this transaction only
      await client.query("BEGIN");
      await client.query("ALTER TABLE accreditation ADD COLUMN note text");
      await client.query("ALTER TABLE worker ALTER COLUMN pid DROP NOT NULL");
      await client.query("ALTER TABLE worker ALTER COLUMN unlocked_jobs TYPE bigint");
      await client.query("ALTER TABLE event DROP COLUMN published_date");
      await client.query("CREATE TABLE provision_widget (name text NOT NULL) INHERITS (class.provision)");
      const diffs = diffSchema(await introspect(client), SCHEMA_COLUMNS);
      expect(diffs).toEqual(
        expect.arrayContaining([
          "accreditation.note: column in the database (text), missing from SCHEMA_COLUMNS",
          "worker.pid: nullable in the database, NOT NULL in SCHEMA_COLUMNS",
          "worker.unlocked_jobs: type bigint in the database, integer in SCHEMA_COLUMNS",
          "event.published_date: in SCHEMA_COLUMNS, no such column in the database",
          "provision_widget: table in the database, missing from SCHEMA_COLUMNS",
        ]),
      );
      expect(diffs).toHaveLength(5);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
    expect(diffSchema(await introspect(t.pool), SCHEMA_COLUMNS)).toEqual([]);
  });

  it("types rows as node-postgres returns them", async () => {
    expectTypeOf<Selectable<Database["accreditation"]>>().toEqualTypeOf<{
      created_date: Date;
      updated_date: Date | null;
      created_by: string;
      updated_by: string | null;
      id: string;
      tenant_customer_id: string;
      name: string;
      provider: string;
      connector_type: string;
      config: unknown;
      max_sessions: number;
    }>();
    expectTypeOf<Selectable<Database["tenant_login"]>["login"]>().toEqualTypeOf<string>();
    expectTypeOf<Selectable<Database["provision_domain"]>["nameservers"]>().toEqualTypeOf<string[]>();
    expectTypeOf<Selectable<Database["provision_domain"]>["registration_period"]>().toEqualTypeOf<string>();
    expectTypeOf<Selectable<Database["event"]>["id"]>().toEqualTypeOf<string>();
    expectTypeOf<Selectable<Database["v_job"]>["duration"]>().toEqualTypeOf<PgInterval | null>();
    expectTypeOf<Selectable<Database["class.provision"]>["order_item_plan_ids"]>().toEqualTypeOf<string[] | null>();
    // generated and nullable columns may be left out of an INSERT; the others may not
    expectTypeOf<{ tenant_customer_id: string; type_id: number; reference_table: string; reference_id: string; max_attempts: number }>().toMatchTypeOf<
      Insertable<Database["job"]>
    >();
    expectTypeOf<{ tenant_customer_id: string }>().not.toMatchTypeOf<Insertable<Database["job"]>>();
    expectTypeOf<{ status_id: number }>().toMatchTypeOf<Updateable<Database["job"]>>();

    // and the values at run time agree
    const k = createKysely(t.pool);
    const tenant = await k.insertInto("tenant_customer").values({ name: "schema-test" }).returning(["id", "created_date"]).executeTakeFirstOrThrow();
    expect(typeof tenant.id).toBe("string");
    expect(tenant.created_date).toBeInstanceOf(Date);
    const jt = await k.selectFrom("job_type").select(["id", "retry_backoff_seconds"]).limit(1).executeTakeFirstOrThrow();
    expect(typeof jt.id).toBe("number");
    expect(typeof jt.retry_backoff_seconds).toBe("string");
  });
});
