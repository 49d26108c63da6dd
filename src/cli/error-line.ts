/** How the CLI reports a failed command: one line on stderr, never a stack trace. */
import { describeError, ProvisioError } from "../errors.js";

interface PgLike {
  code?: unknown;
  /** set by node-postgres on an error the server sent (ERROR, FATAL, PANIC); Node errno errors have none */
  severity?: unknown;
  hint?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** a SQLSTATE: five characters of digits and upper-case letters (PostgreSQL docs, Appendix A) */
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** a stack frame ("    at fn (file:1:2)"), as libraries that fold err.stack into a message leave them */
const STACK_FRAME = /^\s+at\s/;

/**
 * The first PostgreSQL error on err's cause chain, err included: one the server sent, as node-postgres'
 * DatabaseError gives it (a `severity` and a SQLSTATE `code`). A Node errno error (EPIPE, EPERM, ...) has a
 * 5-letter `code` but no `severity`, and is not one.
 */
function findDatabaseError(err: unknown): PgLike | undefined {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === "object" && depth < 8; depth++) {
    const pe = e as PgLike;
    if (typeof pe.code === "string" && SQLSTATE.test(pe.code) && typeof pe.severity === "string" && pe.severity) return pe;
    e = pe.cause;
  }
  return undefined;
}

/**
 * One line for a failed command: the error's text (`CODE: message` for a ProvisioError), stack-frame
 * lines dropped and the rest joined with spaces, then, when a PostgreSQL error is on its cause chain and
 * the text does not already give it, `(SQLSTATE xxxxx; hint: …)`.
 * An AggregateError with no message of its own (node-postgres: every address of a host refused the
 * connection) reports its errors' messages.
 * Example: `permission denied for schema public (SQLSTATE 42501)`.
 */
export function errorLine(err: unknown): string {
  let text = describeError(err);
  if (err instanceof AggregateError && !err.message) text = err.errors.map((e) => describeError(e)).join("; ");
  const line = text
    .split("\n")
    .filter((l) => l.trim() !== "" && !STACK_FRAME.test(l))
    .map((l) => l.trim())
    .join(" ");
  const db = err instanceof ProvisioError ? undefined : findDatabaseError(err);
  if (!db) return line || String(err);
  const extra = [
    line.includes(String(db.code)) ? undefined : `SQLSTATE ${String(db.code)}`,
    typeof db.hint === "string" && db.hint && !line.includes(db.hint) ? `hint: ${db.hint}` : undefined,
  ].filter(Boolean);
  return extra.length ? `${line} (${extra.join("; ")})` : line;
}
