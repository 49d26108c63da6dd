/**
 * stored-procedures/ is applied folder by folder in PROCEDURE_FOLDERS order (src/db/migrate.ts): a file in
 * a folder that is not listed would never be applied, and a listed folder that does not exist would stop
 * migrate. The engine's folders are under engine/, a provision type's are not (docs/design.md "The SQL:
 * engine and family folders").
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { listProcedureFiles, PROCEDURE_FOLDERS, PROCEDURES_DIR } from "../../src/db/migrate.js";

/** Every .sql file under dir, as a path relative to it. */
async function sqlFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await sqlFiles(path.join(dir, e.name), `${prefix}${e.name}/`)));
    else if (e.name.endsWith(".sql")) out.push(`${prefix}${e.name}`);
  }
  return out;
}

describe("PROCEDURE_FOLDERS", () => {
  it("lists every folder that holds a stored-procedures/ file, each once, and nothing is left out", async () => {
    const listed = await listProcedureFiles();
    expect([...listed].sort()).toEqual((await sqlFiles(PROCEDURES_DIR)).sort());
    expect(new Set(PROCEDURE_FOLDERS).size).toBe(PROCEDURE_FOLDERS.length);
  });

  it("applies the provision types' folders after the engine's, and the engine's security last", () => {
    const at = (f: string) => PROCEDURE_FOLDERS.indexOf(f as (typeof PROCEDURE_FOLDERS)[number]);
    const family = PROCEDURE_FOLDERS.filter((f) => !f.startsWith("engine/"));
    const engine = PROCEDURE_FOLDERS.filter((f) => f.startsWith("engine/") && f !== "engine/security");
    expect(family).toContain("attach");
    for (const f of family) for (const e of engine) expect(at(f), `${f} after ${e}`).toBeGreaterThan(at(e));
    expect(at("attach")).toBe(PROCEDURE_FOLDERS.length - 2);
    expect(PROCEDURE_FOLDERS.at(-1)).toBe("engine/security");
  });
});
