/**
 * The demo's order lines (src/cli/follow-orders.ts, issue 10): a status change that happens before the
 * orders are announced is printed after the announcement, never before it.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { followOrders } from "../../src/cli/follow-orders.js";
import { idTail } from "../../src/cli/status.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, createOrder, waitFor, type Account } from "../helpers/fixtures.js";

let t: TestDatabase;
let a: Account;
let client: pg.Client;
beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool);
  client = new pg.Client({ connectionString: t.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await t?.close();
});

async function complete(orderId: string): Promise<void> {
  await t.pool.query(`UPDATE "order" SET status_id = (SELECT id FROM order_status WHERE name = 'completed') WHERE id = $1`, [orderId]);
  await t.pool.query("SELECT pg_notify('provisio_order_status', $1)", [orderId]);
}

describe("followOrders", () => {
  it("holds change lines until the announcement, then prints them after it, in order; later ones at once", async () => {
    const lines: string[] = [];
    const follow = await followOrders(client, (l) => lines.push(l), { onError: (e) => lines.push(`error: ${String(e)}`) });
    // the orders are inserted and one completes before the demo gets to announce them
    const first = await createOrder(t.pool, a.tenantId);
    const second = await createOrder(t.pool, a.tenantId);
    await complete(first.orderId);
    // PostgreSQL hands a listening session its pending notifications before the reply to its next
    // query: after this round trip the notification has reached the watcher, and settled() waits for it
    await client.query("SELECT 1");
    await follow.watch.settled();
    expect(lines).toEqual([]);

    follow.announce("Inserted 2 sample orders with provision_domain rows; watching them:");
    expect(lines).toEqual(["Inserted 2 sample orders with provision_domain rows; watching them:", `  order ${idTail(first.orderId)} → completed`]);

    await complete(second.orderId);
    await waitFor("the second order's line", async () => lines.length === 3);
    expect(lines[2]).toBe(`  order ${idTail(second.orderId)} → completed`);
    await follow.watch.stop();
  });
});
