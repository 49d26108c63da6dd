/** Run `provisio worker` as a child process (tsx), capturing its log lines. */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { PROJECT_ROOT } from "../../src/db/migrate.js";

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnWorker(databaseUrl: string, env: Record<string, string>, concurrency = 8): WorkerProcess {
  let out = "";
  const child = spawn(process.execPath, ["--import", "tsx", path.join(PROJECT_ROOT, "src/cli/index.ts"), "worker", "--concurrency", String(concurrency)], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, PROVISIO_LOG_LEVEL: "info", PROVISIO_POLL_INTERVAL_MS: "200", ...env, DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}
