/**
 * `npm run bench`: in one run on one database, measures
 *  1. graphile-worker's raw no-op job rate (the dispatch limit of this machine),
 *  2. provisio end to end (INSERT → job → worker → connector → completed → order rolled up) with the
 *     no-op connector, and
 *  3. the same through the EPP registry simulator over TLS,
 * and each end-to-end rate as a fraction of the raw rate. Prints a table and writes docs/benchmarks.md.
 * Database: DATABASE_URL when set, else a throw-away embedded PostgreSQL. Sizes: BENCH_JOBS (default 2000).
 */
import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run } from "graphile-worker";
import pg from "pg";
import Table from "cli-table3";
import { ensureDatabase, startEmbeddedPostgres } from "../src/db/embedded.js";
import { PROJECT_ROOT, migrate } from "../src/db/migrate.js";
import { EppRegistrySimulator } from "../src/simulators/epp-registry/server.js";
import { startWorker } from "../src/worker/runner.js";
import { graphileLogger } from "../src/worker/graphile-logger.js";
import { logger } from "../src/logger.js";

const N = Number(process.env.BENCH_JOBS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);

async function until(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<void> {
  for (;;) {
    const r = await pool.query<{ done: boolean }>(sql, params);
    if (r.rows[0]!.done) return;
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function rawNoopRate(url: string, pool: pg.Pool): Promise<number> {
  await pool.query(`SELECT graphile_worker.add_jobs(array_agg(ROW('bench_noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec)) FROM generate_series(1, $1)`, [N]);
  const t0 = performance.now();
  const runner = await run({ connectionString: url, concurrency: CONCURRENCY, noHandleSignals: true, pollInterval: 1000, taskList: { bench_noop: async () => {} }, logger: graphileLogger(logger()) });
  await until(pool, `SELECT count(*) = 0 AS done FROM graphile_worker.jobs WHERE task_identifier = 'bench_noop'`);
  const secs = (performance.now() - t0) / 1000;
  await runner.stop();
  return N / secs;
}

async function endToEndRate(url: string, pool: pg.Pool, label: string, connectorType: string, config: object): Promise<number> {
  const t = await pool.query<{ id: string }>(`INSERT INTO tenant_customer (name) VALUES ($1) RETURNING id`, [`bench-${label}`]);
  const a = await pool.query<{ id: string }>(
    `INSERT INTO accreditation (tenant_customer_id, name, provider, connector_type, config, max_sessions) VALUES ($1, 'bench', 'bench', $2, $3, $4) RETURNING id`,
    [t.rows[0]!.id, connectorType, config, CONCURRENCY],
  );
  await pool.query(`INSERT INTO accreditation_tld (accreditation_id, tld) VALUES ($1, 'test')`, [a.rows[0]!.id]);
  // an order per provision, so the rollup runs for each
  await pool.query(
    `WITH o AS (INSERT INTO "order" (tenant_customer_id, reference) SELECT $1, 'bench-' || g FROM generate_series(1, $2) g RETURNING id, reference),
          i AS (INSERT INTO order_item (order_id, object_type) SELECT id, 'domain' FROM o RETURNING id, order_id),
          p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id, 'create' FROM i RETURNING id)
     INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
     SELECT $1, $3, $4 || '-' || row_number() OVER () || '.test', ARRAY[p.id] FROM p`,
    [t.rows[0]!.id, N, a.rows[0]!.id, label],
  );
  const t0 = performance.now();
  const worker = await startWorker({ connectionString: url, concurrency: CONCURRENCY, pollInterval: 1000 });
  await until(pool, `SELECT count(*) FILTER (WHERE NOT is_final) = 0 AS done FROM v_order WHERE tenant_customer_id = $1`, [t.rows[0]!.id]);
  const secs = (performance.now() - t0) / 1000;
  await worker.stop();
  const ok = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM v_order WHERE tenant_customer_id = $1 AND status = 'completed'`, [t.rows[0]!.id]);
  if (Number(ok.rows[0]!.n) !== N) throw new Error(`${label}: only ${ok.rows[0]!.n} of ${N} orders completed`);
  return N / secs;
}

async function main() {
  process.env.PROVISIO_LOG_LEVEL ??= "warn";
  let url = process.env.DATABASE_URL;
  let cleanup = async () => {};
  if (!url) {
    const dir = await mkdtemp(path.join(os.tmpdir(), "provisio-bench-"));
    await chmod(dir, 0o755);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port, persistent: false });
    await ensureDatabase(server.serverUrl, "bench");
    url = server.urlFor("bench");
    cleanup = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const version = (await pool.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;

  process.env.PROVISIO_BENCH_EPP_PASSWORD = "bench-pw";
  const sim = new EppRegistrySimulator({ registrars: { bench: "bench-pw" }, tlds: ["test"] });
  const simPort = await sim.start();
  const caDir = await mkdtemp(path.join(os.tmpdir(), "provisio-bench-ca-"));
  await writeFile(path.join(caDir, "ca.pem"), sim.certificate!.cert);

  const raw = await rawNoopRate(url, pool);
  const noop = await endToEndRate(url, pool, "noop", "noop", {});
  const epp = await endToEndRate(url, pool, "epp", "epp", {
    host: "127.0.0.1", port: simPort, clID: "bench", password_env: "PROVISIO_BENCH_EPP_PASSWORD", tls: { ca_file: path.join(caDir, "ca.pem"), servername: "localhost" },
  });
  await sim.stop();
  await pool.end();
  await cleanup();

  const rows: [string, number][] = [
    ["graphile-worker no-op jobs (raw dispatch limit)", raw],
    ["provisio end to end, no-op connector", noop],
    ["provisio end to end, EPP simulator over TLS", epp],
  ];
  const table = new Table({ head: ["measurement", "per second", "of raw"], style: { head: [], border: [] } });
  for (const [name, rate] of rows) table.push([name, rate.toFixed(0), `${((rate / raw) * 100).toFixed(1)}%`]);
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const machine = `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, PostgreSQL ${version}${process.env.DATABASE_URL ? "" : " (embedded, fsync off)"}`;
  const date = new Date().toISOString().slice(0, 10);
  console.log(`${machine}\n${table.toString()}`);
  const md = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts). Each run replaces this file.

- Date: ${date}
- Machine: ${machine}
- Jobs per measurement: ${N}; worker concurrency: ${CONCURRENCY}; one worker process; database, worker and simulator on the same machine.
- "End to end" starts when the worker starts with ${N} provision_domain rows (one order each) already inserted, and ends when every order is final; it includes job_start, the connector call(s), job_complete and the rollup to the order.
- Runs on this shared 2-core machine vary a lot (the raw rate moved between about 2000 and 2800/s across
  two runs on the same day); compare the ratios within one run, not absolute rates across runs.

| measurement | per second | of raw |
|---|---:|---:|
${rows.map(([name, rate]) => `| ${name} | ${rate.toFixed(0)} | ${((rate / raw) * 100).toFixed(1)}% |`).join("\n")}
`;
  await writeFile(path.join(PROJECT_ROOT, "docs/benchmarks.md"), md);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
