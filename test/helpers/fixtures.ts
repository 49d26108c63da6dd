/** Test data and waiting helpers. All data goes in through SQL, as an order system would write it. */
import type pg from "pg";

export interface Account {
  tenantId: string;
  accreditationId: string;
}

/**
 * A tenant with an accreditation serving the given TLDs. `config` is the accreditation's connector config;
 * `accreditation` its name and provider (default: registry, test registry).
 */
export async function createAccount(
  db: pg.Pool,
  opts: {
    name?: string;
    connectorType?: string;
    config?: Record<string, unknown>;
    tlds?: string[];
    maxSessions?: number;
    accreditation?: { name: string; provider: string };
  } = {},
): Promise<Account> {
  const name = opts.name ?? `tenant-${Math.random().toString(36).slice(2, 10)}`;
  const t = await db.query<{ id: string }>("INSERT INTO tenant_customer (name) VALUES ($1) RETURNING id", [name]);
  const a = await db.query<{ id: string }>(
    `INSERT INTO accreditation (tenant_customer_id, name, provider, connector_type, config, max_sessions)
     VALUES ($1, $5, $6, $2, $3, $4) RETURNING id`,
    [
      t.rows[0]!.id,
      opts.connectorType ?? "noop",
      opts.config ?? {},
      opts.maxSessions ?? 4,
      opts.accreditation?.name ?? "registry",
      opts.accreditation?.provider ?? "test registry",
    ],
  );
  await db.query("INSERT INTO accreditation_tld (accreditation_id, tld) SELECT $1, unnest($2::text[])", [a.rows[0]!.id, opts.tlds ?? ["example", "test"]]);
  return { tenantId: t.rows[0]!.id, accreditationId: a.rows[0]!.id };
}

/** An order with one item and one plan; returns the ids. */
export async function createOrder(db: pg.Pool, tenantId: string): Promise<{ orderId: string; itemId: string; planId: string }> {
  const o = await db.query<{ id: string }>(`INSERT INTO "order" (tenant_customer_id) VALUES ($1) RETURNING id`, [tenantId]);
  const i = await db.query<{ id: string }>(`INSERT INTO order_item (order_id, object_type) VALUES ($1, 'domain') RETURNING id`, [o.rows[0]!.id]);
  const p = await db.query<{ id: string }>(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [i.rows[0]!.id]);
  return { orderId: o.rows[0]!.id, itemId: i.rows[0]!.id, planId: p.rows[0]!.id };
}

/** Insert a provision_domain row; returns its id. */
export async function provisionDomain(db: pg.Pool, acc: Account, name: string, extra: { planId?: string; period?: number; pw?: string } = {}): Promise<string> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, registration_period, order_item_plan_ids${extra.pw ? ", pw" : ""})
     VALUES ($1, $2, $3, $4, $5${extra.pw ? ", $6" : ""}) RETURNING id`,
    [acc.tenantId, acc.accreditationId, name, extra.period ?? 1, extra.planId ? [extra.planId] : null, ...(extra.pw ? [extra.pw] : [])],
  );
  return r.rows[0]!.id;
}

/** The job id of a provision_domain row. */
export async function jobOf(db: pg.Pool, provisionId: string): Promise<string> {
  return (await db.query<{ job_id: string }>("SELECT job_id FROM provision_domain WHERE id = $1", [provisionId])).rows[0]!.job_id;
}

/** Poll fn every intervalMs until it returns a truthy value or timeoutMs passes (then throw). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Row counts that must not change when an INSERT is rejected. */
export async function writeCounts(db: pg.Pool): Promise<Record<string, number>> {
  const r = await db.query<{ p: string; j: string; g: string; e: string; a: string; o: string; c: string }>(
    `SELECT (SELECT count(*) FROM class.provision) AS p, (SELECT count(*) FROM job) AS j,
            (SELECT count(*) FROM graphile_worker.jobs) AS g, (SELECT count(*) FROM event) AS e,
            (SELECT count(*) FROM audit_trail_log) AS a,
            (SELECT count(*) FROM "order") + (SELECT count(*) FROM order_item) + (SELECT count(*) FROM order_item_plan) AS o,
            (SELECT count(*) FROM provision_claim) AS c`,
  );
  const row = r.rows[0]!;
  return {
    provisions: Number(row.p),
    jobs: Number(row.j),
    graphileJobs: Number(row.g),
    events: Number(row.e),
    auditLog: Number(row.a),
    orderRows: Number(row.o),
    claims: Number(row.c),
  };
}

/** Wait for provision `id` to be final; returns its v_provision row. */
export async function finalProvision(db: pg.Pool, id: string): Promise<Record<string, any>> {
  return waitFor(`provision ${id} to be final`, async () => (await db.query("SELECT * FROM v_provision WHERE id = $1 AND is_final", [id])).rows[0]);
}
