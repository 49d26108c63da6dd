/**
 * docs/workflow-template.schema.json, the JSON Schema of a template's definition for editors and readers,
 * against the authority, workflow_template_compile (stored-procedures/operations/workflow_template.sql),
 * run by publishing in a real database:
 *   - the schema compiles (ajv 8, draft 2020-12, strict) and is a valid draft 2020-12 schema;
 *   - every definition written in the repository's tests (object literals with a `steps` property, read
 *     from the test sources with the TypeScript parser and evaluated when they are built from literals,
 *     constants and small helpers such as `noop("a", {...})`) and every built-in template
 *     (src/families/workflow/builtin/*.json, when there are any) that the database publishes is valid
 *     against the schema; one the database refuses for its shape (PV301, PV309) is invalid;
 *   - hand-written edge cases the database publishes are valid, and malformed definitions, one per shape
 *     rule, are refused by both: the database with the documented code, the schema at the field.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ROOT = path.resolve(import.meta.dirname, "../../..");
const SCHEMA_FILE = path.join(ROOT, "docs", "workflow-template.schema.json");
const BUILTIN_DIR = path.join(ROOT, "src", "families", "workflow", "builtin");
const SELF = path.resolve(import.meta.filename);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

let t: TestDatabase;
let validate: ValidateFunction | undefined;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t?.close());

function compileSchema(): ValidateFunction {
  const warnings: unknown[] = [];
  const logger = { log: () => undefined, warn: (...a: unknown[]) => warnings.push(a), error: (...a: unknown[]) => warnings.push(a) };
  // strict: every keyword known, every type and required property declared; unions of types allowed
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, logger });
  addFormats(ajv);
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as Record<string, unknown>;
  expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
  const v = ajv.compile(schema);
  expect(warnings).toEqual([]);
  return v;
}

function schemaErrors(definition: unknown): ErrorObject[] {
  validate ??= compileSchema();
  return validate(definition) ? [] : [...(validate.errors ?? [])];
}

let seq = 0;
/** Publishes `definition` under a new name; null when published, else the error's SQLSTATE and message. */
async function publish(definition: unknown, inputSchema: unknown = { type: "object" }): Promise<{ code: string; message: string } | null> {
  try {
    await t.pool.query("INSERT INTO workflow_template (name, status, input_schema, definition) VALUES ($1, 'published', $2, $3)", [
      `schema.test.${++seq}`,
      JSON.stringify(inputSchema),
      JSON.stringify(definition),
    ]);
    return null;
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (!e.code) throw err;
    return { code: e.code, message: e.message };
  }
}

// ---- the definitions written in the repository's tests -------------------------------------------------

/** An expression the harvester does not evaluate (a call of something that is no small helper, a loop variable, ...). */
class Unsupported extends Error {}

interface Fn {
  fn: ts.ArrowFunction | ts.FunctionExpression | ts.FunctionDeclaration;
}
type Val = Json | undefined | Fn;

const isFn = (v: Val): v is Fn => typeof v === "object" && v !== null && !Array.isArray(v) && "fn" in v && typeof v.fn === "object";

const sources = new Map<string, ts.SourceFile>();
function sourceFile(file: string): ts.SourceFile {
  let sf = sources.get(file);
  if (!sf) {
    sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    sources.set(file, sf);
  }
  return sf;
}

const declared = new Map<ts.Node, Val>();
/** The value of `const name = ...`, `function name`, or `import { name }` visible at `at`. */
function lookup(name: string, at: ts.Node, depth: number): Val {
  for (let n: ts.Node | undefined = at; n; n = n.parent) {
    if (!ts.isBlock(n) && !ts.isSourceFile(n) && !ts.isModuleBlock(n)) continue;
    for (const st of n.statements) {
      if (ts.isFunctionDeclaration(st) && st.name?.text === name) return { fn: st };
      if (ts.isVariableStatement(st) && st.declarationList.flags & ts.NodeFlags.Const) {
        for (const d of st.declarationList.declarations) {
          if (!ts.isIdentifier(d.name) || d.name.text !== name || !d.initializer) continue;
          if (!declared.has(d)) declared.set(d, evaluate(d.initializer, new Map(), depth + 1));
          return declared.get(d);
        }
      }
      if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier) && st.moduleSpecifier.text.startsWith(".")) {
        const named = st.importClause?.namedBindings;
        if (!named || !ts.isNamedImports(named)) continue;
        const spec = named.elements.find((e) => e.name.text === name);
        if (!spec) continue;
        const target = path.resolve(path.dirname(n.getSourceFile().fileName), st.moduleSpecifier.text.replace(/\.js$/, ".ts"));
        if (!existsSync(target)) throw new Unsupported(`import ${st.moduleSpecifier.text}`);
        return lookup((spec.propertyName ?? spec.name).text, sourceFile(target), depth + 1);
      }
    }
  }
  throw new Unsupported(`identifier ${name}`);
}

function propertyName(name: ts.PropertyName): string {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  throw new Unsupported("computed property name");
}

function call(f: Fn, args: Val[], depth: number): Val {
  const scope = new Map<string, Val>();
  f.fn.parameters.forEach((p, i) => {
    if (!ts.isIdentifier(p.name) || p.dotDotDotToken) throw new Unsupported("parameter pattern");
    scope.set(p.name.text, args[i] === undefined && p.initializer ? evaluate(p.initializer, scope, depth + 1) : args[i]);
  });
  const body = f.fn.body;
  if (!body) throw new Unsupported("declaration without a body");
  if (!ts.isBlock(body)) return evaluate(body, scope, depth + 1);
  const [only] = body.statements;
  if (body.statements.length !== 1 || !only || !ts.isReturnStatement(only) || !only.expression) throw new Unsupported("function body");
  return evaluate(only.expression, scope, depth + 1);
}

/** The value of expression `e` when it is built from literals, constants and small helpers; else Unsupported. */
function evaluate(e: ts.Expression, scope: Map<string, Val>, depth: number): Val {
  if (depth > 60) throw new Unsupported("too deep");
  if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isNonNullExpression(e)) {
    return evaluate(e.expression, scope, depth + 1);
  }
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
  if (ts.isNumericLiteral(e)) return Number(e.text);
  if (e.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (e.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (e.kind === ts.SyntaxKind.NullKeyword) return null;
  if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken) {
    const v = evaluate(e.operand, scope, depth + 1);
    if (typeof v !== "number") throw new Unsupported("minus");
    return -v;
  }
  if (ts.isTemplateExpression(e)) {
    let s = e.head.text;
    for (const span of e.templateSpans) {
      const v = evaluate(span.expression, scope, depth + 1);
      if (typeof v !== "string" && typeof v !== "number") throw new Unsupported("template");
      s += String(v) + span.literal.text;
    }
    return s;
  }
  if (ts.isIdentifier(e)) {
    if (e.text === "undefined") return undefined;
    return scope.has(e.text) ? scope.get(e.text) : lookup(e.text, e, depth + 1);
  }
  if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) return { fn: e };
  if (ts.isCallExpression(e)) {
    const f = evaluate(e.expression, scope, depth + 1);
    if (!isFn(f)) throw new Unsupported("call");
    return call(
      f,
      e.arguments.map((a) => evaluate(a, scope, depth + 1)),
      depth + 1,
    );
  }
  if (ts.isArrayLiteralExpression(e)) {
    const out: Json[] = [];
    for (const el of e.elements) {
      const v = evaluate(ts.isSpreadElement(el) ? el.expression : el, scope, depth + 1);
      if (ts.isSpreadElement(el)) {
        if (!Array.isArray(v)) throw new Unsupported("spread");
        out.push(...v);
      } else {
        if (v === undefined || isFn(v)) throw new Unsupported("array element");
        out.push(v);
      }
    }
    return out;
  }
  if (ts.isObjectLiteralExpression(e)) {
    const out: { [k: string]: Json } = {};
    for (const p of e.properties) {
      if (ts.isSpreadAssignment(p)) {
        const v = evaluate(p.expression, scope, depth + 1);
        if (v === undefined) continue;
        if (typeof v !== "object" || v === null || Array.isArray(v) || isFn(v)) throw new Unsupported("object spread");
        Object.assign(out, v);
        continue;
      }
      let v: Val;
      if (ts.isPropertyAssignment(p)) v = evaluate(p.initializer, scope, depth + 1);
      else if (ts.isShorthandPropertyAssignment(p)) v = evaluate(p.name, scope, depth + 1);
      else throw new Unsupported("method");
      if (isFn(v)) throw new Unsupported("function value");
      if (v !== undefined) out[propertyName(p.name)] = v;
    }
    return out;
  }
  throw new Unsupported(ts.SyntaxKind[e.kind]);
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? testFiles(p) : d.name.endsWith(".ts") && p !== SELF ? [p] : [];
  });
}

interface Harvested {
  where: string;
  definition: Json;
}

/** Every object literal with a `steps` property in the test sources that mention workflows, evaluated where possible. */
function harvest(): { found: Harvested[]; skipped: string[] } {
  const found: Harvested[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const file of testFiles(path.join(ROOT, "test"))) {
    if (!/workflow/i.test(readFileSync(file, "utf8"))) continue;
    const sf = sourceFile(file);
    const visit = (n: ts.Node): void => {
      if (ts.isObjectLiteralExpression(n) && n.properties.some((p) => p.name && ts.isIdentifier(p.name) && p.name.text === "steps")) {
        const where = `${path.relative(ROOT, file)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
        try {
          const v = evaluate(n, new Map(), 0);
          const key = JSON.stringify(v);
          if (!seen.has(key)) {
            seen.add(key);
            found.push({ where, definition: v as Json });
          }
        } catch (err) {
          if (!(err instanceof Unsupported)) throw err;
          skipped.push(`${where}: ${err.message}`);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { found, skipped };
}

/** The built-in templates' files: { name, input_schema, definition } (or a bare definition). */
function builtins(): { where: string; definition: Json; inputSchema: Json }[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => {
      const doc = JSON.parse(readFileSync(path.join(BUILTIN_DIR, f), "utf8")) as { [k: string]: Json };
      const wrapped = typeof doc.definition === "object" && doc.definition !== null;
      return {
        where: `src/families/workflow/builtin/${f}`,
        definition: wrapped ? doc.definition! : doc,
        inputSchema: wrapped && doc.input_schema ? doc.input_schema : { type: "object" },
      };
    });
}

const brief = (errors: ErrorObject[]) => errors.map((e) => `${e.instancePath || "/"} ${e.message ?? e.keyword}`).join("; ");

// ---- hand-written cases ----------------------------------------------------------------------------------

const wait = (over: Record<string, Json> = {}): Record<string, Json> => ({ key: "a", kind: "wait", params: { seconds: 1 }, ...over });
const contact = (over: Record<string, Json> = {}): Record<string, Json> => ({
  key: "c",
  kind: "provision",
  target: "provision_contact",
  params: { contact_id: { $ref: "input.id" } },
  ...over,
});

/** Definitions at the edges of the grammar that the database publishes. */
const valid: [string, Json][] = [
  ["a wait until a date-time", { steps: [wait({ params: { until: "2030-01-01T00:00:00Z" } })] }],
  ["a wait until a reference with a default", { steps: [wait({ params: { until: { $ref: "input.at", default: "2030-01-01T00:00:00+02:00" } } })] }],
  ["a wait of hours by reference", { steps: [wait({ params: { hours: { $ref: "input.grace_period_hours" } }, target: null })] }],
  [
    "references: array index, default holding a reference, literal holding $ref, run ids",
    {
      steps: [
        wait(),
        contact({
          depends_on: ["a"],
          params: {
            contact_id: { $ref: "input.ids.0", default: { $ref: "run.id" } },
            name: { $literal: { $ref: "not a reference" } },
            city: [{ $ref: "run.tenant_customer_id" }, "x", 1, null, { nested: { $ref: "steps.a.output.deep.er" } }],
          },
        }),
      ],
    },
  ],
  [
    "every condition form",
    {
      steps: [
        wait({
          when: {
            all: [
              { ref: "input.a" },
              { ref: "input.b", eq: { x: [1] } },
              { ref: "input.c", ne: null },
              { ref: "input.d", in: ["x", 2] },
              { any: [{ ref: "input.e", exists: false }, { not: { ref: "input.f" } }] },
            ],
          },
        }),
      ],
    },
  ],
  [
    "compensations, on_cancel, output, descriptions, retry bounds",
    {
      description: "all the optional fields",
      on_cancel: "compensate",
      steps: [
        contact({
          description: "a contact",
          retry: { max_attempts: 1 },
          on_failure: "compensate",
          compensate: { kind: "task", target: "notify", params: { topic: "undo", data: { id: { $ref: "steps.c.output.contact_id" } } } },
        }),
        {
          key: "d",
          kind: "provision",
          target: "provision_domain",
          depends_on: ["c"],
          retry: { max_attempts: 20 },
          on_failure: "skip",
          params: { name: { $ref: "input.domain" }, registrant: { $ref: "steps.c.output.contact_id" } },
          compensate: { kind: "provision", target: "provision_domain_delete", params: { name: { $ref: "steps.d.output.name" } } },
        },
        { key: "n", kind: "task", target: "noop", depends_on: ["d"], on_failure: "fail", params: { id: 1, output: { p: { $ref: "steps.d.provision_id" } } } },
      ],
      output: { contact: { $ref: "steps.c.output" }, domain: { $ref: "steps.d.provision_id", default: null } },
    },
  ],
  [
    "a sub-run",
    { steps: [{ key: "sub", kind: "provision", target: "provision_workflow", params: { template_name: "x.y", input: { domain: { $ref: "input.domain" } } } }] },
  ],
];

/** Malformed definitions: [what, definition, the database's code, where the schema refuses it]. */
const malformed: [string, Json, string, string][] = [
  ["not an object", [], "PV301", ""],
  ["no steps", { steps: [] }, "PV301", "/steps"],
  ["an unknown definition field", { steps: [wait()], timeout: 5 }, "PV301", ""],
  ["a bad on_cancel", { steps: [wait()], on_cancel: "rollback" }, "PV301", "/on_cancel"],
  ["an output that is no reference", { steps: [wait()], output: { x: "plain" } }, "PV301", "/output/x"],
  ["a step that is no object", { steps: ["a"] }, "PV301", "/steps/0"],
  ["a step without a key", { steps: [{ kind: "wait", params: { seconds: 1 } }] }, "PV301", "/steps/0"],
  ["a bad key pattern", { steps: [wait({ key: "Bad-Key" })] }, "PV301", "/steps/0/key"],
  ["a key too long", { steps: [wait({ key: `k${"x".repeat(63)}` })] }, "PV301", "/steps/0/key"],
  ["an unknown step field", { steps: [wait({ timeout: 5 })] }, "PV301", "/steps/0"],
  ["no kind", { steps: [{ key: "a", target: "noop" }] }, "PV301", "/steps/0"],
  ["an unknown kind", { steps: [wait({ kind: "shell" })] }, "PV301", "/steps/0/kind"],
  ["a bad on_failure", { steps: [wait({ on_failure: "ignore" })] }, "PV301", "/steps/0/on_failure"],
  ["retry above 20", { steps: [wait({ retry: { max_attempts: 21 } })] }, "PV301", "/steps/0/retry/max_attempts"],
  ["retry 0", { steps: [wait({ retry: { max_attempts: 0 } })] }, "PV301", "/steps/0/retry/max_attempts"],
  ["retry not whole", { steps: [wait({ retry: { max_attempts: 2.5 } })] }, "PV301", "/steps/0/retry/max_attempts"],
  ["retry as a string", { steps: [wait({ retry: { max_attempts: "3" } })] }, "PV301", "/steps/0/retry/max_attempts"],
  ["retry without max_attempts", { steps: [wait({ retry: {} })] }, "PV301", "/steps/0/retry"],
  ["retry with another field", { steps: [wait({ retry: { max_attempts: 3, backoff: 2 } })] }, "PV301", "/steps/0/retry"],
  ["depends_on not an array", { steps: [wait({ depends_on: "b" })] }, "PV301", "/steps/0/depends_on"],
  ["depends_on holding a number", { steps: [wait({ depends_on: [1] })] }, "PV301", "/steps/0/depends_on/0"],
  ["a when that is no object", { steps: [wait({ when: "input.x" })] }, "PV309", "/steps/0/when"],
  ["a when with an unknown operator", { steps: [wait({ when: { ref: "input.x", gt: 3 } })] }, "PV309", "/steps/0/when"],
  ["a when with two operators", { steps: [wait({ when: { ref: "input.x", eq: 1, ne: 2 } })] }, "PV309", "/steps/0/when"],
  ["a when whose in is no array", { steps: [wait({ when: { ref: "input.x", in: "a" } })] }, "PV309", "/steps/0/when"],
  ["a when whose exists is no boolean", { steps: [wait({ when: { ref: "input.x", exists: "yes" } })] }, "PV309", "/steps/0/when"],
  ["a when whose ref is no string", { steps: [wait({ when: { ref: 1 } })] }, "PV309", "/steps/0/when"],
  ["an empty all", { steps: [wait({ when: { all: [] } })] }, "PV309", "/steps/0/when"],
  ["all with another key", { steps: [wait({ when: { all: [{ ref: "input.x" }], ref: "input.y" } })] }, "PV309", "/steps/0/when"],
  ["not with another key", { steps: [wait({ when: { not: { ref: "input.x" }, eq: 1 } })] }, "PV309", "/steps/0/when"],
  ["a malformed nested condition", { steps: [wait({ when: { any: [{ ref: "input.x" }, { xor: [] }] } })] }, "PV309", "/steps/0/when"],
  ["a when that is no condition", { steps: [wait({ when: { input: "x" } })] }, "PV309", "/steps/0/when"],
  ["a compensate that is no object", { steps: [contact({ compensate: "undo" })] }, "PV310", "/steps/0/compensate"],
  ["a compensate of kind wait", { steps: [contact({ compensate: { kind: "wait", params: { seconds: 1 } } })] }, "PV310", "/steps/0/compensate"],
  ["a compensate with another field", { steps: [contact({ compensate: { kind: "task", target: "noop", when: {} } })] }, "PV310", "/steps/0/compensate"],
  ["a compensate without a target", { steps: [contact({ compensate: { kind: "task" } })] }, "PV310", "/steps/0/compensate"],
  [
    "a compensate whose params are no object",
    { steps: [contact({ compensate: { kind: "task", target: "noop", params: [] } })] },
    "PV310",
    "/steps/0/compensate/params",
  ],
  [
    "a compensate that sets the tenant",
    { steps: [contact({ compensate: { kind: "provision", target: "provision_domain_delete", params: { tenant_customer_id: "x" } } })] },
    "PV310",
    "/steps/0/compensate/params",
  ],
  [
    "a compensate with a malformed reference",
    { steps: [contact({ compensate: { kind: "task", target: "noop", params: { x: { $ref: "env.HOME" } } } })] },
    "PV310",
    "/steps/0/compensate/params/x/$ref",
  ],
  ["on_failure compensate without a compensate", { steps: [wait({ on_failure: "compensate" })] }, "PV310", "/steps/0"],
  ["a provision without a target", { steps: [{ key: "a", kind: "provision" }] }, "PV305", "/steps/0"],
  ["a task whose target is no string", { steps: [{ key: "a", kind: "task", target: ["noop"] }] }, "PV305", "/steps/0/target"],
  ["a wait with a target", { steps: [wait({ target: "noop" })] }, "PV305", "/steps/0/target"],
  ["a wait without params", { steps: [{ key: "a", kind: "wait" }] }, "PV305", "/steps/0"],
  ["a wait with two durations", { steps: [wait({ params: { seconds: 1, hours: 1 } })] }, "PV305", "/steps/0/params"],
  ["a wait with another param", { steps: [wait({ params: { seconds: 1, jitter: 1 } })] }, "PV305", "/steps/0/params"],
  ["a wait of no time", { steps: [wait({ params: { seconds: 0 } })] }, "PV305", "/steps/0/params/seconds"],
  ["a wait of negative hours", { steps: [wait({ params: { hours: -1 } })] }, "PV305", "/steps/0/params/hours"],
  ["a wait of seconds as a string", { steps: [wait({ params: { seconds: "5" } })] }, "PV305", "/steps/0/params/seconds"],
  ["a wait until no date", { steps: [wait({ params: { until: "tomorrow" } })] }, "PV305", "/steps/0/params/until"],
  ["a wait until a date without a time zone", { steps: [wait({ params: { until: "2030-01-01T00:00:00" } })] }, "PV305", "/steps/0/params/until"],
  ["params that are no object", { steps: [{ key: "a", kind: "task", target: "noop", params: [1] }] }, "PV306", "/steps/0/params"],
  ["a provision that sets the tenant", { steps: [contact({ params: { tenant_customer_id: "x" } })] }, "PV306", "/steps/0/params"],
  ["a provision that sets its id", { steps: [contact({ params: { id: "x" } })] }, "PV306", "/steps/0/params"],
  ["a provision that sets its plans", { steps: [contact({ params: { order_item_plan_ids: [] } })] }, "PV306", "/steps/0/params"],
  ["a malformed path", { steps: [contact({ params: { name: { $ref: "env.HOME" } } })] }, "PV307", "/steps/0/params/name/$ref"],
  ["a path with an empty segment", { steps: [contact({ params: { name: { $ref: "input..x" } } })] }, "PV307", "/steps/0/params/name/$ref"],
  [
    "a step path without output",
    { steps: [wait(), contact({ depends_on: ["a"], params: { name: { $ref: "steps.a" } } })] },
    "PV307",
    "/steps/1/params/name/$ref",
  ],
  ["a $ref that is no string", { steps: [contact({ params: { name: { $ref: ["input.x"] } } })] }, "PV307", "/steps/0/params/name/$ref"],
  ["a $ref with another key", { steps: [contact({ params: { name: { $ref: "input.n", junk: 1 } } })] }, "PV307", "/steps/0/params/name"],
  ["a $literal with another key", { steps: [contact({ params: { name: { $literal: 1, $ref: "input.n" } } })] }, "PV307", "/steps/0/params/name"],
  [
    "a malformed reference in a default",
    { steps: [contact({ params: { name: { $ref: "input.n", default: { $ref: "nowhere" } } } })] },
    "PV307",
    "/steps/0/params/name",
  ],
  ["a malformed reference in an array", { steps: [contact({ params: { street: [{ $ref: "input.x", y: 1 }] } })] }, "PV307", "/steps/0/params/street/0"],
  ["a when with a malformed path", { steps: [wait({ when: { ref: "env.HOME" } })] }, "PV307", "/steps/0/when"],
  ["an output with a malformed path", { steps: [wait()], output: { x: { $ref: "steps.a.result" } } }, "PV307", "/output/x/$ref"],
];

// ---- tests -------------------------------------------------------------------------------------------------

describe("docs/workflow-template.schema.json", () => {
  it("compiles in ajv (draft 2020-12, strict) and is a valid draft 2020-12 schema", () => {
    validate = compileSchema();
    expect(typeof validate).toBe("function");
  });

  it("accepts every definition of the repository's tests and built-in templates that the database publishes, and refuses those it refuses for their shape", async () => {
    const { found, skipped } = harvest();
    const candidates = [...found.map((h) => ({ ...h, inputSchema: { type: "object" } })), ...builtins()];
    const problems: string[] = [];
    let published = 0;
    let shapeRefused = 0;
    for (const c of candidates) {
      const refusal = await publish(c.definition, c.inputSchema);
      const errors = schemaErrors(c.definition);
      if (refusal === null) {
        published++;
        if (errors.length > 0) problems.push(`${c.where}: published by the database, refused by the schema: ${brief(errors)}`);
      } else if (refusal.code === "PV301" || refusal.code === "PV309") {
        shapeRefused++;
        if (errors.length === 0) problems.push(`${c.where}: refused by the database (${refusal.code} ${refusal.message}), accepted by the schema`);
      }
    }
    expect(problems).toEqual([]);
    // the harvest reads the tests, so that it cannot silently find nothing: template.test.ts alone
    // publishes several definitions and refuses several for their shape
    expect(published, `skipped: ${skipped.join("\n")}`).toBeGreaterThanOrEqual(5);
    expect(shapeRefused).toBeGreaterThanOrEqual(5);
  });

  it("accepts the grammar's edge cases, which the database publishes", async () => {
    for (const [what, definition] of valid) {
      expect([what, await publish(definition)]).toEqual([what, null]);
      expect([what, brief(schemaErrors(definition))]).toEqual([what, ""]);
    }
  });

  it("refuses a malformed definition where the database does: each shape rule, with the documented code", async () => {
    for (const [what, definition, code, pointer] of malformed) {
      const refusal = await publish(definition);
      expect([what, refusal?.code]).toEqual([what, code]);
      const errors = schemaErrors(definition);
      expect([what, errors.length > 0]).toEqual([what, true]);
      // the schema refuses it at the field (or below it), not by accident elsewhere
      const at = errors.map((e) => e.instancePath);
      expect([what, at.some((p) => p === pointer || p.startsWith(`${pointer}/`))], `${what}: ${brief(errors)}`).toEqual([what, true]);
    }
  });
});
