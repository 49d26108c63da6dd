/**
 * Workflows end to end with a real worker (graphile-worker, the workflow family's tasks): the built-in
 * domain.register against the EPP registry simulator (three contacts in parallel, then the domain: a
 * fan-in whose output carries the registry's roid), task steps through the worker (noop, notify, a
 * transient failure retried), a wait step, a run scheduled for later, a sub-run, and the start job's
 * retries. The run's order completes through the engine's rollup, unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../../src/simulators/epp-registry/server.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, createOrder, waitFor, type Account } from "../../helpers/fixtures.js";
import { startSimulator, stopSimulator } from "../../helpers/simulator.js";
import { insertRun, noop, publishTemplate, runRow, settledRun, stepsOf } from "../../helpers/workflow.js";

let t: TestDatabase;
let acc: Account;
let epp: Account;
let sim: EppRegistrySimulator;
let worker: WorkerHandle;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  const s = await startSimulator();
  sim = s.sim;
  epp = await createAccount(t.pool, { connectorType: "epp", config: s.config });
  worker = await startWorker({ connectionString: t.url, concurrency: 4, pollInterval: 100 });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await stopSimulator(sim);
  await t?.close();
});

const finalRun = (id: string) => settledRun(t.pool, id);

const contact = (id: string) => ({ contact_id: id, name: `Contact ${id}`, city: "Berlin", cc: "DE", email: `${id}@example.test` });

describe("built-in domain.register against the EPP simulator", () => {
  it("creates three contacts in parallel, then the domain; the order completes; the output has the roid", async () => {
    const { planId, orderId } = await createOrder(t.pool, epp.tenantId);
    const run = await insertRun(
      t.pool,
      epp.tenantId,
      "domain.register",
      {
        accreditation_id: epp.accreditationId,
        domain: "workflow-one.example",
        contacts: { registrant: contact("wf-reg"), admin: contact("wf-adm"), tech: contact("wf-tech") },
      },
      { planIds: [planId] },
    );
    const done = await finalRun(run);
    expect(done.status).toBe("completed");
    const steps = await stepsOf(t.pool, run);
    expect(Object.values(steps).map((s) => s.status)).toEqual(["completed", "completed", "completed", "completed"]);
    // the fan-in started after the last contact finished
    const lastContact = Math.max(...["registrant", "admin", "tech"].map((k) => new Date(steps[k]!.ended_date).getTime()));
    expect(new Date(steps.domain!.started_date).getTime()).toBeGreaterThanOrEqual(lastContact);
    expect(done.output).toMatchObject({ domain: { roid: expect.any(String) } });
    const prov = (await t.pool.query("SELECT result_data FROM v_provision WHERE id = $1", [run])).rows[0];
    expect(prov.result_data.output).toMatchObject({
      domain: "workflow-one.example",
      roid: expect.stringMatching(/./),
      domain_provision_id: steps.domain!.provision_id,
    });
    // the registry holds it, once
    expect(sim.store.domains.has("workflow-one.example")).toBe(true);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM domain WHERE name = 'workflow-one.example'")).rows[0].n).toBe(1);
    await waitFor("order completed", async () => (await t.pool.query("SELECT status FROM v_order WHERE id = $1 AND status = 'completed'", [orderId])).rows[0]);
  });

  it("a taken domain blocks the run at its domain step with the registry's code; cleanup deletes nothing it did not create", async () => {
    const run = await insertRun(t.pool, epp.tenantId, "domain.register", {
      accreditation_id: epp.accreditationId,
      domain: "workflow-one.example",
      contacts: { registrant: contact("wf-reg2"), admin: contact("wf-adm2"), tech: contact("wf-tech2") },
    });
    const r = await finalRun(run);
    expect(r.status).toBe("blocked");
    const steps = await stepsOf(t.pool, run);
    expect(steps.domain!.status).toBe("failed");
    expect(steps.domain!.error_code).toMatch(/^(PV|EPP)/);
    expect((await t.pool.query("SELECT workflow_cancel($1, true) AS s", [run])).rows[0].s).toBe("compensated");
    expect(await stepsOf(t.pool, run, "compensate")).toEqual({}); // the domain step did not complete: nothing to undo
    expect(sim.store.domains.has("workflow-one.example")).toBe(true);
  });
});

describe("task, wait and sub-run steps through the worker", () => {
  beforeAll(async () => {
    await publishTemplate(
      t.pool,
      "e2e.child",
      { steps: [noop("only", { params: { output: { child: { $ref: "input.n" } } } })], output: { n: { $ref: "steps.only.output.child" } } },
      {
        type: "object",
        properties: { n: { type: "integer" } },
      },
    );
    await publishTemplate(t.pool, "e2e.mix", {
      steps: [
        noop("flaky", { params: { fail_attempts: 2, output: { ok: true } }, retry: { max_attempts: 3 } }),
        { key: "pause", kind: "wait", depends_on: ["flaky"], params: { seconds: 1 } },
        { key: "child", kind: "provision", target: "provision_workflow", depends_on: ["flaky"], params: { template_name: "e2e.child", input: { n: 41 } } },
        {
          key: "tell",
          kind: "task",
          target: "notify",
          depends_on: ["pause", "child"],
          params: { topic: "e2e", message: "done", data: { n: { $ref: "steps.child.output.n" } } },
        },
      ],
    });
  });

  it("a transient failure is retried, a wait waits, a sub-run's output reaches the next step, notify emits its event once", async () => {
    const run = await insertRun(t.pool, acc.tenantId, "e2e.mix");
    const done = await finalRun(run);
    expect(done.status).toBe("completed");
    const steps = await stepsOf(t.pool, run);
    expect(steps.flaky).toMatchObject({ status: "completed", job_attempts: 3 });
    expect(new Date(steps.pause!.ended_date).getTime() - new Date(steps.pause!.started_date).getTime()).toBeGreaterThanOrEqual(900);
    expect(steps.child!.output).toEqual({ n: 41 });
    const child = await runRow(t.pool, steps.child!.provision_id);
    expect(child).toMatchObject({ status: "completed", template_name: "e2e.child" });
    // the child's job is the parent's step job, a child of the parent's job
    const jobs = await t.pool.query("SELECT parent_id FROM job WHERE id = $1", [child.job_id]);
    expect(jobs.rows[0].parent_id).toBe(done.job_id);
    const ev = await t.pool.query("SELECT payload FROM event WHERE event_type = 'workflow.notification' AND reference_id = $1", [run]);
    expect(ev.rows.map((r) => r.payload)).toEqual([{ run_id: run, topic: "e2e", message: "done", data: { n: 41 } }]);
  });

  it("a run scheduled for later starts then", async () => {
    const at = new Date(Date.now() + 1500);
    const id = (
      await t.pool.query<{ id: string }>(
        "INSERT INTO provision_workflow (tenant_customer_id, template_name, input, scheduled_at) VALUES ($1, 'e2e.child', '{\"n\": 1}', $2) RETURNING id",
        [acc.tenantId, at],
      )
    ).rows[0]!.id;
    await new Promise((r) => setTimeout(r, 700));
    expect((await runRow(t.pool, id)).status).toBe("pending");
    const done = await finalRun(id);
    expect(done.status).toBe("completed");
    expect(new Date(done.started_date).getTime()).toBeGreaterThanOrEqual(at.getTime() - 50);
  });

  it("a template that starts itself stops at the nesting limit (PV326); cancelling the top run cancels the chain", async () => {
    await publishTemplate(t.pool, "e2e.loop", {
      steps: [{ key: "again", kind: "provision", target: "provision_workflow", params: { template_name: "e2e.loop" } }],
    });
    const run = await insertRun(t.pool, acc.tenantId, "e2e.loop");
    const deepest = await waitFor(
      "the nesting limit",
      async () => (await t.pool.query("SELECT id FROM v_workflow_run WHERE error_code = 'PV326' AND status = 'failed'")).rows[0],
    );
    expect(deepest).toBeTruthy();
    const chain = await t.pool.query<{ status: string }>("SELECT status FROM v_workflow_run WHERE template_name = 'e2e.loop' ORDER BY created_date");
    // the top run and four below it; the fifth level failed, which blocks its parent (on_failure block)
    expect(chain.rows.map((r) => r.status)).toEqual(["running", "running", "running", "running", "blocked", "failed"]);
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelled");
    const after = await t.pool.query<{ status: string }>("SELECT status FROM v_workflow_run WHERE template_name = 'e2e.loop' ORDER BY created_date");
    expect(after.rows.map((r) => r.status)).toEqual(["cancelled", "cancelled", "cancelled", "cancelled", "cancelled", "failed"]);
  });
});
