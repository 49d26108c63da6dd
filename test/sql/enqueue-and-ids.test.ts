/**
 * The statement-level enqueue (_510_enqueue_jobs: one graphile_worker.add_jobs per INSERT statement) and
 * the time-ordered ids (migrations/0005).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, writeCounts, type Account } from "../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
});
afterAll(async () => {
  await t?.close();
});

describe("one INSERT of many provision rows", () => {
  it("queues one graphile-worker job per row, keyed by the job id, in the same transaction", async () => {
    await t.pool.query(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) SELECT $1, $2, 'many-' || g || '.example' FROM generate_series(1, 50) g`,
      [acc.tenantId, acc.accreditationId],
    );
    const r = await t.pool.query(
      `SELECT count(*)::int AS n, count(g.id)::int AS queued, count(DISTINCT g.key)::int AS keys,
              bool_and(g.payload->>'job_id' = p.job_id::text) AS payload_ok, bool_and(tk.identifier = 'domain__create') AS task_ok
       FROM provision_domain p
       LEFT JOIN graphile_worker._private_jobs g ON g.key = p.job_id::text
       LEFT JOIN graphile_worker._private_tasks tk ON tk.id = g.task_id
       WHERE p.name LIKE 'many-%'`,
    );
    expect(r.rows[0]).toEqual({ n: 50, queued: 50, keys: 50, payload_ok: true, task_ok: true });
  });

  it("writes nothing at all when one row of the statement is rejected", async () => {
    const before = await writeCounts(t.pool);
    const err = await t.pool
      .query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, CASE WHEN g = 7 THEN 'not a name' ELSE 'batch-' || g || '.example' END FROM generate_series(1, 20) g`,
        [acc.tenantId, acc.accreditationId],
      )
      .catch((e: { code?: string; column?: string }) => e);
    expect(err).toMatchObject({ code: "PV101", column: "name" });
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("rolls the queued jobs back with the transaction", async () => {
    const before = await writeCounts(t.pool);
    const c = await t.pool.connect();
    try {
      await c.query("BEGIN");
      await c.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) SELECT $1, $2, 'rolled-' || g || '.example' FROM generate_series(1, 5) g`,
        [acc.tenantId, acc.accreditationId],
      );
      await c.query("ROLLBACK");
    } finally {
      c.release();
    }
    expect(await writeCounts(t.pool)).toEqual(before);
  });
});

describe("uuid_generate_v7()", () => {
  it("gives RFC 9562 version 7 uuids that sort by creation time", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push((await t.pool.query(`SELECT uuid_generate_v7()::text AS id`)).rows[0].id);
      await new Promise((r) => setTimeout(r, 3));
    }
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids); // made 3 ms apart: sorted by creation time
    expect(new Set(ids).size).toBe(10);
    // the first 48 bits are the Unix time in milliseconds
    const ms = parseInt(ids[0]!.replace(/-/g, "").slice(0, 12), 16);
    expect(Math.abs(ms - Date.now())).toBeLessThan(60_000);
    const created = (await t.pool.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1) RETURNING id::text`, [acc.tenantId])).rows[0].id;
    expect(created).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });
});
