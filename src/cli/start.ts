/**
 * `provisio start` (`npm start`).
 * Without DATABASE_URL: embedded PostgreSQL under PROVISIO_HOME, migrate, the EPP simulator over TLS,
 * a demo tenant and accreditation, sample orders inserted with SQL, and the worker serving them. It
 * prints the connection string, that the orders were inserted, then each order's status as it changes
 * (read back through v_order: a notification is only a hint, ./order-watch.ts), then keeps serving.
 * With DATABASE_URL: the production worker only (no demo data, no migration: run `provisio migrate`).
 * Either way, with AMQP_URL set the event relay runs too (src/events/relay.ts) and stops after the worker.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { config } from "../config.js";
import { migrate } from "../db/migrate.js";
import { createPool } from "../db/pool.js";
import { resolveDatabase } from "../db/resolve.js";
import { redactUrl } from "../events/amqp-publisher.js";
import { startRelayIfConfigured } from "../events/relay.js";
import { DEMO_CLID, DEMO_PASSWORD_ENV, DEMO_TLDS, insertSampleOrders, seedDemoAccount } from "../demo/seed.js";
import { logger } from "../logger.js";
import { EppRegistrySimulator } from "../simulators/epp-registry/server.js";
import { handleSignals, startWorker, workerOptionsFromConfig } from "../worker/runner.js";
import { followOrders } from "./follow-orders.js";
import { renderStatus } from "./status.js";

export async function runDemo(opts: { samples: number }): Promise<void> {
  const cfg = config();
  const db = await resolveDatabase();
  if (!db.embedded) {
    const relay = await startRelayIfConfigured(cfg, db.url);
    const handle = await startWorker(workerOptionsFromConfig(cfg, db.url));
    const stop = handle.stop;
    handle.stop = async (reason) => {
      await stop(reason);
      await relay?.stop(); // after the worker, so that its last events go out
    };
    console.log("provisio worker running against DATABASE_URL (production mode; no demo data). Ctrl-C stops it gracefully.");
    handleSignals(handle, cfg.PROVISIO_SHUTDOWN_TIMEOUT_MS);
    return;
  }

  console.log("provisio demo: embedded PostgreSQL, built-in EPP registry simulator, sample orders.");
  await migrate(db.url);

  // The demo password lives only in this process's environment; the accreditation names the variable.
  const password = process.env[DEMO_PASSWORD_ENV] ?? randomBytes(12).toString("base64url");
  process.env[DEMO_PASSWORD_ENV] = password;
  const sim = new EppRegistrySimulator({ registrars: { [DEMO_CLID]: password }, tlds: DEMO_TLDS, log: logger(), port: 0 });
  const simPort = await sim.start();
  const caFile = path.resolve(cfg.PROVISIO_HOME, "simulator-ca.pem");
  await mkdir(path.dirname(caFile), { recursive: true });
  await writeFile(caFile, sim.certificate!.cert);

  const pool = createPool(db.url, 4);
  const ids = await seedDemoAccount(pool, { port: simPort, caFile });

  const listener = new pg.Client({ connectionString: db.url });
  listener.on("error", (err) => logger().warn({ err: err.message }, "order status listener lost its connection"));
  await listener.connect();
  // listening starts before the orders are inserted; their lines wait for the "Inserted" line (announce)
  const follow = await followOrders(listener, (line) => console.log(line));

  const relay = await startRelayIfConfigured(cfg, db.url);
  const handle = await startWorker(workerOptionsFromConfig(cfg, db.url));
  const stopWorker = handle.stop;
  handle.stop = async (reason) => {
    await stopWorker(reason);
    await relay?.stop(); // after the worker, so that its last events go out
    await follow.watch.stop();
    await listener.end().catch(() => undefined);
    await pool.end().catch(() => undefined);
    await sim.stop();
    await db.close();
  };
  handleSignals(handle, cfg.PROVISIO_SHUTDOWN_TIMEOUT_MS);

  console.log(`\nDatabase:   ${db.url}`);
  console.log(`Simulator:  EPP over TLS on 127.0.0.1:${simPort} (certificate ${caFile})`);
  if (relay) console.log(`Events:     published to RabbitMQ exchange provisio.events at ${redactUrl(cfg.AMQP_URL!)}`);
  console.log(`Tenant:     ${ids.tenantId}\nAccreditation: ${ids.accreditationId} (TLDs: ${DEMO_TLDS.join(", ")})\n`);
  const orders = await insertSampleOrders(pool, ids, opts.samples);
  follow.announce(`Inserted ${orders.length} sample orders with provision_domain rows; watching them:`);

  const started = Date.now();
  for (;;) {
    const r = await pool.query<{ open: string }>(`SELECT count(*) AS open FROM v_order WHERE id = ANY($1) AND NOT is_final`, [orders]);
    if (r.rows[0]!.open === "0" || Date.now() - started > 60_000) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  console.log(`\n${await renderStatus(pool, { limit: Math.max(orders.length, 10) })}`);
  console.log(`
The worker keeps serving. In another terminal, try:
  psql "${db.url}"
  INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name)
    VALUES ('${ids.tenantId}', '${ids.accreditationId}', 'my-first.example');
  SELECT provision_type, object_name, status, roid, result_message FROM v_provision ORDER BY created_date DESC LIMIT 5;
Ctrl-C stops everything gracefully.`);
}
