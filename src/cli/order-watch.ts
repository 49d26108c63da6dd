/**
 * Follow order status changes: LISTEN on channel provisio_order_status, treat each notification as a
 * hint only, and report a change only after reading the order's status through v_order.
 *
 * PostgreSQL has no privileges on channels: any login may LISTEN on provisio_order_status and any login
 * may pg_notify a forged payload. So a payload is never trusted for what it says: it names at most an
 * order id (the trigger's payload is the order's uuid as text, nothing else), the status is read back
 * through v_order (which shows the order and reader roles their app.tenant_id's orders only), and only a
 * status that differs from the last one this watcher knows is reported.
 */
import type pg from "pg";
import { z } from "zod";
import { logger } from "../logger.js";
import { isUuid } from "./args.js";

/** The channel the order rollup notifies on (stored-procedures/engine/order/rollup.sql). */
export const ORDER_STATUS_CHANNEL = "provisio_order_status";

/** An order's status as read from v_order, different from the last status the watcher knew. */
export interface OrderStatusChange {
  /** the order's id (lower-case uuid text) */
  orderId: string;
  /** its status now (order_status.name: pending, processing, completed, failed) */
  status: string;
  /** the status the watcher knew before (its baseline or its last report); "pending" for an order created after the baseline */
  previous: string;
}

export interface OrderWatch {
  /**
   * Resolves when every notification received so far has been handled (read back, reported or
   * ignored). A notification sent by a committed transaction may still be on its way.
   */
  settled(): Promise<void>;
  /** UNLISTEN and stop reporting; waits for the notification in hand. Leaves the client open. Safe to call twice. */
  stop(): Promise<void>;
}

export interface WatchOptions {
  /** a read-back failed (for example the connection dropped); default: a warning in the log */
  onError?: (err: unknown) => void;
}

/** The status every order is created with (order.status_id DEFAULT 1, migrations/0001_core.sql). */
const INITIAL_STATUS = "pending";

const baselineRow = z.object({ at: z.string(), orders: z.record(z.string(), z.string()) });
const orderRow = z.object({ status: z.string(), final_before: z.boolean().nullable() });

/**
 * Start reporting order status changes seen by `client`'s session.
 *
 * - `client` is a connected client of its own (not a pool's: LISTEN belongs to the session), not inside
 *   a transaction. Its session decides what is visible: as provisio_order or provisio_reader, with
 *   app.tenant_id set on the session, only that tenant's orders are ever read or reported. The watcher
 *   runs its queries on that client, one at a time; the caller closes it after {@link OrderWatch.stop}.
 * - It LISTENs, then reads a baseline: the time (now()) and the status of every visible order that is
 *   not final. A change committed before that read is part of the baseline and not reported.
 * - A notification whose payload is not a bare uuid is ignored. For a uuid it reads the order's
 *   status, is_final and completed_date from v_order: no row (no such order, or
 *   another tenant's) is ignored; a status equal to the one known is ignored (a forged or repeated
 *   notification); otherwise `onChange` is called once and the new status becomes the known one.
 *   An order the watcher does not know is taken as created after the baseline (so it was pending), unless
 *   it is final with a completed_date before the baseline (it was final already: known, not reported).
 * - Notifications are handled one at a time, in the order they arrive; an `onChange` that throws is
 *   reported to `onError`, like a failed read.
 *
 * Memory: one entry per order that was open at the baseline or changed since.
 * @throws what LISTEN or the baseline query throws (the watcher is then not started).
 */
export async function watchOrderStatus(client: pg.ClientBase, onChange: (change: OrderStatusChange) => void, opts: WatchOptions = {}): Promise<OrderWatch> {
  const onError =
    opts.onError ?? ((err: unknown) => logger().warn({ err: err instanceof Error ? err.message : String(err) }, "order status watch: read-back failed"));
  const known = new Map<string, string>();
  /** now() of the baseline, as the server's text (microseconds kept) */
  let baselineAt: string | undefined;
  let stopped = false;
  // notifications are handled one at a time in arrival order, after the baseline
  let baselineRead!: () => void;
  let queue = new Promise<void>((resolve) => (baselineRead = resolve));

  const handle = async (payload: string | undefined) => {
    if (stopped || payload === undefined || !isUuid(payload)) return;
    const orderId = payload.toLowerCase();
    const r = await client.query("SELECT status, is_final AND completed_date <= $2::timestamptz AS final_before FROM v_order WHERE id = $1", [
      orderId,
      baselineAt,
    ]);
    if (r.rows.length === 0 || stopped) return;
    const row = orderRow.parse(r.rows[0]);
    const knew = known.get(orderId);
    if (knew === undefined && row.final_before === true) {
      // final before the baseline: nothing has changed since
      known.set(orderId, row.status);
      return;
    }
    // not open at the baseline and not final before it: created since, as every order is, pending
    const previous = knew ?? INITIAL_STATUS;
    if (previous === row.status) {
      known.set(orderId, row.status);
      return;
    }
    known.set(orderId, row.status);
    onChange({ orderId, status: row.status, previous });
  };
  const reportError = (err: unknown) => {
    try {
      onError(err);
    } catch {
      // an onError that throws must not stop the watch
    }
  };

  const onNotification = (n: pg.Notification) => {
    if (n.channel !== ORDER_STATUS_CHANNEL) return;
    queue = queue.then(() => handle(n.payload)).catch(reportError);
  };

  client.on("notification", onNotification);
  try {
    await client.query(`LISTEN ${ORDER_STATUS_CHANNEL}`);
    const r = await client.query(`SELECT now()::text AS at, coalesce(json_object_agg(id, status), '{}'::json) AS orders FROM v_order WHERE NOT is_final`);
    const b = baselineRow.parse(r.rows[0]);
    baselineAt = b.at;
    for (const [id, status] of Object.entries(b.orders)) known.set(id, status);
  } catch (err) {
    stopped = true;
    client.removeListener("notification", onNotification);
    baselineRead();
    await client.query(`UNLISTEN ${ORDER_STATUS_CHANNEL}`).catch(() => undefined);
    throw err;
  }
  baselineRead();

  return {
    settled: async () => {
      // a handler may queue behind the one awaited: wait until the queue stays the same
      for (let q = queue; ; q = queue) {
        await q;
        if (q === queue) return;
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      client.removeListener("notification", onNotification);
      await queue.catch(() => undefined);
      await client.query(`UNLISTEN ${ORDER_STATUS_CHANNEL}`).catch(() => undefined);
    },
  };
}
