/**
 * Demo data for `npm start` without DATABASE_URL: a tenant, an accreditation at the built-in registry
 * simulator, two contacts and a few domain orders — all inserted with plain SQL, as an order system would.
 */
import type pg from "pg";
import { withTransaction } from "../db/pool.js";

export const DEMO_TENANT = "demo";
export const DEMO_CLID = "demo-registrar";
/** environment variable the demo accreditation names for its EPP password */
export const DEMO_PASSWORD_ENV = "PROVISIO_DEMO_EPP_PASSWORD";
export const DEMO_TLDS = ["example", "test"];

export interface DemoIds {
  tenantId: string;
  accreditationId: string;
}

/** Create or refresh the demo tenant and accreditation (port and CA file change per run). */
export async function seedDemoAccount(db: pg.Pool, simulator: { port: number; caFile: string }): Promise<DemoIds> {
  const tenant = await db.query<{ id: string }>(
    `INSERT INTO tenant_customer (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
    [DEMO_TENANT],
  );
  const tenantId = tenant.rows[0]!.id;
  const cfg = { host: "127.0.0.1", port: simulator.port, clID: DEMO_CLID, password_env: DEMO_PASSWORD_ENV, tls: { ca_file: simulator.caFile, servername: "localhost" } };
  const acc = await db.query<{ id: string }>(
    `INSERT INTO accreditation (tenant_customer_id, name, provider, connector_type, config, max_sessions)
     VALUES ($1, 'simulator', 'provisio EPP registry simulator', 'epp', $2, 4)
     ON CONFLICT (tenant_customer_id, name) DO UPDATE SET config = EXCLUDED.config RETURNING id`,
    [tenantId, cfg],
  );
  const accreditationId = acc.rows[0]!.id;
  await db.query(
    `INSERT INTO accreditation_tld (accreditation_id, tld) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`,
    [accreditationId, DEMO_TLDS],
  );
  return { tenantId, accreditationId };
}

/**
 * Insert `count` sample orders, each an order with one item and plan and the provision_domain row
 * that serves it. Names are unique per run. Returns the order ids.
 */
export async function insertSampleOrders(db: pg.Pool, ids: DemoIds, count: number): Promise<string[]> {
  const run = Date.now().toString(36);
  const orders: string[] = [];
  for (let i = 1; i <= count; i++) {
    const orderId = await withTransaction(db, async (client) => {
      const o = await client.query<{ id: string }>(`INSERT INTO "order" (tenant_customer_id, reference) VALUES ($1, $2) RETURNING id`, [ids.tenantId, `demo-${run}-${i}`]);
      const it = await client.query<{ id: string }>(`INSERT INTO order_item (order_id, object_type, descr) VALUES ($1, 'domain', 'register a domain') RETURNING id`, [o.rows[0]!.id]);
      const pl = await client.query<{ id: string }>(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'domain_create') RETURNING id`, [it.rows[0]!.id]);
      await client.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, registration_period, order_item_plan_ids)
         VALUES ($1, $2, $3, $4, ARRAY[$5::uuid])`,
        [ids.tenantId, ids.accreditationId, `hello-${run}-${i}.${DEMO_TLDS[i % DEMO_TLDS.length]}`, 1 + (i % 3), pl.rows[0]!.id],
      );
      return o.rows[0]!.id;
    });
    orders.push(orderId);
  }
  return orders;
}
