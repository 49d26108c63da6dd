/**
 * The set-up of an end-to-end test: a database cloned from the template, the EPP simulator over TLS, an
 * accreditation at it, short retry backoffs, and a worker. Flow tests call {@link startEppFlow} in
 * beforeAll and `stop()` in afterAll.
 */
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { createAccount, type Account } from "./fixtures.js";
import { startSimulator, stopSimulator } from "./simulator.js";

export interface EppFlow {
  t: TestDatabase;
  sim: EppRegistrySimulator;
  acc: Account;
  worker: WorkerHandle;
  /** stop the worker and the simulator, close the database */
  stop(): Promise<void>;
}

/**
 * @param opts.concurrency the worker's (default 2); `maxSessions` the accreditation's (default 4);
 *   `jobTypes` a SET list for job_type (default: backoff 0.05 s, at most 0.2 s)
 */
export async function startEppFlow(opts: { concurrency?: number; maxSessions?: number; jobTypes?: string } = {}): Promise<EppFlow> {
  const t = await createTestDatabase();
  const s = await startSimulator();
  const acc = await createAccount(t.pool, { connectorType: "epp", config: s.config, maxSessions: opts.maxSessions ?? 4 });
  await t.pool.query(`UPDATE job_type SET ${opts.jobTypes ?? "retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2"}`);
  const worker = await startWorker({ connectionString: t.url, concurrency: opts.concurrency ?? 2, pollInterval: 100 });
  return {
    t,
    sim: s.sim,
    acc,
    worker,
    async stop() {
      await worker.stop();
      await stopSimulator(s.sim);
      await t.close();
    },
  };
}
