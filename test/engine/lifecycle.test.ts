/**
 * The generic task lifecycle (src/engine/lifecycle.ts) against a real PostgreSQL: a job whose row or data
 * does not parse is failed with the reason (job_fail, PV_PAYLOAD), not thrown to graphile-worker to be
 * retried; a family's context and onFailure run around the handler; an error's own resultData() is what
 * a failure records; transient errors go through job_retry. Tasks are called as graphile-worker would,
 * with a payload and helpers on the test database.
 */
import type { JobHelpers } from "graphile-worker";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask, noFamily, type FamilyPlugin } from "../../src/engine/lifecycle.js";
import { PermanentError, TransientError } from "../../src/errors.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, jobOf, provisionDomain, type Account } from "../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool, { connectorType: "noop" });
});
afterAll(async () => {
  await t?.close();
});

function helpersOn(pool: pg.Pool): JobHelpers {
  const withPgClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  };
  return { job: { id: "gw-test" }, withPgClient } as unknown as JobHelpers;
}

let n = 0;
/** A fresh provision and its job, started (processing, attempt 1) as get_job would have started it; returns the started row. */
async function startedJob(): Promise<{ jobId: string; row: Record<string, unknown> }> {
  const id = await provisionDomain(t.pool, acc, `lifecycle-${++n}-${Date.now()}.example`);
  const jobId = await jobOf(t.pool, id);
  const row = (await t.pool.query("SELECT * FROM job_start($1)", [jobId])).rows[0] as Record<string, unknown>;
  return { jobId, row };
}

async function jobState(jobId: string) {
  const r = await t.pool.query<{ status: string; result_message: string | null; result_data: Record<string, unknown> | null; retry_date: Date | null }>(
    "SELECT s.name AS status, j.result_message, j.result_data, j.retry_date FROM job j JOIN job_status s ON s.id = j.status_id WHERE j.id = $1",
    [jobId],
  );
  return r.rows[0]!;
}

const dataSchema = z.object({ id: z.string().uuid(), name: z.string() });

describe("defineTask", () => {
  it("fails a job whose row does not parse with PV_PAYLOAD instead of throwing", async () => {
    const { jobId, row } = await startedJob();
    let ran = false;
    const { task } = defineTask(noFamily, { identifier: "test__row", data: dataSchema, run: async () => ((ran = true), { resultData: {} }) });
    await expect(task({ job_id: jobId, started: true, job: { ...row, attempts: "one", reference_id: 42 } }, helpersOn(t.pool))).resolves.toBeUndefined();
    const s = await jobState(jobId);
    expect(ran).toBe(false);
    expect(s.status).toBe("failed");
    expect(s.result_data).toMatchObject({ error_code: "PV_PAYLOAD" });
    expect(s.result_message).toMatch(/^PV_PAYLOAD: job row .* does not parse: .*attempts/);
    expect(s.result_message).toMatch(/reference_id/);
  });

  it("fails a job whose data does not match the task's schema, naming the field", async () => {
    const { jobId, row } = await startedJob();
    const { task } = defineTask(noFamily, {
      identifier: "test__data",
      data: z.object({ id: z.string().uuid(), hostname: z.string() }),
      run: async () => ({ resultData: {} }),
    });
    await task({ job_id: jobId, started: true, job: row }, helpersOn(t.pool));
    const s = await jobState(jobId);
    expect(s.status).toBe("failed");
    expect(s.result_message).toMatch(/^PV_PAYLOAD: job data does not match test__data: hostname: /);
  });

  it("gives the handler the family's context and a command context per attempt, and completes the job", async () => {
    const { jobId, row } = await startedJob();
    const family: FamilyPlugin<{ id: string; name: string }, { greeting: string }> = {
      name: "test",
      context: async ({ data }) => ({ greeting: `hello ${data.name}` }),
    };
    const seen: unknown[] = [];
    const { task } = defineTask(family, {
      identifier: "test__ok",
      data: dataSchema,
      run: async ({ greeting, cmd, followUp, job }) => {
        seen.push(greeting, cmd.correlationId, cmd.attempt, followUp("info").step, job.id);
        // the domain family's completion trigger records the registry's roid and dates in the inventory
        return { resultData: { greeting, roid: "LIFE-1", crDate: "2026-12-02T00:00:00Z", exDate: "2027-12-02T00:00:00Z" }, message: "done" };
      },
    });
    await task({ job_id: jobId, started: true, job: row }, helpersOn(t.pool));
    expect(seen).toEqual([`hello ${(row.data as { name: string }).name}`, jobId, 1, "info", jobId]);
    const s = await jobState(jobId);
    expect(s.status).toBe("completed");
    expect(s.result_data).toMatchObject({ greeting: seen[0] });
    expect(s.result_message).toBe("done");
  });

  it("records a permanent error's own resultData() and calls the family's onFailure", async () => {
    class ProtocolError extends PermanentError {
      override resultData() {
        return { ...super.resultData(), native_code: 42 };
      }
    }
    const { jobId, row } = await startedJob();
    const failures: string[] = [];
    const family: FamilyPlugin<unknown, object> = { name: "test", context: async () => ({}), onFailure: (err) => failures.push(err.code) };
    const { task } = defineTask(family, {
      identifier: "test__perm",
      data: dataSchema,
      run: async () => {
        throw new ProtocolError("X42", "the far side said no");
      },
    });
    await task({ job_id: jobId, started: true, job: row }, helpersOn(t.pool));
    const s = await jobState(jobId);
    expect(failures).toEqual(["X42"]);
    expect(s.status).toBe("failed");
    expect(s.result_data).toEqual({ error_code: "X42", error: "the far side said no", native_code: 42 });
    expect(s.result_message).toBe("X42: the far side said no");
  });

  it("schedules a retry for a transient error, also one thrown while building the family's context", async () => {
    const { jobId, row } = await startedJob();
    const family: FamilyPlugin<unknown, object> = {
      name: "test",
      context: async () => {
        throw new TransientError("PV_TEST_DOWN", "configuration store unreachable");
      },
    };
    let ran = false;
    const { task } = defineTask(family, { identifier: "test__transient", data: dataSchema, run: async () => ((ran = true), { resultData: {} }) });
    await task({ job_id: jobId, started: true, job: row }, helpersOn(t.pool));
    const s = await jobState(jobId);
    expect(ran).toBe(false);
    expect(s.status).toBe("submitted"); // waiting for its next attempt
    expect(s.retry_date).toBeInstanceOf(Date);
    expect(s.result_message).toBe("PV_TEST_DOWN: configuration store unreachable");
  });

  it("does nothing for a job the database reported as not started (final or exhausted)", async () => {
    const { jobId } = await startedJob();
    let ran = false;
    const { task } = defineTask(noFamily, { identifier: "test__final", data: dataSchema, run: async () => ((ran = true), { resultData: {} }) });
    await task({ job_id: jobId, started: false }, helpersOn(t.pool));
    expect(ran).toBe(false);
    expect((await jobState(jobId)).status).toBe("processing");
  });
});
