/**
 * The role and tenant rules of workflows (migrations/0019, stored-procedures/workflow/, engine/security/
 * roles.sql): a tenant's session starts, sees and operates on its own runs only; every operation on
 * another tenant's run answers PV330, as for a run that does not exist; templates are readable by every
 * tenant and writable by the owner only; a run's task and wait steps and its step records are the
 * engine's to write.
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, loginAs, tenantClients, type TestDatabase } from "../../helpers/db.js";
import { createAccount, type Account } from "../../helpers/fixtures.js";
import { completeStep, expectPgError, failStep, insertRun, noop, publishTemplate, startRun, stepsOf } from "../../helpers/workflow.js";

let t: TestDatabase;
let a: Account;
let b: Account;
let orderUrl: string;
let readerUrl: string;
let runA: string;
let runB: string;
const clients = tenantClients();

beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool);
  b = await createAccount(t.pool);
  orderUrl = await loginAs(t, "provisio_order");
  readerUrl = await loginAs(t, "provisio_reader");
  await publishTemplate(t.pool, "sec.two", { steps: [noop("a"), noop("b", { depends_on: ["a"] })] });
  runB = await insertRun(t.pool, b.tenantId, "sec.two", {}, { key: "b-key" });
  await startRun(t.pool, runB);
  await failStep(t.pool, runB, "a"); // blocked: every operation would apply
}, 60_000);

afterAll(async () => {
  await clients.endAll();
  await t?.close();
});

describe("a tenant's session and workflow runs", () => {
  let c: pg.Client;
  beforeAll(async () => {
    c = await clients.connect(orderUrl, a.tenantId);
  });

  it("starts its own run by INSERT and by workflow_start, and reads it", async () => {
    runA = (
      await c.query<{ id: string }>("INSERT INTO provision_workflow (tenant_customer_id, template_name) VALUES ($1, 'sec.two') RETURNING id", [a.tenantId])
    ).rows[0]!.id;
    const started = (await c.query("SELECT * FROM workflow_start($1, 'sec.two', '{}', 'a-key')", [a.tenantId])).rows[0];
    expect(started.created).toBe(true);
    await startRun(t.pool, runA);
    const seen = (await c.query<{ id: string }>("SELECT id FROM v_workflow_run ORDER BY created_date")).rows.map((r) => r.id);
    expect(seen).toEqual([runA, started.run_id]);
    expect((await c.query("SELECT DISTINCT run_id FROM workflow_step_run")).rows).toEqual([{ run_id: runA }]);
    expect((await c.query("SELECT DISTINCT run_id FROM v_workflow_step")).rows).toEqual([{ run_id: runA }]);
    expect((await c.query("SELECT count(*)::int AS n FROM provision_workflow")).rows[0].n).toBe(2);
    expect((await c.query("SELECT template_name, runs::int FROM v_workflow_stats")).rows).toEqual([{ template_name: "sec.two", runs: 2 }]);
  });

  it("another tenant's runs: not started, not seen, not operated on (PV330, as for a run that does not exist)", async () => {
    await expectPgError(c.query("INSERT INTO provision_workflow (tenant_customer_id, template_name) VALUES ($1, 'sec.two')", [b.tenantId]), { code: "42501" });
    await expectPgError(c.query("SELECT * FROM workflow_start($1, 'sec.two', '{}', 'b-key')", [b.tenantId]), { code: "42501" });
    expect((await c.query("SELECT count(*)::int AS n FROM v_workflow_run WHERE id = $1", [runB])).rows[0].n).toBe(0);
    for (const sql of [
      "SELECT workflow_cancel($1)",
      "SELECT * FROM workflow_retry_step($1, 'a')",
      "SELECT * FROM workflow_skip_step($1, 'a')",
      "SELECT workflow_resume($1)",
      "SELECT workflow_recover($1)",
      "SELECT workflow_compensate($1)",
    ]) {
      const e = await expectPgError(c.query(sql, [runB]), { code: "PV330" });
      expect(e.message).toBe(`workflow run ${runB} does not exist`);
    }
    // the same answer for a run that does not exist at all
    await expectPgError(c.query("SELECT workflow_cancel($1)", ["00000000-0000-4000-8000-000000000000"]), { code: "PV330" });
    // nor recovered into its own tenant
    await expectPgError(
      c.query("INSERT INTO provision_workflow (tenant_customer_id, template_name, recovered_from_id) VALUES ($1, 'sec.two', $2)", [a.tenantId, runB]),
      { code: "PV324", message: /no run of template sec\.two of this tenant/ },
    );
    await expectPgError(c.query("SELECT workflow_plan('sec.two', '{}', NULL, $1)", [b.tenantId]), { code: "42501" });
    // b's run is untouched
    expect((await t.pool.query("SELECT status FROM v_workflow_run WHERE id = $1", [runB])).rows[0].status).toBe("blocked");
  });

  it("its own run: operations work", async () => {
    await completeStep(t.pool, runA, "a");
    expect((await c.query("SELECT workflow_cancel($1) AS s", [runA])).rows[0].s).toBe("cancelled");
    const plan = (await c.query("SELECT workflow_plan('sec.two', '{}') AS p")).rows[0].p;
    expect(plan.steps.map((s: { key: string }) => s.key)).toEqual(["a", "b"]);
  });

  it("the engine's columns and tables are not the tenant's", async () => {
    await expectPgError(c.query("INSERT INTO provision_workflow (tenant_customer_id, template_name, wf_status_id) VALUES ($1, 'sec.two', 6)", [a.tenantId]), {
      code: "42501",
    });
    await expectPgError(c.query("INSERT INTO provision_workflow_task (tenant_customer_id, task_name) VALUES ($1, 'noop')", [a.tenantId]), { code: "42501" });
    await expectPgError(c.query("INSERT INTO provision_workflow_wait (tenant_customer_id, until) VALUES ($1, now())", [a.tenantId]), { code: "42501" });
    await expectPgError(
      c.query("INSERT INTO workflow_step_run (run_id, tenant_customer_id, step_key, kind) VALUES ($1, $2, 'x', 'task')", [runA, a.tenantId]),
      { code: "42501" },
    );
    await expectPgError(c.query("UPDATE workflow_step_run SET status_id = 4 WHERE run_id = $1", [runA]), { code: "42501" });
    await expectPgError(c.query("UPDATE provision_workflow SET wf_status_id = 6 WHERE id = $1", [runA]), { code: "42501" });
    await expectPgError(c.query("SELECT workflow_run_start($1)", [runA]), { code: "42501" });
    await expectPgError(c.query("SELECT * FROM workflow_reconcile()"), { code: "42501" });
    await expectPgError(c.query("SELECT workflow_prune()"), { code: "42501" });
  });

  it("templates: read by every tenant, written by the owner only", async () => {
    expect((await c.query("SELECT count(*)::int AS n FROM workflow_template WHERE name = 'sec.two'")).rows[0].n).toBe(1);
    await expectPgError(
      c.query(`INSERT INTO workflow_template (name, version, definition) VALUES ('sec.mine', 1, '{"steps":[{"key":"a","kind":"task","target":"noop"}]}')`),
      { code: "42501" },
    );
    await expectPgError(c.query("UPDATE workflow_template SET status = 'retired' WHERE name = 'sec.two'"), { code: "42501" });
    await expectPgError(c.query("SELECT workflow_template_publish('sec.two', 1)"), { code: "42501" });
  });
});

describe("templates only the operator starts (the tenant lifecycle's), and task params", () => {
  let c: pg.Client;
  beforeAll(async () => {
    c = await clients.connect(orderUrl, a.tenantId);
  });

  it("a tenant's session may not start tenant.onboard or tenant.deprovision, nor operate on their runs (PV327)", async () => {
    const input = { tenant_slug: "a_slug", application_id: "00000000-0000-4000-8000-000000000001", admin_identity_id: "00000000-0000-4000-8000-000000000002" };
    await expectPgError(
      c.query("INSERT INTO provision_workflow (tenant_customer_id, template_name, input) VALUES ($1, 'tenant.deprovision', $2)", [a.tenantId, input]),
      {
        code: "PV327",
        column: "template_name",
      },
    );
    await expectPgError(c.query("SELECT * FROM workflow_start($1, 'tenant.onboard', '{}')", [a.tenantId]), { code: "PV327" });
    // the operator starts one for the tenant: the tenant sees it, and may not cancel, skip or retry its steps
    const run = await insertRun(t.pool, a.tenantId, "tenant.deprovision", input);
    expect((await c.query("SELECT template_name FROM v_workflow_run WHERE id = $1", [run])).rows).toEqual([{ template_name: "tenant.deprovision" }]);
    for (const sql of ["SELECT workflow_cancel($1)", "SELECT * FROM workflow_skip_step($1, 'backup')", "SELECT workflow_resume($1)"]) {
      await expectPgError(c.query(sql, [run]), { code: "PV327" });
    }
    expect((await t.pool.query("SELECT workflow_cancel($1) AS s", [run])).rows[0].s).toBe("cancelled");
  });

  it("a tenant overrides a provision step's columns only, never a task's params (PV333, PV306)", async () => {
    await publishTemplate(t.pool, "sec.mixed", {
      steps: [
        noop("task", { params: { fail: "no" } }),
        {
          key: "contact",
          kind: "provision",
          target: "provision_contact",
          params: { accreditation_id: { $ref: "input.acc" }, contact_id: "x", name: "A", city: "B", cc: "GB", email: "a@example.test" },
        },
      ],
    });
    const run = (
      await c.query<{ id: string }>("INSERT INTO provision_workflow (tenant_customer_id, template_name, input) VALUES ($1, 'sec.mixed', $2) RETURNING id", [
        a.tenantId,
        { acc: a.accreditationId },
      ])
    ).rows[0]!.id;
    await startRun(t.pool, run);
    await failStep(t.pool, run, "task");
    expect((await stepsOf(t.pool, run)).contact!.status).toBe("failed"); // contact_id "x" is too short (PV109)
    await expectPgError(c.query("SELECT * FROM workflow_retry_step($1, 'task', '{\"fail\": null}')", [run]), { code: "PV333" });
    await expectPgError(c.query("SELECT * FROM workflow_retry_step($1, 'contact', '{\"status_id\": 3}')", [run]), { code: "PV306" });
    await expectPgError(c.query("SELECT * FROM workflow_retry_step($1, 'contact', '{\"tenant_customer_id\": \"x\"}')", [run]), { code: "PV306" });
    const retried = (await c.query("SELECT * FROM workflow_retry_step($1, 'contact', '{\"contact_id\": \"ok-contact-1\"}')", [run])).rows[0];
    expect(retried.attempt).toBe(2);
    // the operator may override a task's params
    expect((await t.pool.query("SELECT (workflow_retry_step($1, 'task', '{\"fail\": null}')).attempt", [run])).rows[0].attempt).toBe(2);
  });
});

describe("the reader role", () => {
  it("sees its tenant's runs and steps only", async () => {
    const r = await clients.connect(readerUrl, b.tenantId);
    expect((await r.query("SELECT id FROM v_workflow_run")).rows).toEqual([{ id: runB }]);
    expect((await r.query("SELECT DISTINCT run_id FROM v_workflow_step")).rows).toEqual([{ run_id: runB }]);
    await expectPgError(r.query("SELECT workflow_cancel($1)", [runB]), { code: "42501" });
  });
});
