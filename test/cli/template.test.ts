/**
 * `provisio template list|show|create|publish|retire` (src/cli/template.ts) as a person runs them: the
 * CLI in a child process against the test database; a bad file or definition fails with one line
 * naming the problem (and the template's code), exit 1.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { runCli } from "./run-cli.js";

let t: TestDatabase;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  t = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "provisio-template-"));
  env = { DATABASE_URL: t.url, PROVISIO_LOG_LEVEL: "silent" };
});
afterAll(() => t?.close());

const file = async (name: string, body: unknown) => {
  const f = path.join(dir, name);
  await writeFile(f, typeof body === "string" ? body : JSON.stringify(body));
  return f;
};

describe("provisio template", () => {
  it("create, publish, show, list and retire a template", async () => {
    const f = await file("contact.json", {
      name: "contact.create",
      description: "one contact",
      input_schema: { type: "object", required: ["contact_id"], properties: { contact_id: { type: "string" } } },
      definition: {
        steps: [
          { key: "contact", kind: "provision", target: "provision_contact", params: { contact_id: { $ref: "input.contact_id" } } },
          { key: "pause", kind: "wait", depends_on: ["contact"], params: { seconds: 1 } },
        ],
      },
    });
    const created = await runCli(["template", "create", "--file", f], env);
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toBe("created contact.create version 1 (draft); publish it with: provisio template publish contact.create --version 1\n");
    const published = await runCli(["template", "publish", "contact.create", "--version", "1"], env);
    expect(published).toMatchObject({ code: 0, stdout: "published contact.create version 1: 2 step(s)\n" });
    const shown = await runCli(["template", "show", "contact.create"], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^contact\.create version 1: published — one contact/);
    expect(shown.stdout).toMatch(/pause\s*│?\s*wait\s*│?\s*│?\s*contact\s*│?\s*block/);
    const listed = await runCli(["template", "list"], env);
    expect(listed.stdout).toMatch(/contact\.create\s*│?\s*1\s*│?\s*published\s*│?\s*2/);
    const retired = await runCli(["template", "retire", "contact.create", "--version", "1"], env);
    expect(retired.stdout).toBe("retired contact.create version 1: no new runs; runs in flight go on\n");
    expect((await runCli(["template", "retire", "contact.create", "--version", "1"], env)).stdout).toBe("contact.create version 1 is already retired\n");
  });

  it("names what is wrong in one line and exits 1", async () => {
    const notJson = await runCli(["template", "create", "--file", await file("broken.json", "{ not json")], env);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/^provisio: PV_CONFIG: .*broken\.json: .*JSON/);
    const unknownField = await runCli(["template", "create", "--file", await file("extra.json", { name: "x", definition: {}, colour: "red" })], env);
    expect(unknownField.stderr).toMatch(/extra\.json: \(root\): Unrecognized key.*colour/);
    const cyclic = await file("cycle.json", {
      name: "cycle",
      definition: {
        steps: [
          { key: "a", kind: "wait", depends_on: ["b"], params: { seconds: 1 } },
          { key: "b", kind: "wait", depends_on: ["a"], params: { seconds: 1 } },
        ],
      },
    });
    expect((await runCli(["template", "create", "--file", cyclic], env)).code).toBe(0);
    const refused = await runCli(["template", "publish", "cycle", "--version", "1"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe("provisio: the steps a, b depend on each other in a cycle (SQLSTATE PV303)\n");
    expect((await runCli(["template", "show", "nothing"], env)).stderr).toBe("provisio: PV_CONFIG: no workflow template nothing\n");
  });
});
