/**
 * The benchmark's data, written through SQL as an order system would: a tenant with an accreditation per
 * measurement (test/helpers/fixtures.ts createAccount, shared with the tests) and the order + provision
 * statements the measurements run.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { createAccount, type Account } from "../test/helpers/fixtures.js";

export type { Account };

/** names made in this run carry it, so the benchmark can run again on the same database */
export const RUN = randomUUID().slice(0, 8);

/**
 * A tenant `bench-<label>-<random>` with one accreditation (named and provided "bench") of `connectorType`
 * with connector config `cfg` and max_sessions `maxSessions` (the worker's concurrency), serving TLD "test"
 * only: the TLD of every name the benchmark provisions and of the EPP simulator. (createAccount's
 * `accreditation` option exists for this: the rows are the ones the benchmark wrote before it shared the helper.)
 */
export async function account(pool: pg.Pool, maxSessions: number, label: string, connectorType: string, cfg: Record<string, unknown>): Promise<Account> {
  return createAccount(pool, {
    name: `bench-${label}-${randomUUID().slice(0, 8)}`,
    accreditation: { name: "bench", provider: "bench" },
    connectorType,
    config: cfg,
    tlds: ["test"],
    maxSessions,
  });
}

/**
 * One order (item, plan) per provision, all in one statement. $1 tenant, $2 count, $3 accreditation,
 * $4 name prefix (names `<prefix>-<n>.test`).
 */
export const ORDERS_AND_PROVISIONS = `
  WITH o AS (INSERT INTO "order" (tenant_customer_id, reference) SELECT $1, 'bench-' || g FROM generate_series(1, $2) g RETURNING id),
       i AS (INSERT INTO order_item (order_id, object_type) SELECT id, 'domain' FROM o RETURNING id),
       p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id, 'create' FROM i RETURNING id)
  INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
  SELECT $1, $3, $4 || '-' || row_number() OVER () || '.test', ARRAY[p.id] FROM p`;

/**
 * One order with a known id, its item and plan, and the provision: what an order system sends per order.
 * $1 tenant, $2 accreditation, $3 domain name, $4 order id.
 */
export const ONE_ORDER = `
  WITH o AS (INSERT INTO "order" (id, tenant_customer_id) VALUES ($4, $1) RETURNING id),
       i AS (INSERT INTO order_item (order_id, object_type) SELECT id, 'domain' FROM o RETURNING id),
       p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id, 'create' FROM i RETURNING id)
  INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
  SELECT $1, $2, $3, ARRAY[p.id] FROM p`;
