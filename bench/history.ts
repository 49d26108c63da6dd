/**
 * History (before step 6 of a run): BENCH_HISTORY (default 1,000,000) finished jobs (job,
 * provision_domain, domain, event and audit rows) written in bulk with triggers off, in batches of
 * 100,000, then VACUUM ANALYZE and CHECKPOINT; the latency measurement then runs again on top of them.
 */
import pg from "pg";
import { RUN, type Account } from "./fixtures.js";
import type { BenchOptions } from "./options.js";
import { progress } from "./util.js";

/** HISTORY finished jobs: completed provisions with their job, inventory domain, events and audit rows (triggers off). Returns the seconds taken. */
export async function writeHistory(o: BenchOptions, url: string, acc: Account): Promise<number> {
  const HISTORY = o.history;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const t0 = performance.now();
  try {
    await c.query("SET session_replication_role = replica");
    const batch = 100_000;
    for (let from = 1; from <= HISTORY; from += batch) {
      const to = Math.min(HISTORY, from + batch - 1);
      await c.query("BEGIN");
      await c.query(
        `WITH g AS (SELECT n, uuid_generate_v7() AS pid, uuid_generate_v7() AS jid, now() - make_interval(secs => ($3::int - n + 1)) AS t
                    FROM generate_series($1::int, $2::int) n),
              j AS (INSERT INTO job (id, tenant_customer_id, type_id, reference_table, reference_id, data, status_id, attempts, max_attempts,
                                     created_date, start_date, end_date, result_data, result_message)
                    SELECT jid, $4, (SELECT id FROM job_type WHERE name = 'domain_create'), 'provision_domain', pid,
                           jsonb_build_object('name', 'hist-' || $6 || '-' || n || '.test', 'accreditation_id', $5::uuid), job_status_completed(), 1, 5, t, t, t,
                           jsonb_build_object('code', 1000, 'roid', 'H' || n || '-SIM'), 'Command completed successfully' FROM g),
              p AS (INSERT INTO provision_domain (id, tenant_customer_id, accreditation_id, name, status_id, job_id, roid, provisioned_date, attempt_count, created_date)
                    SELECT pid, $4, $5, 'hist-' || $6 || '-' || n || '.test', status_completed(), jid, 'H' || n || '-SIM', t, 1, t FROM g),
              d AS (INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
                    SELECT $4, $5, (SELECT id FROM accreditation_tld WHERE accreditation_id = $5 LIMIT 1), 'hist-' || $6 || '-' || n || '.test', 'H' || n || '-SIM', 'historyPw1!', t, t + interval '1 year' FROM g),
              e AS (INSERT INTO event (tenant_customer_id, event_type, reference_table, reference_id, payload, created_date, published_date)
                    SELECT $4, 'provision.status', 'provision_domain', pid, '{"status": "completed"}', t, t FROM g, generate_series(1, 3))
         INSERT INTO audit_trail_log (table_name, operation, object_id, new_value)
         SELECT 'provision_domain', 'UPDATE', pid, '{"status_id": 3}' FROM g, generate_series(1, 3)`,
        [from, to, HISTORY, acc.tenantId, acc.accreditationId, RUN],
      );
      await c.query("COMMIT");
      progress(`history: ${to} of ${HISTORY} finished jobs written`);
    }
    await c.query("SET session_replication_role = origin");
    await c.query("VACUUM ANALYZE");
    // write the history's dirty pages out now, not during the measurement that follows
    await c.query("CHECKPOINT");
  } finally {
    await c.end();
  }
  return (performance.now() - t0) / 1000;
}
