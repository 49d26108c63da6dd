/**
 * How the sql connector classifies its drivers' errors (src/errors.ts: transient is retried, permanent
 * fails the application). Three outcomes:
 * - TransientError: the connection or the server went away, or the statement lost a race that may pass
 *   (connection refused or reset, connect or statement timeout, server shutting down, too many
 *   connections, deadlock, serialization failure, lock wait timeout). Thrown: the application is retried.
 *   While opening a connection it is also `configSuspect` (the host or port may be out of date).
 * - PermanentError with `configSuspect`: the session cannot be opened with these settings (bad password,
 *   unknown user or database, TLS refused or unverifiable). Thrown: the application fails.
 * - any other PermanentError / ValidationError: the statement was refused (an unknown role, a constraint,
 *   a missing privilege). Recorded on that one operation with its native code; the others go on.
 *
 * Codes: PostgreSQL errors keep their SQLSTATE (fromPgError, src/errors.ts); MariaDB errors carry mysql2's
 * symbolic code (ER_ACCESS_DENIED_ERROR, ECONNREFUSED, PROTOCOL_CONNECTION_LOST, ...), and the
 * operation's native_code is the server's errno (1959 for an unknown role).
 */
import { fromPgError, PermanentError, ProvisioError, TransientError, ValidationError } from "../../errors.js";
import type { SqlDialect } from "./statements.js";

/** Node's TLS verification failures: the settings (CA file, server name) or the server's certificate are wrong. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|CERT_|HOSTNAME_MISMATCH)/;
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"]);

/**
 * PostgreSQL SQLSTATEs worth another attempt: class 08 (connection), 53 (insufficient resources: too many
 * connections, out of memory or disk), 57014 (statement_timeout), 57P01-57P03 and 57P05 (shutdown, cannot
 * connect now, idle session timeout), 40001 / 40P01 (serialization failure, deadlock), 55P03 (lock_timeout),
 * 25006 (a read-only transaction: a standby answered after a failover).
 */
const PG_TRANSIENT = /^(08|53|57014|57P0[1235]|40001|40P01|55P03|25006)/;
/** PostgreSQL SQLSTATEs that mean "these settings cannot open a session": 28000, 28P01, 3D000 (no such database). */
const PG_LOGIN = /^(28000|28P01|3D000)$/;

/** MariaDB/MySQL errnos worth another attempt. */
const MARIADB_TRANSIENT_ERRNO = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1041, // ER_OUT_OF_RESOURCES
  1053, // ER_SERVER_SHUTDOWN
  1077, // ER_NORMAL_SHUTDOWN
  1152, // ER_ABORTING_CONNECTION
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  1317, // ER_QUERY_INTERRUPTED
  1927, // ER_CONNECTION_KILLED
  1969, // ER_STATEMENT_TIMEOUT (max_statement_time)
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  4031, // ER_CLIENT_INTERACTION_TIMEOUT
]);
const MARIADB_TRANSIENT_CODES = new Set([...NETWORK_CODES, "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT", "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR"]);
/** MariaDB errnos that mean "these settings cannot open a session". */
const MARIADB_LOGIN_ERRNO = new Set([
  1044, // ER_DBACCESS_DENIED_ERROR
  1045, // ER_ACCESS_DENIED_ERROR
  1049, // ER_BAD_DB_ERROR
  1129, // ER_HOST_IS_BLOCKED
  1130, // ER_HOST_NOT_PRIVILEGED
  1251, // ER_NOT_SUPPORTED_AUTH_MODE
  1862, // ER_MUST_CHANGE_PASSWORD_LOGIN
  4151, // ER_ACCOUNT_HAS_BEEN_LOCKED
]);

interface DriverErrorLike {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  fatal?: unknown;
  errors?: unknown;
}

/** The first error of an AggregateError (Node's connect to a name with several addresses), else err. */
function unwrapAggregate(err: unknown): DriverErrorLike {
  const e = (err ?? {}) as DriverErrorLike;
  if (typeof e.code !== "string" && Array.isArray(e.errors) && e.errors.length > 0) return e.errors[0] as DriverErrorLike;
  return e;
}

function messageOf(err: unknown): string {
  const e = unwrapAggregate(err);
  if (typeof e.message === "string" && e.message) return e.message;
  return err instanceof Error && err.message ? err.message : String(err);
}

/**
 * Classify an error of node-postgres (see the module doc).
 * @param where the target, for the message ("postgresql 127.0.0.1:5432/app", never a secret)
 * @param connecting true while a connection is being opened (transient errors are then configSuspect)
 */
export function pgFailure(err: unknown, where: string, connecting: boolean): ProvisioError {
  if (err instanceof ProvisioError) return err;
  const e = unwrapAggregate(err);
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = `${where}: ${messageOf(err)}`;
  if (code && PG_LOGIN.test(code)) return new PermanentError(code, message, { cause: err, configSuspect: true });
  if (code && connecting && code === "42501") return new PermanentError(code, message, { cause: err, configSuspect: true });
  if (code && (PG_TRANSIENT.test(code) || NETWORK_CODES.has(code))) return new TransientError(code, message, { cause: err, configSuspect: connecting });
  if (code && TLS_CODES.test(code)) return new PermanentError(code, message, { cause: err, configSuspect: true });
  if (!code || !/^[0-9A-Z]{5}$/.test(code)) {
    if (/does not support SSL|SSL connection|self[- ]signed|certificate/i.test(message))
      return new PermanentError("PV_SQL_TLS", message, { cause: err, configSuspect: true });
    if (/timeout|Connection terminated|connection error|ended unexpectedly/i.test(message)) {
      return new TransientError("PV_SQL_CONNECTION", message, { cause: err, configSuspect: connecting });
    }
  }
  // fromPgError's class and code (integrity errors keep their column), with the target in the message
  const mapped = fromPgError(err);
  if (mapped instanceof TransientError) return new TransientError(mapped.code, message, { cause: err, configSuspect: connecting });
  if (mapped instanceof ValidationError) return new ValidationError(mapped.code, message, { cause: err, column: mapped.column });
  return new PermanentError(mapped.code, message, { cause: err, configSuspect: mapped.configSuspect });
}

/**
 * Classify an error of mysql2 talking to MariaDB (see the module doc). The code is mysql2's symbolic
 * one (ER_ACCESS_DENIED_ERROR); an unknown fatal error (the connection is gone) is transient.
 * @param where the target, for the message
 * @param connecting true while a connection is being opened (transient errors are then configSuspect)
 */
export function mariadbFailure(err: unknown, where: string, connecting: boolean): ProvisioError {
  if (err instanceof ProvisioError) return err;
  const e = unwrapAggregate(err);
  const errno = typeof e.errno === "number" ? e.errno : undefined;
  const code = typeof e.code === "string" ? e.code : errno !== undefined ? `MARIADB_${errno}` : "PV_SQL_ERROR";
  const message = `${where}: ${messageOf(err)}`;
  if (errno !== undefined && MARIADB_LOGIN_ERRNO.has(errno)) return new PermanentError(code, message, { cause: err, configSuspect: true });
  if (TLS_CODES.test(code) || code === "HANDSHAKE_NO_SSL_SUPPORT") return new PermanentError(code, message, { cause: err, configSuspect: true });
  if ((errno !== undefined && MARIADB_TRANSIENT_ERRNO.has(errno)) || MARIADB_TRANSIENT_CODES.has(code)) {
    return new TransientError(code, message, { cause: err, configSuspect: connecting });
  }
  if (e.fatal === true || (connecting && errno === undefined)) return new TransientError(code, message, { cause: err, configSuspect: connecting });
  return new PermanentError(code, message, { cause: err, configSuspect: false });
}

/** Classify an error of the dialect's driver (see {@link pgFailure}, {@link mariadbFailure}). */
export function driverFailure(dialect: SqlDialect, err: unknown, where: string, connecting: boolean): ProvisioError {
  return dialect === "postgresql" ? pgFailure(err, where, connecting) : mariadbFailure(err, where, connecting);
}

/**
 * The target's own code for an operation's record (AccountOperation.native_code): the SQLSTATE
 * (PostgreSQL, e.g. "42704") or the errno (MariaDB, e.g. 1959); undefined when the error has none.
 */
export function nativeCodeOf(dialect: SqlDialect, err: unknown): string | number | undefined {
  const e = (err instanceof ProvisioError ? err.cause : err) as DriverErrorLike | undefined;
  if (!e) return undefined;
  if (dialect === "postgresql") return typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  return typeof e.errno === "number" ? e.errno : undefined;
}

/** The SQLSTATE (PostgreSQL) or errno (MariaDB) of a raw driver error, to recognise an expected refusal. */
export function isDriverCode(err: unknown, code: string | number): boolean {
  const e = (err ?? {}) as DriverErrorLike;
  return typeof code === "number" ? e.errno === code : e.code === code;
}
