/**
 * Demo data for `npm start` without DATABASE_URL: a tenant, an accreditation at the built-in registry
 * simulator and a few domain orders — inserted through kysely (src/db/kysely.ts), rows an order system would
 * write with SQL.
 */
import type pg from "pg";
import { createKysely } from "../db/kysely.js";

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
export async function seedDemoAccount(pool: pg.Pool, simulator: { port: number; caFile: string }): Promise<DemoIds> {
  const db = createKysely(pool);
  const tenant = await db
    .insertInto("tenant_customer")
    .values({ name: DEMO_TENANT })
    .onConflict((oc) => oc.column("name").doUpdateSet((eb) => ({ name: eb.ref("excluded.name") })))
    .returning("id")
    .executeTakeFirstOrThrow();
  const tenantId = tenant.id;
  const cfg = {
    host: "127.0.0.1",
    port: simulator.port,
    clID: DEMO_CLID,
    password_env: DEMO_PASSWORD_ENV,
    tls: { ca_file: simulator.caFile, servername: "localhost" },
  };
  const acc = await db
    .insertInto("accreditation")
    .values({
      tenant_customer_id: tenantId,
      name: "simulator",
      provider: "provisio EPP registry simulator",
      connector_type: "epp",
      config: JSON.stringify(cfg),
      max_sessions: 4,
    })
    .onConflict((oc) => oc.columns(["tenant_customer_id", "name"]).doUpdateSet((eb) => ({ config: eb.ref("excluded.config") })))
    .returning("id")
    .executeTakeFirstOrThrow();
  const accreditationId = acc.id;
  await db
    .insertInto("accreditation_tld")
    .values(DEMO_TLDS.map((tld) => ({ accreditation_id: accreditationId, tld })))
    .onConflict((oc) => oc.doNothing())
    .execute();
  return { tenantId, accreditationId };
}

/**
 * Insert `count` sample orders, each an order with one item and plan and the provision_domain row
 * that serves it, one transaction per order. Names are unique per run. Returns the order ids.
 */
export async function insertSampleOrders(pool: pg.Pool, ids: DemoIds, count: number): Promise<string[]> {
  const db = createKysely(pool);
  const run = Date.now().toString(36);
  const orders: string[] = [];
  for (let i = 1; i <= count; i++) {
    const orderId = await db.transaction().execute(async (tx) => {
      const o = await tx
        .insertInto("order")
        .values({ tenant_customer_id: ids.tenantId, reference: `demo-${run}-${i}` })
        .returning("id")
        .executeTakeFirstOrThrow();
      const it = await tx
        .insertInto("order_item")
        .values({ order_id: o.id, object_type: "domain", descr: "register a domain" })
        .returning("id")
        .executeTakeFirstOrThrow();
      const pl = await tx.insertInto("order_item_plan").values({ order_item_id: it.id, action: "domain_create" }).returning("id").executeTakeFirstOrThrow();
      await tx
        .insertInto("provision_domain")
        .values({
          tenant_customer_id: ids.tenantId,
          accreditation_id: ids.accreditationId,
          name: `hello-${run}-${i}.${DEMO_TLDS[i % DEMO_TLDS.length]}`,
          registration_period: 1 + (i % 3),
          order_item_plan_ids: [pl.id],
        })
        .execute();
      return o.id;
    });
    orders.push(orderId);
  }
  return orders;
}
