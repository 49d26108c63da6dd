/**
 * The JSON Schema subset checked in SQL (stored-procedures/operations/json_schema.sql, docs/decisions/
 * 0008-workflows.md §2), case by case: every keyword with valid and invalid values and the exact path and
 * message of json_schema_error, the subset's refusals with their JSON pointer, and json_schema_apply_defaults.
 * Each validation case is also put to ajv 8 (Ajv2020 with ajv-formats), which must agree on valid/invalid,
 * and each schema the subset accepts to ajv.validateSchema. The property test is json-schema.property.test.ts.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.close());

function newAjv(opts: { useDefaults?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, ...opts });
  addFormats(ajv);
  return ajv;
}

/** [schema, value, path, message]: path and message null when the value is valid. */
type Case = [unknown, unknown, string | null, string | null];

async function sqlErrors(cases: Case[]): Promise<Array<[string | null, string | null]>> {
  const { rows } = await t.pool.query<{ path: string | null; message: string | null }>(
    `SELECT e.path, e.message FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS c(pair, i),
       LATERAL json_schema_error(c.pair -> 0, c.pair -> 1) e ORDER BY c.i`,
    [JSON.stringify(cases.map(([s, v]) => [s, v]))],
  );
  return rows.map((r) => [r.path, r.message]);
}

async function subsetErrors(schemas: unknown[]): Promise<Array<string | null>> {
  const { rows } = await t.pool.query<{ err: string | null }>(
    `SELECT json_schema_subset_error(s) AS err FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS c(s, i) ORDER BY c.i`,
    [JSON.stringify(schemas)],
  );
  return rows.map((r) => r.err);
}

/** Checks the SQL answers exactly and ajv's valid/invalid for each case. */
async function check(cases: Case[]): Promise<void> {
  const got = await sqlErrors(cases);
  const ajv = newAjv();
  cases.forEach(([schema, value, path, message], i) => {
    const label = JSON.stringify([schema, value]);
    expect(got[i], label).toEqual([path, message]);
    expect(ajv.validate(schema as object, value), `ajv: ${label}`).toBe(path === null);
  });
  expect(await subsetErrors(cases.map(([s]) => s))).toEqual(cases.map(() => null));
  for (const [s] of cases) expect(ajv.validateSchema(s as object), JSON.stringify(s)).toBe(true);
}

describe("json_schema_error", () => {
  it("boolean schemas", () =>
    check([
      [true, { a: 1 }, null, null],
      [false, 1, "", "false schema"],
      [{ properties: { a: false } }, { a: null }, "/a", "false schema"],
      [{ properties: { a: false } }, {}, null, null],
      [{}, [1, "x", null], null, null],
    ]));

  it("type, one or several; integer is a number with a zero fractional part", () =>
    check([
      [{ type: "string" }, "x", null, null],
      [{ type: "string" }, 1, "", "type string"],
      [{ type: "integer" }, 1, null, null],
      [{ type: "integer" }, 1.0, null, null],
      [{ type: "integer" }, 1.5, "", "type integer"],
      [{ type: "integer" }, "1", "", "type integer"],
      [{ type: "number" }, 1, null, null],
      [{ type: "number" }, -2.5e-3, null, null],
      [{ type: "number" }, true, "", "type number"],
      [{ type: "boolean" }, false, null, null],
      [{ type: "boolean" }, 0, "", "type boolean"],
      [{ type: "null" }, null, null, null],
      [{ type: "null" }, "null", "", "type null"],
      [{ type: "object" }, {}, null, null],
      [{ type: "object" }, [], "", "type object"],
      [{ type: "array" }, [], null, null],
      [{ type: "array" }, {}, "", "type array"],
      [{ type: ["string", "null"] }, null, null, null],
      [{ type: ["string", "null"] }, "a", null, null],
      [{ type: ["string", "null"] }, 3, "", "type string or null"],
      [{ type: ["integer", "boolean"] }, 2.0, null, null],
    ]));

  it("enum and const by JSON equality (1 equals 1.0, key order does not matter)", async () => {
    await check([
      [{ enum: ["a", 1, null] }, "a", null, null],
      [{ enum: ["a", 1, null] }, null, null, null],
      [{ enum: ["a", 1, null] }, "b", "", 'enum ["a", 1, null]'],
      [{ enum: [{ a: 1, b: [1, 2] }] }, { b: [1, 2], a: 1 }, null, null],
      [{ enum: [{ a: 1 }] }, { a: 1, b: 2 }, "", 'enum [{"a": 1}]'],
      [{ const: 5 }, 5, null, null],
      [{ const: 5 }, "5", "", "const 5"],
      [{ const: [1, "x"] }, [1, "x"], null, null],
      [{ const: [1, "x"] }, ["x", 1], "", 'const [1, "x"]'],
      [{ const: null }, null, null, null],
      [{ const: null }, false, "", "const null"],
    ]);
    // 1.0 is kept as written by jsonb; JSON.stringify would print 1
    const { rows } = await t.pool.query(
      `SELECT (json_schema_error('{"const": 1}', '1.0')).path AS a, (json_schema_error('{"enum": [[2.50]]}', '[2.5]')).message AS b,
              (json_schema_error('{"const": 1}', '1.5')).message AS c`,
    );
    expect(rows[0]).toEqual({ a: null, b: null, c: "const 1" });
  });

  it("minimum, maximum, exclusiveMinimum, exclusiveMaximum apply to numbers only", () =>
    check([
      [{ minimum: 1 }, 1, null, null],
      [{ minimum: 1 }, 0.999, "", "minimum 1"],
      [{ minimum: 1 }, "0", null, null],
      [{ maximum: 2.5 }, 2.5, null, null],
      [{ maximum: 2.5 }, 3, "", "maximum 2.5"],
      [{ exclusiveMinimum: 0 }, 0.001, null, null],
      [{ exclusiveMinimum: 0 }, 0, "", "exclusiveMinimum 0"],
      [{ exclusiveMaximum: -1 }, -1.5, null, null],
      [{ exclusiveMaximum: -1 }, -1, "", "exclusiveMaximum -1"],
      [{ minimum: 0, maximum: 10, type: "integer" }, 11, "", "maximum 10"],
      [{ minimum: 0, maximum: 10, type: "integer" }, 10.5, "", "type integer"],
      [{ minimum: 1e21 }, 1e22, null, null],
    ]));

  it("minLength and maxLength count code points; they apply to strings only", () =>
    check([
      [{ minLength: 2 }, "ab", null, null],
      [{ minLength: 2 }, "a", "", "minLength 2"],
      [{ minLength: 2 }, "😀😀", null, null],
      [{ maxLength: 1 }, "😀", null, null],
      [{ maxLength: 1 }, "é", null, null],
      [{ maxLength: 1 }, "e\u0301", "", "maxLength 1"],
      [{ maxLength: 0 }, "", null, null],
      [{ maxLength: 0 }, " ", "", "maxLength 0"],
      [{ minLength: 5 }, 12345, null, null],
    ]));

  it("pattern is an unanchored search", () =>
    check([
      [{ pattern: "b+" }, "abbc", null, null],
      [{ pattern: "^b+" }, "abbc", "", "pattern ^b+"],
      [{ pattern: "^[a-z]{2,3}$" }, "abc", null, null],
      [{ pattern: "^[a-z]{2,3}$" }, "abcd", "", "pattern ^[a-z]{2,3}$"],
      [{ pattern: "^(?:ab|cd)\\d$" }, "cd7", null, null],
      [{ pattern: "^\\w+@\\S+$" }, "a_1@x", null, null],
      [{ pattern: "\\." }, "ab", "", "pattern \\."],
      [{ pattern: "^\\u00e9$" }, "é", null, null],
      [{ pattern: "^[^x]*$" }, 5, null, null],
      [{ pattern: "" }, "", null, null],
      [{ pattern: "^\\w$" }, "é", "", "pattern ^\\w$"],
      [{ pattern: "^\\d$" }, "٣", "", "pattern ^\\d$"],
      [{ pattern: "^[\\w.]+$" }, "a_.Z", null, null],
      [{ pattern: "^\\s$" }, "\u00a0", null, null],
      [{ pattern: "^\\S$" }, "\u2028", "", "pattern ^\\S$"],
      [{ pattern: "^a.b$" }, "a\nb", "", "pattern ^a.b$"],
      [{ pattern: "^a.b$" }, "a😀b", null, null],
    ]));

  it("format email: ajv-formats' rule (dot-atom local part, a domain with at least one dot)", () =>
    check([
      [{ format: "email" }, "a.b+c@example.com", null, null],
      [{ format: "email" }, "John.O'Neil@Sub.Example.ORG", null, null],
      [{ format: "email" }, "a@b.c", null, null],
      [{ format: "email" }, "a@localhost", "", "format email"],
      [{ format: "email" }, "a..b@example.com", "", "format email"],
      [{ format: "email" }, ".a@example.com", "", "format email"],
      [{ format: "email" }, "a@-example.com", "", "format email"],
      [{ format: "email" }, "a@example-.com", "", "format email"],
      [{ format: "email" }, "a@exa_mple.com", "", "format email"],
      [{ format: "email" }, "a b@example.com", "", "format email"],
      [{ format: "email" }, "@example.com", "", "format email"],
      [{ format: "email" }, "é@example.com", "", "format email"],
      [{ format: "email" }, "a@example.com\n", "", "format email"],
      [{ format: "email" }, 42, null, null],
    ]));

  it("format uuid: 8-4-4-4-12 hexadecimal digits (and urn:uuid:, as ajv-formats)", () =>
    check([
      [{ format: "uuid" }, "123e4567-e89b-12d3-a456-426614174000", null, null],
      [{ format: "uuid" }, "123E4567-E89B-12D3-A456-426614174000", null, null],
      [{ format: "uuid" }, "urn:uuid:123e4567-e89b-12d3-a456-426614174000", null, null],
      [{ format: "uuid" }, "123e4567e89b12d3a456426614174000", "", "format uuid"],
      [{ format: "uuid" }, "{123e4567-e89b-12d3-a456-426614174000}", "", "format uuid"],
      [{ format: "uuid" }, "123e4567-e89b-12d3-a456-42661417400g", "", "format uuid"],
      [{ format: "uuid" }, "123e4567-e89b-12d3-a456-4266141740001", "", "format uuid"],
    ]));

  it("format date: YYYY-MM-DD, a valid calendar day", () =>
    check([
      [{ format: "date" }, "2024-02-29", null, null],
      [{ format: "date" }, "2000-02-29", null, null],
      [{ format: "date" }, "1900-02-29", "", "format date"],
      [{ format: "date" }, "2023-02-29", "", "format date"],
      [{ format: "date" }, "2023-04-31", "", "format date"],
      [{ format: "date" }, "2023-12-31", null, null],
      [{ format: "date" }, "2023-13-01", "", "format date"],
      [{ format: "date" }, "2023-00-10", "", "format date"],
      [{ format: "date" }, "2023-01-00", "", "format date"],
      [{ format: "date" }, "2023-1-01", "", "format date"],
      [{ format: "date" }, "02023-01-01", "", "format date"],
      [{ format: "date" }, "2023-01-01T00:00:00Z", "", "format date"],
    ]));

  it("format date-time: RFC 3339 with a time zone, as ajv-formats reads it", () =>
    check([
      [{ format: "date-time" }, "2024-01-02T03:04:05Z", null, null],
      [{ format: "date-time" }, "2024-01-02t03:04:05.123456z", null, null],
      [{ format: "date-time" }, "2024-01-02 03:04:05+01:00", null, null],
      [{ format: "date-time" }, "2024-01-02T03:04:05-0530", null, null],
      [{ format: "date-time" }, "2024-01-02T03:04:05+05", null, null],
      [{ format: "date-time" }, "2024-12-31T23:59:60Z", null, null],
      [{ format: "date-time" }, "2024-12-31T15:59:60-08:00", null, null],
      [{ format: "date-time" }, "2024-12-31T22:59:60Z", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02T03:04:05", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02T24:00:00Z", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02T03:60:00Z", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02T03:04:05+24:00", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02T03:04:05+01:60", "", "format date-time"],
      [{ format: "date-time" }, "2024-02-30T03:04:05Z", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02TT03:04:05Z", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02", "", "format date-time"],
      [{ format: "date-time" }, "2024-01-02T3:04:05Z", "", "format date-time"],
    ]));

  it("format hostname: RFC 1123 labels, 253 characters at most", () =>
    check([
      [{ format: "hostname" }, "example.com", null, null],
      [{ format: "hostname" }, "localhost", null, null],
      [{ format: "hostname" }, "EXAMPLE.com.", null, null],
      [{ format: "hostname" }, "1.2.3.4", null, null],
      [{ format: "hostname" }, "xn--bcher-kva.example", null, null],
      [{ format: "hostname" }, `${"a".repeat(63)}.com`, null, null],
      [{ format: "hostname" }, `${"a".repeat(64)}.com`, "", "format hostname"],
      [{ format: "hostname" }, `${"a.".repeat(126)}a`, null, null],
      [{ format: "hostname" }, `${"a.".repeat(126)}a.`, null, null],
      [{ format: "hostname" }, `${"a.".repeat(126)}ab`, "", "format hostname"],
      [{ format: "hostname" }, "-a.com", "", "format hostname"],
      [{ format: "hostname" }, "a-.com", "", "format hostname"],
      [{ format: "hostname" }, "a..com", "", "format hostname"],
      [{ format: "hostname" }, "a_b.com", "", "format hostname"],
      [{ format: "hostname" }, "", "", "format hostname"],
      [{ format: "hostname" }, ".", "", "format hostname"],
    ]));

  it("minItems, maxItems and items (each item's path)", () =>
    check([
      [{ minItems: 1 }, [0], null, null],
      [{ minItems: 1 }, [], "", "minItems 1"],
      [{ maxItems: 2 }, [1, 2, 3], "", "maxItems 2"],
      [{ maxItems: 2 }, "abc", null, null],
      [{ items: { type: "string" } }, ["a", "b"], null, null],
      [{ items: { type: "string" } }, ["a", 2, 3], "/1", "type string"],
      [{ items: { items: { minimum: 0 } } }, [[0], [1, -1]], "/1/1", "minimum 0"],
      [{ items: false }, [], null, null],
      [{ items: false }, [1], "/0", "false schema"],
    ]));

  it("required, properties and additionalProperties (paths escaped as JSON pointers)", () =>
    check([
      [{ required: ["name"] }, { name: 1 }, null, null],
      [{ required: ["name"] }, {}, "", "required property name"],
      [{ required: ["a", "b"] }, { b: 1 }, "", "required property a"],
      [{ required: ["name"] }, ["name"], null, null],
      [{ properties: { admin: { properties: { email: { format: "email" } } } } }, { admin: { email: "x" } }, "/admin/email", "format email"],
      [{ properties: { admin: { required: ["name"] } } }, { admin: {} }, "/admin", "required property name"],
      [{ properties: { "a/b": { properties: { "c~d": { type: "null" } } } } }, { "a/b": { "c~d": 0 } }, "/a~1b/c~0d", "type null"],
      [{ properties: { a: { type: "string" } } }, { b: 1 }, null, null],
      [{ properties: { a: {} }, additionalProperties: false }, { a: 1 }, null, null],
      [{ properties: { a: {} }, additionalProperties: false }, { a: 1, zz: 2 }, "", "additional property zz"],
      [{ additionalProperties: { type: "integer" } }, { x: 1, y: "2" }, "/y", "type integer"],
      [{ additionalProperties: true }, { x: 1 }, null, null],
      [{ type: "object", properties: { n: { type: "integer", minimum: 1 } }, required: ["n"] }, { n: 0 }, "/n", "minimum 1"],
    ]));

  it("annotations are accepted and ignored", () =>
    check([
      [
        {
          $schema: "https://json-schema.org/draft/2020-12/schema",
          $id: "https://example.com/schemas/input",
          title: "t",
          description: "d",
          $comment: "c",
          examples: [1, "x"],
          default: 3,
          properties: { a: { title: "a", examples: [], default: "x", type: "string" } },
        },
        { a: 1 },
        "/a",
        "type string",
      ],
    ]));

  it("raises 22023 for a schema outside the subset", async () => {
    const err = await t.pool.query(`SELECT json_schema_error('{"anyOf": []}', '1')`).then(
      () => undefined,
      (e: { code: string; message: string }) => e,
    );
    expect(err?.code).toBe("22023");
    expect(err?.message).toBe('JSON Schema outside the subset: at "/anyOf": keyword anyOf is not supported');
  });
});

describe("json_schema_subset_error", () => {
  const refusals: Array<[unknown, string]> = [
    [1, 'at "": a schema must be an object or a boolean'],
    [null, 'at "": a schema must be an object or a boolean'],
    [{ properties: { a: "x" } }, 'at "/properties/a": a schema must be an object or a boolean'],
    [{ $ref: "#/x" }, 'at "/$ref": keyword $ref is not supported'],
    [{ $defs: {} }, 'at "/$defs": keyword $defs is not supported'],
    [{ allOf: [] }, 'at "/allOf": keyword allOf is not supported'],
    [{ properties: { admin: { anyOf: [] } } }, 'at "/properties/admin/anyOf": keyword anyOf is not supported'],
    [{ items: { oneOf: [] } }, 'at "/items/oneOf": keyword oneOf is not supported'],
    [{ additionalProperties: { not: {} } }, 'at "/additionalProperties/not": keyword not is not supported'],
    [{ if: true }, 'at "/if": keyword if is not supported'],
    [{ patternProperties: {} }, 'at "/patternProperties": keyword patternProperties is not supported'],
    [{ dependentRequired: {} }, 'at "/dependentRequired": keyword dependentRequired is not supported'],
    [{ prefixItems: [] }, 'at "/prefixItems": keyword prefixItems is not supported'],
    [{ multipleOf: 2 }, 'at "/multipleOf": keyword multipleOf is not supported'],
    [{ uniqueItems: true }, 'at "/uniqueItems": keyword uniqueItems is not supported'],
    [{ properties: { "a/b~": { foo: 1 } } }, 'at "/properties/a~1b~0/foo": keyword foo is not supported'],
    [{ type: "float" }, 'at "/type": type must be one of null, boolean, object, array, number, integer, string, or a non-empty array of them without repeats'],
    [{ type: [] }, 'at "/type": type must be one of null, boolean, object, array, number, integer, string, or a non-empty array of them without repeats'],
    [
      { type: ["string", "string"] },
      'at "/type": type must be one of null, boolean, object, array, number, integer, string, or a non-empty array of them without repeats',
    ],
    [{ type: 1 }, 'at "/type": type must be one of null, boolean, object, array, number, integer, string, or a non-empty array of them without repeats'],
    [{ properties: [] }, 'at "/properties": properties must be an object of schemas'],
    [{ required: "a" }, 'at "/required": required must be an array of unique strings'],
    [{ required: ["a", "a"] }, 'at "/required": required must be an array of unique strings'],
    [{ required: [1] }, 'at "/required": required must be an array of unique strings'],
    [{ additionalProperties: "no" }, 'at "/additionalProperties": a schema must be an object or a boolean'],
    [{ items: [{}] }, 'at "/items": a schema must be an object or a boolean'],
    [{ minItems: -1 }, 'at "/minItems": minItems must be a non-negative integer'],
    [{ maxItems: 1.5 }, 'at "/maxItems": maxItems must be a non-negative integer'],
    [{ minLength: "1" }, 'at "/minLength": minLength must be a non-negative integer'],
    [{ maxLength: null }, 'at "/maxLength": maxLength must be a non-negative integer'],
    [{ enum: [] }, 'at "/enum": enum must be a non-empty array'],
    [{ enum: "a" }, 'at "/enum": enum must be a non-empty array'],
    [{ minimum: "1" }, 'at "/minimum": minimum must be a number'],
    [{ exclusiveMaximum: true }, 'at "/exclusiveMaximum": exclusiveMaximum must be a number'],
    [{ pattern: 1 }, 'at "/pattern": pattern must be a string'],
    [
      { properties: { admin: { pattern: "(" } } },
      'at "/properties/admin/pattern": pattern is not a valid regular expression: invalid regular expression: parentheses () not balanced',
    ],
    [{ pattern: "(?=a)" }, 'at "/pattern": pattern has "(?=": lookarounds, named groups and embedded options are not in the subset'],
    [{ pattern: "a(?!b)" }, 'at "/pattern": pattern has "(?!": lookarounds, named groups and embedded options are not in the subset'],
    [{ pattern: "(?<=a)b" }, 'at "/pattern": pattern has "(?<": lookarounds, named groups and embedded options are not in the subset'],
    [{ pattern: "(?i)a" }, 'at "/pattern": pattern has "(?i": lookarounds, named groups and embedded options are not in the subset'],
    [
      { pattern: "\\bword" },
      'at "/pattern": pattern has the escape \\b, which the subset refuses (it differs between ECMA-262 and PostgreSQL, or one of them lacks it)',
    ],
    [
      { pattern: "(a)\\1" },
      'at "/pattern": pattern has the escape \\1, which the subset refuses (it differs between ECMA-262 and PostgreSQL, or one of them lacks it)',
    ],
    [
      { pattern: "\\mword" },
      'at "/pattern": pattern has the escape \\m, which the subset refuses (it differs between ECMA-262 and PostgreSQL, or one of them lacks it)',
    ],
    [
      { pattern: "\\x41" },
      'at "/pattern": pattern has the escape \\x, which the subset refuses (it differs between ECMA-262 and PostgreSQL, or one of them lacks it)',
    ],
    [{ pattern: "[\\W]" }, 'at "/pattern": pattern has \\W in a bracket expression, which the subset refuses'],
    [{ pattern: "[[:alpha:]]" }, 'at "/pattern": pattern has "[:", a POSIX bracket element ECMA-262 does not have'],
    [{ pattern: "[]a]" }, 'at "/pattern": pattern has "[]" or "[^]", which mean different things in ECMA-262 and PostgreSQL'],
    [{ pattern: "a]" }, 'at "/pattern": pattern has a lone "]" (escape it as \\])'],
    [{ pattern: "***:a" }, 'at "/pattern": pattern starts with the ARE director "***", which ECMA-262 does not have'],
    [{ format: "uri" }, 'at "/format": format must be one of email, uuid, date, date-time, hostname'],
    [{ format: 1 }, 'at "/format": format must be one of email, uuid, date, date-time, hostname'],
    [{ title: 1 }, 'at "/title": title must be a string'],
    [{ description: null }, 'at "/description": description must be a string'],
    [{ $comment: [] }, 'at "/$comment": $comment must be a string'],
    [{ examples: 1 }, 'at "/examples": examples must be an array'],
    [{ $schema: "http://json-schema.org/draft-07/schema#" }, 'at "/$schema": $schema must be "https://json-schema.org/draft/2020-12/schema"'],
    [{ properties: { a: { $schema: "https://json-schema.org/draft/2020-12/schema" } } }, 'at "/properties/a/$schema": $schema is allowed only at the root'],
    [{ items: { $id: "https://example.com/a" } }, 'at "/items/$id": $id is allowed only at the root'],
    [{ $id: "https://example.com/a#frag" }, 'at "/$id": $id must be an absolute http, https or urn URI without a fragment, query or percent escape'],
    [{ $id: "relative/path" }, 'at "/$id": $id must be an absolute http, https or urn URI without a fragment, query or percent escape'],
  ];

  it("names the JSON pointer and the rule of the first refusal", async () => {
    const got = await subsetErrors(refusals.map(([s]) => s));
    refusals.forEach(([s, msg], i) => expect(got[i], JSON.stringify(s)).toBe(msg));
  });

  it("accepts the whole subset, and ajv.validateSchema accepts what it accepts", async () => {
    const accepted: unknown[] = [
      true,
      false,
      {},
      {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        $id: "urn:provisio:workflow:input",
        type: "object",
        required: [],
        properties: {
          a: { type: ["string", "null"], minLength: 0, maxLength: 10.0, pattern: "^[a-z]*$", format: "hostname", default: "x" },
          b: { type: "array", items: { type: "integer", minimum: -1, maximum: 1e3, exclusiveMinimum: -2, exclusiveMaximum: 1001 }, minItems: 0, maxItems: 3 },
          c: { enum: [1, "1", null, { a: [] }], const: 1 },
          d: { format: "date-time", examples: ["2024-01-01T00:00:00Z"], title: "", description: "", $comment: "" },
          e: true,
          f: { additionalProperties: { format: "uuid" } },
        },
        additionalProperties: false,
      },
      { pattern: "^(?:[a-z0-9._%+-]+)@\\w+\\.[A-Z]{2,}$|\\d{3}\\s\\u00e9[\\]\\-]" },
      { format: "email" },
      { format: "date" },
    ];
    expect(await subsetErrors(accepted)).toEqual(accepted.map(() => null));
    const ajv = newAjv();
    for (const s of accepted) expect(ajv.validateSchema(s as object), JSON.stringify(s)).toBe(true);
  });
});

describe("json_schema_apply_defaults", () => {
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ properties: { a: { default: 1 } } }, {}, { a: 1 }],
    [{ properties: { a: { default: 1 } } }, { a: null }, { a: null }],
    [{ properties: { a: { default: 1 } } }, { a: 2, b: 3 }, { a: 2, b: 3 }],
    [{ properties: { a: { default: 1 } } }, "x", "x"],
    [{ properties: { a: { default: 1 } } }, [{}], [{}]],
    [{ default: 5 }, {}, {}],
    [{ properties: { a: { default: { x: [1] } } } }, { b: 0 }, { a: { x: [1] }, b: 0 }],
    [{ properties: { a: { default: {}, properties: { b: { default: "deep" } } } } }, {}, { a: { b: "deep" } }],
    [{ properties: { a: { properties: { b: { default: 2 }, c: { default: 3 } } } } }, { a: { c: 0 } }, { a: { c: 0, b: 2 } }],
    [{ properties: { a: { properties: { b: { default: 2 } } } } }, {}, {}],
    [{ properties: { a: { properties: { b: { default: 2 } } } } }, { a: "s" }, { a: "s" }],
    [{ items: { properties: { k: { default: true } } } }, [{}, { k: false }, 1], [{ k: true }, { k: false }, 1]],
    [{ additionalProperties: { properties: { z: { default: 0 } } } }, { p: {}, q: { z: 9 } }, { p: { z: 0 }, q: { z: 9 } }],
    [{ properties: { a: true, b: false } }, {}, {}],
    [true, { a: 1 }, { a: 1 }],
  ];

  it("fills in the defaults of absent properties, recursively, as ajv's useDefaults does", async () => {
    const { rows } = await t.pool.query<{ v: unknown }>(
      `SELECT json_schema_apply_defaults(c.pair -> 0, c.pair -> 1) AS v FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS c(pair, i) ORDER BY c.i`,
      [JSON.stringify(cases.map(([s, v]) => [s, v]))],
    );
    cases.forEach(([s, v, want], i) => {
      expect(rows[i]!.v, JSON.stringify([s, v])).toEqual(want);
      const data = structuredClone(v);
      const ajv = newAjv({ useDefaults: true });
      ajv.validate(s as object, data);
      expect(data, `ajv: ${JSON.stringify([s, v])}`).toEqual(want);
    });
  });

  it("returns NULL for NULL and defaults the required properties before they are checked", async () => {
    const { rows } = await t.pool.query(
      `SELECT json_schema_apply_defaults('{"properties": {"a": {"default": 1}}}', NULL) AS a,
              (json_schema_error('{"required": ["a"], "properties": {"a": {"default": 1, "type": "integer"}}}',
                 json_schema_apply_defaults('{"required": ["a"], "properties": {"a": {"default": 1, "type": "integer"}}}', '{}'))).message AS b`,
    );
    expect(rows[0]).toEqual({ a: null, b: null });
  });
});
