/**
 * The demo's order lines (`npm start`): each order status change as `  order …<id tail> → <status>`,
 * printed only after the line announcing the orders. The watcher starts before the orders are inserted
 * (so no change is missed: a demo order completes within milliseconds), and holds its lines until
 * {@link OrderFollow.announce} has printed the announcement.
 */
import type pg from "pg";
import { watchOrderStatus, type OrderStatusChange, type OrderWatch, type WatchOptions } from "./order-watch.js";
import { idTail } from "./status.js";

export interface OrderFollow {
  watch: OrderWatch;
  /** print `line`, then every change line held so far, in order; later changes print at once */
  announce(line: string): void;
}

/** The text printed for one status change. */
export const changeLine = (c: OrderStatusChange) => `  order ${idTail(c.orderId)} → ${c.status}`;

/**
 * Start following order status changes on `client` (a connected client of its own; see
 * {@link watchOrderStatus} for what is reported) and pass their lines to `print` once announced.
 * @throws what watchOrderStatus throws
 */
export async function followOrders(client: pg.ClientBase, print: (line: string) => void, opts: WatchOptions = {}): Promise<OrderFollow> {
  let held: string[] | undefined = [];
  const watch = await watchOrderStatus(
    client,
    (c) => {
      if (held) held.push(changeLine(c));
      else print(changeLine(c));
    },
    opts,
  );
  return {
    watch,
    announce(line) {
      print(line);
      const lines = held ?? [];
      held = undefined;
      for (const l of lines) print(l);
    },
  };
}
