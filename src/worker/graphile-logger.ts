/** Route graphile-worker's log lines into pino. */
import { Logger as GraphileLogger } from "graphile-worker";
import type { Logger } from "../logger.js";

/** A graphile-worker Logger that writes to the given pino logger (scope becomes bindings). */
export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => {
    const child = log.child({ gw: scope });
    return (level, message, meta) => {
      const method = level === "error" ? "error" : level === "warning" ? "warn" : level === "info" ? "info" : "debug";
      child[method](meta ?? {}, message);
    };
  });
}
