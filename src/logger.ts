/**
 * Structured logging with pino. Scope with child loggers: logger.child({ jobId, jobType, provisionId }).
 * Logs go to stderr so that CLI output on stdout stays clean for pipes.
 */
import { pino, destination, type Logger } from "pino";
import { config } from "./config.js";

export type { Logger };

let root: Logger | undefined;

/**
 * Keys whose values never reach a log line, at the top level or one level down (pino's redact): a
 * connector secret is resolved at use time and must not be logged even by mistake.
 */
export const REDACTED_KEYS = ["password", "pw", "passwd", "secret", "authInfo", "newPW"];

/** The process's root logger (level from PROVISIO_LOG_LEVEL). */
export function logger(): Logger {
  const paths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`]);
  root ??= pino({ level: config().PROVISIO_LOG_LEVEL, base: { pid: process.pid }, redact: { paths, censor: "[redacted]" } }, destination(2));
  return root;
}
