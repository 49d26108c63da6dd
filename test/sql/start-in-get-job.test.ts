/**
 * provisio_start_attempt (stored-procedures/engine/job/start_in_get_job.sql): when graphile-worker's
 * get_job locks a provisio job, the attempt is started in the same statement and its outcome is put in
 * the payload.
 * `lock()` makes the change get_job makes to a job row (attempts + 1, locked_by, locked_at); the flow
 * tests run the real get_job.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, jobOf, provisionDomain, type Account } from "../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
});
afterAll(async () => {
  await t?.close();
});

/** What get_job does to the graphile-worker job keyed `key`; returns the payload it hands to the task. */
async function lock(key: string): Promise<Record<string, any>> {
  const r = await t.pool.query(
    `UPDATE graphile_worker._private_jobs SET attempts = attempts + 1, locked_by = 'test-worker', locked_at = now()
     WHERE key = $1 RETURNING payload`,
    [key],
  );
  expect(r.rowCount).toBe(1);
  return r.rows[0].payload;
}

async function jobState(jobId: string) {
  return (await t.pool.query("SELECT status_id, attempts, start_date IS NOT NULL AS started FROM job WHERE id = $1", [jobId])).rows[0];
}

describe("starting the attempt inside get_job", () => {
  it("marks the job processing, counts the attempt and hands the job row to the task", async () => {
    const jobId = await jobOf(t.pool, await provisionDomain(t.pool, acc, "start-1.example"));
    const payload = await lock(jobId);
    expect(payload).toMatchObject({ job_id: jobId, started: true, job: { id: jobId, status_id: 2, attempts: 1, reference_table: "provision_domain" } });
    expect(payload.job.data).toMatchObject({ name: "start-1.example" });
    expect(await jobState(jobId)).toEqual({ status_id: 2, attempts: 1, started: true });
  });

  it("reports started: false for a job that is already final, and changes nothing", async () => {
    const jobId = await jobOf(t.pool, await provisionDomain(t.pool, acc, "start-2.example"));
    await t.pool.query("SELECT job_fail($1, 'failed by the test')", [jobId]);
    const payload = await lock(jobId);
    expect(payload).toEqual({ job_id: jobId, started: false, job: null });
    expect(await jobState(jobId)).toEqual({ status_id: 4, attempts: 0, started: false });
  });

  it("fails a job whose attempts were used up by crashed runs, and reports started: false", async () => {
    const jobId = await jobOf(t.pool, await provisionDomain(t.pool, acc, "start-3.example"));
    await t.pool.query("UPDATE job SET status_id = 2, attempts = max_attempts WHERE id = $1", [jobId]);
    const payload = await lock(jobId);
    expect(payload.started).toBe(false);
    const j = (await t.pool.query("SELECT status_id, result_message FROM job WHERE id = $1", [jobId])).rows[0];
    expect(j.status_id).toBe(4);
    expect(j.result_message).toMatch(/^attempts exhausted/);
  });

  it("on an error leaves the payload and the job as they were, and get_job still locks the job", async () => {
    const jobId = await jobOf(t.pool, await provisionDomain(t.pool, acc, "start-4.example"));
    const c = await t.pool.connect();
    try {
      await c.query("BEGIN");
      await c.query(`CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
      await c.query("CREATE TRIGGER refuse_start BEFORE UPDATE ON job FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()");
      const r = await c.query(
        `UPDATE graphile_worker._private_jobs SET attempts = attempts + 1, locked_by = 'test-worker', locked_at = now()
         WHERE key = $1 RETURNING payload, locked_by`,
        [jobId],
      );
      expect(r.rows[0]).toEqual({ payload: { job_id: jobId }, locked_by: "test-worker" });
      expect((await c.query("SELECT status_id, attempts FROM job WHERE id = $1", [jobId])).rows[0]).toEqual({ status_id: 1, attempts: 0 });
    } finally {
      await c.query("ROLLBACK");
      c.release();
    }
  });

  it("leaves other graphile-worker jobs alone (no job_key, another payload, a key that is no job id)", async () => {
    await t.pool.query(
      `SELECT graphile_worker.add_job('other_task', '{"a": 1}'::json),
              graphile_worker.add_job('other_task', '{"a": 2}'::json, job_key => 'other-2'),
              graphile_worker.add_job('other_task', '{"job_id": "not-a-uuid"}'::json, job_key => 'not-a-uuid')`,
    );
    const r = await t.pool.query(
      `UPDATE graphile_worker._private_jobs j SET attempts = attempts + 1, locked_by = 'test-worker', locked_at = now()
       FROM graphile_worker._private_tasks k WHERE k.id = j.task_id AND k.identifier = 'other_task' RETURNING payload`,
    );
    expect(r.rows.map((x) => x.payload)).toEqual(expect.arrayContaining([{ a: 1 }, { a: 2 }, { job_id: "not-a-uuid" }]));
    expect(r.rowCount).toBe(3);
  });
});
