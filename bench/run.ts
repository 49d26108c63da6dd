/**
 * `npm run bench`: in one run on one database (issue 3, "A benchmark against the physical limit"):
 *  1. raw graphile-worker no-op job rate, with the same concurrency and batching options as provisio's
 *     worker: the dispatch limit of this machine;
 *  2. provisio end to end with the no-op connector, and 3. through the EPP simulator over TLS; each as a
 *     fraction of the raw rate (1-3: throughput.ts);
 *  4. enqueue→complete latency p50/p95/p99 at a fixed offered rate (BENCH_RATE, default 200/s; latency.ts);
 *  5. bulk INSERT of BENCH_BULK (default 10,000) provision_domain rows in one statement (bulk.ts);
 *  6. an access grant of BENCH_ACCESS (default 1,000) identities in one INSERT ... SELECT: its rows/s, and
 *     grants completed per second end to end against the SCIM simulator and against a PostgreSQL database
 *     (sql connector, mode roles), each beside a raw graphile-worker rate measured just before it (access.ts);
 *  7. workflow runs: BENCH_WORKFLOW_LINEAR (default 200) runs of a 5-step linear template and BENCH_WORKFLOW_FAN
 *     (default 100) of a 10-step fan-out/fan-in template of no-op task steps, each inserted in one
 *     statement: runs and steps completed per second, the time per step against as many no-op provisions
 *     measured just before, and step-to-step latency p50/p99 (workflow.ts);
 *  8. the latency of (4) again after BENCH_HISTORY (default 1,000,000) finished jobs are in history (history.ts).
 * Prints a table and writes docs/benchmarks.md with the machine and the date (report.ts).
 * Database: DATABASE_URL when set, else a throw-away embedded PostgreSQL (fsync off; setup.ts).
 * BENCH_ONLY=throughput stops after 1-3, BENCH_ONLY=latency runs only 4, BENCH_ONLY=access only 6,
 * BENCH_ONLY=workflow only 7; each prints one line (for trying changes; docs/benchmarks.md is not
 * written). Every setting: options.ts.
 * Layout after graphile-worker's perfTest/: one file per concern, this one the entry point.
 */
import { config } from "../src/config.js";
import { migrate } from "../src/db/migrate.js";
import { createPool } from "../src/db/pool.js";
import { workerOptionsFromConfig } from "../src/worker/runner.js";
import { measureAccess } from "./access.js";
import { bulkInsertRate } from "./bulk.js";
import { account } from "./fixtures.js";
import { writeHistory } from "./history.js";
import { latencyAtRate } from "./latency.js";
import { BenchOptionsError, parseBenchOptions } from "./options.js";
import { machineLine, printAccessOnly, printLatencyOnly, printThroughputOnly, printWorkflowOnly, writeReport } from "./report.js";
import { startDatabase, startSimulator } from "./setup.js";
import { measureThroughput } from "./throughput.js";
import { progress } from "./util.js";
import { measureWorkflow } from "./workflow.js";

async function main() {
  const o = parseBenchOptions();
  process.env.PROVISIO_LOG_LEVEL ??= "warn";
  const { url, cleanup } = await startDatabase(o);
  await migrate(url);
  const pool = createPool(url, 4);
  const version = (await pool.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;
  const opts = workerOptionsFromConfig(config(), url, { concurrency: o.concurrency, poolMax: o.concurrency + 6 });
  const sim = await startSimulator();
  /** stop what this run started: simulator, pool, the throw-away server (BENCH_ONLY runs too) */
  const finish = async () => {
    await sim.stop();
    await pool.end();
    await cleanup();
    await sim.removeCa();
  };
  /** the access grant measurement; a failed grant stops the run, and then this run's server too */
  const access = async () => {
    try {
      return await measureAccess(o, opts, pool, url);
    } catch (err) {
      await finish();
      throw err;
    }
  };
  /** the workflow runs; a run not completed stops the run, and then this run's server too */
  const workflow = async () => {
    try {
      return await measureWorkflow(o, opts, pool);
    } catch (err) {
      await finish();
      throw err;
    }
  };
  /** a fresh tenant whose accreditation uses the no-op connector */
  const noopAccount = (label: string) => account(pool, o.concurrency, label, "noop", {});

  if (o.only === "latency") {
    printLatencyOnly(o, await latencyAtRate(o, opts, url, await noopAccount("latency"), "lat"));
    await finish();
    process.exit(0);
  }
  if (o.only === "access") {
    progress(machineLine(o, version));
    printAccessOnly(o, await access());
    await finish();
    process.exit(0);
  }
  if (o.only === "workflow") {
    progress(machineLine(o, version));
    printWorkflowOnly(o, await workflow());
    await finish();
    process.exit(0);
  }
  const throughput = await measureThroughput(o, opts, pool, sim.eppConfig);
  if (o.only === "throughput") {
    printThroughputOnly(o, throughput);
    await finish();
    process.exit(0);
  }
  progress(`latency at ${o.rate}/s for ${o.latencySeconds} s, no-op connector`);
  const latAcc = await noopAccount("latency");
  const lat = await latencyAtRate(o, opts, url, latAcc, "lat");
  progress(`bulk INSERT of ${o.bulk} provision_domain rows`);
  const bulk = await bulkInsertRate(o, pool, await noopAccount("bulk"));
  progress(`access grant of ${o.access} identities, SCIM simulator and PostgreSQL (mode roles)`);
  const acc = await access();
  progress(`workflow runs: ${o.workflowLinear} of a 5-step linear template, ${o.workflowFan} of a 10-step fan-out/fan-in template`);
  const wf = await workflow();
  progress(`writing ${o.history} finished jobs of history`);
  const historySecs = await writeHistory(o, url, await noopAccount("history"));
  progress(`latency at ${o.rate}/s with ${o.history} finished jobs in history`);
  const latHist = await latencyAtRate(o, opts, url, latAcc, "lathist");
  const sizes = (await pool.query<{ job: string; prov: string }>("SELECT (SELECT count(*) FROM job) AS job, (SELECT count(*) FROM class.provision) AS prov"))
    .rows[0]!;
  await finish();
  await writeReport(o, opts, { version, throughput, lat, bulk, access: acc, workflow: wf, historySecs, latHist, sizes });
  process.exit(0);
}

main().catch((err) => {
  // a bad BENCH_* variable: its message says which and why; a stack would add nothing
  console.error(err instanceof BenchOptionsError ? err.message : err);
  process.exit(1);
});
