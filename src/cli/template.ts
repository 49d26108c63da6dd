/**
 * `provisio template …`: workflow templates (docs/decisions/0008; seed 004's template commands). Each is
 * the SQL a person could run by hand on workflow_template:
 *   list                          the versions, newest first, with their status and step count
 *   show <name> [--version N]     one version (the latest when not given): its steps in order, input schema
 *   create --file <json>          a draft: { "name", "description", "input_schema", "definition" } (version: the next)
 *   publish <name> --version N    compile and freeze it (PV301-PV311 name what is wrong)
 *   retire <name> --version N     no new runs; runs in flight go on
 */
import { readFile } from "node:fs/promises";
import Table from "cli-table3";
import type pg from "pg";
import { z } from "zod";
import { ConfigurationError } from "../errors.js";

const style = process.stdout.isTTY ? undefined : { head: [], border: [] };
const time = (v: unknown) => (v instanceof Date ? v.toISOString().replace("T", " ").slice(0, 19) : "");

interface TemplateRow {
  name: string;
  version: number;
  status: string;
  description: string | null;
  input_schema: unknown;
  definition: { steps?: { key: string; kind: string; target?: string; depends_on?: string[] }[] } | null;
  compiled: { steps: { key: string; kind: string; target?: string; deps: string[]; on_failure: string }[] } | null;
  published_date: Date | null;
  retired_date: Date | null;
}

/** `provisio template list` */
export async function templateList(db: pg.Pool): Promise<string> {
  const rows = await db.query<TemplateRow>("SELECT * FROM workflow_template ORDER BY name, version DESC");
  const t = new Table({ style, head: ["template", "version", "status", "steps", "published", "retired", "description"] });
  for (const r of rows.rows) {
    t.push([
      r.name,
      r.version,
      r.status,
      (r.compiled?.steps ?? r.definition?.steps ?? []).length,
      time(r.published_date),
      time(r.retired_date),
      r.description ?? "",
    ]);
  }
  return rows.rows.length ? t.toString() : "no workflow templates yet (provisio template create --file <json>)";
}

/** `provisio template show`: the steps in the order they run (compiled), or as written for a draft. */
export async function templateShow(db: pg.Pool, name: string, version?: number): Promise<string> {
  const r = (
    await db.query<TemplateRow>("SELECT * FROM workflow_template WHERE name = $1 AND ($2::int IS NULL OR version = $2) ORDER BY version DESC LIMIT 1", [
      name,
      version ?? null,
    ])
  ).rows[0];
  if (!r) throw new ConfigurationError(`no workflow template ${name}${version ? ` version ${version}` : ""}`);
  const t = new Table({ style, head: ["step", "kind", "target", "after", "on failure"] });
  if (r.compiled) for (const s of r.compiled.steps) t.push([s.key, s.kind, s.target ?? "", s.deps.join(", "), s.on_failure]);
  else for (const s of r.definition?.steps ?? []) t.push([s.key, s.kind, s.target ?? "", (s.depends_on ?? []).join(", "), "(draft)"]);
  return `${r.name} version ${r.version}: ${r.status}${r.description ? ` — ${r.description}` : ""}\n${t.toString()}\ninput schema: ${JSON.stringify(r.input_schema)}`;
}

const templateFile = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_.-]{0,62}$/, "a template name is lower case: ^[a-z][a-z0-9_.-]{0,62}$"),
    description: z.string().optional(),
    input_schema: z.record(z.string(), z.unknown()).optional(),
    definition: z.record(z.string(), z.unknown()),
  })
  .strict();

/**
 * `provisio template create --file`: a draft version from a JSON file. @throws ConfigurationError naming
 * the file's problem (unreadable, not JSON, a field missing or unknown)
 */
export async function templateCreate(db: pg.Pool, file: string): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new ConfigurationError(`${file}: ${(err as Error).message}`);
  }
  const t = templateFile.safeParse(parsed);
  if (!t.success) throw new ConfigurationError(`${file}: ${t.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  const r = await db.query<{ version: number }>(
    'INSERT INTO workflow_template (name, description, input_schema, definition) VALUES ($1, $2, coalesce($3, \'{"type": "object"}\'::jsonb), $4) RETURNING version',
    [t.data.name, t.data.description ?? null, t.data.input_schema ? JSON.stringify(t.data.input_schema) : null, JSON.stringify(t.data.definition)],
  );
  return `created ${t.data.name} version ${r.rows[0]!.version} (draft); publish it with: provisio template publish ${t.data.name} --version ${r.rows[0]!.version}`;
}

/** `provisio template publish` */
export async function templatePublish(db: pg.Pool, name: string, version: number): Promise<string> {
  const r = await db.query<{ c: { steps: unknown[] } }>("SELECT workflow_template_publish($1, $2) AS c", [name, version]);
  return `published ${name} version ${version}: ${r.rows[0]!.c.steps.length} step(s)`;
}

/** `provisio template retire` */
export async function templateRetire(db: pg.Pool, name: string, version: number): Promise<string> {
  const r = await db.query("UPDATE workflow_template SET status = 'retired' WHERE name = $1 AND version = $2 AND status <> 'retired' RETURNING 1", [
    name,
    version,
  ]);
  if (r.rowCount === 0) {
    const exists = await db.query("SELECT status FROM workflow_template WHERE name = $1 AND version = $2", [name, version]);
    if (!exists.rows[0]) throw new ConfigurationError(`no workflow template ${name} version ${version}`);
    return `${name} version ${version} is already retired`;
  }
  return `retired ${name} version ${version}: no new runs; runs in flight go on`;
}
