/**
 * `provisio workflow start|plan`, `provisio progress list|show|cancel|retry|skip|resume|recover|cleanup`
 * and `provisio stats` (src/cli/workflow.ts) as a person runs them: the CLI in a child process against
 * the test database. No worker runs: the test plays it, starting a run's job (job_start,
 * workflow_run_start) and finishing its steps' jobs (job_complete, job_fail), and the database advances
 * the run. Each test checks what the command printed and what it did to the database.
 */
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applySets, followRun, parseSet, progressBar } from "../../src/cli/workflow.js";
import { PROJECT_ROOT } from "../../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, type Account } from "../helpers/fixtures.js";
import { runCli } from "./run-cli.js";

let t: TestDatabase;
let dir: string;
let env: Record<string, string>;
let acc: Account;
let other: Account;

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const noop = (output: unknown) => ({ output });

/**
 * cli.block: a -> b, both noop tasks; b blocks the run when it fails (the default on_failure); a has a
 * compensation. cli.fail: the same, but b's failure fails the run.
 */
const definition = (onFailure: "block" | "fail") => ({
  steps: [
    {
      key: "a",
      kind: "task",
      target: "noop",
      params: noop({ greeting: { $ref: "input.name" } }),
      compensate: { kind: "task", target: "noop", params: noop({ undone: { $ref: "steps.a.output.greeting" } }) },
    },
    { key: "b", kind: "task", target: "noop", depends_on: ["a"], on_failure: onFailure, params: noop({ from_a: { $ref: "steps.a.output.greeting" } }) },
  ],
});
const schema = { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 1 }, size: { type: "integer" } } };

beforeAll(async () => {
  t = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "provisio-workflow-"));
  env = { DATABASE_URL: t.url, PROVISIO_LOG_LEVEL: "silent" };
  acc = await createAccount(t.pool);
  other = await createAccount(t.pool);
  for (const [name, onFailure] of [
    ["cli.block", "block"],
    ["cli.fail", "fail"],
  ] as const) {
    await t.pool.query("INSERT INTO workflow_template (name, input_schema, definition) VALUES ($1, $2, $3)", [name, schema, definition(onFailure)]);
    await t.pool.query("UPDATE workflow_template SET status = 'published' WHERE name = $1", [name]);
  }
  // cli.contact: a provision step, whose INSERT the plan checks (the contact's email)
  await t.pool.query("INSERT INTO workflow_template (name, status, input_schema, definition) VALUES ('cli.contact', 'published', $1, $2)", [
    { type: "object", required: ["accreditation_id", "email"], properties: { accreditation_id: { type: "string" }, email: { type: "string" } } },
    {
      steps: [
        {
          key: "contact",
          kind: "provision",
          target: "provision_contact",
          params: {
            accreditation_id: { $ref: "input.accreditation_id" },
            contact_id: "cli-plan-1",
            name: "Ann",
            city: "Oslo",
            cc: "NO",
            email: { $ref: "input.email" },
          },
        },
        { key: "hello", kind: "task", target: "noop", depends_on: ["contact"], params: noop({ id: { $ref: "steps.contact.provision_id" } }) },
      ],
    },
  ]);
});
afterAll(() => t?.close());

const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => (await t.pool.query(sql, params)).rows as T[];
const file = async (name: string, body: unknown) => {
  const f = path.join(dir, name);
  await writeFile(f, typeof body === "string" ? body : JSON.stringify(body));
  return f;
};

/** A run created through SQL (the CLI's own start is tested on its own). */
async function createRun(template: string, input: Record<string, unknown> = { name: "ann" }, tenant = acc.tenantId): Promise<string> {
  return (await q<{ run_id: string }>("SELECT run_id FROM workflow_start($1, $2, $3)", [tenant, template, input]))[0]!.run_id;
}
/** What the worker's workflow__start does: start the run's job, then the run. */
async function beginRun(run: string): Promise<void> {
  const job = (await q<{ job_id: string }>("SELECT job_id FROM provision_workflow WHERE id = $1", [run]))[0]!.job_id;
  await q("SELECT * FROM job_start($1)", [job]);
  await q("SELECT workflow_run_start($1)", [job]);
}
async function stepJob(run: string, key: string, phase = "forward"): Promise<string> {
  const r = await q<{ job_id: string | null }>("SELECT job_id FROM v_workflow_step WHERE run_id = $1 AND step_key = $2 AND phase = $3", [run, key, phase]);
  expect(r[0]?.job_id, `step ${key} (${phase}) of run ${run} has a job`).toBeTruthy();
  return r[0]!.job_id!;
}
/** What the worker does with a step's job that succeeds: start it, complete it with `output`. */
async function completeStep(run: string, key: string, output: Record<string, unknown> = {}, phase = "forward"): Promise<void> {
  const job = await stepJob(run, key, phase);
  await q("SELECT * FROM job_start($1)", [job]);
  await q("SELECT job_complete($1, $2::jsonb)", [job, output]);
}
async function failStep(run: string, key: string, code = "PV_TEST_FAIL"): Promise<void> {
  const job = await stepJob(run, key);
  await q("SELECT * FROM job_start($1)", [job]);
  await q("SELECT job_fail($1, 'it broke', $2::jsonb)", [job, { error_code: code, error: "it broke" }]);
}
const runStatus = async (run: string) => (await q<{ status: string }>("SELECT status FROM v_workflow_run WHERE id = $1", [run]))[0]?.status;
const steps = async (run: string) =>
  await q<{ phase: string; step_key: string; status: string; attempts: number; output: any; params: any; skipped_reason: string | null }>(
    "SELECT phase, step_key, status, attempts, output, params, skipped_reason FROM v_workflow_step WHERE run_id = $1 ORDER BY phase DESC, step_index",
    [run],
  );
/** A run of `template` whose step a completed and whose step b failed: blocked (cli.block) or failed (cli.fail). */
async function runWithFailedB(template: string): Promise<string> {
  const run = await createRun(template);
  await beginRun(run);
  await completeStep(run, "a", { greeting: "ann" });
  await failStep(run, "b");
  return run;
}

describe("provisio workflow start", () => {
  it("creates a run, returns it again for the same key, and refuses another request under the key (PV323, exit 1)", async () => {
    const args = ["workflow", "start", "cli.block", "--tenant", acc.tenantId, "--idempotency-key", "k1"];
    const first = await runCli([...args, "--set", "name=ann"], env);
    expect(first).toMatchObject({ code: 0, stderr: "" });
    const m = new RegExp(`^created run (${UUID}) \\(cli\\.block v1, pending\\)\\n`).exec(first.stdout);
    expect(m, first.stdout).not.toBeNull();
    const id = m![1]!;
    const rows = await q("SELECT tenant_customer_id, input, idempotency_key, template_version FROM provision_workflow WHERE id = $1", [id]);
    expect(rows).toEqual([{ tenant_customer_id: acc.tenantId, input: { name: "ann" }, idempotency_key: "k1", template_version: 1 }]);

    const again = await runCli([...args, "--set", "name=ann"], env);
    expect(again).toMatchObject({ code: 0, stderr: "" });
    expect(again.stdout).toBe(`run ${id} exists already for idempotency key k1 (cli.block v1, pending): not created again\n`);

    const conflict = await runCli([...args, "--set", "name=bob"], env);
    expect(conflict.code).toBe(1);
    expect(conflict.stdout).toBe("");
    expect(conflict.stderr).toMatch(new RegExp(`^provisio: idempotency_key k1: the tenant's run ${id} .*another request — run ${id} status pending`));
    expect(conflict.stderr).toMatch(/\[column idempotency_key\] \(SQLSTATE PV323; hint: a key names one request/);
    expect(await q("SELECT count(*)::int AS n FROM provision_workflow WHERE idempotency_key = 'k1'")).toEqual([{ n: 1 }]);
  });

  it("combines --input and --set (set wins, a.b sets a nested key, values parsed as JSON), with --version and --at", async () => {
    const input = await file("input.json", { name: "from-file", size: 1, extra: { keep: "yes" } });
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const r = await runCli(
      [
        "workflow",
        "start",
        "cli.block",
        "-t",
        acc.tenantId,
        "--input",
        input,
        "--set",
        "size=2",
        "--set",
        "extra.deep.flag=true",
        "--set",
        "extra.n=null",
        "--version",
        "1",
        "--at",
        at,
      ],
      env,
    );
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/\(cli\.block v1, pending, scheduled for /);
    const id = new RegExp(UUID).exec(r.stdout)![0];
    const [row] = await q("SELECT input, scheduled_at FROM provision_workflow WHERE id = $1", [id]);
    expect(row.input).toEqual({ name: "from-file", size: 2, extra: { keep: "yes", deep: { flag: true }, n: null } });
    expect(row.scheduled_at.toISOString()).toBe(at);
  });

  it("a usage error exits 2 and writes nothing; a refusal of the database exits 1", async () => {
    const before = await q("SELECT count(*)::int AS n FROM provision_workflow");
    const start = ["workflow", "start", "cli.block", "--tenant", acc.tenantId];
    const cases: [string[], RegExp][] = [
      [[...start, "--set", "noequals"], /--set takes key=value/],
      [[...start, "--set", "=x"], /--set takes key=value/],
      [[...start, "--set", "a..b=1"], /an empty key/],
      [[...start, "--set", "name=x", "--set", "name.first=y"], /^provisio: --set name\.first=y: name is "x", not an object\n$/],
      [[...start, "--input", path.join(dir, "missing.json")], /^provisio: --input .*missing\.json: ENOENT/],
      [[...start, "--input", await file("array.json", [1, 2])], /^provisio: --input .*array\.json: must hold a JSON object, got an array\n$/],
      [[...start, "--input", await file("broken.json", "{ nope")], /^provisio: --input .*broken\.json: .*JSON/],
      [[...start, "--at", "tomorrow"], /--at must be an ISO 8601 time/],
      [[...start, "--version", "0"], /--version must be a positive integer/],
      [["workflow", "start", "cli.block", "--set", "name=x"], /required option '-t, --tenant <uuid>' not specified/],
      [["workflow", "start", "cli.block", "--tenant", "acme"], /--tenant must be a uuid/],
      [["progress", "list", "--status", "sleeping"], /argument 'sleeping' is invalid. Allowed choices are pending, running/],
      [["progress", "show", "not-a-run"], /<run> must be a uuid/],
      [["progress", "retry", acc.tenantId, "b", "--phase", "sideways"], /Allowed choices are forward, compensate/],
      [["progress", "frobnicate"], /unknown command 'frobnicate'/],
      [["stats", "--limit", "3"], /unknown option '--limit'/],
    ];
    const results: Awaited<ReturnType<typeof runCli>>[] = [];
    for (let i = 0; i < cases.length; i += 4) results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => runCli(args, env)))));
    cases.forEach(([args, message], i) => {
      const r = results[i]!;
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    });
    expect(await q("SELECT count(*)::int AS n FROM provision_workflow")).toEqual(before);

    const badInput = await runCli([...start, "--set", "size=3"], env);
    expect(badInput.code).toBe(1);
    expect(badInput.stderr).toMatch(/^provisio: input.*name.*\[column input\] \(SQLSTATE PV321; hint: template cli\.block v1/);
    const noTemplate = await runCli(["workflow", "start", "cli.nothing", "--tenant", acc.tenantId], env);
    expect(noTemplate.code).toBe(1);
    expect(noTemplate.stderr).toMatch(/^provisio: template_name cli\.nothing: no such template \[column template_name\] \(SQLSTATE PV320/);
    expect(await q("SELECT count(*)::int AS n FROM provision_workflow")).toEqual(before);

    const help = await runCli(["progress", "retry", "--help"], env);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/workflow_retry_step\(run,\s+step,\s+params_override,\s+phase\)/);
  }, 240_000);
});

describe("provisio progress list and show", () => {
  it("list shows each run's status, progress and current steps; show its steps with their status and output", async () => {
    const run = await createRun("cli.block", { name: "lister" });
    await beginRun(run);
    await completeStep(run, "a", { greeting: "lister" });
    const elsewhere = await createRun("cli.fail", { name: "x" }, other.tenantId);

    const listed = await runCli(["progress", "list", "--tenant", acc.tenantId], env);
    expect(listed).toMatchObject({ code: 0, stderr: "" });
    expect(listed.stdout).toMatch(new RegExp(`${run}\\s*│?\\s*cli\\.block@1\\s*│?\\s*running\\s*│?\\s*50% 1/2\\s*│?\\s*b\\s`));
    expect(listed.stdout).not.toContain(elsewhere);
    const all = await runCli(["progress", "list"], env);
    expect(all.stdout).toContain(elsewhere);
    expect(all.stdout).toMatch(new RegExp(`${elsewhere}\\s*│?\\s*cli\\.fail@1\\s*│?\\s*…${other.tenantId.slice(-12)}\\s*│?\\s*pending\\s*│?\\s*0% 0/0`));
    const completedOnly = await runCli(["progress", "list", "--status", "completed", "--template", "cli.block@1"], env);
    expect(completedOnly.stdout).not.toContain(run);
    const asJson = JSON.parse((await runCli(["progress", "list", "--template", "cli.block", "--status", "running", "--json"], env)).stdout);
    expect(asJson.map((r: any) => r.id)).toContain(run);
    expect(asJson.find((r: any) => r.id === run)).toMatchObject({ status: "running", percent_done: 50, completed: 1, total: 2, current_steps: ["b"] });

    const shown = await runCli(["progress", "show", run], env);
    expect(shown).toMatchObject({ code: 0, stderr: "" });
    expect(shown.stdout).toMatch(
      new RegExp(`^run ${run}: cli\\.block v1 — running\\ntenant ${acc.tenantId}\\n\\[#####\\.\\.\\.\\.\\.\\] 50% 1/2 steps, 1 running\\n`),
    );
    expect(shown.stdout).toMatch(/forward\s*│?\s*a\s*│?\s*task\s*│?\s*noop\s*│?\s*completed\s*│?\s*1 \(job 1\/\d+\)\s*│?\s*│?\s*│?\s*\{"greeting":"lister"\}/);
    expect(shown.stdout).toMatch(/forward\s*│?\s*b\s*│?\s*task\s*│?\s*noop\s*│?\s*running\s*│?\s*1 \(job 0\/\d+\)/);
    expect(shown.stdout).toContain("current steps: b");
    const json = JSON.parse((await runCli(["progress", "show", run, "--json"], env)).stdout);
    expect(json.run).toMatchObject({ id: run, status: "running", is_final: false });
    expect(json.steps.map((s: any) => [s.phase, s.step_key, s.status])).toEqual([
      ["forward", "a", "completed"],
      ["forward", "b", "running"],
    ]);
    expect(json.steps[1].params).toEqual({ output: { from_a: "lister" } });

    const notStarted = await runCli(["progress", "show", elsewhere], env);
    expect(notStarted.stdout).toContain("no step rows yet: the run has not started");
    const missing = await runCli(["progress", "show", "00000000-0000-4000-8000-000000000000"], env);
    expect(missing).toMatchObject({ code: 1, stdout: "" });
    expect(missing.stderr).toBe("provisio: PV330: workflow run 00000000-0000-4000-8000-000000000000 does not exist (provisio progress list shows the runs)\n");
  });

  it("show --follow follows a run until it completes (exit 0), one line per change when stdout is not a terminal", async () => {
    const run = await createRun("cli.block", { name: "follower" });
    await beginRun(run);
    const follow = spawnCli(["progress", "show", run, "--follow"]);
    let r: Awaited<typeof follow.exit>;
    try {
      await follow.waitFor(/running — \[\.{10}\] 0% 0\/2 steps — current: a\n/);
      // the command LISTENs before its first read
      expect(
        await q("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN provisio_workflow_status'"),
      ).toEqual([{ n: 1 }]);
      await completeStep(run, "a", { greeting: "follower" });
      await follow.waitFor(/running — \[#####\.{5}\] 50% 1\/2 steps — current: b\n/);
      await completeStep(run, "b", { done: true });
      r = await follow.exit;
    } finally {
      follow.kill();
    }
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.filter((l) => / run .* 0% 0\/2 steps/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => / run .* 50% 1\/2 steps/.test(l))).toHaveLength(1);
    expect(r.stdout).toMatch(new RegExp(`run ${run} completed — \\[#{10}\\] 100% 2/2 steps\\n`));
    expect(r.stdout).toMatch(new RegExp(`run ${run}: cli\\.block v1 — completed\\n`));
    expect(await runStatus(run)).toBe("completed");
  });
});

describe("provisio progress operations", () => {
  it("cancel: queued steps cancelled; a second cancel changes nothing; --compensate undoes completed steps", async () => {
    const run = await createRun("cli.block");
    await beginRun(run);
    const aJob = await stepJob(run, "a");
    const r = await runCli(["progress", "cancel", run, "--no-compensate"], env);
    expect(r).toMatchObject({ code: 0, stderr: "", stdout: `run ${run} is cancelled: no step runs any more\n` });
    expect(await runStatus(run)).toBe("cancelled");
    expect((await steps(run)).map((s) => [s.step_key, s.status])).toEqual([
      ["a", "cancelled"],
      ["b", "cancelled"],
    ]);
    expect(await q("SELECT s.name FROM job j JOIN job_status s ON s.id = j.status_id WHERE j.id = $1", [aJob])).toEqual([{ name: "failed" }]);
    expect((await runCli(["progress", "cancel", run], env)).stdout).toBe(`run ${run} is cancelled: no step runs any more\n`);

    const done = await createRun("cli.block");
    await beginRun(done);
    await completeStep(done, "a", { greeting: "ann" });
    const c = await runCli(["progress", "cancel", done, "--compensate"], env);
    expect(c).toMatchObject({ code: 0, stderr: "" });
    expect(c.stdout).toBe(`run ${done} is compensating: the completed steps are being undone (their compensate steps)\n`);
    expect((await steps(done)).map((s) => [s.phase, s.step_key, s.status])).toEqual([
      ["forward", "a", "completed"],
      ["forward", "b", "cancelled"],
      ["compensate", "a", "running"],
    ]);
    await completeStep(done, "a", {}, "compensate");
    expect(await runStatus(done)).toBe("compensated");
  });

  it("retry a failed step of a blocked run, with --set params; a second retry returns the live attempt", async () => {
    const run = await runWithFailedB("cli.block");
    expect(await runStatus(run)).toBe("blocked");
    const shown = await runCli(["progress", "show", run], env);
    expect(shown.stdout).toContain("error: b: PV_TEST_FAIL it broke");
    expect(shown.stdout).toMatch(/b\s*│?\s*task\s*│?\s*noop\s*│?\s*failed\s*│?\s*1 \(job 1\/\d+\)\s*│?\s*PV_TEST_FAIL: it broke/);

    const r = await runCli(["progress", "retry", run, "b", "--set", "output.k=2"], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(`step b: attempt 2 is running (params override {"output":{"k":2}}); run ${run} is running\n`);
    const b = (await steps(run)).find((s) => s.step_key === "b")!;
    expect(b).toMatchObject({ status: "running", attempts: 2, params: { output: { k: 2 } } });
    expect(await runStatus(run)).toBe("running");
    expect((await runCli(["progress", "retry", run, "b"], env)).stdout).toBe(
      `step b: attempt 2 is running (params override {"output":{"k":2}}); run ${run} is running\n`,
    );
    await completeStep(run, "b", { k: 2 });
    expect(await runStatus(run)).toBe("completed");

    const unknown = await runCli(["progress", "retry", run, "zz"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^provisio: run .* has no forward step "zz" \(SQLSTATE PV332; hint: SELECT step_key/);
  });

  it("skip a failed step with --set output: its dependents read it and the run goes on", async () => {
    const run = await runWithFailedB("cli.block");
    const r = await runCli(["progress", "skip", run, "b", "--set", "k=7", "--set", "note=by hand"], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(`step b: attempt 2 is skipped with output {"k":7,"note":"by hand"}; run ${run} is completed\n`);
    expect((await steps(run)).find((s) => s.step_key === "b")).toMatchObject({
      status: "skipped",
      attempts: 2,
      skipped_reason: "operator",
      output: { k: 7, note: "by hand" },
    });
    expect(await q("SELECT wf_output -> 'b' AS b FROM provision_workflow WHERE id = $1", [run])).toEqual([{ b: { k: 7, note: "by hand" } }]);
    expect(await runStatus(run)).toBe("completed");
    // a skip of a run that is not blocked any more changes nothing
    expect((await runCli(["progress", "skip", run, "b", "--output", await file("out.json", { other: 1 })], env)).stdout).toBe(
      `step b: attempt 2 is skipped with output {"k":7,"note":"by hand"}; run ${run} is completed\n`,
    );
  });

  it("resume retries every failed step; on a running run it has nothing to retry", async () => {
    const run = await runWithFailedB("cli.block");
    const r = await runCli(["progress", "resume", run], env);
    expect(r).toMatchObject({ code: 0, stderr: "", stdout: `retried b; run ${run} is running\n` });
    expect((await steps(run)).find((s) => s.step_key === "b")).toMatchObject({ status: "running", attempts: 2 });
    expect((await runCli(["progress", "resume", run], env)).stdout).toBe(`no failed step to retry; run ${run} is running\n`);
  });

  it("recover a failed run: a new run that copies the completed steps; follow of the failed run exits 1", async () => {
    const run = await runWithFailedB("cli.fail");
    expect(await runStatus(run)).toBe("failed");
    const r = await runCli(["progress", "recover", run], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const m = new RegExp(`^(${UUID})\\nrun \\1 recovers run ${run} \\(pending\\)`).exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const next = m![1]!;
    expect(await q("SELECT recovered_from_id, tenant_customer_id, input FROM provision_workflow WHERE id = $1", [next])).toEqual([
      { recovered_from_id: run, tenant_customer_id: acc.tenantId, input: { name: "ann" } },
    ]);
    expect((await runCli(["progress", "recover", run], env)).stdout.split("\n")[0]).toBe(next);
    await beginRun(next);
    expect((await steps(next)).map((s) => [s.step_key, s.status])).toEqual([
      ["a", "completed"],
      ["b", "running"],
    ]);
    const shown = await runCli(["progress", "show", next], env);
    expect(shown.stdout).toContain(`recovered from run ${run}`);
    expect(shown.stdout).toMatch(/a\s*│?\s*task\s*│?\s*noop\s*│?\s*completed \(copied\)/);

    const followed = await runCli(["progress", "show", run, "--follow"], env);
    expect(followed.code).toBe(1);
    expect(followed.stdout).toMatch(new RegExp(`run ${run} failed — \\[#####\\.{5}\\] 50% 1/2 steps — error: b: PV_TEST_FAIL it broke\\n`));

    const notFailed = await runCli(["progress", "recover", next], env);
    expect(notFailed.code).toBe(1);
    expect(notFailed.stderr).toMatch(/^provisio: recover: run .* is running; recover applies to a run that is failed or cancelled \(SQLSTATE PV331/);
  });

  it("cleanup compensates a failed run's completed steps", async () => {
    const run = await runWithFailedB("cli.fail");
    const r = await runCli(["progress", "cleanup", run], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(`run ${run} is compensating: the compensations of its completed steps run, in reverse order\n`);
    const comp = (await steps(run)).find((s) => s.phase === "compensate")!;
    expect(comp).toMatchObject({ step_key: "a", status: "running", params: { output: { undone: "ann" } } });
    await completeStep(run, "a", {}, "compensate");
    expect(await runStatus(run)).toBe("compensated");
    expect((await steps(run)).find((s) => s.phase === "forward" && s.step_key === "a")?.status).toBe("compensated");
    expect((await runCli(["progress", "cleanup", run], env)).stdout).toBe(`run ${run} is compensated: every completed step with a compensate was undone\n`);

    const running = await createRun("cli.fail");
    await beginRun(running);
    const refused = await runCli(["progress", "cleanup", running], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^provisio: compensate: run .* is running; compensate applies to a run that is failed or cancelled/);
    expect(await runStatus(running)).toBe("running");
  });
});

describe("provisio stats", () => {
  it("totals, then per template version: runs, success rate, durations, running now, most failing step", async () => {
    // a tenant of its own, so the figures are known whatever the other tests did
    const solo = await createAccount(t.pool);
    const ok = await createRun("cli.fail", { name: "s1" }, solo.tenantId);
    await beginRun(ok);
    await completeStep(ok, "a", { greeting: "s1" });
    await completeStep(ok, "b");
    const bad = await createRun("cli.fail", { name: "s2" }, solo.tenantId);
    await beginRun(bad);
    await completeStep(bad, "a", { greeting: "s2" });
    await failStep(bad, "b");
    await createRun("cli.block", { name: "s3" }, solo.tenantId);

    const r = await runCli(["stats", "--tenant", solo.tenantId], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(
      /^3 run\(s\) of 2 template\(s\): 1 completed, 1 failed, cancelled or compensated, 1 running now \(0 blocked\); success rate 50%, mean completion time \d+\.\d s\n/,
    );
    expect(r.stdout).toMatch(/cli\.block\s*│?\s*1\s*│?\s*1\s*│?\s*0\s*│?\s*0\s*│?\s*1\s*│/);
    expect(r.stdout).toMatch(/cli\.fail\s*│?\s*1\s*│?\s*2\s*│?\s*1\s*│?\s*1\s*│?\s*0\s*│?\s*50%\s*│?\s*\d+\.\d s\s*│?\s*\d+\.\d s\s*│?\s*b\s/);

    const all = JSON.parse((await runCli(["stats", "--json"], env)).stdout);
    const view = await q(
      "SELECT template_name, runs::int, completed::int, failed::int, running::int FROM v_workflow_stats ORDER BY template_name, template_version",
    );
    expect(
      all.templates.map((x: any) => ({ template_name: x.template_name, runs: x.runs, completed: x.completed, failed: x.failed, running: x.running })),
    ).toEqual(view);
    expect(all.totals.runs).toBe(view.reduce((a: number, x: any) => a + x.runs, 0));
    expect(all.totals.runs).toBeGreaterThan(3);
    const one = JSON.parse((await runCli(["stats", "--template", "cli.fail", "--json"], env)).stdout);
    expect(one.templates.map((x: any) => x.template_name)).toEqual(["cli.fail"]);
    expect(one.templates[0].most_failing_step).toBe("b");
  });
});

describe("provisio workflow plan", () => {
  it("a table of the steps with their params; exit 1 when the input is refused; nothing is written", async () => {
    const before = await q("SELECT (SELECT count(*)::int FROM provision_workflow) AS runs, (SELECT count(*)::int FROM provision_workflow_task) AS tasks");
    const r = await runCli(["workflow", "plan", "cli.block", "--tenant", acc.tenantId, "--set", "name=planned"], env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/^plan of cli\.block v1 \(nothing was written\)\ninput \(defaults applied\): \{"name":"planned"\}\n/);
    expect(r.stdout).toMatch(/a\s*│?\s*task\s*│?\s*noop\s*│?\s*│?\s*yes\s*│?\s*\{"output":\{"greeting":"planned"\}\}/);
    expect(r.stdout).toMatch(/b\s*│?\s*task\s*│?\s*noop\s*│?\s*a\s*│?\s*yes\s*│?\s*known at run time: steps\.a\.output\.greeting/);
    expect(r.stdout).toMatch(/every step that can be checked before it runs is accepted\n$/);

    const refused = await runCli(["workflow", "plan", "cli.block", "--tenant", acc.tenantId, "--set", "size=x"], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/\ninput refused: .*\(PV321\)\n/);
    expect(refused.stdout).toMatch(/not runnable as given: the input refused\n$/);

    const json = await runCli(["workflow", "plan", "cli.block", "--tenant", acc.tenantId, "--set", "name=j", "--json"], env);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ template_name: "cli.block", template_version: 1, input: { name: "j" }, input_error: null });
    expect(plan.steps.map((s: any) => [s.key, s.unresolved, s.error_code])).toEqual([
      ["a", [], null],
      ["b", ["steps.a.output.greeting"], null],
    ]);
    expect(await q("SELECT (SELECT count(*)::int FROM provision_workflow) AS runs, (SELECT count(*)::int FROM provision_workflow_task) AS tasks")).toEqual(
      before,
    );

    const contact = ["workflow", "plan", "cli.contact", "--tenant", acc.tenantId, "--set", `accreditation_id=${acc.accreditationId}`];
    const good = await runCli([...contact, "--set", "email=ann@example.com"], env);
    expect(good.stderr).toBe("");
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/contact\s*│?\s*provision\s*│?\s*provision_contact\s*│?\s*│?\s*yes\s*│?\s*\{"cc":"NO",/);
    const bad = await runCli([...contact, "--set", "email=not-an-email"], env);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/contact\s*│?\s*provision\s*│?\s*provision_contact\s.*PV110: email "not-an-email"/);
    expect(bad.stdout).toMatch(/not runnable as given: 1 step\(s\) refused\n$/);
    expect(await q("SELECT count(*)::int AS n FROM provision_contact")).toEqual([{ n: 0 }]);

    const noTenant = await runCli(["workflow", "plan", "cli.block", "--set", "name=x"], env);
    expect(noTenant.code).toBe(1);
    expect(noTenant.stderr).toMatch(/^provisio: a plan needs a tenant/);
  });
});

describe("the pieces, in process", () => {
  it("--set: a nested key, JSON values, text otherwise; never the prototype", () => {
    expect(parseSet("a.b=1")).toEqual({ path: ["a", "b"], value: 1 });
    expect(parseSet("a=007")).toEqual({ path: ["a"], value: "007" });
    expect(parseSet('a={"x":[1]}')).toEqual({ path: ["a"], value: { x: [1] } });
    expect(parseSet("a=x=y")).toEqual({ path: ["a"], value: "x=y" });
    expect(parseSet("a=")).toEqual({ path: ["a"], value: "" });
    const base = { a: { keep: 1 }, b: 2 };
    const out = applySets(base, ["a.new=true", "b=3", "__proto__.polluted=yes", "c.d.e=null"]);
    expect(JSON.parse(JSON.stringify(out))).toEqual({ a: { keep: 1, new: true }, b: 3, ["__proto__"]: { polluted: "yes" }, c: { d: { e: null } } });
    expect(({} as any).polluted).toBeUndefined();
    expect(base).toEqual({ a: { keep: 1 }, b: 2 });
    expect(() => applySets({ a: [1] }, ["a.b=1"])).toThrow("--set a.b=1: a is [1], not an object");
    expect(progressBar(0, 0, 0)).toBe("[..........] 0% 0/0 steps");
    expect(progressBar(66.7, 2, 3)).toBe("[#######...] 67% 2/3 steps");
  });

  it("--follow on a terminal redraws the view in place until the run is final", async () => {
    const run = await createRun("cli.block", { name: "tty" });
    await beginRun(run);
    const writes: string[] = [];
    const out = { isTTY: true, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream;
    const followed = followRun(t.pool, run, { out });
    while (writes.length === 0) await new Promise((r) => setTimeout(r, 50));
    await completeStep(run, "a", { greeting: "tty" });
    await completeStep(run, "b");
    const snap = await followed;
    expect(snap.run.status).toBe("completed");
    expect(writes[0]).toMatch(new RegExp(`^run ${run}: cli\\.block v1 — running\n`));
    expect(writes.at(-1)).toMatch(new RegExp(`^run ${run}: cli\\.block v1 — completed\n[\\s\\S]*\\[#{10}\\] 100% 2/2 steps`));
    // every redraw first moves up over the lines of the previous view and clears them
    for (let i = 1; i < writes.length; i += 2) {
      expect(writes[i]).toBe(`\x1b[${writes[i - 1]!.split("\n").length - 1}F\x1b[J`);
    }
    expect(writes.length % 2).toBe(1);
  });
});

/** The CLI in a child process whose output can be waited for while it runs (runCli collects it at exit). */
function spawnCli(args: string[], timeoutMs = 60_000) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "src/cli/index.ts"), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: (() => void)[] = [];
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      for (const w of waiters.splice(0)) w();
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    exit,
    /** resolves once stdout matches `re`; rejects when the process exits first or after `ms` */
    async waitFor(re: RegExp, ms = 20_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!re.test(stdout)) {
        if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before printing ${re}; stdout: ${stdout}; stderr: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms; stdout: ${stdout}; stderr: ${stderr}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    kill: () => child.kill("SIGKILL"),
  };
}
