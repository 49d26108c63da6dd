/**
 * The event relay (src/events/relay.ts) against the RabbitMQ running on this machine (AMQP_URL, default
 * amqp://guest:guest@127.0.0.1:5672; CI has one: these tests fail when it does not answer). Each test
 * binds a fresh exclusive queue to provisio.events with '#' and keeps only its own tenant's events.
 */
import { spawn, execFile } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import amqp, { type ChannelModel } from "amqplib";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/db/migrate.js";
import { EventRelay, pruneEvents } from "../../src/events/relay.js";
import { runCli } from "../cli/run-cli.js";
import { createTestDatabase, loginAs, type TestDatabase } from "../helpers/db.js";
import { createAccount, createOrder, jobOf, provisionDomain, waitFor, type Account } from "../helpers/fixtures.js";
import { spawnWorker } from "../helpers/worker-process.js";

const AMQP_URL = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Received {
  routingKey: string;
  properties: amqp.MessageProperties;
  body: string;
  event: Record<string, any>;
}

interface Consumer {
  messages: Received[];
  close(): Promise<void>;
}

/** A fresh exclusive queue bound to provisio.events with '#', keeping the messages of `tenant` only. */
async function consume(tenant: string): Promise<Consumer> {
  const conn: ChannelModel = await amqp.connect(AMQP_URL, { clientProperties: { connection_name: "provisio-test-consumer" } });
  conn.on("error", () => undefined);
  const ch = await conn.createChannel();
  await ch.assertExchange("provisio.events", "topic", { durable: true });
  const q = await ch.assertQueue("", { exclusive: true, autoDelete: true });
  await ch.bindQueue(q.queue, "provisio.events", "#");
  const messages: Received[] = [];
  await ch.consume(
    q.queue,
    (m) => {
      if (!m) return;
      const body = m.content.toString("utf8");
      const event = JSON.parse(body) as Record<string, any>;
      if (event.data?.tenant_customer_id === tenant) messages.push({ routingKey: m.fields.routingKey, properties: m.properties, body, event });
    },
    { noAck: true },
  );
  return { messages, close: () => conn.close().catch(() => undefined) };
}

interface EventDbRow {
  id: string;
  event_type: string;
  reference_table: string;
  reference_id: string;
  payload: Record<string, unknown>;
  created_date: Date;
  published_date: Date | null;
}

async function tenantEvents(tenant: string): Promise<EventDbRow[]> {
  return (
    await t.pool.query<EventDbRow>(
      "SELECT id, event_type, reference_table, reference_id, payload, created_date, published_date FROM event WHERE tenant_customer_id = $1 ORDER BY id",
      [tenant],
    )
  ).rows;
}

/** `n` orders of one item and plan, each served by a provision_domain row, inserted with SQL. */
async function insertOrders(acc: Account, n: number, prefix: string): Promise<{ orderId: string; provisionId: string }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const o = await createOrder(t.pool, acc.tenantId);
    out.push({ orderId: o.orderId, provisionId: await provisionDomain(t.pool, acc, `${prefix}-${i}.example`, { planId: o.planId }) });
  }
  return out;
}

/** Take each provision's job to a final status through SQL: completed, or failed for every third. */
async function finishThroughSql(orders: { provisionId: string }[]): Promise<void> {
  for (const [i, o] of orders.entries()) {
    const job = await jobOf(t.pool, o.provisionId);
    await t.pool.query("SELECT * FROM job_start($1)", [job]);
    if (i % 3 === 2) await t.pool.query("SELECT job_fail($1, 'EPP2306: policy')", [job]);
    else
      await t.pool.query("SELECT job_complete($1, $2, 'ok')", [
        job,
        { roid: `R-${i}`, crDate: "2026-01-01T00:00:00Z", exDate: "2027-01-01T00:00:00Z", code: 1000 },
      ]);
  }
}

/** The CloudEvent a row must arrive as, written out here rather than taken from src/events. */
function expectedEvent(tenant: string, r: EventDbRow) {
  const aggregate = r.event_type.split(".")[0];
  return {
    specversion: "1.0",
    id: r.id,
    source: `/provisio/${r.reference_table}`,
    type: `io.provisio.${aggregate}.${r.payload.status as string}`,
    subject: r.reference_id,
    time: r.created_date.toISOString(),
    datacontenttype: "application/json",
    data: { ...r.payload, tenant_customer_id: tenant, reference_table: r.reference_table },
  };
}

/** Every message is a valid CloudEvent of a row, with the AMQP properties the relay promises. */
function expectValidMessages(tenant: string, rows: EventDbRow[], messages: Received[]): void {
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const m of messages) {
    const row = byId.get(m.event.id);
    expect(row, `message ${m.event.id} has a row`).toBeDefined();
    expect(m.event).toEqual(expectedEvent(tenant, row!));
    expect(m.event.subject).toMatch(UUID);
    expect(m.routingKey).toBe(`${row!.event_type.split(".")[0]}.${row!.payload.status as string}`);
    expect(m.properties.messageId).toBe(row!.id);
    expect(m.properties.contentType).toBe("application/cloudevents+json");
    expect(m.properties.deliveryMode).toBe(2);
  }
}

/** Per aggregate (subject), the first delivery of each id comes in id order, and all ids of the rows arrived. */
function expectFirstDeliveriesInOrder(rows: EventDbRow[], messages: Received[]): void {
  const seen = new Set<string>();
  const firstBySubject = new Map<string, string[]>();
  for (const m of messages) {
    if (seen.has(m.event.id)) continue;
    seen.add(m.event.id);
    const list = firstBySubject.get(m.event.subject) ?? [];
    list.push(m.event.id);
    firstBySubject.set(m.event.subject, list);
  }
  const writtenBySubject = new Map<string, string[]>();
  for (const r of rows) writtenBySubject.set(r.reference_id, [...(writtenBySubject.get(r.reference_id) ?? []), r.id]);
  expect(firstBySubject).toEqual(writtenBySubject);
}

function relay(overrides: Partial<ConstructorParameters<typeof EventRelay>[0]> = {}): EventRelay {
  return new EventRelay({ connectionString: t.url, amqpUrl: AMQP_URL, batchSize: 20, pollIntervalMs: 100, maxBackoffMs: 500, ...overrides });
}

const allPublished = (tenant: string) => async () => (await tenantEvents(tenant)).every((r) => r.published_date !== null);

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  // fail loudly (not skip) when no broker answers: CI has one
  const probe = await amqp.connect(AMQP_URL);
  await probe.close();
});
afterAll(() => t?.close());

describe("event relay", () => {
  it("a worker with AMQP_URL publishes every event of 20 orders exactly once, as CloudEvents, in order per aggregate", async () => {
    const acc = await createAccount(t.pool); // no-op connector
    const consumer = await consume(acc.tenantId);
    const w = spawnWorker(t.url, { AMQP_URL, PROVISIO_EVENT_POLL_INTERVAL_MS: "100", PROVISIO_EVENT_BATCH_SIZE: "7" }, 4);
    try {
      const orders = await insertOrders(acc, 20, "flow");
      await waitFor(
        "20 orders final",
        async () =>
          (await t.pool.query("SELECT count(*)::int AS n FROM v_order WHERE id = ANY($1) AND is_final", [orders.map((o) => o.orderId)])).rows[0].n === 20,
        60_000,
        100,
      );
      await waitFor("every event published", allPublished(acc.tenantId), 30_000, 100);
      // SIGTERM: the worker stops, then its relay (exit 0)
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
      const rows = await tenantEvents(acc.tenantId);
      // pending + completed per provision, completed per order
      expect(rows).toHaveLength(60);
      expect(new Set(rows.map((r) => `${r.event_type}:${r.payload.status as string}`))).toEqual(
        new Set(["provision.status:pending", "provision.status:completed", "order.status:completed"]),
      );
      await waitFor("every event received", async () => consumer.messages.length >= rows.length, 10_000, 50);
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive meanwhile
      const ids = consumer.messages.map((m) => m.event.id);
      expect(ids.length).toBe(new Set(ids).size); // exactly once
      expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)));
      expectValidMessages(acc.tenantId, rows, consumer.messages);
      expectFirstDeliveriesInOrder(rows, consumer.messages);
      expect(w.output()).toMatch(/"msg":"event relay active/);
    } finally {
      w.child.kill("SIGKILL");
      await consumer.close();
    }
  });

  it("a relay killed after the broker confirmed a batch and before marking it loses nothing: that batch comes again with the same ids", async () => {
    const acc = await createAccount(t.pool);
    const orders = await insertOrders(acc, 10, "killed");
    await finishThroughSql(orders);
    const rows = await tenantEvents(acc.tenantId);
    expect(rows.length).toBeGreaterThanOrEqual(30);
    expect(rows.some((r) => r.payload.status === "failed")).toBe(true);
    const consumer = await consume(acc.tenantId);
    const child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "test/helpers/relay-child.ts")], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DATABASE_URL: t.url, AMQP_URL, RELAY_BATCH_SIZE: "5", RELAY_HANG_AT_BATCH: "2", PROVISIO_LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    let confirmedIds: string[];
    try {
      const line = await waitFor("the child's second batch confirmed", async () => /CONFIRMED (\[.*\])/.exec(out)?.[1], 30_000, 20);
      confirmedIds = JSON.parse(line) as string[];
    } finally {
      child.kill("SIGKILL");
    }
    expect(await exited).toBe("SIGKILL");
    try {
      expect(confirmedIds).toHaveLength(5);
      // the broker has them, the table does not say so: the window at-least-once is about
      await waitFor("the confirmed batch received", async () => confirmedIds.every((id) => consumer.messages.some((m) => m.event.id === id)), 10_000, 50);
      const marked = (await t.pool.query<{ id: string }>("SELECT id FROM event WHERE id = ANY($1::bigint[]) AND published_date IS NOT NULL", [confirmedIds]))
        .rows;
      expect(marked).toEqual([]);
      const firstBatch = rows.slice(0, 5).map((r) => r.id);
      expect(rows.slice(5, 10).map((r) => r.id)).toEqual(confirmedIds);

      const r = relay();
      await r.start();
      try {
        await waitFor("every event published", allPublished(acc.tenantId), 30_000, 100);
        await waitFor("every event received", async () => new Set(consumer.messages.map((m) => m.event.id)).size === rows.length, 10_000, 50);
      } finally {
        await r.stop();
      }
      await new Promise((res) => setTimeout(res, 300));
      const count = new Map<string, number>();
      for (const m of consumer.messages) count.set(m.event.id, (count.get(m.event.id) ?? 0) + 1);
      for (const row of rows) {
        const expected = confirmedIds.includes(row.id) ? 2 : 1; // the unmarked batch twice, the rest once
        expect(count.get(row.id), `event ${row.id}${firstBatch.includes(row.id) ? " (marked before the kill)" : ""}`).toBe(expected);
      }
      // a duplicate is the same message: same id, same body
      for (const id of confirmedIds) {
        const copies = consumer.messages.filter((m) => m.event.id === id);
        expect(copies[1]!.body).toBe(copies[0]!.body);
        expect(copies[1]!.properties.messageId).toBe(id);
      }
      expectValidMessages(acc.tenantId, rows, consumer.messages);
      expectFirstDeliveriesInOrder(rows, consumer.messages);
    } finally {
      await consumer.close();
    }
  });

  it("a connection the broker closes is opened again and publishing resumes", async () => {
    const acc = await createAccount(t.pool);
    const consumer = await consume(acc.tenantId);
    const name = `provisio-relay-test-${process.pid}`;
    const r = relay({ connectionName: name });
    await r.start();
    try {
      await finishThroughSql(await insertOrders(acc, 3, "before-close"));
      await waitFor("first events published", allPublished(acc.tenantId), 30_000, 100);
      const before = consumer.messages.length;
      expect(before).toBeGreaterThan(0);

      const oldPids = await brokerConnectionPids(name);
      expect(oldPids).toHaveLength(1);
      await closeBrokerConnections(name);
      await finishThroughSql(await insertOrders(acc, 3, "after-close"));
      await waitFor("later events published", allPublished(acc.tenantId), 30_000, 100);
      const rows = await tenantEvents(acc.tenantId);
      await waitFor("every event received", async () => new Set(consumer.messages.map((m) => m.event.id)).size === rows.length, 10_000, 50);
      expect(consumer.messages.length).toBeGreaterThan(before);
      // a new connection under the same name
      const newPids = await brokerConnectionPids(name);
      expect(newPids).toHaveLength(1);
      expect(newPids[0]).not.toBe(oldPids[0]);
      expectValidMessages(acc.tenantId, rows, consumer.messages);
      expectFirstDeliveriesInOrder(rows, consumer.messages);
    } finally {
      await r.stop();
      await consumer.close();
    }
  });

  it("while the broker cannot be reached events wait in SQL (with a log line) and flow when it is back", async () => {
    const acc = await createAccount(t.pool);
    const consumer = await consume(acc.tenantId);
    // the relay reaches the broker through a TCP proxy this test can take down and bring back on the same port
    const sockets = new Set<net.Socket>();
    const proxy = () =>
      net.createServer((client) => {
        const upstream = net.connect(5672, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("error", () => undefined);
          s.on("close", () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
      });
    let server = proxy();
    await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
    const port = (server.address() as net.AddressInfo).port;
    const lines: string[] = [];
    const log = pino({ level: "info" }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
    const r = relay({ amqpUrl: `amqp://guest:guest@127.0.0.1:${port}`, maxBackoffMs: 400, log });
    await r.start();
    try {
      await finishThroughSql(await insertOrders(acc, 2, "broker-up"));
      await waitFor("first events published", allPublished(acc.tenantId), 30_000, 100);
      // the broker goes away: connections cut, nothing listens
      const stopped = new Promise<void>((res) => server.close(() => res()));
      for (const s of sockets) s.destroy();
      await stopped;
      await finishThroughSql(await insertOrders(acc, 2, "broker-down"));
      await waitFor(
        "a log line saying the broker is unavailable",
        async () => lines.some((l) => /AMQP broker unavailable; events wait in table event/.test(l)),
        10_000,
        50,
      );
      await new Promise((res) => setTimeout(res, 500));
      const waiting = (await tenantEvents(acc.tenantId)).filter((e) => e.published_date === null);
      expect(waiting.length).toBeGreaterThan(0);
      // back on the same port
      server = proxy();
      await new Promise<void>((res) => server.listen(port, "127.0.0.1", res));
      await waitFor("waiting events published", allPublished(acc.tenantId), 30_000, 100);
      const rows = await tenantEvents(acc.tenantId);
      await waitFor("every event received", async () => new Set(consumer.messages.map((m) => m.event.id)).size === rows.length, 10_000, 50);
      expect(lines.some((l) => /events flow again/.test(l))).toBe(true);
      expectValidMessages(acc.tenantId, rows, consumer.messages);
      expectFirstDeliveriesInOrder(rows, consumer.messages);
    } finally {
      await r.stop();
      for (const s of sockets) s.destroy();
      server.close();
      await consumer.close();
    }
  });

  it("a standby relay waits while another is active and takes over when the active one stops", async () => {
    const acc = await createAccount(t.pool);
    const consumer = await consume(acc.tenantId);
    const a = relay();
    const b = relay();
    await a.start();
    try {
      await waitFor("a active", async () => a.active, 10_000, 20);
      await b.start();
      await finishThroughSql(await insertOrders(acc, 2, "standby-a"));
      await waitFor("events published", allPublished(acc.tenantId), 30_000, 100);
      expect(b.active).toBe(false);
      expect(b.published).toBe(0);
      await a.stop();
      await waitFor("b active", async () => b.active, 10_000, 20);
      await finishThroughSql(await insertOrders(acc, 2, "standby-b"));
      await waitFor("events published by b", allPublished(acc.tenantId), 30_000, 100);
      expect(b.published).toBeGreaterThan(0);
      const rows = await tenantEvents(acc.tenantId);
      await waitFor("every event received", async () => consumer.messages.length >= rows.length, 10_000, 50);
      await new Promise((res) => setTimeout(res, 200));
      expect(consumer.messages.map((m) => m.event.id)).toEqual(rows.map((r) => r.id)); // once each, in id order
    } finally {
      await a.stop();
      await b.stop();
      await consumer.close();
    }
  });

  it("without AMQP_URL a worker publishes nothing, the events stay in SQL, and `provisio relay` refuses to start", async () => {
    const acc = await createAccount(t.pool);
    const consumer = await consume(acc.tenantId);
    const w = spawnWorker(t.url, { AMQP_URL: "" }, 4);
    try {
      const orders = await insertOrders(acc, 5, "no-amqp");
      await waitFor(
        "5 orders completed",
        async () =>
          (await t.pool.query("SELECT count(*)::int AS n FROM v_order WHERE id = ANY($1) AND status = 'completed'", [orders.map((o) => o.orderId)])).rows[0]
            .n === 5,
        60_000,
        100,
      );
      await new Promise((res) => setTimeout(res, 1000));
      const rows = await tenantEvents(acc.tenantId);
      expect(rows).toHaveLength(15);
      expect(rows.filter((r) => r.published_date !== null)).toEqual([]);
      expect(consumer.messages).toEqual([]);
      expect(w.output()).not.toMatch(/event relay/);
      w.child.kill("SIGTERM");
      expect(await w.exited).toBe(0);
    } finally {
      w.child.kill("SIGKILL");
      await consumer.close();
    }
    const cli = await runCli(["relay"], { DATABASE_URL: t.url, AMQP_URL: undefined });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^provisio: PV_CONFIG: AMQP_URL is not set/m);
    const bad = await runCli(["relay"], { DATABASE_URL: t.url, AMQP_URL: "http://guest:s3cret@127.0.0.1:5672" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/AMQP_URL: must be an amqp:\/\/ or amqps:\/\/ URL/);
    expect(bad.stderr).not.toMatch(/s3cret/);
    const help = await runCli(["relay", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/provisio\.events/);
  });

  it("pruning deletes published events older than the retention, never unpublished ones (as provisio_worker)", async () => {
    const acc = await createAccount(t.pool);
    const ins = async (created: string, published: string | null) =>
      (
        await t.pool.query<{ id: string }>(
          `INSERT INTO event (tenant_customer_id, event_type, reference_table, reference_id, payload, created_date, published_date)
           VALUES ($1, 'order.status', 'order', uuid_generate_v7(), '{"status": "completed"}', now() - $2::interval, now() - $3::interval) RETURNING id`,
          [acc.tenantId, created, published],
        )
      ).rows[0]!.id;
    await ins("300 hours", "200 hours");
    await ins("300 hours", "170 hours");
    const recentPublished = await ins("300 hours", "100 hours");
    const oldUnpublished = await ins("1000 hours", null);
    const workerUrl = await loginAs(t, "provisio_worker");
    const pg = (await import("pg")).default;
    const c = new pg.Client({ connectionString: workerUrl });
    await c.connect();
    try {
      // the worker role may prune (DELETE) and mark (UPDATE published_date), nothing else of event
      expect(await pruneEvents(c, 168 * 3_600_000, 1)).toBe(2); // batches of one: the loop goes on until none is left
      await expect(c.query("UPDATE event SET payload = '{}' WHERE id = $1", [recentPublished])).rejects.toMatchObject({ code: "42501" });
    } finally {
      await c.end();
    }
    const left = async () => (await tenantEvents(acc.tenantId)).map((r) => r.id);
    expect(await left()).toEqual([recentPublished, oldUnpublished]);

    // the relay prunes by itself (as the worker login), and publishes the old unpublished event
    const r = relay({ connectionString: workerUrl, retentionMs: 50 * 3_600_000 });
    await r.start();
    try {
      await waitFor(
        "pruned and published",
        async () => {
          const rows = await tenantEvents(acc.tenantId);
          return rows.length === 1 && rows[0]!.published_date !== null;
        },
        30_000,
        100,
      );
      expect(await left()).toEqual([oldUnpublished]);
    } finally {
      await r.stop();
    }
  });
});

const run = promisify(execFile);

/** Broker-side connection pids of connections named `name` (rabbitmqctl list_connections). */
async function brokerConnectionPids(name: string): Promise<string[]> {
  const { stdout } = await run("rabbitmqctl", ["list_connections", "-q", "--no-table-headers", "pid", "client_properties"]);
  return stdout
    .split("\n")
    .filter((l) => l.includes(`{"connection_name","${name}"}`))
    .map((l) => l.split("\t")[0]!);
}

/** Close every connection named `name` from the broker's side, as an operator or a broker restart would. */
async function closeBrokerConnections(name: string): Promise<number> {
  const pids = await brokerConnectionPids(name);
  for (const pid of pids) await run("rabbitmqctl", ["close_connection", pid, "closed by test/events/relay.test.ts"]);
  return pids.length;
}
