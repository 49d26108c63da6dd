/**
 * Statuses named once (issue 11, section 3; migrations/0009): every status id the engine needs comes from a
 * function named after the lookup row (status_<name>() for provision_status and the three order status
 * tables, which hold the same rows; job_status_<name>() for job_status), and no function, trigger, index,
 * view, policy or CHECK of schemas public and class writes a status id as a number.
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

/** The lookup tables and the prefix of the functions that name their rows. */
const LOOKUPS = [
  { table: "provision_status", prefix: "status_" },
  { table: "order_status", prefix: "status_" },
  { table: "order_item_status", prefix: "status_" },
  { table: "order_item_plan_status", prefix: "status_" },
  { table: "job_status", prefix: "job_status_" },
  { table: "workflow_run_status", prefix: "wf_run_" },
  { table: "workflow_step_status", prefix: "wf_step_" },
] as const;

/** The status functions of schema public: no argument, smallint, named status_* or job_status_*. */
async function statusFunctions(db: pg.Pool | pg.ClientBase): Promise<{ name: string; volatility: string; value: number }[]> {
  const fns = await db.query<{ name: string; volatility: string }>(
    `SELECT p.proname AS name, p.provolatile AS volatility
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' AND p.pronargs = 0 AND p.prorettype = 'smallint'::regtype
       AND (p.proname LIKE 'status\\_%' OR p.proname LIKE 'job\\_status\\_%' OR p.proname LIKE 'wf\\_run\\_%' OR p.proname LIKE 'wf\\_step\\_%')
     ORDER BY 1`,
  );
  const out = [];
  for (const f of fns.rows) {
    const v = await db.query<{ v: number }>(`SELECT ${f.name}() AS v`);
    out.push({ ...f, value: v.rows[0]!.v });
  }
  return out;
}

/**
 * Where a status id is written as a number: `status_id = 3`, `status_id := 1`, `status_id <> 2`, `status_id IN (1, 2)`,
 * `status_id NOT IN (3, 4)`, `status_id = ANY (ARRAY[1, 2])` (an index or view as PostgreSQL prints it),
 * `status_id IS DISTINCT FROM 1`, `CASE NEW.status_id WHEN 1`, `3 = ALL (p_statuses)`.
 */
const LITERAL_STATUS = [
  /status_id\s*(:=|=|<>|!=)\s*\(*\s*'?\d/i,
  /status_id\s+(not\s+)?in\s*\(\s*'?\d/i,
  /status_id\s*(=|<>)\s*(any|all)\s*\(\s*(array\s*\[\s*'?\d|'\{\s*\d)/i,
  /status_id\s+is\s+(not\s+)?distinct\s+from\s+'?\d/i,
  /case\s+[\w.]*status_id\s+when\s+'?\d/i,
  /\b\d+\s*(=|<>)\s*(any|all)\s*\(\s*\w*status/i,
];

/**
 * The definition of every function (public and class, not an extension's), trigger (on their tables, and
 * provisio's on graphile_worker's), index, view, row-level security policy and CHECK constraint, as the
 * catalogue prints it, and the objects where one matches {@link LITERAL_STATUS}: "<object>: <the line>".
 */
async function literalStatusIds(db: pg.Pool | pg.ClientBase): Promise<string[]> {
  const r = await db.query<{ obj: string; def: string }>(`
    SELECT 'function ' || p.oid::regprocedure AS obj, pg_get_functiondef(p.oid) AS def
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('public', 'class') AND p.prokind IN ('f', 'p')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'trigger ' || tg.tgname || ' on ' || tg.tgrelid::regclass, pg_get_triggerdef(tg.oid)
    FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT tg.tgisinternal AND (n.nspname IN ('public', 'class') OR tg.tgname LIKE 'provisio\\_%')
    UNION ALL
    SELECT 'index ' || i.indexrelid::regclass, pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'class')
    UNION ALL
    SELECT 'view ' || c.oid::regclass, pg_get_viewdef(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'class') AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'policy ' || pol.polname || ' on ' || pol.polrelid::regclass,
           concat_ws(' ', pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid))
    FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'class')
    UNION ALL
    SELECT 'constraint ' || con.conname || ' on ' || con.conrelid::regclass, pg_get_constraintdef(con.oid)
    FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('public', 'class') AND con.contype = 'c'`);
  expect(r.rows.length).toBeGreaterThan(100); // the scan sees the catalogue
  const found: string[] = [];
  for (const { obj, def } of r.rows) {
    for (const line of def.split("\n")) {
      if (LITERAL_STATUS.some((re) => re.test(line))) found.push(`${obj}: ${line.trim()}`);
    }
  }
  return found;
}

describe("statuses named once", () => {
  it("each function returns the id of the lookup row of its name, and every row of every lookup table has its function", async () => {
    const fns = await statusFunctions(t.pool);
    const byName = new Map(fns.map((f) => [f.name, f.value]));
    const named = new Set<string>();
    for (const { table, prefix } of LOOKUPS) {
      const rows = (await t.pool.query<{ id: number; name: string }>(`SELECT id, name FROM ${table} ORDER BY id`)).rows;
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        const fn = `${prefix}${row.name}`;
        named.add(fn);
        expect({ table, row: row.name, fn, value: byName.get(fn) }).toEqual({ table, row: row.name, fn, value: row.id });
      }
      // and no function of this prefix names a row the table does not have
      for (const f of fns.filter((x) => x.name.startsWith(prefix) && (prefix !== "status_" || !x.name.startsWith("job_")))) {
        expect(
          rows.map((r) => `${prefix}${r.name}`),
          `${f.name}() names no row of ${table}`,
        ).toContain(f.name);
      }
    }
    expect([...named].sort()).toEqual(fns.map((f) => f.name).sort());
    expect(fns.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        "status_pending",
        "status_processing",
        "status_completed",
        "status_failed",
        "job_status_submitted",
        "job_status_processing",
        "job_status_completed",
        "job_status_failed",
        "job_status_waiting",
        "wf_run_blocked",
        "wf_step_ready",
      ]),
    );
    // IMMUTABLE, so that the planner folds each call to its value (and an index predicate may use it)
    expect(fns.filter((f) => f.volatility !== "i")).toEqual([]);
  });

  it("the planner folds them: a partial index predicate and a query name the same constants", async () => {
    const plan = await t.pool.query<{ "QUERY PLAN": string }>(
      "EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FILTER (WHERE status_id = job_status_processing()) FROM job",
    );
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).toContain("(status_id = '2'::smallint)");
    expect(text).not.toContain("job_status_processing()");
    const client = await t.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SET LOCAL enable_seqscan = off");
      const open = await client.query<{ "QUERY PLAN": string }>(
        "EXPLAIN (COSTS OFF) SELECT id FROM job WHERE status_id IN (job_status_submitted(), job_status_processing()) AND created_date < now()",
      );
      expect(open.rows.map((r) => r["QUERY PLAN"]).join("\n")).toContain("job_open_idx");
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });

  it("no function, trigger, index, view, policy or CHECK of the migrated database writes a status id as a number", async () => {
    expect(await literalStatusIds(t.pool)).toEqual([]);
  });

  it("the scan finds a literal status id in a function, a trigger, an index and a view (created, then rolled back)", async () => {
    const client = await t.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(`CREATE FUNCTION public.named_statuses_probe() RETURNS bigint LANGUAGE sql STABLE AS
                          $$ SELECT count(*) FROM job WHERE status_id NOT IN (3, 4) $$`);
      await client.query(`CREATE FUNCTION public.named_statuses_probe_tg() RETURNS trigger LANGUAGE plpgsql AS
                          $$ BEGIN NEW.status_id := 1; RETURN NEW; END $$`);
      await client.query(`CREATE TRIGGER named_statuses_probe BEFORE UPDATE ON job FOR EACH ROW
                          WHEN (NEW.status_id = 4) EXECUTE FUNCTION public.named_statuses_probe_tg()`);
      await client.query("CREATE INDEX named_statuses_probe_idx ON job (created_date) WHERE status_id IN (1, 2)");
      await client.query(`CREATE VIEW named_statuses_probe_v AS SELECT count(*) FILTER (WHERE status_id = 3) AS done FROM job`);
      const found = await literalStatusIds(client);
      expect(found).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^function named_statuses_probe\(\): .*status_id NOT IN \(3, 4\)/),
          expect.stringMatching(/^function named_statuses_probe_tg\(\): .*NEW\.status_id := 1/),
          expect.stringMatching(/^trigger named_statuses_probe on job: .*\(new\.status_id = 4\)/),
          expect.stringMatching(/^index named_statuses_probe_idx: .*status_id = ANY \(ARRAY\[1, 2\]\)/),
          expect.stringMatching(/^view named_statuses_probe_v: .*status_id = 3/),
        ]),
      );
      expect(found).toHaveLength(5);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
    expect(await literalStatusIds(t.pool)).toEqual([]);
  });
});
