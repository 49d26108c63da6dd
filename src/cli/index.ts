#!/usr/bin/env node
/**
 * provisio — the command line (commander). Every command has --help.
 *   provisio migrate                 schema, graphile-worker schema, stored procedures
 *   provisio worker [--concurrency]  run jobs until SIGTERM/SIGINT (and the event relay when AMQP_URL is set)
 *   provisio relay                   publish the event outbox to RabbitMQ (AMQP_URL) until SIGTERM/SIGINT
 *   provisio simulator [--port]      the built-in EPP registry over TLS
 *   provisio status [--workers]      orders and provisions as tables
 *   provisio start                   demo (no DATABASE_URL) or production worker (DATABASE_URL set)
 *   provisio access plan|discover|drift|approve   the access family (src/cli/access.ts)
 *   provisio template list|show|create|publish|retire   workflow templates (src/cli/template.ts)
 *   provisio workflow start|plan, progress list|show|cancel|retry|skip|resume|recover|cleanup, stats   workflow runs (src/cli/workflow.ts)
 *   provisio deprovision tenant <id>   the built-in tenant.deprovision (src/cli/deprovision.ts)
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { config } from "../config.js";
import { migrate } from "../db/migrate.js";
import { createPool } from "../db/pool.js";
import { DatabaseService, resolveDatabase } from "../db/resolve.js";
import { ConfigurationError } from "../errors.js";
import { RelayService, relayOptionsFromConfig } from "../events/relay.js";
import { logger } from "../logger.js";
import { startServices, stopOnSignals } from "../services.js";
import { EppRegistrySimulator, SimulatorService } from "../simulators/epp-registry/server.js";
import { approveCommand, discoverCommand, driftCommand, planCommand } from "./access.js";
import { deprovisionTenant, type DeprovisionOptions } from "./deprovision.js";
import { templateCreate, templateList, templatePublish, templateRetire, templateShow } from "./template.js";
import { isUuid, positiveInt, uuidArg } from "./args.js";
import { errorLine } from "./error-line.js";
import { renderStatus } from "./status.js";
import { runDemo, workerServices } from "./start.js";
import { registerWorkflowCommands } from "./workflow.js";

const program = new Command()
  .name("provisio")
  .description("PostgreSQL-centric provisioning engine: INSERT provision rows, the worker does the rest.")
  .showHelpAfterError();

program
  .command("migrate")
  .description(
    "apply migrations/, graphile-worker's schema and stored-procedures/ to the database (as provisio_owner when the login is a member of it; see README 'Roles and tenants')",
  )
  .action(async () => {
    const db = await resolveDatabase();
    try {
      const r = await migrate(db.url);
      console.log(`migrated: ${r.applied.length ? r.applied.join(", ") : "schema already current"}; ${r.procedures.length} stored-procedure files applied`);
    } finally {
      await db.close();
    }
  });

program
  .command("worker")
  .description(
    "run provisioning jobs until SIGTERM/SIGINT (graceful: in-flight jobs finish); with AMQP_URL set, also the event relay (see `provisio relay --help`), stopped after the jobs so their last events go out",
  )
  .option("-c, --concurrency <n>", "jobs run at once", positiveInt("--concurrency"))
  .action(async (opts: { concurrency?: number }) => {
    const cfg = config();
    const db = new DatabaseService();
    const running = await startServices([db, ...workerServices(cfg, () => db.url, opts.concurrency ? { concurrency: opts.concurrency } : {})]);
    stopOnSignals(running, { timeoutMs: cfg.PROVISIO_SHUTDOWN_TIMEOUT_MS });
  });

program
  .command("relay")
  .description("publish the event outbox (table event) to RabbitMQ at AMQP_URL until SIGTERM/SIGINT")
  .addHelpText(
    "after",
    `
Events go to the durable topic exchange provisio.events with routing key <aggregate>.<status>
(provision.completed, order.failed, ...), as CloudEvents 1.0 in structured JSON mode
(content type application/cloudevents+json; id = the event row's id = the AMQP message-id).
A row is marked published only after the broker confirmed it: delivery is at-least-once, so
consumers de-duplicate by id. Any number of relays (and workers with AMQP_URL) may run: one holds
a PostgreSQL advisory lock and publishes in id order, the others wait and take over when its
session ends. Published events older than PROVISIO_EVENT_RETENTION_HOURS are deleted.
Environment: AMQP_URL (required), DATABASE_URL, PROVISIO_EVENT_BATCH_SIZE,
PROVISIO_EVENT_POLL_INTERVAL_MS, PROVISIO_EVENT_RETENTION_HOURS (README "Events (RabbitMQ)").`,
  )
  .action(async () => {
    const cfg = config();
    if (!cfg.AMQP_URL) throw new ConfigurationError("AMQP_URL is not set: the relay has no broker to publish to");
    const db = new DatabaseService();
    // the relay retries for ever while the database or the broker is unreachable: it has no fatal error
    const running = await startServices([db, new RelayService(() => relayOptionsFromConfig(cfg, db.url))]);
    stopOnSignals(running, { timeoutMs: cfg.PROVISIO_SHUTDOWN_TIMEOUT_MS });
    console.log("provisio event relay running (one relay is active at a time; the others wait). Ctrl-C stops it.");
  });

program
  .command("simulator")
  .description("run the built-in EPP registry simulator (RFC 5730-5734 over TLS)")
  .option("-p, --port <port>", "TCP port", positiveInt("--port"))
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--registrar <clID:password...>", "registrar accounts", ["demo-registrar:demo-password"])
  .option("--tld <tld...>", "TLDs served", ["example", "test"])
  .option("--ca-out <file>", "write the self-signed certificate (PEM) here for clients to trust")
  .action(async (opts: { port?: number; host: string; registrar: string[]; tld: string[]; caOut?: string }) => {
    const registrars = Object.fromEntries(
      opts.registrar.map((r) => {
        const i = r.indexOf(":");
        if (i < 1) throw new InvalidArgumentError(`--registrar must be clID:password, got "${r}"`);
        return [r.slice(0, i), r.slice(i + 1)];
      }),
    );
    const sim = new EppRegistrySimulator({ registrars, tlds: opts.tld, host: opts.host, port: opts.port ?? config().PROVISIO_SIMULATOR_PORT, log: logger() });
    const running = await startServices([new SimulatorService(sim)]);
    stopOnSignals(running, { timeoutMs: config().PROVISIO_SHUTDOWN_TIMEOUT_MS });
    const port = sim.port;
    if (opts.caOut) {
      await mkdir(path.dirname(path.resolve(opts.caOut)), { recursive: true });
      await writeFile(opts.caOut, sim.certificate!.cert);
    }
    console.log(
      `EPP registry simulator on ${opts.host}:${port} (TLS${opts.caOut ? `, certificate in ${opts.caOut}` : ""}); registrars: ${Object.keys(registrars).join(", ")}; TLDs: ${opts.tld.join(", ")}`,
    );
  });

program
  .command("status")
  .description("show recent orders and provisions")
  .option("-n, --limit <n>", "rows per table", positiveInt("--limit"), 20)
  .option("-t, --tenant <uuid>", "only this tenant_customer_id (orders, provisions and the count by status)", uuidArg("--tenant"))
  .option("-w, --workers", "also list worker processes and their heartbeats")
  .action(async (opts: { limit: number; tenant?: string; workers?: boolean }) => {
    const db = await resolveDatabase();
    const pool = createPool(db.url, 2);
    try {
      console.log(await renderStatus(pool, opts));
    } finally {
      await pool.end();
      await db.close();
    }
  });

/** Run `fn` with a pool on the resolved database (DATABASE_URL or the embedded one), then close both. */
async function withPool<T>(fn: (pool: ReturnType<typeof createPool>) => Promise<T>): Promise<T> {
  const db = await resolveDatabase();
  const pool = createPool(db.url, 2);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
    await db.close();
  }
}
const progress = (line: string) => console.error(line);

const access = program
  .command("access")
  .description("the access family: identities, roles and entitlements made true in applications (README 'Access provisioning')");
access
  .command("plan <identity>")
  .description("what a grant would change in each application, without changing it (a dry-run provision_access_grant; needs a running worker)")
  .option("-a, --application <application>", "only this application (name or id)")
  .option("-t, --tenant <uuid>", "the tenant, when several use the identity's username", uuidArg("--tenant"))
  .option("--timeout <s>", "seconds to wait for the worker", positiveInt("--timeout"), 60)
  .action(async (identity: string, opts: { application?: string; tenant?: string; timeout: number }) => {
    console.log(await withPool((pool) => planCommand(pool, identity, { ...opts, progress })));
  });
access
  .command("discover <application>")
  .description("list the application's accounts now (a discovery pass; needs a running worker) and show the drift it found")
  .option("-t, --tenant <uuid>", "the tenant, when several use the application's name", uuidArg("--tenant"))
  .option("--timeout <s>", "seconds to wait for the pass", positiveInt("--timeout"), 300)
  .action(async (application: string, opts: { tenant?: string; timeout: number }) => {
    console.log(await withPool((pool) => discoverCommand(pool, application, { ...opts, progress })));
  });
access
  .command("drift")
  .description("drift against each application's last complete discovery pass (v_access_drift), the passes, and repairs held for approval")
  .option("-a, --application <application>", "only this application (name or id)")
  .option("-t, --tenant <uuid>", "only this tenant", uuidArg("--tenant"))
  .option("-n, --limit <n>", "drift rows shown", positiveInt("--limit"), 200)
  .action(async (opts: { application?: string; tenant?: string; limit: number }) => {
    console.log(await withPool((pool) => driftCommand(pool, opts)));
  });
access
  .command("approve <run>")
  .description("release a repair held by the mass-deletion guard (access_repair_approve); <run> is the discovery pass id")
  .action(async (run: string) => {
    if (!isUuid(run)) throw new InvalidArgumentError(`<run> must be a discovery pass id (uuid), got "${run}"`);
    console.log(await withPool((pool) => approveCommand(pool, run)));
  });

const template = program
  .command("template")
  .description("workflow templates: versions of a definition, published to freeze them (README 'Workflows'; docs/decisions/0008)");
template
  .command("list")
  .description("every template version with its status")
  .action(async () => console.log(await withPool((pool) => templateList(pool))));
template
  .command("show <name>")
  .description("one version's steps in the order they run, and its input schema")
  .option("-v, --version <n>", "the version (default: the latest)", positiveInt("--version"))
  .action(async (name: string, opts: { version?: number }) => console.log(await withPool((pool) => templateShow(pool, name, opts.version))));
template
  .command("create")
  .description('a draft from a JSON file: { "name", "description", "input_schema", "definition" }; its version is the next of the name')
  .requiredOption("-f, --file <json>", "the template file")
  .action(async (opts: { file: string }) => console.log(await withPool((pool) => templateCreate(pool, opts.file))));
template
  .command("publish <name>")
  .description("check and freeze a draft (PV301-PV311 name what is wrong); runs may start from it")
  .requiredOption("-v, --version <n>", "the version", positiveInt("--version"))
  .action(async (name: string, opts: { version: number }) => console.log(await withPool((pool) => templatePublish(pool, name, opts.version))));
template
  .command("retire <name>")
  .description("no new runs of this version; runs in flight go on")
  .requiredOption("-v, --version <n>", "the version", positiveInt("--version"))
  .action(async (name: string, opts: { version: number }) => console.log(await withPool((pool) => templateRetire(pool, name, opts.version))));

registerWorkflowCommands(program, withPool);

program
  .command("deprovision")
  .description("seed 004's tenant deprovisioning (README 'Workflows', built-in templates)")
  .command("tenant <id>")
  .description(
    "start the built-in tenant.deprovision for a tenant (workflow_start): back up, notify, disable access, wait the grace period, " +
      "clean up, delete the domain; slug, application, admin and domain come from its last completed tenant.onboard unless given",
  )
  .option("-g, --grace-period <hours>", "hours between disabling and cleaning up (0-720; template default 72)", (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 720) throw new InvalidArgumentError("--grace-period must be a number of hours from 0 to 720");
    return n;
  })
  .option("--preserve-audit-logs", "keep the tenant's audit_trail_log rows (the template's default)")
  .option("--no-preserve-audit-logs", "delete the tenant's audit_trail_log rows after the grace period")
  .option("--preserve-backups", "keep the backup file (the template's default)")
  .option("--no-preserve-backups", "delete the backup file after the grace period")
  .option("--notify-users", "emit the workflow.notification event (the template's default)")
  .option("--no-notify-users", "no notification")
  .option("--at <time>", "start at this time (ISO 8601; the run's scheduled_at)")
  .option("--slug <schema>", "the tenant's schema name (default: from its onboarding)")
  .option("--application <id>", "the application holding the tenant's schema (default: from its onboarding)", uuidArg("--application"))
  .option("--admin <identity-id>", "the admin identity whose access is disabled (default: from its onboarding)", uuidArg("--admin"))
  .option("--domain <name>", "the domain to delete (default: from its onboarding, if any)")
  .option("--idempotency-key <key>", "the same key returns the run already started instead of a second one")
  .action(async (id: string, opts: DeprovisionOptions) => {
    if (!isUuid(id)) throw new InvalidArgumentError(`<id> must be a tenant id (uuid), got "${id}"`);
    console.log(await withPool((pool) => deprovisionTenant(pool, id, opts)));
  });

program
  .command("start")
  .description("no DATABASE_URL: embedded PostgreSQL + simulator + demo orders + worker; with DATABASE_URL: the production worker")
  .option("-s, --samples <n>", "demo orders to insert", positiveInt("--samples"), 5)
  .action(async (opts: { samples: number }) => {
    await runDemo(opts);
  });

// a failed command: one line on stderr (the cause, with its SQLSTATE when the database raised it), exit 1
program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`provisio: ${errorLine(err)}`);
  process.exit(1);
});
