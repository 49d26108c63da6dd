/**
 * The built-in workflow templates (src/families/workflow/builtin/<name>.v<version>.json: name, version,
 * description, tenant_startable (default true), input_schema, definition), loaded by `provisio migrate` after the stored procedures:
 * each version is INSERTed when the database does not have it and published (which compiles it: a file
 * the compiler refuses fails the migrate with its PV3xx code). A published version never changes, so a
 * file that differs from its published row is reported (and test/families/workflow/builtin.test.ts
 * fails): a change to a built-in is a new version file.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import { z } from "zod";

export const BUILTIN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "families", "workflow", "builtin");

export const builtinFileSchema = z
  .object({
    name: z.string(),
    version: z.number().int().positive(),
    description: z.string(),
    /** false: only the operator's sessions start its runs and operate on them (PV327) */
    tenant_startable: z.boolean().default(true),
    input_schema: z.record(z.string(), z.unknown()),
    definition: z.record(z.string(), z.unknown()),
  })
  .strict();
export type BuiltinTemplate = z.infer<typeof builtinFileSchema>;

/** Every built-in template file, parsed, in file name order. @throws naming the file that does not parse. */
export async function readBuiltinTemplates(dir = BUILTIN_DIR): Promise<(BuiltinTemplate & { file: string })[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  const out = [];
  for (const file of files) {
    const parsed = builtinFileSchema.safeParse(JSON.parse(await readFile(path.join(dir, file), "utf8")));
    if (!parsed.success)
      throw new Error(
        `${path.relative(process.cwd(), path.join(dir, file))}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    if (file !== `${parsed.data.name}.v${parsed.data.version}.json`)
      throw new Error(`${file}: the file of ${parsed.data.name} v${parsed.data.version} is named ${parsed.data.name}.v${parsed.data.version}.json`);
    out.push({ ...parsed.data, file });
  }
  return out;
}

/** What loading did: the versions published now, and those whose file differs from the database. */
export interface BuiltinLoadResult {
  published: string[];
  drifted: string[];
}

/** INSERT and publish the built-in versions the database lacks, on `client` (the migrate's, as the owner). */
export async function loadBuiltinTemplates(client: pg.ClientBase, dir = BUILTIN_DIR): Promise<BuiltinLoadResult> {
  const result: BuiltinLoadResult = { published: [], drifted: [] };
  for (const t of await readBuiltinTemplates(dir)) {
    const label = `${t.name} v${t.version}`;
    await client.query(
      `INSERT INTO workflow_template (name, version, description, input_schema, definition, tenant_startable) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name, version) DO NOTHING`,
      [t.name, t.version, t.description, JSON.stringify(t.input_schema), JSON.stringify(t.definition), t.tenant_startable],
    );
    const row = (
      await client.query<{ status: string; same: boolean }>(
        `SELECT status, (description, input_schema, definition, tenant_startable) IS NOT DISTINCT FROM ($3, $4::jsonb, $5::jsonb, $6) AS same
         FROM workflow_template WHERE name = $1 AND version = $2`,
        [t.name, t.version, t.description, JSON.stringify(t.input_schema), JSON.stringify(t.definition), t.tenant_startable],
      )
    ).rows[0]!;
    if (!row.same) {
      result.drifted.push(label);
      continue;
    }
    if (row.status === "draft") {
      try {
        await client.query("SELECT workflow_template_publish($1, $2)", [t.name, t.version]);
      } catch (err) {
        throw new Error(`src/families/workflow/builtin/${t.file}: ${(err as Error).message}`, { cause: err });
      }
      result.published.push(label);
    }
  }
  return result;
}
