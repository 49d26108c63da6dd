/**
 * `provisio start` (`npm start`).
 * Without DATABASE_URL: embedded PostgreSQL under PROVISIO_HOME, migrate, the EPP simulator over TLS,
 * a demo tenant and accreditation, sample orders inserted with SQL, and the worker serving them. It
 * prints the connection string, that the orders were inserted, then each order's status as it changes
 * (read back through v_order: a notification is only a hint, ./order-watch.ts). Then the access family's
 * demo (src/demo/access.ts): grants for three people into a SCIM simulator, a SQL application database
 * on the embedded server and, when slapd is installed, an LDAP directory; one revoke; each shown
 * completing. Then it keeps serving.
 * With DATABASE_URL: the production worker only (no demo data, no migration: run `provisio migrate`).
 * Either way, with AMQP_URL set the event relay runs too (src/events/relay.ts) and stops after the worker.
 * Both are a list of services (src/services.ts) started in order and stopped in reverse on SIGTERM/SIGINT:
 * demo: database, simulator, access targets, demo (seed + order watcher), relay, worker; production:
 * database, relay, worker.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { config, type Config } from "../config.js";
import { migrate } from "../db/migrate.js";
import { createPool } from "../db/pool.js";
import { DatabaseService } from "../db/resolve.js";
import { redactUrl } from "../events/amqp-publisher.js";
import { RelayService, relayOptionsFromConfig } from "../events/relay.js";
import { AccessDemoTargets, insertDemoGrants, insertDemoRevoke, seedAccessDemo } from "../demo/access.js";
import { DEMO_CLID, DEMO_PASSWORD_ENV, DEMO_TLDS, insertSampleOrders, seedDemoAccount } from "../demo/seed.js";
import { showWorkflowDemo } from "../demo/workflow.js";
import { logger } from "../logger.js";
import { startServices, stopOnSignals, type Service } from "../services.js";
import { EppRegistrySimulator, SimulatorService } from "../simulators/epp-registry/server.js";
import { WorkerService, workerOptionsFromConfig, type WorkerOptions } from "../worker/runner.js";
import { followOrders, type OrderFollow } from "./follow-orders.js";
import { renderStatus } from "./status.js";

/**
 * The worker's services on the database `url()` (read at start): the event relay when AMQP_URL is set,
 * then the worker, so that stopping in reverse stops the worker first and the relay publishes its last events.
 */
export function workerServices(cfg: Config, url: () => string, overrides: Partial<WorkerOptions> = {}): Service[] {
  return [
    ...(cfg.AMQP_URL ? [new RelayService(() => relayOptionsFromConfig(cfg, url()))] : []),
    new WorkerService(() => workerOptionsFromConfig(cfg, url(), overrides)),
  ];
}

/**
 * The demo's own service: migrates, seeds the demo tenant and accreditation (for the simulator on its
 * port), and follows order status changes on a LISTEN connection; stop ends the watcher, that connection
 * and the pool.
 */
class DemoService implements Service {
  readonly name = "demo order watcher";
  pool: pg.Pool | undefined;
  ids: Awaited<ReturnType<typeof seedDemoAccount>> | undefined;
  follow: OrderFollow | undefined;
  private listener: pg.Client | undefined;

  constructor(
    private readonly url: () => string,
    private readonly simulator: EppRegistrySimulator,
    readonly caFile: string,
  ) {}

  async start(): Promise<void> {
    try {
      await migrate(this.url());
      await mkdir(path.dirname(this.caFile), { recursive: true });
      await writeFile(this.caFile, this.simulator.certificate!.cert);
      this.pool = createPool(this.url(), 4);
      this.ids = await seedDemoAccount(this.pool, { port: this.simulator.port, caFile: this.caFile });
      const listener = (this.listener = new pg.Client({ connectionString: this.url() }));
      listener.on("error", (err) => logger().warn({ err: err.message }, "order status listener lost its connection"));
      await listener.connect();
      // listening starts before the orders are inserted; their lines wait for the "Inserted" line (announce)
      this.follow = await followOrders(listener, (line) => console.log(line));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.follow?.watch.stop();
    await this.listener?.end().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
  }
}

export async function runDemo(opts: { samples: number }): Promise<void> {
  const cfg = config();
  const db = new DatabaseService();
  const url = () => db.url;
  const stopOpts = { timeoutMs: cfg.PROVISIO_SHUTDOWN_TIMEOUT_MS };
  if (cfg.DATABASE_URL) {
    stopOnSignals(await startServices([db, ...workerServices(cfg, url)]), stopOpts);
    console.log("provisio worker running against DATABASE_URL (production mode; no demo data). Ctrl-C stops it gracefully.");
    return;
  }

  console.log("provisio demo: embedded PostgreSQL, built-in EPP registry simulator, sample orders.");
  // The demo password lives only in this process's environment; the accreditation names the variable.
  const password = process.env[DEMO_PASSWORD_ENV] ?? randomBytes(12).toString("base64url");
  process.env[DEMO_PASSWORD_ENV] = password;
  const sim = new EppRegistrySimulator({ registrars: { [DEMO_CLID]: password }, tlds: DEMO_TLDS, log: logger(), port: 0 });
  const demo = new DemoService(url, sim, path.resolve(cfg.PROVISIO_HOME, "simulator-ca.pem"));
  const targets = new AccessDemoTargets();
  const running = await startServices([db, new SimulatorService(sim), targets, demo, ...workerServices(cfg, url)]);
  stopOnSignals(running, stopOpts);
  try {
    await showDemo(cfg, db.url, sim.port, demo, opts.samples);
    await showAccessDemo(db.url, demo, targets);
    await showWorkflowDemo(demo.pool!, demo.ids!);
    printTryThis(db.url, demo);
  } catch (err) {
    if (running.stopping) return; // Ctrl-C while the demo was still inserting or watching: the signal exits
    await running.stop("the demo failed").catch(() => undefined);
    throw err;
  }
}

/** Print where everything is, insert the sample orders and print their status until they are final (at most 60 s). */
async function showDemo(cfg: Config, dbUrl: string, simPort: number, demo: DemoService, samples: number): Promise<void> {
  const pool = demo.pool!;
  const ids = demo.ids!;
  const caFile = demo.caFile;
  console.log(`\nDatabase:   ${dbUrl}`);
  console.log(`Simulator:  EPP over TLS on 127.0.0.1:${simPort} (certificate ${caFile})`);
  if (cfg.AMQP_URL) console.log(`Events:     published to RabbitMQ exchange provisio.events at ${redactUrl(cfg.AMQP_URL)}`);
  console.log(`Tenant:     ${ids.tenantId}\nAccreditation: ${ids.accreditationId} (TLDs: ${DEMO_TLDS.join(", ")})\n`);
  const orders = await insertSampleOrders(pool, ids, samples);
  demo.follow!.announce(`Inserted ${orders.length} sample orders with provision_domain rows; watching them:`);

  const started = Date.now();
  for (;;) {
    const r = await pool.query<{ open: string }>(`SELECT count(*) AS open FROM v_order WHERE id = ANY($1) AND NOT is_final`, [orders]);
    if (r.rows[0]!.open === "0" || Date.now() - started > 60_000) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  console.log(`\n${await renderStatus(pool, { limit: Math.max(orders.length, 10) })}`);
}

/** Wait (at most 60 s) until the provisions are final; returns their v_provision rows. */
interface AccessProvisionRow {
  provision_type: string;
  object_name: string | null;
  status: string;
  is_final: boolean;
  result_data: {
    applications?: { application: string; user_id_in_app?: string; operations: { op: string; target: string; outcome: string }[]; error?: string }[];
  } | null;
}

async function untilFinal(pool: pg.Pool, ids: string[]): Promise<AccessProvisionRow[]> {
  const started = Date.now();
  for (;;) {
    const r = await pool.query<AccessProvisionRow>("SELECT * FROM v_provision WHERE id = ANY($1) ORDER BY created_date, id", [ids]);
    if (r.rows.every((p) => p.is_final) || Date.now() - started > 60_000) return r.rows;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** One line per provision and application: what the access task did there. */
function accessLines(rows: AccessProvisionRow[]): string {
  const lines: string[] = [];
  for (const p of rows) {
    lines.push(`  ${p.provision_type} ${p.object_name ?? ""}: ${p.status}`);
    const apps = p.result_data?.applications ?? [];
    for (const a of apps) {
      const ops = a.operations.map((o) => `${o.op} ${o.target.length > 40 ? `${o.target.slice(0, 37)}...` : o.target} ${o.outcome}`).join("; ");
      lines.push(`      ${a.application} as ${a.user_id_in_app ?? "?"}: ${a.error ?? (ops || "nothing to do")}`);
    }
  }
  return lines.join("\n");
}

/** The access family's demo: seed, grants for three people, one revoke, each shown completing. */
async function showAccessDemo(dbUrl: string, demo: DemoService, targets: AccessDemoTargets): Promise<void> {
  const pool = demo.pool!;
  const tenant = demo.ids!.tenantId;
  const ids = await seedAccessDemo(pool, tenant, dbUrl, targets);
  console.log(
    `\nAccess provisioning (seed 002): applications ${targets.slapd ? "crm (SCIM simulator at " + targets.scim!.baseUrl + "), wiki (SQL, database provisio_demo_app), directory (LDAP, slapd at " + targets.slapd.url + ")" : "crm (SCIM simulator at " + targets.scim!.baseUrl + "), wiki (SQL, database provisio_demo_app)"}.`,
  );
  if (targets.ldapMissing) console.log(`LDAP is not in this demo: ${targets.ldapMissing}.`);
  const grants = await insertDemoGrants(pool, tenant, ids);
  console.log(`Inserted ${grants.length} provision_access_grant rows (alice: engineering; bob: engineering, support; carol: support):`);
  console.log(accessLines(await untilFinal(pool, grants)));
  const revoke = await insertDemoRevoke(pool, tenant, ids);
  console.log("Inserted a provision_access_revoke: bob loses the support role's entitlements everywhere:");
  console.log(accessLines(await untilFinal(pool, [revoke])));
  // a discovery pass per application: bob's role still gives support, so its entitlements show as missing
  const passes = await pool.query<{ id: string }>("SELECT access_discovery_request(id) AS id FROM unnest($1::uuid[]) id", [ids.applications]);
  const runIds = passes.rows.map((r) => r.id);
  const started = Date.now();
  let runs: { application: string; status: string; accounts_seen: number; error: string | null; drift: string | null }[] = [];
  for (;;) {
    runs = (
      await pool.query<(typeof runs)[number]>(
        `SELECT r.application, r.status, r.accounts_seen, r.error,
                (SELECT string_agg(d.kind || ' ' || coalesce(d.username, d.user_id_in_app) || coalesce(' ' || d.native_key, ''), '; ' ORDER BY d.kind, d.username)
                 FROM v_access_drift d WHERE d.run_id = r.id) AS drift
         FROM v_access_discovery_run r WHERE r.id = ANY($1) ORDER BY r.application`,
        [runIds],
      )
    ).rows;
    if (runs.every((r) => r.status === "complete" || r.status === "failed") || Date.now() - started > 30_000) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  console.log("A discovery pass of each application (SELECT access_discovery_request(application_id)), and the drift it found (v_access_drift):");
  for (const r of runs) {
    console.log(`  ${r.application}: ${r.status}, ${r.accounts_seen} account(s)${r.error ? ` (${r.error})` : ""}; drift: ${r.drift ?? "none"}`);
  }
}

function printTryThis(dbUrl: string, demo: DemoService): void {
  const ids = demo.ids!;
  console.log(`
The worker keeps serving. In another terminal, try:
  psql "${dbUrl}"
  INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
    VALUES ('${ids.tenantId}', '${ids.accreditationId}', 'my-first.example');
  SELECT provision_type, object_name, status, roid, result_message FROM v_provision ORDER BY created_date DESC LIMIT 5;
  INSERT INTO provision_access_grant (tenant_customer_id, identity_id, dry_run)
    SELECT tenant_customer_id, id, true FROM identity WHERE username = 'carol';
  SELECT * FROM account;
or: npm run provisio -- access discover "wiki (SQL)"   (then: npm run provisio -- access drift)
Ctrl-C stops everything gracefully.`);
}
