/**
 * The one errors module (docs/design.md "Habits"). Every error provisio raises has a stable `code`:
 * - database rejections keep the SQLSTATE (PV1xx, 23502, ...; docs/errors.md),
 * - EPP outcomes are `EPP<result code>` (RFC 5730 §3),
 * - the rest are PV_* codes listed in docs/errors.md.
 * `retryable` decides what a task does: transient errors are retried with backoff, the rest fail the job.
 * `configSuspect` says the failure may come from out-of-date settings (a connector could not open a
 * session: connection refused, TLS verification or handshake, login refused): the task reads the
 * accreditation again before the next attempt instead of using its cached copy.
 */
export class ProvisioError extends Error {
  readonly code: string;
  readonly retryable: boolean = false;
  readonly configSuspect: boolean;
  constructor(code: string, message: string, options?: { cause?: unknown; configSuspect?: boolean }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.configSuspect = options?.configSuspect ?? false;
  }

  /**
   * What a failed job records in result_data: `{ error_code, error }`. Adapters' errors add what their
   * protocol said (EppCommandError: the RFC 5730 result code, msg, reason, svTRID and clTRID), so the
   * task lifecycle writes failures back without knowing any protocol.
   */
  resultData(): Record<string, unknown> {
    return { error_code: this.code, error: this.message };
  }
}

/** Bad input rejected by a validation trigger or a zod schema. `column` names the field when known. */
export class ValidationError extends ProvisioError {
  readonly column: string | undefined;
  constructor(code: string, message: string, options?: { cause?: unknown; column?: string }) {
    super(code, message, options);
    this.column = options?.column;
  }
}

/** Worth another attempt: connection refused or dropped, timeouts, EPP 2400/2500/2502. */
export class TransientError extends ProvisioError {
  override readonly retryable = true;
}

/** Will fail the same way again: EPP 2xxx client errors such as 2302 object exists. */
export class PermanentError extends ProvisioError {}

/** Wrong or missing configuration (environment, accreditation config, secrets). Not retried. */
export class ConfigurationError extends ProvisioError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("PV_CONFIG", message, options);
  }
}

interface PgLikeError {
  code?: unknown;
  message?: unknown;
  column?: unknown;
  cause?: unknown;
}

/** SQLSTATE classes that mean "the connection or server went away": worth a retry. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[1-3]|40001|40P01)/;
const TRANSIENT_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * Map an error from node-postgres (or anything wrapping one in `cause`) to a ProvisioError:
 * a rejected row — a PV code of a validation range (PV1xx: registry family, PV2xx: access, PV3xx:
 * workflow; docs/errors.md) or class 23 (integrity) — becomes ValidationError with the column;
 * connection-level failures (class 08, 53, 57P01-03, 40001, 40P01, network errno) become TransientError;
 * anything else, the engine's own PV5xx included (a job that does not exist, an unknown job type: a bug
 * or a broken database, not bad input), is a PermanentError with its code.
 * Errors that are already ProvisioErrors are returned unchanged.
 */
export function fromPgError(err: unknown): ProvisioError {
  if (err instanceof ProvisioError) return err;
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const pe = e as PgLikeError;
    const code = typeof pe.code === "string" ? pe.code : undefined;
    const message = typeof pe.message === "string" ? pe.message : String(e);
    if (code && /^(PV[1-3]\d\d|23\w{3})$/.test(code)) {
      return new ValidationError(code, message, { cause: err, column: typeof pe.column === "string" ? pe.column : undefined });
    }
    if (code && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_ERRNO.has(code))) {
      return new TransientError(code, message, { cause: err });
    }
    if (code && /^[0-9A-Z]{5}$/.test(code)) return new PermanentError(code, message, { cause: err });
    e = pe.cause;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) {
    return new TransientError("PV_DB_CONNECTION", message, { cause: err });
  }
  return new PermanentError("PV_INTERNAL", message, { cause: err });
}

/**
 * True when err means the database cannot be reached right now (connection refused or dropped, server
 * shutting down or starting: SQLSTATE class 08, 57P01-57P03), as opposed to an error in the statement.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = fromPgError(err);
  return e instanceof TransientError && (/^(08|57P0[1-3])/.test(e.code) || TRANSIENT_ERRNO.has(e.code) || e.code === "PV_DB_CONNECTION");
}

/** A short text for logs and result_message: "CODE: message". */
export function describeError(err: unknown): string {
  if (err instanceof ProvisioError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
