import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccount, createOrder, jobOf, provisionDomain, type Account } from "../../helpers/fixtures.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

let t: TestDatabase;
let acc: Account;
beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
});
afterAll(() => t.close());

describe("status rollup through SQL", () => {
  it("job_complete completes provision, plan, item and order, writes events and NOTIFYs", async () => {
    const listener = await t.pool.connect();
    const notes: string[] = [];
    listener.on("notification", (n) => notes.push(n.payload ?? ""));
    await listener.query("LISTEN provisio_order_status");
    const o = await createOrder(t.pool, acc.tenantId);
    const id = await provisionDomain(t.pool, acc, "rollup.example", { planId: o.planId });
    const job = await jobOf(t.pool, id);
    expect((await t.pool.query("SELECT * FROM job_start($1)", [job])).rows[0].attempts).toBe(1);
    // the attempt in flight is on the job only: v_provision shows it, the order moves when the job ends
    expect((await t.pool.query("SELECT status, attempts FROM v_provision WHERE id = $1", [id])).rows[0]).toEqual({ status: "processing", attempts: 1 });
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [o.orderId])).rows[0].status).toBe("pending");
    await t.pool.query("SELECT job_complete($1, $2, 'ok')", [
      job,
      { roid: "D9-X", crDate: "2026-01-01T00:00:00Z", exDate: "2027-01-01T00:00:00Z", code: 1000 },
    ]);
    const v = (await t.pool.query("SELECT * FROM v_order WHERE id = $1", [o.orderId])).rows[0];
    expect(v).toMatchObject({ status: "completed", items_completed: "1", plans_completed: "1" });
    const p = (await t.pool.query("SELECT status, roid, attempts FROM v_provision WHERE id = $1", [id])).rows[0];
    expect(p).toEqual({ status: "completed", roid: "D9-X", attempts: 1 });
    const d = (await t.pool.query("SELECT roid, ry_expiry_date FROM domain WHERE name = 'rollup.example'")).rows[0];
    expect(d.roid).toBe("D9-X");
    const events = (await t.pool.query("SELECT event_type, payload->>'status' AS s FROM event WHERE reference_id = ANY($1) ORDER BY id", [[id, o.orderId]]))
      .rows;
    expect(events.map((e) => `${e.event_type}:${e.s}`)).toEqual(["provision.status:pending", "provision.status:completed", "order.status:completed"]);
    await new Promise((r) => setTimeout(r, 100));
    // the payload is the order id only: nothing a listener of another tenant may not see (issue 10)
    expect(notes).toEqual([o.orderId]);
    listener.release();
    // effectively-once: a second completion or a failure after completion changes nothing
    expect((await t.pool.query("SELECT job_complete($1, '{}')", [job])).rows[0].job_complete).toBe(false);
    expect((await t.pool.query("SELECT job_fail($1, 'late')", [job])).rows[0].job_fail).toBe(false);
    expect((await t.pool.query("SELECT * FROM job_start($1)", [job])).rowCount).toBe(0);
  });

  it("an order with two items is failed only when both are final and one failed", async () => {
    const o = await createOrder(t.pool, acc.tenantId);
    const i2 = await t.pool.query(`INSERT INTO order_item (order_id, object_type) VALUES ($1, 'domain') RETURNING id`, [o.orderId]);
    const p2 = await t.pool.query(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [i2.rows[0].id]);
    const a = await jobOf(t.pool, await provisionDomain(t.pool, acc, "two-a.example", { planId: o.planId }));
    const b = await jobOf(t.pool, await provisionDomain(t.pool, acc, "two-b.example", { planId: p2.rows[0].id }));
    await t.pool.query("SELECT job_fail($1, 'EPP2306: policy')", [a]);
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [o.orderId])).rows[0].status).toBe("processing");
    await t.pool.query("SELECT job_complete($1, $2)", [b, { crDate: "2026-01-01T00:00:00Z", exDate: "2027-01-01T00:00:00Z", roid: "D1" }]);
    const v = (await t.pool.query("SELECT status, items_failed, items_completed FROM v_order WHERE id = $1", [o.orderId])).rows[0];
    expect(v).toEqual({ status: "failed", items_failed: "1", items_completed: "1" });
    const plan = (await t.pool.query("SELECT result_message FROM order_item_plan WHERE id = $1", [o.planId])).rows[0];
    expect(plan.result_message).toBe("EPP2306: policy");
  });

  it("job_retry schedules with the job type's backoff and fails the job when attempts run out", async () => {
    await t.pool.query("UPDATE job_type SET max_attempts = 2, retry_backoff_seconds = 4 WHERE name = 'domain_create'");
    const job = await jobOf(t.pool, await provisionDomain(t.pool, acc, "retry.example"));
    await t.pool.query("SELECT * FROM job_start($1)", [job]);
    const r1 = (await t.pool.query("SELECT job_retry($1, 'EPP2400: down') - now() AS wait", [job])).rows[0].wait;
    expect(r1.seconds).toBeGreaterThanOrEqual(3);
    const g = (await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key = $1", [job])).rows[0].n;
    expect(g).toBe(1);
    await t.pool.query("SELECT * FROM job_start($1)", [job]);
    expect((await t.pool.query("SELECT job_retry($1, 'EPP2400: down')", [job])).rows[0].job_retry).toBeNull();
    const v = (await t.pool.query("SELECT status, result_message FROM v_provision WHERE job_id = $1", [job])).rows[0];
    expect(v.status).toBe("failed");
    expect(v.result_message).toMatch(/attempts exhausted \(2 of 2\)/);
    await t.pool.query("UPDATE job_type SET max_attempts = 5, retry_backoff_seconds = 2 WHERE name = 'domain_create'");
  });

  it("job_complete_many rolls a batch up in one statement: two items of one order, a duplicate, a final job", async () => {
    const o = await createOrder(t.pool, acc.tenantId);
    const i2 = await t.pool.query(`INSERT INTO order_item (order_id, object_type) VALUES ($1, 'domain') RETURNING id`, [o.orderId]);
    const p2 = await t.pool.query(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [i2.rows[0].id]);
    const other = await createOrder(t.pool, acc.tenantId);
    const a = await jobOf(t.pool, await provisionDomain(t.pool, acc, "batch-a.example", { planId: o.planId }));
    const b = await jobOf(t.pool, await provisionDomain(t.pool, acc, "batch-b.example", { planId: p2.rows[0].id }));
    const c = await jobOf(t.pool, await provisionDomain(t.pool, acc, "batch-c.example", { planId: other.planId }));
    const done = await jobOf(t.pool, await provisionDomain(t.pool, acc, "batch-done.example"));
    await t.pool.query("SELECT * FROM job_start_many($1)", [[a, b, c, done, a]]);
    await t.pool.query("SELECT job_fail($1, 'EPP2306: policy')", [done]);
    const result = (r: string) => ({ roid: `R-${r}`, crDate: "2026-01-01T00:00:00Z", exDate: "2028-01-01T00:00:00Z" });
    const items = [a, b, c, done, a].map((id, k) => ({ job_id: id, result_data: result(String(k)), result_message: null }));
    const rows = (await t.pool.query("SELECT * FROM job_complete_many($1)", [JSON.stringify(items)])).rows;
    expect(rows).toEqual([a, b, c, done].sort().map((id) => ({ job_id: id, completed: id !== done })));

    const orders = (await t.pool.query("SELECT id, status, items_completed FROM v_order WHERE id = ANY ($1)", [[o.orderId, other.orderId]])).rows;
    expect(orders).toEqual(
      expect.arrayContaining([
        { id: o.orderId, status: "completed", items_completed: "2" },
        { id: other.orderId, status: "completed", items_completed: "1" },
      ]),
    );
    const domains = (await t.pool.query("SELECT name, ry_expiry_date FROM domain WHERE name LIKE 'batch-%' ORDER BY name")).rows;
    expect(domains.map((d) => d.name)).toEqual(["batch-a.example", "batch-b.example", "batch-c.example"]);
    expect(domains.every((d) => d.ry_expiry_date.toISOString().startsWith("2028-01-01"))).toBe(true);
    // one "completed" event per provision and one per order
    const ev = (
      await t.pool.query(
        `SELECT event_type, count(*)::int AS n FROM event WHERE payload->>'status' = 'completed' AND reference_id = ANY ($1) GROUP BY 1 ORDER BY 1`,
        [[o.orderId, other.orderId, ...(await t.pool.query("SELECT reference_id FROM job WHERE id = ANY ($1)", [[a, b, c]])).rows.map((r) => r.reference_id)]],
      )
    ).rows;
    expect(ev).toEqual([
      { event_type: "order.status", n: 2 },
      { event_type: "provision.status", n: 3 },
    ]);
    // the failed job stays failed
    expect((await t.pool.query("SELECT status FROM v_provision WHERE job_id = $1", [done])).rows[0].status).toBe("failed");
  });

  it("an UPDATE that sets a status to the value it has rolls nothing up and writes no event", async () => {
    // the rollup triggers fire on UPDATE OF status_id and test for a change themselves (no WHEN clause)
    const o = await createOrder(t.pool, acc.tenantId);
    const before = (
      await t.pool.query(`SELECT (SELECT count(*) FROM event)::int AS events, (SELECT completed_date FROM "order" WHERE id = $1) AS done`, [o.orderId])
    ).rows[0];
    await t.pool.query("UPDATE order_item_plan SET status_id = status_id WHERE id = $1", [o.planId]);
    await t.pool.query("UPDATE order_item SET status_id = status_id WHERE id = $1", [o.itemId]);
    await t.pool.query(`UPDATE "order" SET status_id = status_id WHERE id = $1`, [o.orderId]);
    const after = (
      await t.pool.query(`SELECT (SELECT count(*) FROM event)::int AS events, (SELECT completed_date FROM "order" WHERE id = $1) AS done`, [o.orderId])
    ).rows[0];
    expect(after).toEqual(before);
    // and a real change still rolls up: the plan fails, so do the item and the order, with one order event
    await t.pool.query("UPDATE order_item_plan SET status_id = 4 WHERE id = $1", [o.planId]);
    const r = (
      await t.pool.query(
        `SELECT i.status_id AS item, o.status_id AS "order", o.completed_date IS NOT NULL AS done,
                                          (SELECT count(*)::int FROM event WHERE reference_id = o.id) AS events
                                   FROM order_item i JOIN "order" o ON o.id = i.order_id WHERE i.id = $1`,
        [o.itemId],
      )
    ).rows[0];
    expect(r).toEqual({ item: 4, order: 4, done: true, events: 1 });
  });

  it("job_complete_many raises PV501 for an unknown job and changes nothing", async () => {
    const j = await jobOf(t.pool, await provisionDomain(t.pool, acc, "batch-unknown.example"));
    const items = [j, "00000000-0000-7000-8000-000000000000"].map((id) => ({ job_id: id, result_data: { roid: "X" }, result_message: null }));
    await expect(t.pool.query("SELECT * FROM job_complete_many($1)", [JSON.stringify(items)])).rejects.toMatchObject({ code: "PV501" });
    expect((await t.pool.query("SELECT status FROM v_provision WHERE job_id = $1", [j])).rows[0].status).toBe("pending");
  });

  it("a statement that completes a thousand jobs rolls every one of them up", async () => {
    const n = 1000;
    const acc2 = await createAccount(t.pool);
    await t.pool.query(
      `WITH o AS (INSERT INTO "order" (tenant_customer_id) SELECT $1 FROM generate_series(1, $2) RETURNING id),
            i AS (INSERT INTO order_item (order_id, object_type) SELECT id, 'domain' FROM o RETURNING id),
            p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id, 'create' FROM i RETURNING id)
       INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
       SELECT $1, $3, 'bulk-' || row_number() OVER () || '.example', ARRAY[p.id] FROM p`,
      [acc2.tenantId, n, acc2.accreditationId],
    );
    const jobs = (await t.pool.query("SELECT id FROM job WHERE tenant_customer_id = $1", [acc2.tenantId])).rows.map((r) => r.id as string);
    expect(jobs).toHaveLength(n);
    await t.pool.query("SELECT count(*) FROM job_start_many($1)", [jobs]);
    const items = jobs.map((id) => ({
      job_id: id,
      result_data: { roid: `R-${id.slice(-6)}`, crDate: "2026-01-01T00:00:00Z", exDate: "2027-01-01T00:00:00Z" },
      result_message: null,
    }));
    const done = (await t.pool.query("SELECT count(*) FILTER (WHERE completed)::int AS n FROM job_complete_many($1)", [JSON.stringify(items)])).rows[0].n;
    expect(done).toBe(n);
    const r = (
      await t.pool.query(
        `SELECT (SELECT count(*)::int FROM v_order WHERE tenant_customer_id = $1 AND status = 'completed') AS orders,
              (SELECT count(*)::int FROM domain WHERE tenant_customer_id = $1) AS domains,
              (SELECT count(*)::int FROM event e JOIN "order" o ON o.id = e.reference_id WHERE o.tenant_customer_id = $1) AS order_events`,
        [acc2.tenantId],
      )
    ).rows[0];
    expect(r).toEqual({ orders: n, domains: n, order_events: n });
  });

  it("every provision table declares its own primary key and foreign keys (inheritance does not carry them)", async () => {
    const r = await t.pool.query(`
      SELECT c.relname,
             bool_or(con.contype = 'p') AS pk,
             count(*) FILTER (WHERE con.contype = 'f') AS fks,
             (SELECT count(*) FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal) AS triggers
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      LEFT JOIN pg_constraint con ON con.conrelid = c.oid
      WHERE i.inhparent = 'class.provision'::regclass GROUP BY c.oid, c.relname ORDER BY c.relname`);
    // every provision table is served by a job type and every job type serves one (no list to keep here)
    const served = await t.pool.query<{ t: string }>("SELECT DISTINCT reference_table AS t FROM job_type ORDER BY 1");
    expect(r.rows.map((x) => x.relname)).toEqual(served.rows.map((x) => x.t));
    expect(r.rows.length).toBeGreaterThanOrEqual(4);
    for (const row of r.rows) {
      expect(row.pk, row.relname).toBe(true);
      // at least tenant, status and job (a family adds its own: accreditation, identity, template, ...)
      expect(Number(row.fks), row.relname).toBeGreaterThanOrEqual(3);
      expect(Number(row.triggers), row.relname).toBeGreaterThanOrEqual(6);
    }
  });
});
