import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, waitFor, type Account } from "../helpers/fixtures.js";
import { startSimulator, stopSimulator } from "../helpers/simulator.js";
import { spawnWorker } from "../helpers/worker-process.js";

let t: TestDatabase;
let sim: EppRegistrySimulator;
let acc: Account;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestDatabase();
  const s = await startSimulator();
  sim = s.sim;
  env = s.env;
  acc = await createAccount(t.pool, { connectorType: "epp", config: s.config, maxSessions: 4 });
});
afterAll(async () => {
  await stopSimulator(sim);
  await t?.close();
});

describe("worker processes", () => {
  it("two workers share 500 provisions and each domain is created exactly once at the registry", async () => {
    const workers = [spawnWorker(t.url, env), spawnWorker(t.url, env)];
    try {
      await t.pool.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, 'bulk-' || g || '.test' FROM generate_series(1, 500) g`,
        [acc.tenantId, acc.accreditationId],
      );
      await waitFor(
        "500 provisions final",
        async () => (await t.pool.query("SELECT count(*)::int AS n FROM v_provision WHERE is_final")).rows[0].n === 500,
        120_000,
        250,
      );
      const statuses = (await t.pool.query("SELECT status, count(*)::int AS n FROM v_provision GROUP BY status")).rows;
      expect(statuses).toEqual([{ status: "completed", n: 500 }]);
      const creates = [...sim.store.domainCreates.entries()].filter(([name]) => name.startsWith("bulk-"));
      expect(creates).toHaveLength(500);
      expect(creates.every(([, n]) => n === 1)).toBe(true);
      for (const w of workers) expect(w.output()).toMatch(/"msg":"job completed"/);
      expect((await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs")).rows[0].n).toBe(0);
    } finally {
      for (const w of workers) w.child.kill("SIGTERM");
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
    }
  });

  it("SIGTERM: stops taking jobs, finishes in-flight ones, logs out of EPP and exits 0", async () => {
    sim.faults.latencyMs = 1500;
    const logoutsBefore = sim.commandCounts.get("logout") ?? 0;
    const w = spawnWorker(t.url, env, 2);
    try {
      await t.pool.query(
        `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
         SELECT $1, $2, 'stop-' || g || '.test' FROM generate_series(1, 6) g`,
        [acc.tenantId, acc.accreditationId],
      );
      await waitFor(
        "a job in flight",
        async () => (await t.pool.query("SELECT count(*)::int AS n FROM v_job WHERE status = 'processing'")).rows[0].n > 0,
        30_000,
        50,
      );
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
    } finally {
      sim.faults.latencyMs = 0;
    }
    const jobs = (
      await t.pool.query(
        "SELECT status, count(*)::int AS n FROM v_job j JOIN provision_domain p ON p.job_id = j.id WHERE p.name LIKE 'stop-%' GROUP BY status ORDER BY status",
      )
    ).rows;
    expect(jobs.find((r) => r.status === "processing")).toBeUndefined();
    expect(jobs.find((r) => r.status === "completed")?.n).toBeGreaterThan(0);
    expect((sim.commandCounts.get("logout") ?? 0) - logoutsBefore).toBeGreaterThan(0);
    expect(w.output()).toMatch(/worker stopped/);
  });
});
