/**
 * Bulk INSERT (step 5 of a run): BENCH_BULK (default 10,000) provision_domain rows in one statement,
 * timed from sending it to its commit reply; every row is validated and gets its job and graphile-worker
 * job. None of them runs: the jobs are then taken back out, so later measurements have nothing extra to do.
 */
import type pg from "pg";
import { RUN, type Account } from "./fixtures.js";
import type { BenchOptions } from "./options.js";

/** BULK provision_domain rows in one INSERT ... SELECT (validation, job and graphile-worker job per row). */
export async function bulkInsertRate(o: BenchOptions, pool: pg.Pool, acc: Account): Promise<number> {
  const BULK = o.bulk;
  const t0 = performance.now();
  await pool.query(
    `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) SELECT $1, $2, 'bulk-' || $4 || '-' || g || '.test' FROM generate_series(1, $3) g`,
    [acc.tenantId, acc.accreditationId, BULK, RUN],
  );
  const secs = (performance.now() - t0) / 1000;
  // leave nothing for later measurements to run
  await pool.query(`DELETE FROM graphile_worker._private_jobs WHERE key IN (SELECT job_id::text FROM provision_domain WHERE name LIKE 'bulk-' || $1 || '-%')`, [
    RUN,
  ]);
  await pool.query(`SET session_replication_role = replica`);
  await pool.query(
    `UPDATE job SET status_id = job_status_failed(), end_date = now(), result_message = 'bench: not run' WHERE id IN (SELECT job_id FROM provision_domain WHERE name LIKE 'bulk-' || $1 || '-%')`,
    [RUN],
  );
  await pool.query(`UPDATE provision_domain SET status_id = status_failed() WHERE name LIKE 'bulk-' || $1 || '-%'`, [RUN]);
  await pool.query(`SET session_replication_role = origin`);
  return BULK / secs;
}
