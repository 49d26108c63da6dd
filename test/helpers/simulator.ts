/** A simulator plus the accreditation config that points at it (password by environment variable). */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";

export const TEST_CLID = "test-registrar";
export const TEST_PASSWORD_ENV = "PROVISIO_TEST_EPP_PASSWORD";
const PASSWORD = "s3cret-test-pw";

/** the temp directory holding each started simulator's CA file, removed by {@link stopSimulator} */
const caDirs = new WeakMap<EppRegistrySimulator, string>();

export async function startSimulator(): Promise<{ sim: EppRegistrySimulator; config: Record<string, unknown>; caFile: string; env: Record<string, string> }> {
  process.env[TEST_PASSWORD_ENV] = PASSWORD;
  const sim = new EppRegistrySimulator({ registrars: { [TEST_CLID]: PASSWORD, "other-registrar": "other-pw" }, tlds: ["example", "test"] });
  const port = await sim.start();
  const dir = await mkdtemp(path.join(tmpdir(), "provisio-sim-"));
  caDirs.set(sim, dir);
  const caFile = path.join(dir, "ca.pem");
  await writeFile(caFile, sim.certificate!.cert);
  const config = { host: "127.0.0.1", port, clID: TEST_CLID, password_env: TEST_PASSWORD_ENV, tls: { ca_file: caFile, servername: "localhost" } };
  return { sim, config, caFile, env: { [TEST_PASSWORD_ENV]: PASSWORD } };
}

/** Stop a simulator from {@link startSimulator} and remove its CA file. Safe with undefined (setup failed). */
export async function stopSimulator(sim: EppRegistrySimulator | undefined): Promise<void> {
  if (!sim) return;
  await sim.stop();
  const dir = caDirs.get(sim);
  if (dir) await rm(dir, { recursive: true, force: true });
}
