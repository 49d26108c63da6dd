/**
 * Which database a command talks to: DATABASE_URL when set, otherwise the embedded PostgreSQL under
 * PROVISIO_HOME (started here unless another provisio process already runs it).
 */
import path from "node:path";
import pg from "pg";
import { config } from "../config.js";
import type { Service } from "../services.js";
import { ensureDatabase, startEmbeddedPostgres } from "./embedded.js";

export interface ResolvedDatabase {
  url: string;
  embedded: boolean;
  /** stops the embedded server if this process started it */
  close(): Promise<void>;
}

const EMBEDDED_DB = "provisio";

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolve (and if needed start) the database. */
export async function resolveDatabase(): Promise<ResolvedDatabase> {
  const cfg = config();
  if (cfg.DATABASE_URL) return { url: cfg.DATABASE_URL, embedded: false, close: async () => {} };
  const port = cfg.PROVISIO_EMBEDDED_PG_PORT;
  const probe = `postgres://postgres:provisio@127.0.0.1:${port}/postgres`;
  if (await answers(probe)) {
    await ensureDatabase(probe, EMBEDDED_DB);
    return { url: probe.replace(/\/postgres$/, `/${EMBEDDED_DB}`), embedded: true, close: async () => {} };
  }
  const server = await startEmbeddedPostgres({ dataDir: path.join(cfg.PROVISIO_HOME, "pgdata"), port, persistent: true });
  await ensureDatabase(server.serverUrl, EMBEDDED_DB);
  return { url: server.urlFor(EMBEDDED_DB), embedded: true, close: () => server.stop() };
}

/** The database as a {@link Service}: resolved (the embedded server started if needed) at start, closed at stop. */
export class DatabaseService implements Service {
  readonly name = "database";
  private db: ResolvedDatabase | undefined;

  /** the resolved database; throws before start */
  get resolved(): ResolvedDatabase {
    if (!this.db) throw new Error("the database service has not started");
    return this.db;
  }

  /** its connection string; throws before start */
  get url(): string {
    return this.resolved.url;
  }

  async start(): Promise<void> {
    this.db = await resolveDatabase();
  }

  async stop(): Promise<void> {
    await this.db?.close();
  }
}
