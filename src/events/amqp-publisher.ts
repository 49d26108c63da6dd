/**
 * One AMQP 0-9-1 connection and confirm channel to RabbitMQ (amqplib), opened when needed and opened
 * again after the broker or the network closed either of them. Used by the event relay (./relay.ts).
 */
import amqp, { type ChannelModel, type ConfirmChannel } from "amqplib";
import { TransientError } from "../errors.js";
import type { Logger } from "../logger.js";
import { CLOUDEVENTS_CONTENT_TYPE, EVENTS_EXCHANGE } from "./cloud-event.js";

/** One message of a batch: body and AMQP properties come from the event row. */
export interface OutgoingMessage {
  /** the event row's id; the AMQP message-id */
  id: string;
  routingKey: string;
  /** CloudEvents type, also set as the AMQP `type` property */
  type: string;
  /** the structured-mode CloudEvent, JSON */
  body: Buffer;
  /** created_date of the row */
  time: Date;
}

export interface AmqpPublisherOptions {
  url: string;
  /** shown by `rabbitmqctl list_connections client_properties` and the management UI */
  connectionName: string;
  /** ms to wait for the broker's confirms of one batch before the channel is given up (default 30 s) */
  confirmTimeoutMs?: number;
  /** ms to wait for a TCP connection (default 10 s) */
  connectTimeoutMs?: number;
  log: Logger;
}

/** The URL without its password, for log lines. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(not a URL)";
  }
}

export class AmqpPublisher {
  private conn: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private opening: Promise<ConfirmChannel> | undefined;
  private closed = false;

  constructor(private readonly opts: AmqpPublisherOptions) {}

  /** True while a connection and a confirm channel are open. */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /**
   * The open confirm channel, or a new connection and channel (the exchange `provisio.events` is
   * declared durable, type topic, on each new channel).
   * @throws TransientError (PV_AMQP_UNAVAILABLE) when the broker cannot be reached or refuses.
   */
  private channelOrOpen(): Promise<ConfirmChannel> {
    if (this.channel) return Promise.resolve(this.channel);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<ConfirmChannel> {
    if (this.closed) throw new TransientError("PV_AMQP_UNAVAILABLE", "publisher is closed");
    const log = this.opts.log;
    let conn: ChannelModel | undefined;
    try {
      // timeout: a broker that accepts TCP but never answers the handshake fails the attempt (ms)
      conn = await amqp.connect(this.opts.url, {
        clientProperties: { connection_name: this.opts.connectionName },
        timeout: this.opts.connectTimeoutMs ?? 10_000,
      });
      conn.on("error", (err: Error) => log.warn({ err: err.message }, "AMQP connection error"));
      conn.on("close", () => {
        if (this.conn === conn) {
          this.conn = undefined;
          this.channel = undefined;
          if (!this.closed) log.warn("AMQP connection closed; it is opened again for the next batch");
        }
      });
      const channel = await conn.createConfirmChannel();
      channel.on("error", (err: Error) => log.warn({ err: err.message }, "AMQP channel error"));
      channel.on("close", () => {
        if (this.channel === channel) this.channel = undefined;
      });
      await channel.assertExchange(EVENTS_EXCHANGE, "topic", { durable: true });
      this.conn = conn;
      this.channel = channel;
      log.info({ url: redactUrl(this.opts.url), exchange: EVENTS_EXCHANGE }, "connected to the AMQP broker");
      return channel;
    } catch (err) {
      await conn?.close().catch(() => undefined);
      throw new TransientError("PV_AMQP_UNAVAILABLE", `AMQP broker at ${redactUrl(this.opts.url)}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }

  /**
   * Publish the messages in order on one confirm channel (persistent, mandatory off) and wait for the
   * broker's confirms. Returns how many messages from the start of the list the broker confirmed: all of
   * them, or fewer when a message was nacked, the channel or connection closed, or the confirms did not
   * arrive within the timeout (then the channel is closed, and opened again by the next call). Only that
   * prefix may be marked published: a later message confirmed after an unconfirmed one is sent again,
   * after it, so that the first deliveries of one aggregate stay in order.
   * @throws TransientError (PV_AMQP_UNAVAILABLE) when no channel could be opened: nothing was sent.
   */
  async publish(messages: OutgoingMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    const channel = await this.channelOrOpen();
    const confirmed: boolean[] = messages.map(() => false);
    // amqplib buffers a message when the socket's write buffer is full (publish returns false), so every
    // message is handed over at once; the confirm callback of each comes when the broker answers, or with
    // an error when the channel closes first
    let refused = false;
    const settled = messages.map(
      (m, i) =>
        new Promise<void>((resolve) => {
          try {
            channel.publish(
              EVENTS_EXCHANGE,
              m.routingKey,
              m.body,
              {
                persistent: true,
                messageId: m.id,
                contentType: CLOUDEVENTS_CONTENT_TYPE,
                type: m.type,
                timestamp: Math.floor(m.time.getTime() / 1000),
                appId: "provisio",
              },
              (err) => {
                confirmed[i] = !err;
                resolve();
              },
            );
          } catch (err) {
            // the channel closed meanwhile: amqplib refuses the message at once
            if (!refused) this.opts.log.warn({ err: (err as Error).message }, "AMQP publish refused");
            refused = true;
            resolve();
          }
        }),
    );
    const timeoutMs = this.opts.confirmTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(settled).then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.opts.log.warn({ timeoutMs, messages: messages.length }, "the broker did not confirm a batch in time; closing the channel");
      this.channel = undefined;
      await channel.close().catch(() => undefined);
    }
    const prefix = confirmed.indexOf(false);
    return prefix === -1 ? messages.length : prefix;
  }

  /** Close the channel and the connection. Safe to call more than once. */
  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const conn = this.conn;
    this.conn = undefined;
    this.channel = undefined;
    await conn?.close().catch(() => undefined);
  }
}
