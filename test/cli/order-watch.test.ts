/**
 * watchOrderStatus (src/cli/order-watch.ts), issue 10: a notification on provisio_order_status is a hint
 * only. Forged payloads, unknown, unchanged or another tenant's orders report nothing; a real change is
 * reported once, with the status read from v_order.
 *
 * The notifications are sent here with pg_notify(payload = the order id), as the rollup trigger will
 * (today it still sends JSON, which the watcher ignores; once it sends the id, its notification and
 * ours are duplicates and are reported once). "Nothing reported" is checked with a sentinel: after the
 * notifications under test, a real change of another order; notifications reach a listener in commit
 * order and the watcher handles them in arrival order, so once the sentinel is reported every earlier
 * notification has been handled.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { watchOrderStatus, type OrderStatusChange, type OrderWatch } from "../../src/cli/order-watch.js";
import { createTestDatabase, loginAs, tenantClients, type TestDatabase } from "../helpers/db.js";
import { createAccount, createOrder, jobOf, provisionDomain, waitFor, type Account } from "../helpers/fixtures.js";

let t: TestDatabase;
let a: Account;
let b: Account;
let readerUrl: string;
const clients = tenantClients();
const connect = clients.connect;

beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool, { name: "watch-a" });
  b = await createAccount(t.pool, { name: "watch-b" });
  readerUrl = await loginAs(t, "provisio_reader");
});
afterAll(async () => {
  await clients.endAll();
  await t?.close();
});

/** pg_notify on the order channel, committed, from `from` (default: the owner's pool). */
async function notify(payload: string, from: pg.Pool | pg.Client = t.pool): Promise<void> {
  await from.query("SELECT pg_notify('provisio_order_status', $1)", [payload]);
}

/** Set an order's status as the owner (the rollup's UPDATE), then notify its id. */
async function setStatus(orderId: string, status: string): Promise<void> {
  const r = await t.pool.query(`UPDATE "order" SET status_id = (SELECT id FROM order_status WHERE name = $2) WHERE id = $1`, [orderId, status]);
  expect(r.rowCount).toBe(1);
  await notify(orderId);
}

interface Watching {
  watch: OrderWatch;
  changes: OrderStatusChange[];
  errors: unknown[];
}

async function watch(client: pg.Client): Promise<Watching> {
  const changes: OrderStatusChange[] = [];
  const errors: unknown[] = [];
  const w = await watchOrderStatus(client, (c) => changes.push(c), { onError: (e) => errors.push(e) });
  return { watch: w, changes, errors };
}

/** A real change of a fresh order of `acc`, awaited: every notification sent before it has been handled. */
async function sentinel(w: Watching, acc: Account = a): Promise<OrderStatusChange> {
  const { orderId } = await createOrder(t.pool, acc.tenantId);
  await setStatus(orderId, "processing");
  const c = await waitFor(`the sentinel order ${orderId}`, async () => w.changes.find((x) => x.orderId === orderId));
  await w.watch.settled();
  return c;
}

describe("watchOrderStatus", () => {
  it("reports nothing for forged, malformed, unknown or unchanged notifications; a real change once, as v_order has it", async () => {
    const open = await createOrder(t.pool, a.tenantId); // pending at the baseline
    const doneBefore = await createOrder(t.pool, a.tenantId);
    await t.pool.query(`UPDATE "order" SET status_id = (SELECT id FROM order_status WHERE name = 'completed') WHERE id = $1`, [doneBefore.orderId]);

    const w = await watch(await connect(t.url));
    const after = await createOrder(t.pool, a.tenantId); // created after the baseline, still pending

    await notify(JSON.stringify({ order_id: open.orderId, status: "completed" })); // today's JSON shape, forged
    await notify(JSON.stringify({ order_id: open.orderId, tenant_customer_id: a.tenantId, status: "failed" }));
    await notify("not-a-uuid");
    await notify("");
    await notify(` ${open.orderId}`); // not a bare uuid
    await notify(`${open.orderId},completed`);
    await notify("00000000-0000-0000-0000-000000000000"); // no such order
    await notify(open.orderId); // pending, unchanged
    await notify(open.orderId.toUpperCase());
    await notify(doneBefore.orderId); // completed before the watcher started
    await notify(after.orderId); // pending since it was created
    const s1 = await sentinel(w);
    expect(w.changes).toEqual([s1]);
    expect(s1).toEqual({ orderId: s1.orderId, status: "processing", previous: "pending" });

    // a real change is reported once, however many notifications name it
    await t.pool.query(`UPDATE "order" SET status_id = (SELECT id FROM order_status WHERE name = 'failed') WHERE id = $1`, [open.orderId]);
    await notify(JSON.stringify({ order_id: open.orderId, status: "completed" })); // a forged status is not what is reported
    await notify(open.orderId);
    await notify(open.orderId);
    await notify(open.orderId);
    const s2 = await sentinel(w);
    expect(w.changes).toEqual([s1, { orderId: open.orderId, status: "failed", previous: "pending" }, s2]);
    expect(w.errors).toEqual([]);
    await w.watch.stop();
  });

  it("reports a provision's completion rolled up to its order (job_complete), once", async () => {
    const w = await watch(await connect(t.url));
    const o = await createOrder(t.pool, a.tenantId);
    const job = await jobOf(t.pool, await provisionDomain(t.pool, a, "watched.example", { planId: o.planId }));
    await t.pool.query("SELECT * FROM job_start($1)", [job]);
    await notify(o.orderId); // still pending: nothing
    await t.pool.query("SELECT job_complete($1, $2)", [job, { roid: "W1", crDate: "2026-01-01T00:00:00Z", exDate: "2027-01-01T00:00:00Z" }]);
    await notify(o.orderId);
    await notify(o.orderId);
    const s = await sentinel(w);
    expect(w.changes).toEqual([{ orderId: o.orderId, status: "completed", previous: "pending" }, s]);
    expect(w.errors).toEqual([]);
    await w.watch.stop();
  });

  it("as a provisio_reader login with app.tenant_id set, never reports another tenant's order, even when its status changed", async () => {
    const theirs = await createOrder(t.pool, b.tenantId);
    const mine = await createOrder(t.pool, a.tenantId);
    const reader = await connect(readerUrl, a.tenantId);
    const w = await watch(reader);

    await setStatus(theirs.orderId, "processing"); // a real change, notified by its id
    await setStatus(theirs.orderId, "completed");
    await notify(theirs.orderId, reader); // any login may notify
    await notify(JSON.stringify({ order_id: mine.orderId, status: "completed" }), reader);
    await notify(mine.orderId, reader); // unchanged
    await setStatus(mine.orderId, "completed");
    await notify(mine.orderId, reader);
    const s = await sentinel(w);
    expect(w.changes).toEqual([{ orderId: mine.orderId, status: "completed", previous: "pending" }, s]);
    expect(w.errors).toEqual([]);
    // the owner's watcher sees the other tenant's order: the reader's saw nothing of it because of v_order
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [theirs.orderId])).rows).toEqual([{ status: "completed" }]);
    await w.watch.stop();
  });

  it("stops: UNLISTEN, nothing reported after stop()", async () => {
    const client = await connect(t.url);
    const w = await watch(client);
    const o = await createOrder(t.pool, a.tenantId);
    await w.watch.stop();
    await w.watch.stop();
    await setStatus(o.orderId, "completed");
    // the session no longer listens: a notification cannot be delivered to it
    const r = await client.query("SELECT count(*)::int AS n FROM pg_listening_channels()");
    expect(r.rows[0].n).toBe(0);
    expect(client.listenerCount("notification")).toBe(0);
    expect(w.changes).toEqual([]);
  });
});
