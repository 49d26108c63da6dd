/**
 * What a run measures against: the database (DATABASE_URL when set, else a throw-away embedded
 * PostgreSQL with fsync off) and the EPP registry simulator over TLS that the EPP accounts reach.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ensureDatabase, startEmbeddedPostgres } from "../src/db/embedded.js";
import { EppRegistrySimulator } from "../src/simulators/epp-registry/server.js";
import type { BenchOptions } from "./options.js";

/** The database's URL (not yet migrated) and how to remove it again (nothing to do for DATABASE_URL). */
export async function startDatabase(o: BenchOptions): Promise<{ url: string; cleanup: () => Promise<void> }> {
  let url = o.databaseUrl;
  let cleanup = async () => {};
  if (!url) {
    const dir = await mkdtemp(path.join(os.tmpdir(), "provisio-bench-"));
    await chmod(dir, 0o755);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port, persistent: false });
    await ensureDatabase(server.serverUrl, "bench");
    url = server.urlFor("bench");
    cleanup = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  return { url, cleanup };
}

export interface Simulator {
  /** the accreditation config of an EPP account at the simulator (its password in PROVISIO_BENCH_EPP_PASSWORD) */
  eppConfig: Record<string, unknown>;
  stop(): Promise<void>;
  /** remove the folder holding the simulator's CA certificate */
  removeCa(): Promise<void>;
}

/** The EPP simulator (registrar "bench", TLD "test") on a free port, its certificate in a temporary folder. */
export async function startSimulator(): Promise<Simulator> {
  process.env.PROVISIO_BENCH_EPP_PASSWORD = "bench-pw";
  const sim = new EppRegistrySimulator({ registrars: { bench: "bench-pw" }, tlds: ["test"] });
  const simPort = await sim.start();
  const caDir = await mkdtemp(path.join(os.tmpdir(), "provisio-bench-ca-"));
  await writeFile(path.join(caDir, "ca.pem"), sim.certificate!.cert);
  const eppConfig = {
    host: "127.0.0.1",
    port: simPort,
    clID: "bench",
    password_env: "PROVISIO_BENCH_EPP_PASSWORD",
    tls: { ca_file: path.join(caDir, "ca.pem"), servername: "localhost" },
  };
  return { eppConfig, stop: () => sim.stop(), removeCa: () => rm(caDir, { recursive: true, force: true }) };
}
