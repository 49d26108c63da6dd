/**
 * Chaos run (issue 3): 2,000 domain provisions in 200 orders, in flight across 2 worker processes, with
 * one worker SIGKILLed twice (a supervisor restarts it each time) and PostgreSQL restarted once, against
 * the EPP simulator over TLS on loopback (which also answers a few creates with 2400 and drops a few
 * connections after executing the create). Bounded: PROVISIO_CHAOS_DEADLINE_S (default 240) seconds.
 *
 * Alongside them, workflow runs (docs/decisions/0008) under the same SIGKILLs and restart:
 * PROVISIO_CHAOS_RUNS (default 100) runs of the built-in domain.register (three contacts in parallel,
 * then the domain: fan-out, fan-in) registering wf-<i>.example at the same simulator, and
 * PROVISIO_CHAOS_FAN_RUNS (default 50) runs of chaos.fan (published here: a noop root, four parallel noop
 * branches and a 2-second wait step when input.wait, then a noop join whose params reference the
 * branches' outputs, which reference the root's; input.flaky makes one branch fail its first attempt).
 * The runs come in four waves: the first is inserted with the provisions, before the chaos; each other
 * one just before an event strikes, which then waits (at most 5 s) until the wave's steps are being
 * worked on, so that every SIGKILL and the restart meet runs mid-step. A third of each wave is scheduled
 * (scheduled_at) 2 to 4 s later. graphile-worker takes jobs by (priority, run_at): every step a run
 * dispatches would otherwise queue behind all 2,000 provisions (enqueued at once) and run after the
 * chaos, so the provisions' queue entries get priority 1 once inserted (their order among themselves is
 * unchanged; a retry or a re-added job is queued at the default priority again).
 * The runs' domain and contact creates get faults of their own (2400, a drop after executing the create,
 * a drop before it), injected per object on its first create (test/helpers/chaos-workflows.ts); the
 * simulator's global rules stay the provisions'.
 *
 * At the end it checks, and prints as counts that must all be 0:
 *   lost        provisions missing, or completed without the domain at the registry
 *   duplicated  domains created more than once at the registry
 *   stuck       provisions not final at the deadline
 *   orders      plans, items or orders whose status does not match what they roll up from
 *   locked      graphile-worker jobs still present or locked, provisio jobs still open
 * and for the workflow runs:
 *   wf_stuck         runs neither final nor blocked at the deadline
 *   wf_blocked       runs that did not complete (blocked, or failed/cancelled): only transient faults are
 *                    injected, so each is a finding; each is printed with its failed steps' errors
 *   wf_duplicated    a run's domain or contact created more than once at the registry, or with more than
 *                    one provision row; a completed domain.register run whose domain is not at the
 *                    registry exactly once with exactly one completed provision_domain row (or whose
 *                    contacts are not there once each); a step with more than one attempt row; a task or
 *                    wait provision no step row names
 *   wf_undispatched  step rows ready, or pending with no dependency left, in runs that are not final
 *   wf_outputs       completed runs whose output lacks a step's key, domain.register runs without the
 *                    registry's roid (in the steps' output and in the run job's result), chaos.fan runs
 *                    whose join did not receive the values its references name
 *   wf_repairs       the workflow reconciler's repairs logged by the workers ("a repair is a bug found"):
 *                    printed by kind; ready_dispatched, settled and released count in the exit code
 * Exit code 0 when all are 0, 1 otherwise. Run: npm run chaos (also called by .ci/run).
 */
import pg from "pg";
import { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { countContactCreates, frameValue, linesMentioning, targetFaults, workflowRepairsLogged } from "../helpers/chaos-workflows.js";
import { createAccount } from "../helpers/fixtures.js";
import { startPrivatePostgres } from "../helpers/private-postgres.js";
import { spawnWorker, type WorkerProcess } from "../helpers/worker-process.js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const PROVISIONS = Number(process.env.PROVISIO_CHAOS_PROVISIONS ?? 2000);
const ORDERS = Math.max(1, Math.round(PROVISIONS / 10));
const DEADLINE_S = Number(process.env.PROVISIO_CHAOS_DEADLINE_S ?? 240);
const PASSWORD = `chaos-${Math.random().toString(36).slice(2)}`;
const RUNS = Number(process.env.PROVISIO_CHAOS_RUNS ?? 100);
const FAN_RUNS = Number(process.env.PROVISIO_CHAOS_FAN_RUNS ?? 50);
const ALL_RUNS = RUNS + FAN_RUNS;
/** the provisions' domains (the runs' are wf-<i>.example) */
const PROVISION_NAMES = "chaos-%";

/** chaos.fan: root -> a, b, c, d and (when input.wait) a 2 s wait -> join; outputs referenced across steps */
const BRANCHES = ["a", "b", "c", "d"] as const;
const FAN_DEFINITION = {
  steps: [
    { key: "root", kind: "task", target: "noop", params: { output: { seed: { $ref: "input.n" } } } },
    ...BRANCHES.map((b) => ({
      key: b,
      kind: "task",
      target: "noop",
      depends_on: ["root"],
      params: { output: { branch: b, seed: { $ref: "steps.root.output.seed" } }, ...(b === "b" ? { fail_attempts: { $ref: "input.flaky", default: 0 } } : {}) },
    })),
    { key: "pause", kind: "wait", depends_on: ["root"], when: { ref: "input.wait" }, params: { seconds: 2 } },
    {
      key: "join",
      kind: "task",
      target: "noop",
      depends_on: [...BRANCHES, "pause"],
      params: {
        output: {
          seeds: BRANCHES.map((b) => ({ $ref: `steps.${b}.output.seed` })),
          branches: BRANCHES.map((b) => ({ $ref: `steps.${b}.output.branch` })),
          waited_until: { $ref: "steps.pause.output.waited_until", default: null },
        },
      },
    },
  ],
};
const FAN_INPUT_SCHEMA = {
  type: "object",
  required: ["n"],
  properties: { n: { type: "integer" }, wait: { type: "boolean" }, flaky: { type: "integer", minimum: 0 } },
};
const contact = (id: string) => ({ contact_id: id, name: `Contact ${id}`, city: "Berlin", cc: "DE", email: `${id}@example.test` });

const log = (msg: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const started = Date.now();
  log(`starting PostgreSQL, the EPP simulator and 2 workers; ${PROVISIONS} provisions in ${ORDERS} orders`);
  const db = await startPrivatePostgres();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on("error", () => undefined);
  const sim = new EppRegistrySimulator({ registrars: { "chaos-registrar": PASSWORD }, tlds: ["example"] });
  await sim.start();
  const caDir = await mkdtemp(path.join(tmpdir(), "provisio-chaos-"));
  const caFile = path.join(caDir, "ca.pem");
  await writeFile(caFile, sim.certificate!.cert);
  const acc = await createAccount(pool, {
    connectorType: "epp",
    maxSessions: 6,
    tlds: ["example"],
    config: {
      host: "127.0.0.1",
      port: sim.port,
      clID: "chaos-registrar",
      password_env: "CHAOS_EPP_PASSWORD",
      tls: { ca_file: caFile, servername: "localhost" },
    },
  });
  await pool.query("UPDATE job_type SET retry_backoff_seconds = 0.2, retry_backoff_max_seconds = 2, max_attempts = 10");
  sim.faults.latencyMs = 2;
  sim.faults.add({ action: { kind: "respond", code: 2400 }, count: 15, commands: ["domain:create"] });
  sim.faults.add({ action: { kind: "drop", afterExecute: true }, count: 15, commands: ["domain:create"] });
  // the runs' creates: a fault of their own on the first create of some domains and contacts; their
  // commands never consume the rules above (those stay the provisions')
  const faulted = new Map<string, string>(); // object -> the fault its first create got
  targetFaults(sim, (command, frame) => {
    if (command !== "domain:create" && command !== "contact:create") return "default";
    const isDomain = command === "domain:create";
    const key = frameValue(frame, isDomain ? "name" : "id") ?? "";
    const m = (isDomain ? /^wf-(\d+)\.example$/ : /^wf(\d+)-(reg|adm|tech)$/).exec(key);
    if (!m) return "default";
    if (faulted.has(key)) return undefined;
    const i = Number(m[1]);
    const kind = isDomain
      ? (["2400", "drop after execute", "drop before execute"] as const)[i % 5]
      : { reg: i % 7 === 3 ? "2400" : undefined, adm: i % 7 === 4 ? "drop after execute" : undefined, tech: i % 7 === 5 ? "drop before execute" : undefined }[
          m[2] as "reg" | "adm" | "tech"
        ];
    if (!kind) return undefined;
    faulted.set(key, `${command} ${kind}`);
    return kind === "2400" ? { kind: "respond", code: 2400 } : { kind: "drop", afterExecute: kind === "drop after execute" };
  });
  const contactCreates = countContactCreates(sim);
  const fanVersion = (
    await pool.query<{ version: number }>(
      "INSERT INTO workflow_template (name, version, input_schema, definition) VALUES ('chaos.fan', NULL, $1, $2) RETURNING version",
      [JSON.stringify(FAN_INPUT_SCHEMA), JSON.stringify(FAN_DEFINITION)],
    )
  ).rows[0]!.version;
  await pool.query("SELECT workflow_template_publish('chaos.fan', $1)", [fanVersion]);

  const env = {
    CHAOS_EPP_PASSWORD: PASSWORD,
    PROVISIO_LOG_LEVEL: "warn",
    PROVISIO_HEARTBEAT_INTERVAL_MS: "1000",
    PROVISIO_WORKER_TIMEOUT_MS: "5000",
    PROVISIO_STUCK_JOB_AFTER_MS: "10000",
    PROVISIO_EPP_COMMAND_TIMEOUT_MS: "5000",
  };
  const workers: WorkerProcess[] = [spawnWorker(db.url, env, 8), spawnWorker(db.url, env, 8)];
  const allWorkers = [...workers];

  // orders with 10 items each, one plan per item, one provision per plan
  await pool.query(
    `WITH o AS (INSERT INTO "order" (tenant_customer_id, reference) SELECT $1, 'chaos-' || g FROM generate_series(1, $2) g RETURNING id, reference),
          i AS (INSERT INTO order_item (order_id, object_type, descr)
                SELECT o.id, 'domain', 'chaos-' || ((split_part(o.reference, '-', 2)::int - 1) * 10 + k) FROM o, generate_series(1, 10) k RETURNING id, descr)
     INSERT INTO order_item_plan (order_item_id, action) SELECT i.id, 'create' FROM i`,
    [acc.tenantId, ORDERS],
  );
  const t0 = Date.now();
  await pool.query(
    `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
     SELECT $1, $2, i.descr || '.example', ARRAY[p.id] FROM order_item_plan p JOIN order_item i ON i.id = p.order_item_id
     WHERE split_part(i.descr, '-', 2)::int <= $3`,
    [acc.tenantId, acc.accreditationId, PROVISIONS],
  );
  log(`inserted ${PROVISIONS} provisions in ${Date.now() - t0} ms`);
  // see the head: the runs' steps, dispatched later, go before the provisions still queued
  await pool.query("UPDATE graphile_worker._private_jobs SET priority = 1");

  // the workflow runs, in waves (see the head): wave 0 now, wave k just before event k strikes
  const WAVES = 4;
  const runSpecs = (wave: number) => [
    ...Array.from({ length: RUNS }, (_, k) => k + 1)
      .filter((i) => i % WAVES === wave)
      .map((i) => ({
        template: "domain.register",
        delay: i % 3 === 0 ? 2 + (i % 5) * 0.5 : 0,
        input: {
          accreditation_id: acc.accreditationId,
          domain: `wf-${i}.example`,
          period: 1,
          contacts: { registrant: contact(`wf${i}-reg`), admin: contact(`wf${i}-adm`), tech: contact(`wf${i}-tech`) },
        },
      })),
    ...Array.from({ length: FAN_RUNS }, (_, k) => k + 1)
      .filter((i) => i % WAVES === wave)
      .map((i) => ({
        template: "chaos.fan",
        delay: i % 3 === 0 ? 2 + (i % 5) * 0.5 : 0,
        input: { n: i, wait: i % 3 === 1, flaky: i % 5 === 1 ? 1 : 0 },
      })),
  ];
  const insertWave = async (wave: number) => {
    const specs = runSpecs(wave);
    const t1 = Date.now();
    await pool.query(
      `INSERT INTO provision_workflow (tenant_customer_id, template_name, input, scheduled_at)
       SELECT $1, r ->> 'template', r -> 'input', CASE WHEN (r ->> 'delay')::float8 > 0 THEN now() + make_interval(secs => (r ->> 'delay')::float8) END
       FROM jsonb_array_elements($2::jsonb) r`,
      [acc.tenantId, JSON.stringify(specs)],
    );
    const scheduled = specs.filter((r) => r.delay > 0).length;
    log(`wave ${wave}: inserted ${specs.length} runs (${scheduled} scheduled 2-4 s later) in ${Date.now() - t1} ms`);
  };
  await insertWave(0);

  const finalCount = async () =>
    Number((await pool.query("SELECT count(*) AS n FROM provision_domain WHERE name LIKE $1 AND status_id IN (3, 4)", [PROVISION_NAMES])).rows[0].n);
  // runs final or blocked (blocked waits for an operator: nothing more happens to it by itself)
  const runsSettled = async () =>
    Number(
      (
        await pool.query(
          "SELECT count(*) AS n FROM provision_workflow WHERE wf_status_id IN (wf_run_blocked(), wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated())",
        )
      ).rows[0].n,
    );
  // what is in flight when an event strikes
  const inFlight = async () => {
    const r = await pool.query(
      `SELECT count(*) FILTER (WHERE wf_status_id = wf_run_pending())::int AS pending, count(*) FILTER (WHERE wf_status_id = wf_run_running())::int AS running,
              (SELECT count(*)::int FROM workflow_step_run s JOIN job j ON j.id = s.job_id WHERE j.status_id = 2) AS steps_processing,
              (SELECT count(*)::int FROM workflow_step_run s JOIN job j ON j.id = s.job_id WHERE j.status_id = 1) AS steps_queued
       FROM provision_workflow`,
    );
    const x = r.rows[0];
    return {
      stepsProcessing: x.steps_processing as number,
      text: `runs pending ${x.pending}, running ${x.running}; step jobs processing ${x.steps_processing}, queued ${x.steps_queued}`,
    };
  };
  // before an event: a wave of runs, and (at most 5 s) until their steps are being worked on
  const beforeEvent = async (k: number) => {
    await insertWave(k + 1);
    for (const t = Date.now(); Date.now() - t < 5000;) {
      if ((await inFlight()).stepsProcessing >= 4) break;
      await sleep(50);
    }
  };
  const eventsInFlight: string[] = [];
  const events: { at: number; done: boolean; name: string; run: () => Promise<void> }[] = [
    { at: 0.15, done: false, name: "SIGKILL worker 1 (first time)", run: async () => killAndReplace(0) },
    { at: 0.45, done: false, name: "restart PostgreSQL", run: async () => db.restart() },
    { at: 0.7, done: false, name: "SIGKILL worker 1 (second time)", run: async () => killAndReplace(0) },
  ];
  async function killAndReplace(i: number) {
    const w = workers[i]!;
    w.child.kill("SIGKILL");
    await w.exited;
    workers[i] = spawnWorker(db.url, env, 8);
    allWorkers.push(workers[i]);
  }

  let done = 0;
  let settled = 0;
  let lastLog = 0;
  let provisionsElapsed: number | undefined;
  while (Date.now() - started < DEADLINE_S * 1000) {
    try {
      done = await finalCount();
      settled = await runsSettled();
    } catch {
      await sleep(200); // the database is restarting
      continue;
    }
    if (done >= PROVISIONS) provisionsElapsed ??= (Date.now() - t0) / 1000;
    for (const e of events) {
      if (!e.done && done >= e.at * PROVISIONS) {
        e.done = true;
        await beforeEvent(events.indexOf(e));
        const flying = await inFlight().then(
          (x) => x.text,
          (err: Error) => `unknown (${err.message})`,
        );
        eventsInFlight.push(`${e.name}: ${flying}`);
        log(`${done}/${PROVISIONS} final, ${settled}/${ALL_RUNS} runs settled: ${e.name} (${flying})`);
        await e.run();
      }
    }
    if (done >= PROVISIONS && settled >= ALL_RUNS && events.every((e) => e.done)) break;
    if (Date.now() - lastLog > 3000) {
      log(`${done}/${PROVISIONS} final, ${settled}/${ALL_RUNS} runs settled`);
      lastLog = Date.now();
    }
    await sleep(100);
  }
  const elapsed = (Date.now() - t0) / 1000;
  log(
    `${done}/${PROVISIONS} final after ${(provisionsElapsed ?? elapsed).toFixed(1)} s, ${settled}/${ALL_RUNS} runs settled after ${elapsed.toFixed(1)} s; waiting for the queue to drain`,
  );
  for (let i = 0; i < 100; i++) {
    const r = await pool.query(
      "SELECT (SELECT count(*) FROM graphile_worker._private_jobs)::int AS g, (SELECT count(*) FROM job WHERE status_id IN (1, 2))::int AS j",
    );
    if (r.rows[0].g === 0 && r.rows[0].j === 0) break;
    await sleep(100);
  }

  // ---- the checks ---------------------------------------------------------------------------------
  const rows = (await pool.query("SELECT name, status_id FROM provision_domain WHERE name LIKE $1", [PROVISION_NAMES])).rows as {
    name: string;
    status_id: number;
  }[];
  const missingRows = PROVISIONS - rows.length;
  const completed = rows.filter((r) => r.status_id === 3);
  const failedRows = rows.filter((r) => r.status_id === 4);
  const stuck = rows.filter((r) => r.status_id !== 3 && r.status_id !== 4).length;
  const notAtRegistry = completed.filter((r) => !sim.store.domains.has(r.name)).length;
  const duplicated = [...sim.store.domainCreates.values()].filter((n) => n > 1).length;
  const orders = Number(
    (
      await pool.query(
        `SELECT (SELECT count(*) FROM order_item_plan p JOIN provision_domain d ON p.id = ANY (d.order_item_plan_ids) WHERE p.status_id <> d.status_id)
          + (SELECT count(*) FROM order_item i WHERE i.status_id <> (SELECT rollup_status(array_agg(p.status_id)) FROM order_item_plan p WHERE p.order_item_id = i.id))
          + (SELECT count(*) FROM "order" o WHERE o.status_id <> (SELECT rollup_status(array_agg(i.status_id)) FROM order_item i WHERE i.order_id = o.id)) AS n`,
      )
    ).rows[0].n,
  );
  const locked = Number(
    (await pool.query("SELECT (SELECT count(*) FROM graphile_worker._private_jobs) + (SELECT count(*) FROM job WHERE status_id IN (1, 2)) AS n")).rows[0].n,
  );
  // what `locked` counts, to read when it is not 0
  const lockedRows = locked > 0 ? await lockedDiagnostics(pool) : [];
  const deadWorkers = Number((await pool.query("SELECT count(*) AS n FROM worker WHERE status = 'dead'")).rows[0].n);
  const lost = missingRows + notAtRegistry;
  const wf = await workflowChecks(pool, sim, contactCreates, faulted).catch((err: Error): WorkflowReport => ({
    byStatus: "unknown",
    stuck: 0,
    blocked: 0,
    duplicated: 0,
    undispatched: 0,
    outputs: 0,
    faultedRetried: "",
    reconciled: 0,
    retriedSteps: 0,
    findings: [`the workflow checks crashed: ${err.stack ?? err.message}`],
    crashed: true,
  }));

  // a worker restarted a moment ago may still be starting: SIGTERM it only once it can stop gracefully
  // (its heartbeat row is written as it starts, its SIGTERM handler just after), or it dies by the signal
  const pids = workers.map((w) => w.child.pid);
  for (let waited = 0; waited < 30_000; waited += 100) {
    const up = await pool.query("SELECT count(DISTINCT pid)::int AS n FROM worker WHERE pid = ANY($1) AND status = 'alive'", [pids]);
    if (up.rows[0].n === workers.length) break;
    await sleep(100);
  }
  await sleep(500);
  for (const w of workers) w.child.kill("SIGTERM");
  const codes = await Promise.all(workers.map((w) => w.exited));
  await pool.end();
  await sim.stop();
  await db.close();
  await rm(caDir, { recursive: true, force: true });

  log(
    `completed ${completed.length}, failed ${failedRows.length}; workers declared dead by heartbeat: ${deadWorkers}; worker exit codes on SIGTERM: ${codes.join(", ")}`,
  );
  const summary = { lost, duplicated, stuck, orders, locked };
  console.log(
    `chaos: ${PROVISIONS} provisions, 2 workers, 2 SIGKILLs, 1 PostgreSQL restart, ${(provisionsElapsed ?? elapsed).toFixed(1)} s: ` +
      Object.entries(summary)
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
  );

  // ---- the workflow runs' report ------------------------------------------------------------------
  const outputs = allWorkers.map((w) => w.output());
  const repairs = workflowRepairsLogged(outputs);
  const repairsCounted = repairs.sum.readyDispatched + repairs.sum.settled + repairs.sum.released + repairs.unparsed;
  const wfRepairs = Object.values(repairs.sum).reduce((a, b) => a + b, 0) + repairs.unparsed;
  const deadlocks = outputs.reduce((n, out) => n + out.split("\n").filter((l) => l.includes("40P01") || l.includes("deadlock detected")).length, 0);
  const faultsInjected = faulted.size;
  for (const line of eventsInFlight) log(`in flight at ${line}`);
  log(
    `runs: ${wf.byStatus}; run faults injected: ${faultsInjected}; ` +
      `faulted run creates whose step took a second job attempt: ${wf.faultedRetried || "none"}; run creates reconciled after a 2302: ${wf.reconciled}; ` +
      `run steps with more than one job attempt: ${wf.retriedSteps}; deadlock lines (40P01) in the worker logs: ${deadlocks}`,
  );
  log(
    `workflow reconciler repairs logged: ${Object.entries(repairs.sum)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}${repairs.unparsed ? `, unparsed lines ${repairs.unparsed}` : ""}`,
  );
  for (const line of repairs.lines.slice(0, 20)) console.log(`  ${line}`);
  const wfSummary = {
    wf_stuck: wf.stuck,
    wf_blocked: wf.blocked,
    wf_duplicated: wf.duplicated,
    wf_undispatched: wf.undispatched,
    wf_outputs: wf.outputs,
    wf_repairs: wfRepairs,
  };
  console.log(
    `chaos workflows: ${RUNS} domain.register + ${FAN_RUNS} chaos.fan runs, ${elapsed.toFixed(1)} s: ` +
      Object.entries(wfSummary)
        .map(([k, v]) => `${k}=${v}`)
        .join(" "),
  );
  for (const f of wf.findings) console.log(f);
  if (problemIds.length) {
    console.log("worker log lines naming the runs and jobs of the findings:");
    for (const line of linesMentioning(outputs, problemIds, 80)) console.log(`  ${line}`);
  }
  const wfBad =
    wf.crashed === true || wf.stuck + wf.blocked + wf.duplicated + wf.undispatched + wf.outputs + repairsCounted > 0 || (RUNS > 0 && faultsInjected === 0);
  if (RUNS > 0 && faultsInjected === 0) console.error("chaos: no fault reached the runs' creates (test/helpers/chaos-workflows.ts targetFaults)");

  const bad = Object.values(summary).some((v) => v !== 0) || failedRows.length > 0 || !events.every((e) => e.done) || codes.some((c) => c !== 0) || wfBad;
  if (bad) {
    console.error("chaos: FAILED");
    for (const line of lockedRows) console.error(`locked: ${line}`);
    const lockedIds = lockedRows.flatMap((l) => [...l.matchAll(/"(?:key|id|payload_job_id|reference_id|parent_id)":"([0-9a-f-]{36})"/g)].map((m) => m[1]!));
    for (const line of linesMentioning(outputs, lockedIds, 40)) console.error(`locked: ${line}`);
    if (failedRows.length)
      console.error(
        `failed provisions: ${failedRows
          .slice(0, 5)
          .map((r) => r.name)
          .join(", ")}`,
      );
    for (const [i, w] of allWorkers.entries()) console.error(`--- worker ${i} output (tail) ---\n${w.output().slice(-3000)}`);
    return 1;
  }
  console.log("chaos: OK");
  return 0;
}

/** The graphile-worker jobs and open provisio jobs `locked` counts (at most 10 of each), with the provisio job a graphile job's payload names. */
async function lockedDiagnostics(pool: pg.Pool): Promise<string[]> {
  try {
    return [
      ...(
        await pool.query(
          `SELECT g.id, (SELECT t.identifier FROM graphile_worker._private_tasks t WHERE t.id = g.task_id) AS task_identifier, g.key, g.payload ->> 'job_id' AS payload_job_id, g.run_at, g.attempts, g.max_attempts, g.locked_at, g.locked_by, g.last_error, g.created_at, g.updated_at,
                      (SELECT row_to_json(x) FROM (SELECT j.status_id, j.attempts, j.max_attempts, j.created_date, j.start_date, j.end_date, j.retry_date, j.result_message,
                                                          EXISTS (SELECT 1 FROM graphile_worker._private_jobs k WHERE k.key = j.id::text) AS keyed_job_present
                                                   FROM job j WHERE j.id::text = g.payload ->> 'job_id') x) AS provisio_job
               FROM graphile_worker._private_jobs g ORDER BY g.id LIMIT 10`,
        )
      ).rows.map((r) => `graphile-worker job ${JSON.stringify(r)}`),
      ...(
        await pool.query(
          `SELECT j.id, t.name AS type, j.status_id, j.reference_table, j.reference_id, j.attempts, j.max_attempts, j.parent_id, j.created_date, j.start_date,
                      j.retry_date, j.result_message
               FROM job j JOIN job_type t ON t.id = j.type_id WHERE j.status_id IN (1, 2) ORDER BY j.created_date LIMIT 10`,
        )
      ).rows.map((r) => `open job ${JSON.stringify(r)}`),
    ];
  } catch (err) {
    return [`(diagnostics failed: ${(err as Error).message})`];
  }
}

interface WorkflowReport {
  byStatus: string;
  stuck: number;
  blocked: number;
  duplicated: number;
  undispatched: number;
  outputs: number;
  /** per fault kind: the faulted creates whose step job took more than one attempt, of how many */
  faultedRetried: string;
  reconciled: number;
  retriedSteps: number;
  /** what to print: each blocked run, and the evidence for every other finding */
  findings: string[];
  /** the checks themselves failed (a query error): the run fails */
  crashed?: boolean;
}

/** The workflow runs' checks (see the head), with the evidence of each finding. */
async function workflowChecks(
  pool: pg.Pool,
  sim: EppRegistrySimulator,
  contactCreates: Map<string, number>,
  faulted: Map<string, string>,
): Promise<WorkflowReport> {
  const runs = (
    await pool.query(
      `SELECT v.id, v.template_name, v.status, v.is_final, v.input, v.output, v.error_code, v.error, v.job_id, j.result_data AS job_result,
              (SELECT array_agg(s ->> 'key') FROM jsonb_array_elements(w.wf_definition -> 'steps') s) AS step_keys
       FROM v_workflow_run v JOIN provision_workflow w ON w.id = v.id LEFT JOIN job j ON j.id = v.job_id ORDER BY v.created_date`,
    )
  ).rows as Record<string, any>[];
  const steps = (
    await pool.query(
      `SELECT s.*, ss.name AS status, j.attempts AS job_attempts, j.status_id AS job_status_id, j.result_data AS job_result
       FROM workflow_step_run s JOIN workflow_step_status ss ON ss.id = s.status_id LEFT JOIN job j ON j.id = s.job_id
       ORDER BY s.run_id, s.step_key, s.phase, s.attempt`,
    )
  ).rows as Record<string, any>[];
  const stepsOf = new Map<string, Record<string, any>[]>();
  for (const s of steps) stepsOf.set(s.run_id, [...(stepsOf.get(s.run_id) ?? []), s]);
  const provDomains = new Map<string, { all: number; completed: number }>();
  for (const r of (
    await pool.query(
      "SELECT name, count(*)::int AS all, count(*) FILTER (WHERE status_id = 3)::int AS completed FROM provision_domain WHERE name LIKE 'wf-%' GROUP BY name",
    )
  ).rows)
    provDomains.set(r.name, { all: r.all, completed: r.completed });
  const provContacts = new Map<string, { all: number; completed: number }>();
  for (const r of (
    await pool.query(
      "SELECT contact_id, count(*)::int AS all, count(*) FILTER (WHERE status_id = 3)::int AS completed FROM provision_contact GROUP BY contact_id",
    )
  ).rows)
    provContacts.set(r.contact_id, { all: r.all, completed: r.completed });

  const findings: string[] = [];
  const problem = new Map<string, string[]>(); // run id -> why
  const flag = (runId: string, why: string) => problem.set(runId, [...(problem.get(runId) ?? []), why]);
  let stuck = 0;
  let blocked = 0;
  let duplicated = 0;
  let outputs = 0;

  for (const r of runs) {
    const rs = stepsOf.get(r.id) ?? [];
    if (!r.is_final && r.status !== "blocked") {
      stuck++;
      flag(r.id, `stuck: ${r.status}`);
    }
    if (r.status === "blocked" || (r.is_final && r.status !== "completed")) {
      blocked++;
      const failed = rs.filter(
        (s) => s.status !== "completed" && s.status !== "skipped" && s.status !== "running" && s.status !== "pending" && s.status !== "ready",
      );
      findings.push(
        `wf_blocked: run ${r.id} (${r.template_name} ${JSON.stringify(r.input.domain ?? r.input)}) ${r.status}${r.error_code ? ` ${r.error_code}` : ""}: ` +
          (failed
            .map((s) => `${s.step_key}#${s.attempt} ${s.status} ${s.error_code ?? ""} ${s.error_message ?? ""} (job attempts ${s.job_attempts})`)
            .join("; ") || String(r.error ?? "no failed step")),
      );
    }
    // one attempt per step (nobody retried a step by hand here)
    for (const s of rs.filter((x) => x.attempt > 1)) {
      duplicated++;
      flag(r.id, `step ${s.step_key} has attempt ${s.attempt}`);
    }
    if (r.template_name === "domain.register") {
      const d: string = r.input.domain;
      const creates = sim.store.domainCreates.get(d) ?? 0;
      const prov = provDomains.get(d) ?? { all: 0, completed: 0 };
      if (creates > 1 || prov.all > 1) {
        duplicated++;
        flag(r.id, `domain ${d}: ${creates} creates at the registry, ${prov.all} provision_domain rows`);
      } else if (r.status === "completed" && (creates !== 1 || !sim.store.domains.has(d) || prov.completed !== 1)) {
        duplicated++;
        flag(
          r.id,
          `completed, but domain ${d}: ${creates} creates, at the registry ${sim.store.domains.has(d)}, ${prov.completed} completed provision_domain rows`,
        );
      }
      for (const role of ["registrant", "admin", "tech"]) {
        const id: string = r.input.contacts[role].contact_id;
        const c = contactCreates.get(id) ?? 0;
        const pc = provContacts.get(id) ?? { all: 0, completed: 0 };
        if (c > 1 || pc.all > 1) {
          duplicated++;
          flag(r.id, `contact ${id}: ${c} creates at the registry, ${pc.all} provision_contact rows`);
        } else if (r.status === "completed" && (c !== 1 || !sim.store.contacts.has(id) || pc.completed !== 1)) {
          duplicated++;
          flag(
            r.id,
            `completed, but contact ${id}: ${c} creates, at the registry ${sim.store.contacts.has(id)}, ${pc.completed} completed provision_contact rows`,
          );
        }
      }
    }
    if (r.status === "completed") {
      const out = (r.output ?? {}) as Record<string, any>;
      const missing = (r.step_keys as string[]).filter((k) => !(k in out));
      let why = missing.length ? `output lacks ${missing.join(", ")}` : "";
      if (r.template_name === "domain.register") {
        const roid = sim.store.domains.get(r.input.domain)?.roid;
        if (!out.domain?.roid || out.domain.roid !== roid || r.job_result?.output?.roid !== roid)
          why += ` roid: step output ${out.domain?.roid}, run job result ${r.job_result?.output?.roid}, registry ${roid}`;
      } else {
        const n = r.input.n;
        const j = out.join ?? {};
        const ok =
          out.root?.seed === n &&
          JSON.stringify(j.seeds) === JSON.stringify(BRANCHES.map(() => n)) &&
          JSON.stringify(j.branches) === JSON.stringify(BRANCHES) &&
          (r.input.wait ? typeof j.waited_until === "string" && out.pause?.waited_until === j.waited_until : j.waited_until === null && out.pause === null);
        if (!ok) why += ` join received ${JSON.stringify(j)} (root ${JSON.stringify(out.root)}, pause ${JSON.stringify(out.pause)})`;
      }
      if (why) {
        outputs++;
        flag(r.id, `wf_outputs: ${why.trim()}`);
      }
    }
  }
  // a task or wait provision no step row names: a step dispatched twice
  const orphans = (
    await pool.query(
      `SELECT 'provision_workflow_task' AS t, id FROM provision_workflow_task p WHERE NOT EXISTS (SELECT 1 FROM workflow_step_run s WHERE s.provision_id = p.id)
       UNION ALL SELECT 'provision_workflow_wait', id FROM provision_workflow_wait p WHERE NOT EXISTS (SELECT 1 FROM workflow_step_run s WHERE s.provision_id = p.id)`,
    )
  ).rows;
  duplicated += orphans.length;
  for (const o of orphans.slice(0, 10)) findings.push(`wf_duplicated: ${o.t} ${o.id} belongs to no step row`);

  const undispatchedRows = (
    await pool.query(
      `SELECT s.run_id, s.step_key, s.attempt, s.status_id, s.remaining_deps, s.created_date FROM workflow_step_run s JOIN provision_workflow w ON w.id = s.run_id
       WHERE w.wf_status_id NOT IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated())
         AND (s.status_id = wf_step_ready() OR (s.status_id = wf_step_pending() AND s.remaining_deps = 0))`,
    )
  ).rows;
  for (const u of undispatchedRows) flag(u.run_id, `undispatched: ${u.step_key}#${u.attempt} status ${u.status_id}, remaining_deps ${u.remaining_deps}`);

  // evidence for the runs with a finding (at most 5 in full)
  for (const [i, [runId, why]] of [...problem.entries()].entries()) {
    findings.push(`finding: run ${runId}: ${why.join("; ")}`);
    if (i >= 5) continue;
    const rs = (await pool.query("SELECT * FROM workflow_step_run WHERE run_id = $1 ORDER BY phase, step_key, attempt", [runId])).rows;
    const jobIds = [runs.find((r) => r.id === runId)?.job_id, ...rs.map((s) => s.job_id)].filter(Boolean);
    const jobs = (
      await pool.query(
        `SELECT id, type_id, status_id, reference_table, reference_id, attempts, max_attempts, parent_id, created_date, start_date, end_date, retry_date,
                result_message, result_data
         FROM job WHERE id = ANY($1) ORDER BY created_date`,
        [jobIds],
      )
    ).rows; // not data: it holds the objects' authInfo
    const gjobs = (await pool.query("SELECT * FROM graphile_worker.jobs WHERE key = ANY($1)", [jobIds.map(String)])).rows;
    findings.push(`  workflow_step_run rows:\n${rs.map((s) => `    ${JSON.stringify(s)}`).join("\n")}`);
    findings.push(`  job rows:\n${jobs.map((j) => `    ${JSON.stringify(j)}`).join("\n")}`);
    findings.push(`  graphile-worker jobs: ${gjobs.length ? gjobs.map((g) => JSON.stringify(g)).join("\n    ") : "none"}`);
    findings.push(`  (worker log lines: printed after the workers stop)`);
    problemIds.push(runId, ...jobIds.map(String));
  }

  const count = new Map<string, number>();
  for (const r of runs) count.set(`${r.template_name} ${r.status}`, (count.get(`${r.template_name} ${r.status}`) ?? 0) + 1);
  const runSteps = steps.filter((s) => s.job_id);
  // per fault kind: how many of the faulted creates' steps took more than one job attempt
  const perKind = new Map<string, { n: number; retried: number }>();
  for (const st of runSteps) {
    const kind = faulted.get((st.target === "provision_contact" ? st.params?.contact_id : st.params?.name) ?? "");
    if (!kind) continue;
    const k = perKind.get(kind) ?? { n: 0, retried: 0 };
    k.n++;
    if (st.job_attempts > 1) k.retried++;
    perKind.set(kind, k);
  }
  const faultedRetried = [...perKind.entries()].map(([kind, k]) => `${kind} ${k.retried}/${k.n}`).join(", ");
  return {
    byStatus: [...count.entries()].map(([k, v]) => `${k} ${v}`).join(", "),
    stuck,
    blocked,
    duplicated,
    undispatched: undispatchedRows.length,
    outputs,
    faultedRetried,
    reconciled: runSteps.filter((s) => s.job_result?.reconciled === true).length,
    retriedSteps: runSteps.filter((s) => s.job_attempts > 1).length,
    findings,
  };
}
/** runs and jobs of findings: their worker log lines are printed once the workers have stopped */
const problemIds: string[] = [];

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error("chaos: crashed", err);
    process.exit(1);
  },
);
