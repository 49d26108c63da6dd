/**
 * Every environment variable provisio reads, parsed once with zod (CONVENTIONS.md "Config in one place").
 * Nothing else in src/ reads process.env, except {@link resolveSecret}, which looks up the variable an
 * accreditation names at the moment a connector needs it.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigurationError } from "./errors.js";

/**
 * A variable set to the empty string (or only blanks) counts as unset, so it takes its default:
 * `PROVISIO_WORKER_CONCURRENCY=` in a compose file or a shell means "the default", not 0 or an error.
 */
const emptyIsUnset = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), schema);

const intFromEnv = (def: number, min: number, max: number) => emptyIsUnset(z.coerce.number().int().min(min).max(max).default(def));

/**
 * A URL whose scheme is one of `schemes` (e.g. "postgres:"); `shape` is what the message suggests. The
 * value itself is never echoed in the error: it may hold a password.
 */
const urlWithScheme = (schemes: string[], shape: string) =>
  z.string().superRefine((v, ctx) => {
    let scheme: string | undefined;
    try {
      scheme = new URL(v).protocol;
    } catch {
      scheme = undefined;
    }
    if (!scheme || !schemes.includes(scheme)) {
      ctx.addIssue({ code: "custom", message: `must be ${shape}, got ${scheme ? `scheme ${scheme}` : "something that is not a URL"}` });
    }
  });

/** The URL schemes node-postgres reads as a connection string (a unix socket: postgres:///db?host=/run/postgresql). */
const postgresUrl = urlWithScheme(["postgres:", "postgresql:"], "a postgres:// or postgresql:// URL (postgres://user:password@host:5432/database)");

/** The URL schemes amqplib connects with (RabbitMQ: amqp://user:password@host:5672/vhost, amqps:// for TLS). */
const amqpUrl = urlWithScheme(["amqp:", "amqps:"], "an amqp:// or amqps:// URL (amqp://user:password@host:5672)");

export const configSchema = z.object({
  /** postgres:// or postgresql:// URL of an external database. Unset or empty: the embedded PostgreSQL under PROVISIO_HOME. */
  DATABASE_URL: emptyIsUnset(postgresUrl.optional()),
  /** Folder for the embedded database and the simulator's certificate. */
  PROVISIO_HOME: emptyIsUnset(z.string().default(".provisio")),
  /** TCP port of the embedded PostgreSQL. */
  PROVISIO_EMBEDDED_PG_PORT: intFromEnv(54329, 1024, 65535),
  /** pino log level: fatal, error, warn, info, debug, trace, silent. */
  PROVISIO_LOG_LEVEL: emptyIsUnset(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info")),
  /** Jobs one worker process runs at once (graphile-worker concurrency). */
  PROVISIO_WORKER_CONCURRENCY: intFromEnv(10, 1, 500),
  /** graphile-worker poll interval in milliseconds (new jobs arrive by LISTEN/NOTIFY; this catches retries). */
  PROVISIO_POLL_INTERVAL_MS: intFromEnv(1000, 50, 60_000),
  /** Size of the worker's own pg pool (graphile-worker shares it). */
  PROVISIO_PG_POOL_MAX: intFromEnv(20, 2, 500),
  /** EPP: milliseconds to wait for a TLS connection and the greeting. */
  PROVISIO_EPP_CONNECT_TIMEOUT_MS: intFromEnv(10_000, 100, 300_000),
  /** EPP: milliseconds to wait for the response to one command before the outcome counts as ambiguous. */
  PROVISIO_EPP_COMMAND_TIMEOUT_MS: intFromEnv(30_000, 100, 600_000),
  /** EPP: idle logged-in sessions are closed after this many milliseconds. */
  PROVISIO_EPP_IDLE_TIMEOUT_MS: intFromEnv(60_000, 1_000, 3_600_000),
  /** Port of the built-in EPP registry simulator (RFC 5734 assigns 700 to EPP; unprivileged default here). */
  PROVISIO_SIMULATOR_PORT: intFromEnv(7700, 1, 65535),
  /** Milliseconds between a worker's heartbeats (table worker) and recovery passes. */
  PROVISIO_HEARTBEAT_INTERVAL_MS: intFromEnv(2_000, 100, 60_000),
  /** A worker whose heartbeat is older than this many milliseconds is declared dead and its jobs unlocked. */
  PROVISIO_WORKER_TIMEOUT_MS: intFromEnv(10_000, 500, 3_600_000),
  /** An open job untouched this many milliseconds with no live graphile-worker job is re-added. */
  PROVISIO_STUCK_JOB_AFTER_MS: intFromEnv(60_000, 500, 86_400_000),
  /** Jobs a worker locks and fetches per query (graphile-worker localQueue.size); -1 fetches one at a time. */
  PROVISIO_LOCAL_QUEUE_SIZE: intFromEnv(-1, -1, 1000),
  /** graphile-worker completeJobBatchDelay/failJobBatchDelay in ms (-1: no batching; batching also retries through a database restart). */
  PROVISIO_COMPLETE_BATCH_DELAY_MS: intFromEnv(0, -1, 10_000),
  /** Seconds the worker keeps retrying a job's write-back (job_start, job_complete, ...) while the database is unreachable. */
  PROVISIO_WRITEBACK_RETRY_SECONDS: intFromEnv(120, 0, 3600),
  /** Folder the workflow task backup.export writes tenant backups to (one subfolder per tenant). Unset: PROVISIO_HOME/backups. */
  PROVISIO_BACKUP_DIR: emptyIsUnset(z.string().optional()),
  /** amqp:// or amqps:// URL of RabbitMQ. Set: the worker (and `provisio relay`) publishes the event outbox there. Unset or empty: events stay in table event. */
  AMQP_URL: emptyIsUnset(amqpUrl.optional()),
  /** Events the relay reads, publishes and marks per batch (src/events/relay.ts). */
  PROVISIO_EVENT_BATCH_SIZE: intFromEnv(200, 1, 10_000),
  /** Milliseconds the active relay waits before looking for new events when the last batch was not full; standbys retry the lock at twice this. */
  PROVISIO_EVENT_POLL_INTERVAL_MS: intFromEnv(500, 50, 60_000),
  /** Hours a published event is kept in table event before the relay deletes it (0: at its next pruning pass). Unpublished events are never deleted. */
  PROVISIO_EVENT_RETENTION_HOURS: intFromEnv(168, 0, 87_600),
  /** on: the worker runs the families' recurring tasks (graphile-worker cron: the access family's discovery scheduler); off: it does not. */
  PROVISIO_CRON: emptyIsUnset(z.enum(["on", "off"]).default("on")),
  /** Milliseconds a graceful shutdown waits for in-flight jobs before giving up. */
  PROVISIO_SHUTDOWN_TIMEOUT_MS: intFromEnv(30_000, 100, 600_000),
});

export type Config = z.infer<typeof configSchema>;

/**
 * Parse an environment (default: process.env). Every variable has a default; one that is unset, empty or
 * only blanks takes it. DATABASE_URL, when given, must be a postgres:// or postgresql:// URL.
 * @throws ConfigurationError (code PV_CONFIG) naming every bad variable and the rule it breaks (never its value).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigurationError(`invalid environment: ${problems}`);
  }
  return parsed.data;
}

let cached: Config | undefined;
/** The process's configuration, parsed on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

/** A reference to a secret: the name of an environment variable or a file path. Never the secret itself. */
export const secretRefSchema = z
  .object({ password_env: z.string().min(1).optional(), password_file: z.string().min(1).optional() })
  .refine((r) => Boolean(r.password_env) !== Boolean(r.password_file), {
    message: "give exactly one of password_env or password_file",
  });
export type SecretRef = z.infer<typeof secretRefSchema>;

/**
 * Resolve a secret at use time (secrets are never stored in a table, a log line or a payload).
 * A variable's value is used as it is. A file is read as UTF-8 and used as it is but for one trailing line
 * ending (`\n` or `\r\n`, as `echo` and editors leave it): spaces, tabs, U+00A0, U+FEFF and any further
 * line ending are part of the secret (a password may hold them; trimming them logs in with another one).
 * @throws ConfigurationError when the variable is unset or empty, or the file cannot be read or holds
 *   nothing but a line ending.
 */
export function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.password_env) {
    const value = env[ref.password_env];
    if (!value) throw new ConfigurationError(`secret: environment variable ${ref.password_env} is not set`);
    return value;
  }
  let text: string;
  try {
    text = readFileSync(ref.password_file!, "utf8");
  } catch (err) {
    throw new ConfigurationError(`secret: cannot read password_file ${ref.password_file}`, { cause: err });
  }
  const value = text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
  if (!value) throw new ConfigurationError(`secret: password_file ${ref.password_file} is empty`);
  return value;
}
