/**
 * Database roles and tenant isolation (issue 3): each test logs in as a member of one provisio_* role
 * and tries what that role must and must not do. Rejections are SQLSTATE 42501 (insufficient_privilege,
 * including row-level security's "new row violates row-level security policy") and leave nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "../../../src/worker/runner.js";
import { createTestDatabase, loginAs, tenantClients, type TestDatabase } from "../../helpers/db.js";
import { createAccount, createOrder, waitFor, writeCounts, type Account } from "../../helpers/fixtures.js";

let t: TestDatabase;
let a: Account;
let b: Account;
const clients = tenantClients();
const connect = clients.connect;

async function sqlstate(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

let orderUrl: string;
let readerUrl: string;
let workerUrl: string;

beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool, { name: "tenant-a" });
  b = await createAccount(t.pool, { name: "tenant-b" });
  orderUrl = await loginAs(t, "provisio_order");
  readerUrl = await loginAs(t, "provisio_reader");
  workerUrl = await loginAs(t, "provisio_worker");
  // tenant B already has a provision and a domain in its inventory
  await t.pool.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'b-secret-plans.example')`, [
    b.tenantId,
    b.accreditationId,
  ]);
  await t.pool.query(
    `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
     SELECT $1, $2, id, 'b-owned.example', 'B1-EX', 'authinfo-b', now(), now() + interval '1 year' FROM accreditation_tld WHERE accreditation_id = $2 AND tld = 'example'`,
    [b.tenantId, b.accreditationId],
  );
});
afterAll(async () => {
  await clients.endAll();
  await t?.close();
});

describe("provisio_order", () => {
  it("inserts an order and a provision for its tenant; the job reaches graphile-worker through SECURITY DEFINER triggers", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const o = await c.query(`INSERT INTO "order" (tenant_customer_id, reference) VALUES ($1, 'A-1') RETURNING id`, [a.tenantId]);
    const i = await c.query(`INSERT INTO order_item (order_id, object_type) VALUES ($1, 'domain') RETURNING id`, [o.rows[0].id]);
    const p = await c.query(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [i.rows[0].id]);
    const d = await c.query(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'a-new.example', $3) RETURNING id, job_id`,
      [a.tenantId, a.accreditationId, [p.rows[0].id]],
    );
    expect(d.rows[0].job_id).toBeTruthy();
    expect((await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key = $1", [d.rows[0].job_id])).rows[0].n).toBe(1);
    const seen = await c.query("SELECT object_name, status FROM v_provision");
    expect(seen.rows).toEqual([{ object_name: "a-new.example", status: "pending" }]);
    expect((await c.query("SELECT reference FROM v_order")).rows).toEqual([{ reference: "A-1" }]);
  });

  it("still gets PV104 for a name another tenant holds (validation sees every tenant), without seeing that tenant's rows", async () => {
    const c = await connect(orderUrl, a.tenantId);
    expect(
      await sqlstate(
        c.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'b-owned.example')`, [
          a.tenantId,
          a.accreditationId,
        ]),
      ),
    ).toBe("PV104");
    expect((await c.query("SELECT count(*)::int AS n FROM domain")).rows[0].n).toBe(0);
  });

  it("cannot see or touch another tenant's rows, job internals, accreditation config or graphile-worker", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const before = await writeCounts(t.pool);
    const gwBefore = (await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs")).rows[0].n;
    // another tenant: invisible, and writes are refused by row-level security
    expect((await c.query("SELECT count(*)::int AS n FROM provision_domain WHERE tenant_customer_id = $1", [b.tenantId])).rows[0].n).toBe(0);
    expect((await c.query("SELECT count(*)::int AS n FROM class.provision WHERE tenant_customer_id = $1", [b.tenantId])).rows[0].n).toBe(0);
    expect((await c.query("SELECT count(*)::int AS n FROM v_provision WHERE tenant_customer_id = $1", [b.tenantId])).rows[0].n).toBe(0);
    expect((await c.query("SELECT count(*)::int AS n FROM tenant_customer")).rows[0].n).toBe(1);
    expect(
      await sqlstate(
        c.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'into-b.example')`, [b.tenantId, b.accreditationId]),
      ),
    ).toBe("42501");
    expect(await sqlstate(c.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1)`, [b.tenantId]))).toBe("42501");
    // no job internals, no secrets-bearing config, no graphile_worker, no direct job functions
    for (const sql of [
      "SELECT * FROM job",
      "SELECT * FROM v_job",
      "SELECT config FROM accreditation",
      "SELECT * FROM graphile_worker.jobs",
      "SELECT graphile_worker.add_job('domain__create', '{}'::json)",
      "SELECT job_submit(gen_random_uuid(), 'domain_create', 'provision_domain', gen_random_uuid(), '{}'::jsonb, NULL, NULL)",
      "SELECT job_complete(gen_random_uuid(), '{}'::jsonb)",
      "SELECT job_retry(gen_random_uuid(), 'x')",
      "SELECT * FROM worker",
      "UPDATE provision_domain SET status_id = 3",
      "DELETE FROM provision_domain",
      "SELECT * FROM audit_trail_log",
    ]) {
      expect([sql, await sqlstate(c.query(sql))]).toEqual([sql, "42501"]);
    }
    expect(await writeCounts(t.pool)).toEqual(before);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs")).rows[0].n).toBe(gwBefore);
  });

  it("sees nothing when app.tenant_id is unset", async () => {
    const c = await connect(orderUrl);
    expect((await c.query("SELECT count(*)::int AS n FROM v_provision")).rows[0].n).toBe(0);
    expect((await c.query("SELECT count(*)::int AS n FROM provision_domain")).rows[0].n).toBe(0);
    expect(await sqlstate(c.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1)`, [a.tenantId]))).toBe("42501");
  });
});

describe("provisio_reader", () => {
  it("reads its tenant's status views and nothing else", async () => {
    const c = await connect(readerUrl, b.tenantId);
    expect((await c.query("SELECT object_name FROM v_provision")).rows).toEqual([{ object_name: "b-secret-plans.example" }]);
    expect((await c.query("SELECT count(*)::int AS n FROM v_order")).rows[0].n).toBe(0);
    for (const sql of [
      "SELECT * FROM provision_domain",
      "SELECT * FROM class.provision",
      'SELECT * FROM "order"',
      "SELECT * FROM domain",
      "SELECT * FROM v_job",
      `INSERT INTO "order" (tenant_customer_id) VALUES ('${b.tenantId}')`,
    ]) {
      expect([sql, await sqlstate(c.query(sql))]).toEqual([sql, "42501"]);
    }
  });
});

describe("provisio_worker", () => {
  it("runs jobs to completion with only its own privileges", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const { planId } = await createOrder(t.pool, a.tenantId);
    await c.query(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'by-worker-role.example', $3)`,
      [a.tenantId, a.accreditationId, [planId]],
    );
    const worker = await startWorker({ connectionString: workerUrl, concurrency: 2, pollInterval: 100 });
    try {
      await waitFor(
        "completed",
        async () => (await t.pool.query("SELECT status FROM v_provision WHERE object_name = 'by-worker-role.example'")).rows[0]?.status === "completed",
        20_000,
      );
      expect(
        (
          await t.pool.query(
            "SELECT status FROM v_order o JOIN order_item i ON i.order_id = o.id JOIN order_item_plan p ON p.order_item_id = i.id WHERE p.id = $1",
            [planId],
          )
        ).rows[0].status,
      ).toBe("completed");
      // who did it: the login, also for what provisio's SECURITY DEFINER triggers wrote (migrations/0006)
      const by = (
        await t.pool.query(
          `SELECT p.created_by, p.updated_by, d.created_by AS domain_created_by, o.updated_by AS order_updated_by,
                (SELECT array_agg(changed_by ORDER BY id) FROM audit_trail_log WHERE object_id = p.id) AS audit
         FROM provision_domain p JOIN domain d ON d.name = p.name
         JOIN order_item_plan pl ON pl.id = p.order_item_plan_ids[1] JOIN order_item i ON i.id = pl.order_item_id JOIN "order" o ON o.id = i.order_id
         WHERE p.name = 'by-worker-role.example'`,
        )
      ).rows[0];
      expect(by).toEqual({
        created_by: "provisio_order_test_login",
        updated_by: "provisio_worker_test_login",
        domain_created_by: "provisio_worker_test_login",
        order_updated_by: "provisio_worker_test_login",
        audit: ["provisio_order_test_login", "provisio_worker_test_login"],
      });
      const w = await connect(workerUrl);
      expect(await sqlstate(w.query("INSERT INTO tenant_customer (name) VALUES ('worker-made')"))).toBe("42501");
      expect(await sqlstate(w.query("UPDATE accreditation SET config = '{}'"))).toBe("42501");
    } finally {
      await worker.stop();
    }
  });
});

describe("column-list grants", () => {
  it("the order role may INSERT only the caller's columns of provision and order tables; the worker updates no provision row", async () => {
    const r = await t.pool.query<{ rel: string; col: string; order_insert: boolean; worker_update: boolean }>(
      `SELECT c.oid::regclass::text AS rel, a.attname AS col,
              has_column_privilege('provisio_order', c.oid, a.attnum, 'INSERT') AS order_insert,
              has_column_privilege('provisio_worker', c.oid, a.attnum, 'UPDATE') AS worker_update
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       WHERE c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'class.provision'::regclass)
          OR c.oid IN ('class.provision'::regclass, '"order"'::regclass, 'order_item'::regclass, 'order_item_plan'::regclass)`,
    );
    const engine =
      /^(status_id|job_id|provisioned_date|result_data|result_message|roid|attempt_count|last_attempt_date|completed_date|updated_by|updated_date|ry_.*)$/;
    const granted = r.rows.filter((x) => x.order_insert && engine.test(x.col)).map((x) => `${x.rel}.${x.col}`);
    expect(granted).toEqual([]);
    expect(r.rows.filter((x) => x.order_insert && x.col === "name").map((x) => x.rel)).toEqual(expect.arrayContaining(["provision_domain", "provision_host"]));
    expect(r.rows.filter((x) => x.worker_update).map((x) => `${x.rel}.${x.col}`)).toEqual([]);
    const job = await t.pool.query<{ col: string }>(
      `SELECT attname AS col FROM pg_attribute WHERE attrelid = 'job'::regclass AND attnum > 0 AND NOT attisdropped
         AND has_column_privilege('provisio_worker', 'job'::regclass, attnum, 'UPDATE') ORDER BY attname`,
    );
    expect(job.rows.map((x) => x.col)).toEqual(["attempts", "end_date", "result_data", "result_message", "retry_date", "start_date", "status_id"]);
  });

  it("an engine column in an order role's INSERT is refused by privilege, and nothing is written", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const before = await writeCounts(t.pool);
    const code = await sqlstate(
      c.query("INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, roid) VALUES ($1, $2, 'grant-roid.example', 'X')", [
        a.tenantId,
        a.accreditationId,
      ]),
    );
    expect(code).toBe("42501");
    expect(await writeCounts(t.pool)).toEqual(before);
  });
});
