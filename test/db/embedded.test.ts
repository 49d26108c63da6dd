/**
 * The embedded PostgreSQL runs in a session of its own (src/db/embedded.ts): Ctrl-C in a terminal, which
 * the terminal sends to its whole foreground process group, reaches provisio and not the server, so
 * `provisio start` can stop its worker gracefully before it stops the server.
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../src/db/migrate.js";
import { freePort } from "../helpers/private-postgres.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("embedded PostgreSQL", () => {
  it("keeps answering when the process group that started it gets SIGINT, and stops when told to", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "provisio-embedded-sigint-"));
    dirs.push(dir);
    await chmod(dir, 0o755); // the server may run as the postgres OS user
    // detached: the child leads a process group of its own, as a shell's foreground job does
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(PROJECT_ROOT, "test/helpers/embedded-child.ts"), path.join(dir, "data"), String(await freePort())],
      {
        cwd: PROJECT_ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const deadline = Date.now() + 60_000;
    while (!out.includes("READY")) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`child did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(-child.pid!, "SIGINT"); // the whole group, as Ctrl-C
    expect(await exited).toBe(0);
    expect(out).toContain("ANSWERED");
    expect(out).not.toContain("STOP FAILED");
  }, 90_000);
});
