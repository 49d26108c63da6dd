/**
 * Differential property test of the JSON Schema subset in SQL (stored-procedures/operations/json_schema.sql)
 * against ajv 8 (Ajv2020, draft 2020-12, with ajv-formats in its default "full" mode, so that format is
 * generated and compared too), with fast-check. Subset schemas and candidate values (some shaped by the
 * schema, some arbitrary) are generated, and for every pair
 *   - json_schema_subset_error accepts the schema, and ajv.validateSchema accepts it too;
 *   - json_schema_error says valid exactly when ajv says valid, and names an error (path and message)
 *     exactly when it does not;
 *   - json_schema_apply_defaults gives the value ajv's useDefaults leaves, when that is valid, and the
 *     defaulted value is valid in SQL exactly when ajv with useDefaults says valid.
 * A second property generates patterns from regular-expression tokens: each one the subset accepts must
 * compile in ajv (ECMA-262 with the u flag), pass ajv.validateSchema, and match the same strings in both
 * (json_schema_pattern_are, the ARE that json_schema_error matches with, against RegExp(p, "u").test).
 * Each fast-check run sends one batch of pairs to PostgreSQL in one query. PROVISIO_FUZZ_RUNS sets the
 * number of runs (default 100); PROVISIO_FUZZ_SEED the seed (default fixed; "random" for a new one).
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const RUNS = Number(process.env.PROVISIO_FUZZ_RUNS ?? 100);
const SEED = process.env.PROVISIO_FUZZ_SEED === "random" ? Date.now() ^ (Math.random() * 2 ** 31) : Number(process.env.PROVISIO_FUZZ_SEED ?? 20261121);
/** Schemas per run, and candidate values per schema. */
const SCHEMAS_PER_RUN = 10;
const VALUES_PER_SCHEMA = 6;

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

function newAjv(useDefaults = false): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, useDefaults });
  addFormats(ajv);
  return ajv;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = boolean | { [k: string]: Json };

// ---- values -------------------------------------------------------------------------------------------

const NUMBERS = [-2, -1, -0.5, 0, 0.25, 0.5, 1, 1.5, 2, 3, 10, 1e21, -1e-7, 2 ** 53 + 2];
const numberArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...NUMBERS),
  fc.integer({ min: -5, max: 5 }),
  fc.double({ min: -20, max: 20, noNaN: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
);
const FORMAT_SAMPLES = [
  "a@b.co",
  "first.last+tag@sub.example.org",
  "a@localhost",
  "a..b@example.com",
  "A@EXAMPLE.COM",
  "123e4567-e89b-12d3-a456-426614174000",
  "urn:uuid:123E4567-E89B-12D3-A456-426614174000",
  "123e4567-e89b-12d3-a456-42661417400",
  "2024-02-29",
  "2023-02-29",
  "2024-13-01",
  "2024-01-02T03:04:05Z",
  "2024-01-02 03:04:05.5+01:00",
  "2024-01-02T03:04:05",
  "2024-12-31T23:59:60Z",
  "2024-12-31T23:59:60+01:00",
  "2024-01-02T25:04:05Z",
  "example.com",
  "a-.com",
  "-a",
  "host.",
];
const CHARS = ["a", "b", "c", "x", "y", "1", "2", " ", "é", "😀", "-", ".", "@", ":", "T", "Z", "_", "A"];
const stringArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("", "a", "ab", "abc", "aaa", "b", "ba", "12", "123", "é", "😀", "e\u0301", " ", "a b", "A", "x|y"),
  fc.constantFrom(...FORMAT_SAMPLES),
  fc.array(fc.constantFrom(...CHARS), { maxLength: 6 }).map((a) => a.join("")),
);
const KEYS = ["a", "b", "c", "d"];
const { json: jsonArb } = fc.letrec<{ json: Json }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    numberArb,
    stringArb,
    fc.array(tie("json"), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie("json"), { maxKeys: 3 }),
  ),
}));

/** Values shaped by the schema (its properties, items, enum and const), or arbitrary ones. */
function valueFor(schema: Schema, depth = 0): fc.Arbitrary<Json> {
  if (typeof schema === "boolean" || depth > 3) return jsonArb;
  const options: Array<fc.Arbitrary<Json>> = [jsonArb, numberArb, stringArb];
  if (Array.isArray(schema.enum)) options.push(fc.constantFrom(...schema.enum));
  if ("const" in schema) options.push(fc.constant(schema.const!));
  // the bounds themselves, and strings of the bounding lengths
  const bounds = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].map((k) => schema[k]).filter((b) => typeof b === "number");
  if (bounds.length > 0) options.push(fc.constantFrom(...bounds));
  const lengths = ["minLength", "maxLength"].map((k) => schema[k]).filter((b) => typeof b === "number");
  if (lengths.length > 0)
    options.push(fc.constantFrom(...lengths).chain((n) => fc.array(fc.constantFrom(...CHARS), { minLength: n, maxLength: n }).map((a) => a.join(""))));
  if (schema.items !== undefined) options.push(fc.array(valueFor(schema.items as Schema, depth + 1), { maxLength: 4 }));
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  if (schema.properties !== undefined || schema.required !== undefined || schema.additionalProperties !== undefined) {
    const entries = Object.entries(props).map(([k, s]) => fc.option(valueFor(s, depth + 1), { nil: undefined }).map((v) => [k, v] as const));
    const extra = fc.option(
      fc.tuple(fc.constantFrom(...KEYS, "e"), schema.additionalProperties !== undefined ? valueFor(schema.additionalProperties as Schema, depth + 1) : jsonArb),
      { nil: undefined },
    );
    options.push(
      fc.tuple(fc.tuple(...entries), extra).map(([es, x]) => {
        const o: Record<string, Json> = {};
        if (x) o[x[0]] = x[1];
        for (const [k, v] of es) if (v !== undefined) o[k] = v;
        return o;
      }),
      fc.tuple(...entries).map((es) => Object.fromEntries(es.filter(([, v]) => v !== undefined)) as Record<string, Json>),
    );
  }
  return fc.oneof(...options);
}

// ---- schemas ------------------------------------------------------------------------------------------

const TYPES = ["null", "boolean", "object", "array", "number", "integer", "string"];
const PATTERNS = [
  "a",
  "^a",
  "b$",
  "^[a-c]+$",
  "\\d",
  "^\\d{2,3}$",
  "x|y",
  "^(?:ab)*$",
  "^.{2}$",
  "\\s",
  "[^a]",
  "é",
  "^😀",
  "^\\w+$",
  "[.@]",
  "^\\S*$",
  "a+?b",
  "\\u00e9",
  "[\\-x]",
];
const FORMATS = ["email", "uuid", "date", "date-time", "hostname"];
const small = (n: number) => fc.integer({ min: 0, max: n });
const typeArb = fc.oneof(fc.constantFrom(...TYPES), fc.uniqueArray(fc.constantFrom(...TYPES), { minLength: 1, maxLength: 3 }));
const annotations = {
  title: stringArb,
  description: stringArb,
  $comment: stringArb,
  examples: fc.array(jsonArb, { maxLength: 2 }),
};

const { schema: schemaArb } = fc.letrec<{ schema: Schema; prop: Schema }>((tie) => ({
  schema: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.boolean(),
    fc.record(
      {
        type: fc.constantFrom("string", ["string", "null"]),
        minLength: small(4),
        maxLength: small(4),
        pattern: fc.constantFrom(...PATTERNS),
        format: fc.constantFrom(...FORMATS),
        ...annotations,
      },
      { requiredKeys: [] },
    ),
    fc.record(
      {
        type: fc.constantFrom("number", "integer", ["integer", "string"]),
        minimum: numberArb,
        maximum: numberArb,
        exclusiveMinimum: numberArb,
        exclusiveMaximum: numberArb,
      },
      { requiredKeys: [] },
    ),
    fc.record({ type: fc.constant("array"), minItems: small(3), maxItems: small(3), items: tie("schema") }, { requiredKeys: [] }),
    fc.record(
      {
        type: fc.constantFrom("object", ["object", "null"]),
        properties: fc.dictionary(fc.constantFrom(...KEYS), tie("prop"), { maxKeys: 3 }),
        required: fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 2 }),
        additionalProperties: tie("schema"),
      },
      { requiredKeys: [] },
    ),
    fc.record({ type: typeArb, enum: fc.array(jsonArb, { minLength: 1, maxLength: 3 }), const: jsonArb, ...annotations }, { requiredKeys: [] }),
  ),
  // a property's schema: a schema, sometimes with a default
  prop: fc
    .tuple(tie("schema"), fc.option(jsonArb, { nil: undefined, freq: 3 }))
    .map(([s, d]) => (d === undefined || typeof s === "boolean" ? s : { ...s, default: d })),
}));

const batchArb = fc.array(
  schemaArb.chain((s) => fc.tuple(fc.constant(s), fc.array(valueFor(s), { minLength: VALUES_PER_SCHEMA, maxLength: VALUES_PER_SCHEMA }))),
  { minLength: SCHEMAS_PER_RUN, maxLength: SCHEMAS_PER_RUN },
);

interface Row {
  subset: string | null;
  path: string | null;
  message: string | null;
  defaulted: Json;
  dpath: string | null;
}

/** One query over every (schema, value) pair of a batch; the subset check guards the validating calls. */
async function evaluate(pairs: Array<[Schema, Json]>): Promise<Row[]> {
  const { rows } = await t.pool.query<Row>(
    `SELECT s.subset, e.path, e.message, d.v AS defaulted, de.path AS dpath
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS c(pair, i)
       CROSS JOIN LATERAL (SELECT json_schema_subset_error(c.pair -> 0) AS subset) s
       LEFT JOIN LATERAL json_schema_error(c.pair -> 0, c.pair -> 1) e ON s.subset IS NULL
       LEFT JOIN LATERAL (SELECT json_schema_apply_defaults(c.pair -> 0, c.pair -> 1) AS v) d ON s.subset IS NULL
       LEFT JOIN LATERAL json_schema_error(c.pair -> 0, d.v) de ON s.subset IS NULL
      ORDER BY c.i`,
    [JSON.stringify(pairs)],
  );
  return rows;
}

describe("JSON Schema subset in SQL against ajv (property)", () => {
  it("agrees with ajv on valid/invalid and on defaults; ajv accepts every schema the subset accepts", async () => {
    const started = Date.now();
    let pairs = 0;
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(batchArb, async (batch) => {
        // through JSON: fast-check's dictionaries have a null prototype, which ajv's deep equality tells apart
        const list = JSON.parse(JSON.stringify(batch.flatMap(([s, vs]) => vs.map((v) => [s, v])))) as Array<[Schema, Json]>;
        const rows = await evaluate(list);
        const ajv = newAjv();
        const ajvD = newAjv(true);
        list.forEach(([schema, value], i) => {
          const r = rows[i]!;
          const label = JSON.stringify([schema, value]);
          expect(r.subset, label).toBeNull();
          expect(ajv.validateSchema(schema), `validateSchema ${label}`).toBe(true);
          const ok = ajv.validate(schema, value);
          expect(r.path === null, `${label}: SQL says ${r.path} ${r.message}`).toBe(ok);
          expect(r.message === null).toBe(ok);
          const data = structuredClone(value);
          const okD = ajvD.validate(schema, data);
          expect(r.dpath === null, `defaults ${label}`).toBe(okD);
          if (okD) expect(r.defaulted, `defaults ${label}`).toEqual(data);
          pairs += 1;
          if (ok) valid += 1;
        });
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // the generator must reach both answers often enough to mean something
    expect(valid).toBeGreaterThan(pairs / 10);
    expect(valid).toBeLessThan(pairs - pairs / 10);
    console.info(`json-schema property: ${pairs} pairs, ${valid} valid, ${Date.now() - started} ms`);
  });

  const TOKENS = [
    "a",
    "b",
    "é",
    "^",
    "$",
    ".",
    "*",
    "+",
    "?",
    "(",
    ")",
    "(?:",
    "[",
    "]",
    "[^",
    "-",
    "{",
    "}",
    "2",
    ",",
    "|",
    "\\d",
    "\\w",
    "\\s",
    "\\.",
    "\\",
    "\\-",
    "\\u0061",
  ];
  const SUBJECTS = ["", "a", "b", "ab", "ba", "aab", "é", "a-b", "2", "a.2", " ", "a b", "{2}", "[a]", "aa22", "\\", "\n", "a\u2028b", "\u00a0", "٣", "Ä_"];

  it("a pattern the subset accepts compiles in ajv and matches the same strings", async () => {
    const patterns = fc.array(
      fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 6 }).map((a) => a.join("")),
      { minLength: 40, maxLength: 40 },
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(patterns, async (ps) => {
        const { rows } = await t.pool.query<{ err: string | null; matches: boolean[] | null }>(
          `SELECT json_schema_pattern_error(p) AS err,
                  CASE WHEN json_schema_pattern_error(p) IS NULL THEN (SELECT array_agg(s ~ (json_schema_pattern_are(p)).are ORDER BY j) FROM unnest($2::text[]) WITH ORDINALITY AS u(s, j)) END AS matches
             FROM unnest($1::text[]) WITH ORDINALITY AS x(p, i) ORDER BY i`,
          [ps, SUBJECTS],
        );
        const ajv = newAjv();
        ps.forEach((p, i) => {
          if (rows[i]!.err !== null) return;
          accepted += 1;
          expect(ajv.validateSchema({ pattern: p }), p).toBe(true);
          const re = new RegExp(p, "u");
          expect(
            SUBJECTS.map((s) => re.test(s)),
            p,
          ).toEqual(rows[i]!.matches);
        });
      }),
      { numRuns: Math.max(10, Math.ceil(RUNS / 2)), seed: SEED },
    );
    expect(accepted).toBeGreaterThan(0);
  });
});
