/**
 * The event relay: publishes the outbox (table `event`, one row per provision and order status change,
 * written in the transaction of the change by event_emit(), stored-procedures/engine/event/emit.sql) to
 * RabbitMQ, and prunes what it published. A service with {@link EventRelay.start} / {@link EventRelay.stop};
 * the worker runs one when AMQP_URL is set, and `provisio relay` runs one on its own.
 *
 * - **Where to**: the durable topic exchange `provisio.events`, routing key `<aggregate>.<status>`
 *   (`provision.completed`, `order.failed`, ...), body a CloudEvents 1.0 event in structured JSON mode
 *   (./cloud-event.ts), AMQP `message-id` = the row's id, persistent delivery (delivery mode 2).
 * - **Publisher confirms**: a batch is published on a confirm channel, and rows are marked
 *   (`published_date = now()`) only once the broker confirmed them, and only the confirmed prefix of the
 *   batch (./amqp-publisher.ts).
 * - **At-least-once**: a relay that dies between the broker's confirm and the mark leaves the rows
 *   unpublished; they are sent again, with the same id, by whichever relay is active next. Consumers
 *   de-duplicate by the CloudEvents `id` (= AMQP message-id).
 * - **One active relay**: any number of relays may run (one per worker, `provisio relay`s). Each holds a
 *   PostgreSQL session of its own and tries the session advisory lock {@link RELAY_LOCK_ID}; the one
 *   holding it is active, the others are standbys that try again every 2 × poll interval and take over
 *   when the active one's session ends (process killed, connection lost, stopped).
 * - **Order**: the active relay reads unpublished rows in id order (event_unpublished_idx), a batch at a
 *   time, and publishes them in that order on one channel. Two events of one aggregate (a provision, an
 *   order) are written by transactions that each hold the aggregate's row lock (an UPDATE of that row, or
 *   the INSERT that created it), so the later one gets the higher id and is committed after the earlier
 *   one: whenever the later row is visible, so is the earlier. Events of one aggregate are therefore
 *   first delivered in the order they were written. A row of another aggregate committed late (a lower id
 *   than rows already sent) is picked up by the next batch: nothing waits on gaps. A redelivery (after a
 *   crash or a takeover while the old relay still finishes a batch) can repeat an event after later ones;
 *   the first delivery of each id stays in order.
 * - **Broker down**: the batch stays unpublished; the relay logs a warning and tries again with capped
 *   exponential backoff (0.25 s doubling to 30 s). A connection or channel the broker closes is opened
 *   again by the next attempt. The worker does not wait for the relay: its jobs keep running.
 * - **Retention**: the active relay deletes published rows whose `published_date` is older than the
 *   retention (PROVISIO_EVENT_RETENTION_HOURS), oldest first, in batches, once a minute. Unpublished rows
 *   are never deleted.
 * - **Stop**: an active relay first publishes what is unpublished at that moment (the last events of the
 *   worker that stopped before it), for at most `drainTimeoutMs`, then closes its AMQP connection and
 *   ends its session, which releases the lock to a standby.
 */
import { hostname } from "node:os";
import pg from "pg";
import type { Config } from "../config.js";
import { ConfigurationError, ProvisioError, TransientError, describeError } from "../errors.js";
import { logger, type Logger } from "../logger.js";
import type { Service } from "../services.js";
import { AmqpPublisher, type OutgoingMessage } from "./amqp-publisher.js";
import { routingKey, toCloudEvent, type EventRow } from "./cloud-event.js";

/** The session advisory lock the active relay holds (migrate uses 7_240_019_001, worker_recover 7_240_019_002). */
export const RELAY_LOCK_ID = 7_240_019_003;

export interface RelayOptions {
  /** postgres:// URL; the login needs SELECT, UPDATE (published_date) and DELETE on event (provisio_worker has them) */
  connectionString: string;
  /** amqp:// or amqps:// URL of RabbitMQ */
  amqpUrl: string;
  /** rows read, published and marked per batch (default 200) */
  batchSize?: number;
  /** ms between looks for new rows when the last batch was not full (default 500); standbys retry the lock at twice this */
  pollIntervalMs?: number;
  /** ms a published row is kept before it is pruned (default 168 h) */
  retentionMs?: number;
  /** ms between pruning passes (default 60 s; the first pass runs when the relay becomes active) */
  pruneIntervalMs?: number;
  /** cap of the backoff in ms while the broker or the database is unreachable (default 30 s) */
  maxBackoffMs?: number;
  /** ms an active relay keeps publishing after stop() was called (default 5 s) */
  drainTimeoutMs?: number;
  /** ms to wait for a batch's confirms (default 30 s) */
  confirmTimeoutMs?: number;
  /** AMQP connection name (default `provisio-relay <host> <pid>`) */
  connectionName?: string;
  /**
   * Called after the broker confirmed a batch and before its rows are marked, with the confirmed ids.
   * A test seam: the relay-killed test stops a relay at that moment (test/helpers/relay-child.ts).
   */
  afterConfirm?: (ids: string[]) => Promise<void> | void;
  log?: Logger;
}

const DEFAULT_RETENTION_MS = 168 * 3_600_000;
const PRUNE_BATCH = 1000;

const SELECT_BATCH = `SELECT id, tenant_customer_id, event_type, reference_table, reference_id, payload, created_date
  FROM event WHERE published_date IS NULL ORDER BY id LIMIT $1`;
const MARK_PUBLISHED = `UPDATE event SET published_date = now() WHERE id = ANY($1::bigint[]) AND published_date IS NULL`;
const PRUNE = `WITH doomed AS (
    SELECT id FROM event WHERE published_date < now() - make_interval(secs => $1) ORDER BY published_date LIMIT $2
  ) DELETE FROM event e USING doomed WHERE e.id = doomed.id`;

/**
 * Delete published events whose published_date is older than `retentionMs`, `batchSize` rows per
 * statement, oldest first, until none is left. Unpublished rows (published_date NULL) are never deleted.
 * @returns how many rows were deleted
 */
export async function pruneEvents(db: pg.ClientBase | pg.Pool, retentionMs: number, batchSize = PRUNE_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await db.query(PRUNE, [retentionMs / 1000, batchSize]);
    total += r.rowCount ?? 0;
    if ((r.rowCount ?? 0) < batchSize) return total;
  }
}

/** The message of an outbox row. */
export function toMessage(row: EventRow): OutgoingMessage {
  const event = toCloudEvent(row);
  return { id: event.id, routingKey: routingKey(row), type: event.type, body: Buffer.from(JSON.stringify(event)), time: row.created_date };
}

export class EventRelay {
  private readonly log: Logger;
  private readonly publisher: AmqpPublisher;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private db: pg.Client | undefined;
  private isActive = false;
  private loopDone: Promise<void> | undefined;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private publishedCount = 0;

  constructor(private readonly opts: RelayOptions) {
    this.log = (opts.log ?? logger()).child({ component: "event-relay" });
    this.batchSize = opts.batchSize ?? 200;
    this.pollMs = opts.pollIntervalMs ?? 500;
    this.publisher = new AmqpPublisher({
      url: opts.amqpUrl,
      connectionName: opts.connectionName ?? `provisio-relay ${hostname()} ${process.pid}`,
      confirmTimeoutMs: opts.confirmTimeoutMs,
      log: this.log,
    });
  }

  /** True while this relay holds the lock (it is the one publishing). */
  get active(): boolean {
    return this.isActive;
  }

  /** Rows this relay has marked published since it started. */
  get published(): number {
    return this.publishedCount;
  }

  /**
   * Start relaying in the background. Resolves at once: the relay connects to the database and the broker
   * by itself, and keeps trying (with a log line) while either is unreachable.
   */
  async start(): Promise<void> {
    if (this.loopDone) return;
    this.log.info({ batchSize: this.batchSize, pollIntervalMs: this.pollMs }, "event relay started");
    this.loopDone = this.loop().catch((err: unknown) => this.log.error({ err }, "event relay loop ended with an error"));
  }

  /**
   * Stop: an active relay publishes what is unpublished now (at most drainTimeoutMs), then the AMQP
   * connection is closed and the database session ended (releasing the lock). Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopRequested = true;
      this.wake?.();
      // the loop ends by itself once drained (or at drainTimeoutMs, checked between batches); a batch
      // stuck on the broker (waiting for confirms or a connection) is cut short by closing the publisher
      const drainMs = (this.opts.drainTimeoutMs ?? 5_000) + 1_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.loopDone, new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
      clearTimeout(timer);
      await this.publisher.close();
      await this.loopDone;
      await this.dropDatabase();
      this.log.info({ published: this.publishedCount }, "event relay stopped");
    })();
    return this.stopping;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async database(): Promise<pg.Client> {
    if (this.db) return this.db;
    const client = new pg.Client({ connectionString: this.opts.connectionString, application_name: "provisio-relay" });
    client.on("error", (err: Error) => {
      this.log.warn({ err: err.message }, "event relay lost its database session");
      if (this.db === client) {
        this.db = undefined;
        this.isActive = false; // the session, and with it the lock, is gone: a standby may take over
      }
      void client.end().catch(() => undefined);
    });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.db = client;
    return client;
  }

  private async dropDatabase(): Promise<void> {
    const client = this.db;
    this.db = undefined;
    if (this.isActive) this.log.info("event relay no longer active");
    this.isActive = false;
    await client?.end().catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let nextPrune = 0;
    let drainUntil = Infinity;
    for (;;) {
      if (this.stopRequested) {
        if (!this.isActive) return;
        if (drainUntil === Infinity) drainUntil = Date.now() + (this.opts.drainTimeoutMs ?? 5_000);
        if (Date.now() > drainUntil) {
          this.log.warn("event relay stopped before every event was published; they wait in table event");
          return;
        }
      }
      try {
        const db = await this.database();
        if (!this.isActive) {
          const lock = await db.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [RELAY_LOCK_ID]);
          if (!lock.rows[0]?.ok) {
            await this.sleep(2 * this.pollMs);
            continue;
          }
          this.isActive = true;
          this.log.info("event relay active (holds the relay lock)");
        }
        const n = await this.relayBatch(db);
        if (failures > 0) this.log.info({ failures }, "events flow again");
        failures = 0;
        if (Date.now() >= nextPrune && !this.stopRequested) {
          const deleted = await pruneEvents(db, this.opts.retentionMs ?? DEFAULT_RETENTION_MS);
          if (deleted > 0) this.log.info({ deleted }, "pruned published events past their retention");
          nextPrune = Date.now() + (this.opts.pruneIntervalMs ?? 60_000);
        }
        if (n < this.batchSize) {
          if (this.stopRequested) return;
          await this.sleep(this.pollMs);
        }
      } catch (err) {
        failures++;
        const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, 250 * 2 ** Math.min(failures - 1, 16));
        const broker = err instanceof ProvisioError && err.code.startsWith("PV_AMQP");
        // anything but the broker (the database, or a surprise): start over with a new session, which
        // gives the lock up, so a standby may take over meanwhile
        if (!broker) await this.dropDatabase();
        this.log.warn(
          { err: describeError(err), attempt: failures, retryInMs: delay },
          broker ? "AMQP broker unavailable; events wait in table event" : "event relay cannot reach the database; retrying",
        );
        if (this.stopRequested) return;
        await this.sleep(delay);
      }
    }
  }

  /** One batch: read unpublished rows in id order, publish, mark the confirmed prefix. Returns the rows read. */
  private async relayBatch(db: pg.Client): Promise<number> {
    const rows = (await db.query<EventRow>(SELECT_BATCH, [this.batchSize])).rows;
    if (rows.length === 0) return 0;
    const confirmed = await this.publisher.publish(rows.map(toMessage));
    const ids = rows.slice(0, confirmed).map((r) => String(r.id));
    if (ids.length > 0) {
      await this.opts.afterConfirm?.(ids);
      const r = await db.query(MARK_PUBLISHED, [ids]);
      this.publishedCount += r.rowCount ?? 0;
    }
    if (confirmed < rows.length) {
      throw new TransientError("PV_AMQP_UNCONFIRMED", `the broker confirmed ${confirmed} of ${rows.length} events; the rest are sent again`);
    }
    return rows.length;
  }
}

/** The relay options of the environment (AMQP_URL and PROVISIO_EVENT_* in src/config.ts). */
export function relayOptionsFromConfig(cfg: Config, connectionString: string): RelayOptions {
  if (!cfg.AMQP_URL) throw new ConfigurationError("AMQP_URL is not set: the event relay has no broker to publish to");
  return {
    connectionString,
    amqpUrl: cfg.AMQP_URL,
    batchSize: cfg.PROVISIO_EVENT_BATCH_SIZE,
    pollIntervalMs: cfg.PROVISIO_EVENT_POLL_INTERVAL_MS,
    retentionMs: cfg.PROVISIO_EVENT_RETENTION_HOURS * 3_600_000,
  };
}

/**
 * The relay as a {@link Service}: an {@link EventRelay} built from `options()` at start (when the
 * database is known). A process with a worker stops it after the worker, so that its last events go out.
 */
export class RelayService implements Service {
  readonly name = "event relay";
  private current: EventRelay | undefined;

  constructor(private readonly options: () => RelayOptions) {}

  /** the running relay (undefined before start) */
  get relay(): EventRelay | undefined {
    return this.current;
  }

  async start(): Promise<void> {
    const relay = new EventRelay(this.options());
    await relay.start();
    this.current = relay;
  }

  async stop(): Promise<void> {
    await this.current?.stop();
  }
}
