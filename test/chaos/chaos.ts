/**
 * Chaos run (issue 3): 2,000 domain provisions in 200 orders, in flight across 2 worker processes, with
 * one worker SIGKILLed twice (a supervisor restarts it each time) and PostgreSQL restarted once, against
 * the EPP simulator over TLS on loopback (which also answers a few creates with 2400 and drops a few
 * connections after executing the create). Bounded: PROVISIO_CHAOS_DEADLINE_S (default 240) seconds.
 *
 * At the end it checks, and prints as counts that must all be 0:
 *   lost        provisions missing, or completed without the domain at the registry
 *   duplicated  domains created more than once at the registry
 *   stuck       provisions not final at the deadline
 *   orders      plans, items or orders whose status does not match what they roll up from
 *   locked      graphile-worker jobs still present or locked, provisio jobs still open
 * Exit code 0 when all are 0, 1 otherwise. Run: npm run chaos (also called by .ci/run).
 */
import pg from "pg";
import { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { createAccount } from "../helpers/fixtures.js";
import { startPrivatePostgres } from "../helpers/private-postgres.js";
import { spawnWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const PROVISIONS = Number(process.env.PROVISIO_CHAOS_PROVISIONS ?? 2000);
const ORDERS = Math.max(1, Math.round(PROVISIONS / 10));
const DEADLINE_S = Number(process.env.PROVISIO_CHAOS_DEADLINE_S ?? 240);
const PASSWORD = `chaos-${Math.random().toString(36).slice(2)}`;

const log = (msg: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const started = Date.now();
  log(`starting PostgreSQL, the EPP simulator and 2 workers; ${PROVISIONS} provisions in ${ORDERS} orders`);
  const db = await startPrivatePostgres();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on("error", () => undefined);
  const sim = new EppRegistrySimulator({ registrars: { "chaos-registrar": PASSWORD }, tlds: ["example"] });
  await sim.start();
  const caDir = await mkdtemp(path.join(tmpdir(), "provisio-chaos-"));
  const caFile = path.join(caDir, "ca.pem");
  await writeFile(caFile, sim.certificate!.cert);
  const acc = await createAccount(pool, {
    connectorType: "epp",
    maxSessions: 6,
    tlds: ["example"],
    config: {
      host: "127.0.0.1",
      port: sim.port,
      clID: "chaos-registrar",
      password_env: "CHAOS_EPP_PASSWORD",
      tls: { ca_file: caFile, servername: "localhost" },
    },
  });
  await pool.query("UPDATE job_type SET retry_backoff_seconds = 0.2, retry_backoff_max_seconds = 2, max_attempts = 10");
  sim.faults.latencyMs = 2;
  sim.faults.add({ action: { kind: "respond", code: 2400 }, count: 15, commands: ["domain:create"] });
  sim.faults.add({ action: { kind: "drop", afterExecute: true }, count: 15, commands: ["domain:create"] });

  const env = {
    CHAOS_EPP_PASSWORD: PASSWORD,
    PROVISIO_LOG_LEVEL: "warn",
    PROVISIO_HEARTBEAT_INTERVAL_MS: "1000",
    PROVISIO_WORKER_TIMEOUT_MS: "5000",
    PROVISIO_STUCK_JOB_AFTER_MS: "10000",
    PROVISIO_EPP_COMMAND_TIMEOUT_MS: "5000",
  };
  const workers: WorkerProcess[] = [spawnWorker(db.url, env, 8), spawnWorker(db.url, env, 8)];
  const allWorkers = [...workers];

  // orders with 10 items each, one plan per item, one provision per plan
  await pool.query(
    `WITH o AS (INSERT INTO "order" (tenant_customer_id, reference) SELECT $1, 'chaos-' || g FROM generate_series(1, $2) g RETURNING id, reference),
          i AS (INSERT INTO order_item (order_id, object_type, descr)
                SELECT o.id, 'domain', 'chaos-' || ((split_part(o.reference, '-', 2)::int - 1) * 10 + k) FROM o, generate_series(1, 10) k RETURNING id, descr)
     INSERT INTO order_item_plan (order_item_id, action) SELECT i.id, 'create' FROM i`,
    [acc.tenantId, ORDERS],
  );
  const t0 = Date.now();
  await pool.query(
    `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
     SELECT $1, $2, i.descr || '.example', ARRAY[p.id] FROM order_item_plan p JOIN order_item i ON i.id = p.order_item_id
     WHERE split_part(i.descr, '-', 2)::int <= $3`,
    [acc.tenantId, acc.accreditationId, PROVISIONS],
  );
  log(`inserted ${PROVISIONS} provisions in ${Date.now() - t0} ms`);

  const finalCount = async () => Number((await pool.query("SELECT count(*) AS n FROM provision_domain WHERE status_id IN (3, 4)")).rows[0].n);
  const events: { at: number; done: boolean; name: string; run: () => Promise<void> }[] = [
    { at: 0.15, done: false, name: "SIGKILL worker 1 (first time)", run: async () => killAndReplace(0) },
    { at: 0.45, done: false, name: "restart PostgreSQL", run: async () => db.restart() },
    { at: 0.7, done: false, name: "SIGKILL worker 1 (second time)", run: async () => killAndReplace(0) },
  ];
  async function killAndReplace(i: number) {
    const w = workers[i]!;
    w.child.kill("SIGKILL");
    await w.exited;
    workers[i] = spawnWorker(db.url, env, 8);
    allWorkers.push(workers[i]);
  }

  let done = 0;
  let lastLog = 0;
  while (Date.now() - started < DEADLINE_S * 1000) {
    try {
      done = await finalCount();
    } catch {
      await sleep(200); // the database is restarting
      continue;
    }
    for (const e of events) {
      if (!e.done && done >= e.at * PROVISIONS) {
        e.done = true;
        log(`${done}/${PROVISIONS} final: ${e.name}`);
        await e.run();
      }
    }
    if (done >= PROVISIONS && events.every((e) => e.done)) break;
    if (Date.now() - lastLog > 3000) {
      log(`${done}/${PROVISIONS} final`);
      lastLog = Date.now();
    }
    await sleep(100);
  }
  const elapsed = (Date.now() - t0) / 1000;
  log(`${done}/${PROVISIONS} final after ${elapsed.toFixed(1)} s; waiting for the queue to drain`);
  for (let i = 0; i < 100; i++) {
    const r = await pool.query(
      "SELECT (SELECT count(*) FROM graphile_worker._private_jobs)::int AS g, (SELECT count(*) FROM job WHERE status_id IN (1, 2))::int AS j",
    );
    if (r.rows[0].g === 0 && r.rows[0].j === 0) break;
    await sleep(100);
  }

  // ---- the checks ---------------------------------------------------------------------------------
  const rows = (await pool.query("SELECT name, status_id FROM provision_domain")).rows as { name: string; status_id: number }[];
  const missingRows = PROVISIONS - rows.length;
  const completed = rows.filter((r) => r.status_id === 3);
  const failedRows = rows.filter((r) => r.status_id === 4);
  const stuck = rows.filter((r) => r.status_id !== 3 && r.status_id !== 4).length;
  const notAtRegistry = completed.filter((r) => !sim.store.domains.has(r.name)).length;
  const duplicated = [...sim.store.domainCreates.values()].filter((n) => n > 1).length;
  const orders = Number(
    (
      await pool.query(
        `SELECT (SELECT count(*) FROM order_item_plan p JOIN provision_domain d ON p.id = ANY (d.order_item_plan_ids) WHERE p.status_id <> d.status_id)
          + (SELECT count(*) FROM order_item i WHERE i.status_id <> (SELECT rollup_status(array_agg(p.status_id)) FROM order_item_plan p WHERE p.order_item_id = i.id))
          + (SELECT count(*) FROM "order" o WHERE o.status_id <> (SELECT rollup_status(array_agg(i.status_id)) FROM order_item i WHERE i.order_id = o.id)) AS n`,
      )
    ).rows[0].n,
  );
  const locked = Number(
    (await pool.query("SELECT (SELECT count(*) FROM graphile_worker._private_jobs) + (SELECT count(*) FROM job WHERE status_id IN (1, 2)) AS n")).rows[0].n,
  );
  const deadWorkers = Number((await pool.query("SELECT count(*) AS n FROM worker WHERE status = 'dead'")).rows[0].n);
  const lost = missingRows + notAtRegistry;

  // a worker restarted a moment ago may still be starting: SIGTERM it only once it can stop gracefully
  // (its heartbeat row is written as it starts, its SIGTERM handler just after), or it dies by the signal
  const pids = workers.map((w) => w.child.pid);
  for (let waited = 0; waited < 30_000; waited += 100) {
    const up = await pool.query("SELECT count(DISTINCT pid)::int AS n FROM worker WHERE pid = ANY($1) AND status = 'alive'", [pids]);
    if (up.rows[0].n === workers.length) break;
    await sleep(100);
  }
  await sleep(500);
  for (const w of workers) w.child.kill("SIGTERM");
  const codes = await Promise.all(workers.map((w) => w.exited));
  await pool.end();
  await sim.stop();
  await db.close();
  await rm(caDir, { recursive: true, force: true });

  log(
    `completed ${completed.length}, failed ${failedRows.length}; workers declared dead by heartbeat: ${deadWorkers}; worker exit codes on SIGTERM: ${codes.join(", ")}`,
  );
  const summary = { lost, duplicated, stuck, orders, locked };
  console.log(
    `chaos: ${PROVISIONS} provisions, 2 workers, 2 SIGKILLs, 1 PostgreSQL restart, ${elapsed.toFixed(1)} s: ` +
      Object.entries(summary)
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
  );
  const bad = Object.values(summary).some((v) => v !== 0) || failedRows.length > 0 || !events.every((e) => e.done) || codes.some((c) => c !== 0);
  if (bad) {
    console.error("chaos: FAILED");
    if (failedRows.length)
      console.error(
        `failed provisions: ${failedRows
          .slice(0, 5)
          .map((r) => r.name)
          .join(", ")}`,
      );
    for (const [i, w] of allWorkers.entries()) console.error(`--- worker ${i} output (tail) ---\n${w.output().slice(-3000)}`);
    return 1;
  }
  console.log("chaos: OK");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error("chaos: crashed", err);
    process.exit(1);
  },
);
