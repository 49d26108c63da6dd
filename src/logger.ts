/**
 * Structured logging with pino. Scope with child loggers: logger.child({ jobId, jobType, provisionId }).
 * Logs go to stderr so that CLI output on stdout stays clean for pipes.
 */
import { pino, destination, type Logger } from "pino";
import { config } from "./config.js";

export type { Logger };

let root: Logger | undefined;

/** The process's root logger (level from PROVISIO_LOG_LEVEL). */
export function logger(): Logger {
  root ??= pino({ level: config().PROVISIO_LOG_LEVEL, base: { pid: process.pid } }, destination(2));
  return root;
}
