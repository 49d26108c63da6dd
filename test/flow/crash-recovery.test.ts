/**
 * Crash recovery (issue 3): heartbeats, force-unlocking a SIGKILLed worker's jobs, re-driving lost jobs,
 * and a worker that carries on through a PostgreSQL restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { renderStatus } from "../../src/cli/status.js";
import { startWorker } from "../../src/worker/runner.js";
import { createPool } from "../../src/db/pool.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, waitFor, type Account } from "../helpers/fixtures.js";
import { closeAllPrivatePostgres, startPrivatePostgres } from "../helpers/private-postgres.js";
import { startSimulator, stopSimulator } from "../helpers/simulator.js";
import { spawnWorker } from "../helpers/worker-process.js";

let t: TestDatabase;
let sim: EppRegistrySimulator;
let simConfig: Record<string, unknown>;
let acc: Account;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase();
  const s = await startSimulator();
  sim = s.sim;
  env = s.env;
  simConfig = s.config;
  acc = await createAccount(t.pool, { connectorType: "epp", config: s.config, maxSessions: 4 });
});
afterAll(async () => {
  await stopSimulator(sim);
  await t?.close();
  await closeAllPrivatePostgres(); // a private server of a test that timed out (its finally never ran)
});

async function count(sql: string, params: unknown[] = []): Promise<number> {
  return (await t.pool.query(sql, params)).rows[0].n;
}

describe("worker_recover (SQL)", () => {
  it("a row a retry detached from a worker that then died is deleted, not left unlocked for ever", async () => {
    for (const how of ["release", "recover"] as const) {
      const name = `sql-detach-${how}.test`;
      const job = (
        await t.pool.query<{ job_id: string }>(
          `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3) RETURNING job_id`,
          [acc.tenantId, acc.accreditationId, name],
        )
      ).rows[0]!.job_id;
      const pool = `pool-detach-${how}`;
      await t.pool.query("SELECT worker_heartbeat($1, 'h', 1, 1)", [pool]);
      // the worker holds the job's row and starts the attempt; the attempt fails transiently and is re-added under the same key
      await t.pool.query("UPDATE graphile_worker._private_jobs SET locked_by = $2, locked_at = now() - interval '1 minute', attempts = 1 WHERE key = $1", [
        job,
        pool,
      ]);
      await t.pool.query("SELECT * FROM job_start($1)", [job]);
      expect((await t.pool.query("SELECT job_retry($1, 'transient') IS NOT NULL AS ok", [job])).rows[0].ok).toBe(true);
      expect(await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_by = $1 AND key IS NULL", [pool])).toBe(1);
      // ... and the worker dies before it could delete the detached row
      if (how === "release") {
        await t.pool.query("SELECT worker_release($1)", [pool]);
      } else {
        await t.pool.query("UPDATE worker SET last_seen_date = now() - interval '1 minute' WHERE id = $1", [pool]);
        await t.pool.query("SELECT * FROM worker_recover('10 seconds', '1 hour')");
      }
      expect(await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key IS NULL AND payload::jsonb ->> 'job_id' = $1", [job])).toBe(0);
      // the re-added row is there to run the retry
      expect(await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1 AND locked_by IS NULL", [job])).toBe(1);
      await t.pool.query("DELETE FROM graphile_worker._private_jobs WHERE key = $1", [job]);
    }
  });

  it("declares a silent worker dead, unlocks its graphile-worker jobs and also unlocks jobs of a locker that never registered", async () => {
    await t.pool.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'sql-a.test'), ($1, $2, 'sql-b.test')`, [
      acc.tenantId,
      acc.accreditationId,
    ]);
    await t.pool.query("SELECT worker_heartbeat('pool-silent', 'h', 1, 1)");
    await t.pool.query("UPDATE worker SET last_seen_date = now() - interval '1 minute' WHERE id = 'pool-silent'");
    await t.pool
      .query(`UPDATE graphile_worker._private_jobs SET locked_by = CASE WHEN key = (SELECT job_id::text FROM provision_domain WHERE name = 'sql-a.test') THEN 'pool-silent' ELSE 'pool-unknown' END,
                          locked_at = now() - interval '1 minute', attempts = 1`);
    const r = (await t.pool.query("SELECT * FROM worker_recover('10 seconds', '1 hour')")).rows[0];
    expect(r.dead_workers.sort()).toEqual(["pool-silent", "pool-unknown"]);
    expect(r.unlocked_jobs).toBe(2);
    expect(r.redriven_jobs).toEqual([]);
    expect(await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_by IS NOT NULL")).toBe(0);
    expect((await t.pool.query("SELECT status, unlocked_jobs FROM worker WHERE id = 'pool-silent'")).rows[0]).toEqual({ status: "dead", unlocked_jobs: 1 });
    // a second pass finds nothing more to do
    const again = (await t.pool.query("SELECT * FROM worker_recover('10 seconds', '1 hour')")).rows[0];
    expect(again).toEqual({ dead_workers: [], unlocked_jobs: 0, redriven_jobs: [] });
    // a worker that beats again after being declared dead is told so
    expect((await t.pool.query("SELECT worker_heartbeat('pool-silent', 'h', 1, 1) AS s")).rows[0].s).toBe("dead");
    expect((await t.pool.query("SELECT status FROM worker WHERE id = 'pool-silent'")).rows[0].status).toBe("alive");
    await t.pool.query("DELETE FROM graphile_worker._private_jobs");
    await t.pool.query("UPDATE job SET status_id = 4 WHERE status_id IN (1, 2)");
  });

  it("re-adds a processing job whose graphile-worker job is gone, and leaves live ones alone", async () => {
    await t.pool.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'lost-1.test'), ($1, $2, 'live-1.test')`, [
      acc.tenantId,
      acc.accreditationId,
    ]);
    const lost = (await t.pool.query("SELECT job_id FROM provision_domain WHERE name = 'lost-1.test'")).rows[0].job_id;
    await t.pool.query("SELECT job_start($1)", [lost]);
    await t.pool.query("DELETE FROM graphile_worker._private_jobs WHERE key = $1", [lost]);
    await t.pool.query(
      "UPDATE job SET start_date = now() - interval '5 minutes', created_date = now() - interval '5 minutes' WHERE id IN (SELECT job_id FROM provision_domain WHERE name IN ('lost-1.test', 'live-1.test'))",
    );
    const r = (await t.pool.query("SELECT * FROM worker_recover('10 seconds', '1 minute')")).rows[0];
    expect(r.redriven_jobs).toEqual([lost]);
    expect(await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1 AND locked_by IS NULL AND attempts = 0", [lost])).toBe(1);
    // nothing open is left without a runnable graphile-worker job
    expect((await t.pool.query("SELECT * FROM worker_recover('10 seconds', '1 minute')")).rows[0].redriven_jobs).toEqual([]);
    await t.pool.query("DELETE FROM graphile_worker._private_jobs");
    await t.pool.query("UPDATE job SET status_id = 4 WHERE status_id IN (1, 2)");
  });
});

describe("a worker killed with SIGKILL", () => {
  it("has its in-flight jobs running again on another worker within 30 s, each domain created once", async () => {
    // the registry never answers these 4 creates (2 not executed, 2 executed): in flight when the worker dies
    sim.faults.add({ action: { kind: "stall" }, count: 2, commands: ["domain:create"] });
    sim.faults.add({ action: { kind: "stall", afterExecute: true }, count: 2, commands: ["domain:create"] });
    const createsBefore = sim.commandCounts.get("domain:create") ?? 0;
    const a = spawnWorker(t.url, env, 4);
    const b = spawnWorker(t.url, env, 4); // default heartbeat settings (2 s beats, dead after 10 s)
    try {
      await waitFor(
        "both workers registered",
        async () => (await count("SELECT count(*)::int AS n FROM worker WHERE status = 'alive' AND pid = ANY($1)", [[a.child.pid, b.child.pid]])) === 2,
        30_000,
        100,
      );
      b.child.kill("SIGSTOP"); // so that every job goes to A
      await t.pool.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, 'kill-' || g || '.test' FROM generate_series(1, 4) g`,
        [acc.tenantId, acc.accreditationId],
      );
      const poolA = (await t.pool.query("SELECT id FROM worker WHERE pid = $1 AND status = 'alive'", [a.child.pid])).rows[0].id;
      await waitFor(
        "A holds all 4 jobs",
        async () => (await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_by = $1", [poolA])) === 4,
        30_000,
        50,
      );
      await waitFor("all 4 sent to the registry", async () => (sim.commandCounts.get("domain:create") ?? 0) - createsBefore >= 4, 30_000, 50);
      a.child.kill("SIGKILL");
      const killedAt = Date.now();
      await a.exited;
      b.child.kill("SIGCONT");
      await waitFor(
        "all 4 completed",
        async () => (await count("SELECT count(*)::int AS n FROM provision_domain WHERE name LIKE 'kill-%' AND status_id = 3")) === 4,
        30_000,
        100,
      );
      const elapsed = Date.now() - killedAt;
      console.log(`[crash-recovery] SIGKILL -> all 4 jobs completed on the other worker in ${(elapsed / 1000).toFixed(1)} s`);
      expect(elapsed).toBeLessThan(30_000);
      expect((await t.pool.query("SELECT status FROM worker WHERE id = $1", [poolA])).rows[0].status).toBe("dead");
      // provisio status --workers shows it
      const status = await renderStatus(t.pool, { limit: 10, workers: true });
      expect(status.split("\n").find((l) => l.includes(poolA))).toMatch(/dead/);
      for (let i = 1; i <= 4; i++) expect(sim.store.domainCreates.get(`kill-${i}.test`)).toBe(1);
      expect(await count("SELECT count(*)::int AS n FROM provision_domain WHERE name LIKE 'kill-%' AND attempt_count = 2")).toBe(4);
      expect(await count("SELECT count(*)::int AS n FROM graphile_worker._private_jobs")).toBe(0);
    } finally {
      sim.faults.clear();
      a.child.kill("SIGKILL");
      b.child.kill("SIGCONT");
      b.child.kill("SIGTERM");
      expect(await b.exited).toBe(0);
    }
  });
});

describe("a PostgreSQL restart", () => {
  it("is survived by the worker: every provision completes and no domain is created twice", async () => {
    const pgp = await startPrivatePostgres();
    const pool = createPool(pgp.url, 4);
    const worker = await startWorker({
      connectionString: pgp.url,
      concurrency: 4,
      pollInterval: 200,
      heartbeat: { intervalMs: 500, timeoutMs: 5_000, stuckAfterMs: 5_000 },
    });
    try {
      const acc2 = await createAccount(pool, { connectorType: "epp", config: simConfig, maxSessions: 4 });
      sim.faults.latencyMs = 20;
      await pool.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, 'restart-' || g || '.test' FROM generate_series(1, 200) g`,
        [acc2.tenantId, acc2.accreditationId],
      );
      await waitFor(
        "some completed",
        async () => (await pool.query("SELECT count(*)::int AS n FROM provision_domain WHERE status_id = 3")).rows[0].n >= 20,
        30_000,
        20,
      );
      await pgp.restart();
      await waitFor(
        "200 final",
        async () => {
          const r = await pool.query("SELECT count(*)::int AS n FROM provision_domain WHERE status_id IN (3, 4)").catch(() => undefined);
          return r?.rows[0].n === 200;
        },
        90_000,
        250,
      );
      const statuses = (await pool.query("SELECT status_id, count(*)::int AS n FROM provision_domain GROUP BY 1")).rows;
      expect(statuses).toEqual([{ status_id: 3, n: 200 }]);
      for (let i = 1; i <= 200; i++) expect(sim.store.domainCreates.get(`restart-${i}.test`)).toBe(1);
      await waitFor(
        "graphile-worker queue empty",
        async () => (await pool.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs")).rows[0].n === 0,
        30_000,
        200,
      );
    } finally {
      sim.faults.latencyMs = 0;
      await worker.stop();
      await pool.end();
      await pgp.close();
    }
  });

  it("is survived through repeated dropped connections (pg_terminate_backend) too", async () => {
    const pgp = await startPrivatePostgres();
    const pool = createPool(pgp.url, 4);
    const admin = createPool(pgp.url, 1);
    const worker = await startWorker({
      connectionString: pgp.url,
      concurrency: 4,
      pollInterval: 200,
      heartbeat: { intervalMs: 500, timeoutMs: 5_000, stuckAfterMs: 5_000 },
    });
    try {
      const acc2 = await createAccount(pool, { connectorType: "epp", config: simConfig, maxSessions: 4 });
      await pool.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, 'drop-' || g || '.test' FROM generate_series(1, 300) g`,
        [acc2.tenantId, acc2.accreditationId],
      );
      let kills = 0;
      for (let i = 0; i < 40; i++) {
        const r = await admin.query(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'provisio' AND pid <> pg_backend_pid() AND datname = current_database()",
        );
        kills += r.rows[0].n;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await waitFor(
        "300 final",
        async () => {
          const r = await pool.query("SELECT count(*)::int AS n FROM provision_domain WHERE status_id IN (3, 4)").catch(() => undefined);
          return r?.rows[0].n === 300;
        },
        90_000,
        250,
      );
      console.log(`[crash-recovery] ${kills} connections terminated; worker pool replaced ${worker.restarts} times`);
      expect(kills).toBeGreaterThan(0);
      expect((await pool.query("SELECT status_id, count(*)::int AS n FROM provision_domain GROUP BY 1")).rows).toEqual([{ status_id: 3, n: 300 }]);
      for (let i = 1; i <= 300; i++) expect(sim.store.domainCreates.get(`drop-${i}.test`)).toBe(1);
      await waitFor(
        "graphile-worker queue empty",
        async () => (await pool.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs")).rows[0].n === 0,
        30_000,
        200,
      );
    } finally {
      await worker.stop();
      await pool.end();
      await admin.end();
      await pgp.close();
    }
  });
});

describe("a pool whose getJob keeps failing", () => {
  // graphile-worker 0.17 caches the promise of its task-id lookup, a rejected one too: a pool whose first
  // lookup failed would never take a job again. Here the lookup fails on purpose (a trigger refuses
  // graphile-worker's INSERT into _private_tasks) until the trigger is dropped; only a replaced pool,
  // with a fresh lookup, can then take the jobs.
  it("is replaced after the worker timeout, and the new pool runs the jobs", async () => {
    const pgp = await startPrivatePostgres();
    const pool = createPool(pgp.url, 2);
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const acc2 = await createAccount(pool, { connectorType: "noop" });
      await pool.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, 'lookup-' || g || '.test' FROM generate_series(1, 5) g`,
        [acc2.tenantId, acc2.accreditationId],
      );
      await pool.query(`
        CREATE FUNCTION public.test_refuse_task_lookup() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'task lookup refused by the test'; END $$;
        CREATE TRIGGER test_refuse BEFORE INSERT ON graphile_worker._private_tasks
          FOR EACH STATEMENT EXECUTE FUNCTION public.test_refuse_task_lookup();`);
      worker = await startWorker({
        connectionString: pgp.url,
        concurrency: 2,
        pollInterval: 100,
        heartbeat: { intervalMs: 500, timeoutMs: 2_000, stuckAfterMs: 60_000 },
      });
      await new Promise((resolve) => setTimeout(resolve, 500)); // the first pool's lookup has failed by now
      await pool.query("DROP TRIGGER test_refuse ON graphile_worker._private_tasks");
      await waitFor(
        "5 completed",
        async () => (await pool.query("SELECT count(*)::int AS n FROM provision_domain WHERE status_id = 3")).rows[0].n === 5,
        20_000,
        100,
      );
      expect(worker.restarts).toBeGreaterThanOrEqual(1);
    } finally {
      await worker?.stop();
      await pool.end();
      await pgp.close();
    }
  });
});
