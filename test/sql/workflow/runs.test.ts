/**
 * Workflow runs in the database (stored-procedures/workflow/; docs/decisions/0008 §3-§6), driven without
 * a worker: the test does what the worker would (job_start, workflow_run_start, job_complete/job_fail),
 * and the database advances the run in those transactions. Covers linear and diamond graphs, siblings
 * finishing in one statement and in two concurrent transactions, a step refused at dispatch, idempotent
 * start, cancel racing a completion (both orders), retry / skip / resume / recover, compensation order
 * and a failing compensation, a new template version published while a run of the old one is in
 * flight, the reconciler, and the run-level refusals (PV115, PV320-PV325).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, createOrder, writeCounts, type Account } from "../../helpers/fixtures.js";
import { completeStep, expectPgError, failStep, insertRun, noop, publishTemplate, runRow, startRun, stepJob, stepsOf } from "../../helpers/workflow.js";

let t: TestDatabase;
let acc: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  await publishTemplate(
    t.pool,
    "t.linear",
    {
      steps: [
        noop("a", { params: { output: { v: { $ref: "input.x" } } } }),
        noop("b", { depends_on: ["a"], params: { output: { w: { $ref: "steps.a.output.v" } } } }),
        noop("c", { depends_on: ["b"] }),
      ],
      output: { result: { $ref: "steps.b.output.w" } },
    },
    { type: "object", properties: { x: { type: "integer", minimum: 1, default: 7 } }, additionalProperties: false },
  );
  await publishTemplate(t.pool, "t.diamond", {
    steps: [
      noop("a"),
      noop("b", { depends_on: ["a"] }),
      noop("c", { depends_on: ["a"] }),
      noop("d", { depends_on: ["b", "c"], params: { output: { b: { $ref: "steps.b.output.n" }, c: { $ref: "steps.c.output.n" } } } }),
    ],
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const count = async (sql: string, params: unknown[] = []) => Number((await t.pool.query<{ n: string }>(sql, params)).rows[0]!.n);

describe("a run advances in the transaction that finishes a step", () => {
  it("linear: outputs flow through references, the run's job completes, and so does the order", async () => {
    const { planId, orderId } = await createOrder(t.pool, acc.tenantId);
    const run = await insertRun(t.pool, acc.tenantId, "t.linear", {}, { planIds: [planId] });
    const row = (await t.pool.query("SELECT input, template_version, wf_definition IS NOT NULL AS copied FROM provision_workflow WHERE id = $1", [run]))
      .rows[0];
    expect(row).toMatchObject({ input: { x: 7 }, template_version: 1, copied: true }); // the schema's default applied
    expect(await startRun(t.pool, run)).toBe("running");
    let steps = await stepsOf(t.pool, run);
    expect(Object.fromEntries(Object.entries(steps).map(([k, s]) => [k, s.status]))).toEqual({ a: "running", b: "pending", c: "pending" });
    expect(steps.a!.params).toEqual({ output: { v: 7 } });
    // the run's job waits for its children, which are the steps' jobs
    const runJob = (await t.pool.query("SELECT j.* FROM job j JOIN provision_workflow w ON w.job_id = j.id WHERE w.id = $1", [run])).rows[0];
    expect(runJob.status_id).toBe(5);
    expect((await t.pool.query("SELECT parent_id FROM job WHERE id = $1", [steps.a!.job_id])).rows[0].parent_id).toBe(runJob.id);
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [orderId])).rows[0].status).toBe("processing");

    await completeStep(t.pool, run, "a", { v: 7 });
    steps = await stepsOf(t.pool, run);
    expect(steps.b).toMatchObject({ status: "running", params: { output: { w: 7 } } });
    await completeStep(t.pool, run, "b", { w: 8 });
    expect((await runRow(t.pool, run)).percent_done).toBe("66.7");
    await completeStep(t.pool, run, "c");
    const done = await runRow(t.pool, run);
    expect(done).toMatchObject({ status: "completed", total: "3", completed: "3", percent_done: "100.0", current_steps: [] });
    expect(done.output).toEqual({ a: { v: 7 }, b: { w: 8 }, c: {} });
    const prov = (await t.pool.query("SELECT status, result_data FROM v_provision WHERE id = $1", [run])).rows[0];
    expect(prov).toMatchObject({ status: "completed", result_data: { workflow_status: "completed", output: { result: 8 } } });
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [orderId])).rows[0].status).toBe("completed");
    // events: one workflow.status per change, in order
    const ev = await t.pool.query("SELECT payload->>'status' AS s FROM event WHERE reference_id = $1 AND event_type = 'workflow.status' ORDER BY id", [run]);
    expect(ev.rows.map((r) => r.s)).toEqual(["running", "completed"]);
  });

  it("diamond: siblings completed by one job_complete_many dispatch their fan-in step once", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.diamond");
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "a");
    const b = await stepJob(t.pool, run, "b");
    const c = await stepJob(t.pool, run, "c");
    await t.pool.query("SELECT * FROM job_start_many($1)", [[b, c]]);
    await t.pool.query("SELECT * FROM job_complete_many($1)", [
      JSON.stringify([
        { job_id: b, result_data: { n: "B" } },
        { job_id: c, result_data: { n: "C" } },
      ]),
    ]);
    const steps = await stepsOf(t.pool, run);
    expect(steps.d).toMatchObject({ status: "running", attempts: 1, params: { output: { b: "B", c: "C" } } });
    expect(await count("SELECT count(*) AS n FROM workflow_step_run WHERE run_id = $1 AND step_key = 'd'", [run])).toBe(1);
    await completeStep(t.pool, run, "d");
    expect((await runRow(t.pool, run)).status).toBe("completed");
  });

  it("diamond: siblings completed in two concurrent transactions dispatch the fan-in step exactly once", async () => {
    for (const order of [0, 1]) {
      const run = await insertRun(t.pool, acc.tenantId, "t.diamond");
      await startRun(t.pool, run);
      await completeStep(t.pool, run, "a");
      const jobs = [await stepJob(t.pool, run, "b"), await stepJob(t.pool, run, "c")];
      for (const j of jobs) await t.pool.query("SELECT * FROM job_start($1)", [j]);
      const c1 = new pg.Client({ connectionString: t.url });
      const c2 = new pg.Client({ connectionString: t.url });
      await c1.connect();
      await c2.connect();
      try {
        await c1.query("BEGIN");
        await c2.query("BEGIN");
        await c1.query("SELECT job_complete($1, $2)", [jobs[order], JSON.stringify({ n: "first" })]);
        // the second waits on the run's row, then sees the first's count-down
        const second = c2.query("SELECT job_complete($1, $2)", [jobs[1 - order], JSON.stringify({ n: "second" })]);
        await new Promise((r) => setTimeout(r, 200));
        await c1.query("COMMIT");
        await second;
        await c2.query("COMMIT");
      } finally {
        await c1.end();
        await c2.end();
      }
      const steps = await stepsOf(t.pool, run);
      expect(steps.d!.status).toBe("running");
      expect(await count("SELECT count(*) AS n FROM workflow_step_run WHERE run_id = $1 AND step_key = 'd'", [run])).toBe(1);
      expect(
        await count("SELECT count(*) AS n FROM provision_workflow_task p JOIN workflow_step_run s ON s.provision_id = p.id WHERE s.run_id = $1", [run]),
      ).toBe(4);
    }
  });
});

describe("starting a run: refusals write nothing", () => {
  it("unknown template, draft and retired versions: PV320", async () => {
    await t.pool.query(
      `INSERT INTO workflow_template (name, version, definition) VALUES ('t.draft', 1, '{"steps":[{"key":"a","kind":"task","target":"noop"}]}')`,
    );
    await publishTemplate(t.pool, "t.retire", { steps: [noop("a")] });
    await t.pool.query("UPDATE workflow_template SET status = 'retired' WHERE name = 't.retire'");
    const before = await writeCounts(t.pool);
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.nope"), { code: "PV320", column: "template_name", message: /no such template/ });
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.draft"), { code: "PV320", message: /no published version \(v1 draft\)/ });
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.linear", {}, { version: 9 }), { code: "PV320", column: "template_version" });
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.retire", {}, { version: 1 }), { code: "PV320", message: /retired/ });
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("input that does not match the schema: PV321 naming the pointer and rule", async () => {
    const before = await writeCounts(t.pool);
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.linear", { x: 0 }), { code: "PV321", column: "input", message: /input\/x: minimum 1/ });
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.linear", { y: 1 }), { code: "PV321", message: /additional property y/ });
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.linear", []), { code: "PV321" });
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("engine-owned wf_* columns: PV115", async () => {
    await expectPgError(
      t.pool.query("INSERT INTO provision_workflow (tenant_customer_id, template_name, wf_output) VALUES ($1, 't.linear', '{\"a\":1}')", [acc.tenantId]),
      { code: "PV115", column: "wf_output" },
    );
  });

  it("the same idempotency key: PV322 for the same request, PV323 for another; workflow_start gets or creates", async () => {
    const first = await insertRun(t.pool, acc.tenantId, "t.linear", { x: 2 }, { key: "order-77" });
    const before = await writeCounts(t.pool);
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.linear", { x: 2 }, { key: "order-77" }), { code: "PV322", column: "idempotency_key" });
    await expectPgError(insertRun(t.pool, acc.tenantId, "t.linear", { x: 3 }, { key: "order-77" }), { code: "PV323" });
    const again = (await t.pool.query("SELECT * FROM workflow_start($1, 't.linear', '{\"x\": 2}', 'order-77')", [acc.tenantId])).rows[0];
    expect(again).toEqual({ run_id: first, created: false });
    expect(await writeCounts(t.pool)).toEqual(before);
    const fresh = (await t.pool.query("SELECT * FROM workflow_start($1, 't.linear', '{\"x\": 2}', 'order-78')", [acc.tenantId])).rows[0];
    expect(fresh.created).toBe(true);
    // another tenant may use the same key
    const other = await createAccount(t.pool);
    expect((await t.pool.query("SELECT * FROM workflow_start($1, 't.linear', '{}', 'order-77')", [other.tenantId])).rows[0].created).toBe(true);
  });

  it("get-or-create survives a new version: the same request without a version finds its run", async () => {
    await publishTemplate(t.pool, "t.idem", { steps: [noop("a")] }, { type: "object", properties: { n: { type: "integer", default: 1 } } });
    const first = (await t.pool.query("SELECT * FROM workflow_start($1, 't.idem', '{}', 'idem-1')", [acc.tenantId])).rows[0];
    await publishTemplate(t.pool, "t.idem", { steps: [noop("a"), noop("b")] }, { type: "object", properties: { n: { type: "integer", default: 2 } } });
    const again = (await t.pool.query("SELECT * FROM workflow_start($1, 't.idem', '{}', 'idem-1')", [acc.tenantId])).rows[0];
    expect(again).toEqual({ run_id: first.run_id, created: false });
    // asking for another version explicitly is another request
    await expectPgError(t.pool.query("SELECT * FROM workflow_start($1, 't.idem', '{}', 'idem-1', 2)", [acc.tenantId]), { code: "PV323" });
  });

  it('a wait\'s duration is a number or a reference object, not the string "$ref"', async () => {
    await expectPgError(publishTemplate(t.pool, "t.badwait", { steps: [{ key: "w", kind: "wait", params: { seconds: "$ref" } }] }), { code: "PV305" });
    await expectPgError(publishTemplate(t.pool, "t.badwait2", { steps: [{ key: "w", kind: "wait", params: { until: ["$ref"] } }] }), { code: "PV305" });
  });

  it("two concurrent INSERTs of one key: one run, the other PV322", async () => {
    const c1 = new pg.Client({ connectionString: t.url });
    const c2 = new pg.Client({ connectionString: t.url });
    await c1.connect();
    await c2.connect();
    try {
      await c1.query("BEGIN");
      await insertRun(c1, acc.tenantId, "t.linear", {}, { key: "race-1" });
      const second = insertRun(c2, acc.tenantId, "t.linear", {}, { key: "race-1" }).then(
        () => "inserted",
        (e: { code?: string }) => e.code,
      );
      await new Promise((r) => setTimeout(r, 200));
      await c1.query("COMMIT");
      expect(await second).toBe("PV322");
    } finally {
      await c1.end();
      await c2.end();
    }
    expect(await count("SELECT count(*) AS n FROM provision_workflow WHERE idempotency_key = 'race-1'")).toBe(1);
  });

  it("task and wait step rows are the dispatch's only: PV325", async () => {
    await expectPgError(t.pool.query("INSERT INTO provision_workflow_task (tenant_customer_id, task_name, params) VALUES ($1, 'noop', '{}')", [acc.tenantId]), {
      code: "PV325",
    });
    await expectPgError(t.pool.query("INSERT INTO provision_workflow_wait (tenant_customer_id, until) VALUES ($1, now())", [acc.tenantId]), {
      code: "PV325",
    });
  });
});

describe("failures, and what an operator does about them", () => {
  beforeAll(async () => {
    await publishTemplate(t.pool, "t.contact", {
      steps: [
        noop("prepare"),
        {
          key: "contact",
          kind: "provision",
          target: "provision_contact",
          depends_on: ["prepare"],
          params: {
            accreditation_id: { $ref: "input.accreditation_id" },
            contact_id: { $ref: "input.contact_id" },
            name: "Ada",
            city: "London",
            cc: "GB",
            email: "ada@example.test",
          },
        },
        noop("after", { depends_on: ["contact"], params: { output: { roid: { $ref: "steps.contact.output.roid", default: "none" } } } }),
      ],
    });
  });

  it("a step refused at dispatch fails with the validation's code, writes no provision, and blocks the run", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.contact", { accreditation_id: acc.accreditationId, contact_id: "x" });
    await startRun(t.pool, run);
    const contacts = await count("SELECT count(*) AS n FROM provision_contact");
    await completeStep(t.pool, run, "prepare");
    const steps = await stepsOf(t.pool, run);
    expect(steps.contact).toMatchObject({ status: "failed", error_code: "PV109", job_id: null, provision_id: null });
    expect(steps.contact!.last_error).toMatch(/contact_id/);
    expect(await count("SELECT count(*) AS n FROM provision_contact")).toBe(contacts);
    const r = await runRow(t.pool, run);
    expect(r).toMatchObject({ status: "blocked", error_code: "PV109", failed: "1" });
    expect(r.error).toMatch(/^contact: PV109/);
    // blocked is not final: the run's provision stays processing
    expect((await t.pool.query("SELECT status FROM v_provision WHERE id = $1", [run])).rows[0].status).toBe("processing");

    // retry with a corrected param: a new attempt and a new provision; the failed attempt stays
    const retried = (await t.pool.query("SELECT * FROM workflow_retry_step($1, 'contact', '{\"contact_id\": \"ada-1\"}')", [run])).rows[0];
    expect(retried).toMatchObject({ attempt: 2, status_id: 3 });
    expect((await runRow(t.pool, run)).status).toBe("running");
    // twice is once
    expect((await t.pool.query("SELECT * FROM workflow_retry_step($1, 'contact')", [run])).rows[0].id).toBe(retried.id);
    await completeStep(t.pool, run, "contact", { roid: "C1-REP" });
    expect((await stepsOf(t.pool, run)).after!.params).toEqual({ output: { roid: "C1-REP" } });
    expect(await count("SELECT count(*) AS n FROM workflow_step_run WHERE run_id = $1 AND step_key = 'contact'", [run])).toBe(2);
    await completeStep(t.pool, run, "after");
    const done = await runRow(t.pool, run);
    expect(done.status).toBe("completed");
    expect(done.warnings).toEqual([{ step: "contact", phase: "forward", warning: "attempt 2" }]);
  });

  it("skip: the operator's output is what the dependents read; resume retries every failed step", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.contact", { accreditation_id: acc.accreditationId, contact_id: "y" });
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "prepare");
    await expectPgError(t.pool.query("SELECT * FROM workflow_skip_step($1, 'nope')", [run]), { code: "PV332" });
    await t.pool.query("SELECT * FROM workflow_skip_step($1, 'contact', '{\"roid\": \"GIVEN\"}')", [run]);
    const steps = await stepsOf(t.pool, run);
    expect(steps.contact).toMatchObject({ status: "skipped", skipped_reason: "operator", output: { roid: "GIVEN" } });
    expect(steps.after!.params).toEqual({ output: { roid: "GIVEN" } });
    // resume on a run that is not blocked and has nothing failed: nothing to do
    expect((await t.pool.query("SELECT workflow_resume($1) AS k", [run])).rows[0].k).toEqual([]);
    await failStep(t.pool, run, "after", "PV_BOOM");
    expect((await runRow(t.pool, run)).status).toBe("blocked");
    expect((await t.pool.query("SELECT workflow_resume($1) AS k", [run])).rows[0].k).toEqual(["after"]);
    await completeStep(t.pool, run, "after");
    expect((await runRow(t.pool, run)).status).toBe("completed");
    // a step that is not failed: retry returns it as it is
    expect((await t.pool.query("SELECT * FROM workflow_retry_step($1, 'after')", [run])).rows[0]).toMatchObject({ attempt: 2, status_id: 4 });
  });

  it("on_failure fail ends the run once nothing runs; recover starts a linked run that copies the completed steps", async () => {
    await publishTemplate(t.pool, "t.fail", {
      steps: [
        noop("a", { params: { output: { made: "A" } } }),
        noop("b", { depends_on: ["a"], on_failure: "fail" }),
        noop("c", { depends_on: ["a"] }),
        noop("d", { depends_on: ["b", "c"], params: { output: { from_a: { $ref: "steps.a.output.made" } } } }),
      ],
    });
    const run = await insertRun(t.pool, acc.tenantId, "t.fail");
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "a", { made: "A" });
    await failStep(t.pool, run, "b", "PV_B");
    // c still runs: the run is not failed before it is recorded
    expect((await runRow(t.pool, run)).status).toBe("running");
    await completeStep(t.pool, run, "c");
    const failed = await runRow(t.pool, run);
    expect(failed).toMatchObject({ status: "failed", error_code: "PV_B" });
    // a failed run is final: its failed step is not retried (recover it instead)
    await expectPgError(t.pool.query("SELECT * FROM workflow_retry_step($1, 'b')", [run]), {
      code: "PV331",
      message: /run .* is failed; retry applies to a run that is blocked/,
    });
    expect((await stepsOf(t.pool, run)).d!.status).toBe("cancelled");
    expect((await t.pool.query("SELECT status, result_data FROM v_provision WHERE id = $1", [run])).rows[0]).toMatchObject({
      status: "failed",
      result_data: { workflow_status: "failed", error_code: "PV_B" },
    });

    const next = (await t.pool.query("SELECT workflow_recover($1) AS id", [run])).rows[0].id;
    expect((await t.pool.query("SELECT workflow_recover($1) AS id", [run])).rows[0].id).toBe(next); // the same while in flight
    await startRun(t.pool, next);
    const steps = await stepsOf(t.pool, next);
    expect(steps.a).toMatchObject({ status: "completed", output: { made: "A" }, job_id: null });
    expect(steps.a!.copied_from_id).not.toBeNull();
    expect(steps.c!.status).toBe("completed");
    expect(steps.b!.status).toBe("running");
    expect(steps.d!.status).toBe("pending");
    await completeStep(t.pool, next, "b");
    expect((await stepsOf(t.pool, next)).d!.params).toEqual({ output: { from_a: "A" } });
    await completeStep(t.pool, next, "d");
    expect((await runRow(t.pool, next)).status).toBe("completed");
    // a completed run is not recovered
    await expectPgError(t.pool.query("SELECT workflow_recover($1)", [next]), { code: "PV331" });
  });

  it("a reference with no value fails the step (PV340); a retry whose override gives that param goes on", async () => {
    await publishTemplate(t.pool, "t.miss", { steps: [noop("a", { params: { output: { x: { $ref: "input.missing" } } } })] });
    const run = await insertRun(t.pool, acc.tenantId, "t.miss");
    await startRun(t.pool, run);
    const a = (await stepsOf(t.pool, run)).a!;
    expect(a).toMatchObject({ status: "failed", error_code: "PV340", job_id: null });
    expect(a.last_error).toMatch(/input\.missing/);
    await t.pool.query("SELECT * FROM workflow_retry_step($1, 'a', '{\"output\": {\"x\": 2}}')", [run]);
    expect((await stepsOf(t.pool, run)).a).toMatchObject({ status: "running", params: { output: { x: 2 } } });
  });

  it("a run that fails keeps the first error code, also after a later blocking step is retried", async () => {
    await publishTemplate(t.pool, "t.mix", { steps: [noop("a", { on_failure: "fail" }), noop("b"), noop("d", { depends_on: ["b"] })] });
    const run = await insertRun(t.pool, acc.tenantId, "t.mix");
    await startRun(t.pool, run);
    const b = await stepJob(t.pool, run, "b");
    await t.pool.query("SELECT * FROM job_start($1)", [b]);
    await failStep(t.pool, run, "a", "PV_A");
    await t.pool.query("SELECT job_fail($1, 'b failed', '{\"error_code\": \"PV_B\"}')", [b]);
    expect(await runRow(t.pool, run)).toMatchObject({ status: "blocked", error_code: "PV_A" });
    await t.pool.query("SELECT * FROM workflow_retry_step($1, 'b')", [run]);
    const r = await runRow(t.pool, run);
    expect(r).toMatchObject({ status: "failed", error_code: "PV_A", current_steps: [] });
    expect((await t.pool.query("SELECT result_data->>'error_code' AS c FROM v_provision WHERE id = $1", [run])).rows[0].c).toBe("PV_A");
  });

  it("cancelling a run whose sub-run has not started cancels the sub-run (not failed), in one transaction", async () => {
    await publishTemplate(t.pool, "t.parent", {
      steps: [{ key: "sub", kind: "provision", target: "provision_workflow", params: { template_name: "t.linear" } }, noop("after", { depends_on: ["sub"] })],
    });
    const run = await insertRun(t.pool, acc.tenantId, "t.parent");
    await startRun(t.pool, run);
    const child = (await stepsOf(t.pool, run)).sub!.provision_id;
    expect((await runRow(t.pool, child)).status).toBe("pending");
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelled");
    expect((await runRow(t.pool, child)).status).toBe("cancelled");
    expect((await stepsOf(t.pool, run)).sub!.status).toBe("cancelled");
  });

  it("a sub-run cancelled by itself while its parent goes on is a failure of the parent's step (its on_failure applies)", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.parent");
    await startRun(t.pool, run);
    const child = (await stepsOf(t.pool, run)).sub!.provision_id;
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [child])).rows[0].s).toBe("cancelled");
    expect((await stepsOf(t.pool, run)).sub).toMatchObject({ status: "failed", error_code: "PV_WF_CANCELLED" });
    expect((await runRow(t.pool, run)).status).toBe("blocked");
  });

  it("on_failure skip: the failed attempt stays, a skipped one counts as done, a default stands in", async () => {
    await publishTemplate(t.pool, "t.skip", {
      steps: [noop("a", { on_failure: "skip" }), noop("b", { depends_on: ["a"], params: { output: { got: { $ref: "steps.a.output.x", default: "dflt" } } } })],
    });
    const run = await insertRun(t.pool, acc.tenantId, "t.skip");
    await startRun(t.pool, run);
    await failStep(t.pool, run, "a");
    const steps = await stepsOf(t.pool, run);
    expect(steps.a).toMatchObject({ status: "skipped", skipped_reason: "on_failure", attempts: 2, error_code: "PV_TEST" });
    expect(steps.b!.params).toEqual({ output: { got: "dflt" } });
  });
});

describe("cancel", () => {
  beforeAll(async () => {
    await publishTemplate(t.pool, "t.one", { steps: [noop("a"), noop("b", { depends_on: ["a"] })] });
  });

  it("a completion committed first wins: cancel then finds the run completed and changes nothing", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.one");
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "a");
    const job = await stepJob(t.pool, run, "b");
    await t.pool.query("SELECT * FROM job_start($1)", [job]);
    const c1 = new pg.Client({ connectionString: t.url });
    await c1.connect();
    try {
      await c1.query("BEGIN");
      await c1.query("SELECT job_complete($1, '{}')", [job]);
      const cancel = t.pool.query("SELECT workflow_cancel($1) AS s", [run]);
      await new Promise((r) => setTimeout(r, 200));
      await c1.query("COMMIT");
      expect((await cancel).rows[0].s).toBe("completed");
    } finally {
      await c1.end();
    }
    expect((await runRow(t.pool, run)).status).toBe("completed");
  });

  it("a cancel committed first wins: the attempt in flight finishes and is recorded, the run ends cancelled", async () => {
    const { planId, orderId } = await createOrder(t.pool, acc.tenantId);
    const run = await insertRun(t.pool, acc.tenantId, "t.one", {}, { planIds: [planId] });
    await startRun(t.pool, run);
    const job = await stepJob(t.pool, run, "a");
    await t.pool.query("SELECT * FROM job_start($1)", [job]); // in flight
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelling");
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelling"); // twice is once
    expect((await stepsOf(t.pool, run)).b!.status).toBe("cancelled");
    await t.pool.query("SELECT job_complete($1, '{\"late\": true}')", [job]);
    const steps = await stepsOf(t.pool, run);
    expect(steps.a).toMatchObject({ status: "completed", output: { late: true } });
    expect(steps.b!.status).toBe("cancelled");
    expect((await runRow(t.pool, run)).status).toBe("cancelled");
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [orderId])).rows[0].status).toBe("failed");
  });

  it("queued step jobs are removed from graphile-worker and failed with PV_WF_CANCELLED", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.one");
    await startRun(t.pool, run);
    const job = await stepJob(t.pool, run, "a");
    expect(await count("SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = $1", [job])).toBe(1);
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelled");
    expect(await count("SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = $1", [job])).toBe(0);
    expect((await t.pool.query("SELECT status_id, result_data->>'error_code' AS c FROM job WHERE id = $1", [job])).rows[0]).toEqual({
      status_id: 4,
      c: "PV_WF_CANCELLED",
    });
    expect((await stepsOf(t.pool, run)).a!.status).toBe("cancelled");
  });

  it("a run cancelled before it started never starts", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.one");
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelled");
    expect(await startRun(t.pool, run)).toBe("cancelled");
    expect(await count("SELECT count(*) AS n FROM workflow_step_run WHERE run_id = $1", [run])).toBe(0);
  });
});

describe("compensation", () => {
  beforeAll(async () => {
    const comp = (tag: string) => ({
      kind: "task",
      target: "noop",
      params: { output: { undid: tag, roid: { $ref: `steps.${tag}.output.roid`, default: null } } },
    });
    await publishTemplate(t.pool, "t.comp", {
      on_cancel: "compensate",
      steps: [
        noop("a", { compensate: comp("a") }),
        noop("b", { depends_on: ["a"], compensate: comp("b") }),
        noop("c", { depends_on: ["a"] }),
        noop("d", { depends_on: ["b", "c"], on_failure: "compensate", compensate: comp("d") }),
      ],
    });
  });

  it("a step failing with on_failure compensate undoes the completed steps in reverse dependency order", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.comp");
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "a", { roid: "RA" });
    await completeStep(t.pool, run, "b", { roid: "RB" });
    await completeStep(t.pool, run, "c");
    await failStep(t.pool, run, "d");
    expect((await runRow(t.pool, run)).status).toBe("compensating");
    let comp = await stepsOf(t.pool, run, "compensate");
    expect(Object.keys(comp).sort()).toEqual(["a", "b"]); // c declares none
    expect(comp.b).toMatchObject({ status: "running", params: { output: { undid: "b", roid: "RB" } } });
    expect(comp.a!.status).toBe("pending"); // after b's
    await completeStep(t.pool, run, "b", {}, "compensate");
    comp = await stepsOf(t.pool, run, "compensate");
    expect(comp.a).toMatchObject({ status: "running", params: { output: { undid: "a", roid: "RA" } } });
    expect((await stepsOf(t.pool, run)).b!.status).toBe("compensated");
    await completeStep(t.pool, run, "a", {}, "compensate");
    expect((await runRow(t.pool, run)).status).toBe("compensated");
    expect((await t.pool.query("SELECT status FROM v_provision WHERE id = $1", [run])).rows[0].status).toBe("failed");
  });

  it("a failing compensation blocks the run, visibly; retrying it finishes the undo", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.comp");
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "a", { roid: "RA" });
    await completeStep(t.pool, run, "b", { roid: "RB" });
    const c = await stepJob(t.pool, run, "c");
    await t.pool.query("SELECT * FROM job_start($1)", [c]); // c in flight
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelling");
    await t.pool.query("SELECT job_complete($1, '{}')", [c]);
    expect((await runRow(t.pool, run)).status).toBe("compensating");
    await failStep(t.pool, run, "b", "PV_UNDO", "compensate");
    const blocked = await runRow(t.pool, run);
    expect(blocked.status).toBe("blocked");
    expect((await stepsOf(t.pool, run, "compensate")).a!.status).toBe("pending");
    // a cancel now changes nothing: the run is still undoing (retry or skip the compensation)
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("blocked");
    expect((await stepsOf(t.pool, run, "compensate")).a!.status).toBe("pending");
    await t.pool.query("SELECT * FROM workflow_retry_step($1, 'b', NULL, 'compensate')", [run]);
    expect((await runRow(t.pool, run)).status).toBe("compensating");
    await completeStep(t.pool, run, "b", {}, "compensate");
    await completeStep(t.pool, run, "a", {}, "compensate");
    expect((await runRow(t.pool, run)).status).toBe("compensated");
  });

  it("cleanup of a failed run compensates it afterwards; of a completed run: PV331", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.fail");
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "a");
    await failStep(t.pool, run, "b");
    await completeStep(t.pool, run, "c");
    expect((await runRow(t.pool, run)).status).toBe("failed");
    // t.fail declares no compensations: compensated at once
    expect((await t.pool.query("SELECT workflow_compensate($1) AS s", [run])).rows[0].s).toBe("compensated");
    expect((await t.pool.query("SELECT workflow_compensate($1) AS s", [run])).rows[0].s).toBe("compensated");
    const okRun = await insertRun(t.pool, acc.tenantId, "t.one");
    await startRun(t.pool, okRun);
    await completeStep(t.pool, okRun, "a");
    await completeStep(t.pool, okRun, "b");
    await expectPgError(t.pool.query("SELECT workflow_compensate($1)", [okRun]), { code: "PV331" });
  });
});

describe("versions, waits, the reconciler", () => {
  it("publishing v2 while a v1 run is in flight changes nothing in that run", async () => {
    await publishTemplate(t.pool, "t.ver", { steps: [noop("a"), noop("b", { depends_on: ["a"] })] });
    const run = await insertRun(t.pool, acc.tenantId, "t.ver");
    await startRun(t.pool, run);
    await publishTemplate(t.pool, "t.ver", { steps: [noop("a"), noop("x", { depends_on: ["a"] }), noop("y", { depends_on: ["x"] })] });
    await t.pool.query("UPDATE workflow_template SET status = 'retired' WHERE name = 't.ver' AND version = 1");
    await completeStep(t.pool, run, "a");
    expect(Object.keys(await stepsOf(t.pool, run))).toEqual(["a", "b"]);
    await completeStep(t.pool, run, "b");
    expect(await runRow(t.pool, run)).toMatchObject({ status: "completed", template_version: 1 });
    const v2 = await insertRun(t.pool, acc.tenantId, "t.ver");
    expect((await runRow(t.pool, v2)).template_version).toBe(2);
  });

  it("a wait step's job is queued for its time; cancelling during the wait removes it and compensates", async () => {
    await publishTemplate(t.pool, "t.wait", {
      on_cancel: "compensate",
      steps: [
        noop("disable", { compensate: { kind: "task", target: "noop", params: { output: { reenabled: true } } } }),
        { key: "grace", kind: "wait", depends_on: ["disable"], params: { hours: { $ref: "input.hours" } } },
        noop("cleanup", { depends_on: ["grace"] }),
      ],
    });
    const run = await insertRun(t.pool, acc.tenantId, "t.wait", { hours: 2 });
    await startRun(t.pool, run);
    await completeStep(t.pool, run, "disable");
    const grace = (await stepsOf(t.pool, run)).grace!;
    expect(grace.status).toBe("running");
    const g = (await t.pool.query("SELECT run_at - now() > interval '119 minutes' AS later FROM graphile_worker.jobs WHERE key = $1", [grace.job_id])).rows[0];
    expect(g.later).toBe(true);
    expect(new Date(grace.next_retry).getTime()).toBeGreaterThan(Date.now() + 119 * 60_000);
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("compensating");
    expect(await count("SELECT count(*) AS n FROM graphile_worker.jobs WHERE key = $1", [grace.job_id])).toBe(0);
    expect((await stepsOf(t.pool, run)).grace!.status).toBe("cancelled");
    await completeStep(t.pool, run, "disable", { reenabled: true }, "compensate");
    expect((await runRow(t.pool, run)).status).toBe("compensated");
    expect((await stepsOf(t.pool, run)).cleanup!.status).toBe("cancelled");
  });

  it("retention: old final runs go, with their step records; what a live run names stays; provisions and jobs stay", async () => {
    const done = await insertRun(t.pool, acc.tenantId, "t.one");
    await startRun(t.pool, done);
    await completeStep(t.pool, done, "a");
    await completeStep(t.pool, done, "b");
    const failed = await insertRun(t.pool, acc.tenantId, "t.fail");
    await startRun(t.pool, failed);
    await completeStep(t.pool, failed, "a");
    await failStep(t.pool, failed, "b");
    await completeStep(t.pool, failed, "c");
    const live = (await t.pool.query("SELECT workflow_recover($1) AS id", [failed])).rows[0].id; // not final
    await t.pool.query("UPDATE provision_workflow SET wf_ended_date = now() - interval '100 days' WHERE id = ANY($1)", [[done, failed]]);
    const stepProvisions = (await t.pool.query("SELECT provision_id FROM workflow_step_run WHERE run_id = $1", [done])).rows.map((r) => r.provision_id);
    expect(await count("SELECT workflow_prune('90 days') AS n")).toBeGreaterThanOrEqual(1);
    expect(await count("SELECT count(*) AS n FROM provision_workflow WHERE id = $1", [done])).toBe(0);
    expect(await count("SELECT count(*) AS n FROM workflow_step_run WHERE run_id = $1", [done])).toBe(0);
    expect(await count("SELECT count(*) AS n FROM provision_workflow_task WHERE id = ANY($1)", [stepProvisions])).toBe(2);
    // the failed run is what the live recovery copies from
    expect(await count("SELECT count(*) AS n FROM provision_workflow WHERE id = $1", [failed])).toBe(1);
    expect(await count("SELECT count(*) AS n FROM provision_workflow WHERE id = $1", [live])).toBe(1);
  });

  it("the reconciler dispatches a ready step nobody dispatched, and counts it", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "t.one");
    await startRun(t.pool, run);
    // a hand-made inconsistency: b made ready (as if its dependency had counted down) but never dispatched
    await t.pool.query(
      "UPDATE workflow_step_run SET status_id = wf_step_ready(), remaining_deps = 0, created_date = now() - interval '1 minute' WHERE run_id = $1 AND step_key = 'b'",
      [run],
    );
    await t.pool.query("UPDATE provision_workflow SET updated_date = now() - interval '1 minute' WHERE id = $1", [run]);
    const r = (await t.pool.query("SELECT * FROM workflow_reconcile('0 seconds')")).rows[0];
    expect(r.ready_dispatched).toBeGreaterThanOrEqual(1);
    expect((await stepsOf(t.pool, run)).b).toMatchObject({ status: "running", attempts: 1 });
    await completeStep(t.pool, run, "b");
    await completeStep(t.pool, run, "a");
    expect((await runRow(t.pool, run)).status).toBe("completed");
  });
});
