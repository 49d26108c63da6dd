/**
 * SCIM filter expressions (RFC 7644 §3.4.2.2) for the SCIM simulator: a parser and an evaluator over the
 * simulator's stored resources.
 *
 * Why not scimmy's own `Filter`: scimmy 1.3.5 tokenises a string value as `"…"` up to the first `"`, so a
 * value holding an escaped quote (`userName eq "o\"brien"`) is rejected with 400 invalidFilter, and a
 * backslash escape is never decoded; and its `match()` compares strings case-sensitively, where RFC 7643
 * §2.1 / §4.1.1 make `userName` and `displayName` caseExact=false. Here a compValue is a JSON string
 * (RFC 7159, as the ABNF says), attribute names are case-insensitive (RFC 7643 §2.1), and string
 * comparisons ignore case unless the attribute is caseExact (or the server runs in sloppy mode).
 *
 * Grammar (precedence not > and > or):
 *   FILTER    = OR
 *   OR        = AND *("or" AND)
 *   AND       = FACTOR *("and" FACTOR)
 *   FACTOR    = "not" "(" FILTER ")" / "(" FILTER ")" / attrPath "[" FILTER "]" / attrPath "pr" / attrPath compareOp compValue
 *   compValue = false / null / true / number / string
 */

/** A parsed filter. Attribute paths are lower-cased names without a schema URN prefix. */
export type FilterNode =
  | { kind: "and" | "or"; left: FilterNode; right: FilterNode }
  | { kind: "not"; expr: FilterNode }
  | { kind: "present"; path: string[] }
  | { kind: "compare"; path: string[]; op: CompareOp; value: string | number | boolean | null }
  | { kind: "valuePath"; path: string[]; filter: FilterNode };

export type CompareOp = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "lt" | "ge" | "le";
const COMPARE_OPS = new Set<string>(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]);

/** A filter the parser rejects: the server answers 400 with scimType "invalidFilter" (RFC 7644 §3.12). */
export class ScimFilterError extends Error {}

type Token = { t: "(" | ")" | "[" | "]" } | { t: "word"; v: string } | { t: "string"; v: string } | { t: "number"; v: number };

const STRING = /^"(?:[^"\\]|\\.)*"/;
const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])/;
const WORD = /^[A-Za-z$_][\w$:.-]*/;

/** A compValue string is a JSON string (RFC 7644 §3.4.2.2, RFC 7159 §7): escapes decoded, raw control characters refused. */
function jsonString(literal: string): string {
  try {
    return JSON.parse(literal) as string;
  } catch {
    throw new ScimFilterError(`bad escape or control character in filter string ${literal.slice(0, 40)}`);
  }
}

function tokenise(text: string): Token[] {
  const tokens: Token[] = [];
  let rest = text;
  while (rest.length) {
    const ws = /^\s+/.exec(rest);
    if (ws) {
      rest = rest.slice(ws[0].length);
      continue;
    }
    const c = rest[0]!;
    if (c === "(" || c === ")" || c === "[" || c === "]") {
      tokens.push({ t: c });
      rest = rest.slice(1);
      continue;
    }
    let m: RegExpExecArray | null;
    if (c === '"') {
      if (!(m = STRING.exec(rest))) throw new ScimFilterError(`unterminated string in filter at: ${rest.slice(0, 40)}`);
      tokens.push({ t: "string", v: jsonString(m[0]) });
    } else if ((m = NUMBER.exec(rest))) {
      tokens.push({ t: "number", v: Number(m[0]) });
    } else if ((m = WORD.exec(rest))) {
      tokens.push({ t: "word", v: m[0] });
    } else {
      throw new ScimFilterError(`unexpected character in filter at: ${rest.slice(0, 40)}`);
    }
    rest = rest.slice(m[0].length);
  }
  return tokens;
}

/**
 * Parse a filter (RFC 7644 §3.4.2.2).
 * @throws ScimFilterError for anything outside the grammar (the server's 400 invalidFilter)
 */
export function parseFilter(text: string): FilterNode {
  const tokens = tokenise(text);
  let i = 0;
  const peekWord = (): string | undefined => {
    const t = tokens[i];
    return t?.t === "word" ? t.v.toLowerCase() : undefined;
  };
  const expect = (t: "(" | ")" | "[" | "]"): void => {
    if (tokens[i]?.t !== t) throw new ScimFilterError(`expected '${t}' in filter`);
    i++;
  };
  const parseOr = (): FilterNode => {
    let left = parseAnd();
    while (peekWord() === "or") {
      i++;
      left = { kind: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): FilterNode => {
    let left = parseFactor();
    while (peekWord() === "and") {
      i++;
      left = { kind: "and", left, right: parseFactor() };
    }
    return left;
  };
  const parseFactor = (): FilterNode => {
    const t = tokens[i];
    if (!t) throw new ScimFilterError("filter ends too early");
    if (t.t === "(") {
      i++;
      const inner = parseOr();
      expect(")");
      return inner;
    }
    if (t.t !== "word") throw new ScimFilterError("expected an attribute path in filter");
    if (t.v.toLowerCase() === "not" && tokens[i + 1]?.t === "(") {
      i += 2;
      const inner = parseOr();
      expect(")");
      return { kind: "not", expr: inner };
    }
    i++;
    const path = attrPath(t.v);
    if (tokens[i]?.t === "[") {
      i++;
      const inner = parseOr();
      expect("]");
      return { kind: "valuePath", path, filter: inner };
    }
    const op = peekWord();
    if (op === "pr") {
      i++;
      return { kind: "present", path };
    }
    if (!op || !COMPARE_OPS.has(op)) throw new ScimFilterError(`expected a comparison operator after ${t.v}`);
    i++;
    const v = tokens[i++];
    let value: string | number | boolean | null;
    if (v?.t === "string" || v?.t === "number") value = v.v;
    else if (v?.t === "word" && ["true", "false", "null"].includes(v.v.toLowerCase()))
      value = v.v.toLowerCase() === "null" ? null : v.v.toLowerCase() === "true";
    else throw new ScimFilterError(`expected a value (string, number, true, false or null) after ${t.v} ${op}`);
    return { kind: "compare", path, op: op as CompareOp, value };
  };
  const node = parseOr();
  if (i < tokens.length) throw new ScimFilterError("unexpected tokens at the end of the filter");
  return node;
}

/** "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName" -> ["name", "familyname"]. */
function attrPath(word: string): string[] {
  const colon = word.lastIndexOf(":");
  const bare = colon >= 0 ? word.slice(colon + 1) : word;
  const parts = bare.split(".").map((p) => p.toLowerCase());
  if (parts.some((p) => !p)) throw new ScimFilterError(`bad attribute path ${word}`);
  return parts;
}

/** How strings compare: `caseExact(path)` gets the full lower-cased dotted path, e.g. "members.value". */
export interface MatchOptions {
  caseExact: (path: string) => boolean;
}

/** The values at `path` under `obj`, multi-valued attributes flattened; attribute names case-insensitive. */
function resolve(obj: unknown, path: string[]): unknown[] {
  let current: unknown[] = [obj];
  for (const name of path) {
    const next: unknown[] = [];
    for (const o of current) {
      if (!o || typeof o !== "object" || Array.isArray(o)) continue;
      const key = Object.keys(o).find((k) => k.toLowerCase() === name);
      const v = key === undefined ? undefined : (o as Record<string, unknown>)[key];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) next.push(...(v as unknown[]));
      else next.push(v);
    }
    current = next;
  }
  return current;
}

function compare(actual: unknown, op: CompareOp, expected: string | number | boolean, exact: boolean): boolean {
  if (typeof actual === "string" && typeof expected === "string") {
    const a = exact ? actual : actual.toLowerCase();
    const e = exact ? expected : expected.toLowerCase();
    switch (op) {
      case "eq":
        return a === e;
      case "ne":
        return a !== e;
      case "co":
        return a.includes(e);
      case "sw":
        return a.startsWith(e);
      case "ew":
        return a.endsWith(e);
      case "gt":
        return a > e;
      case "lt":
        return a < e;
      case "ge":
        return a >= e;
      case "le":
        return a <= e;
    }
  }
  if (typeof actual === typeof expected && (typeof actual === "number" || typeof actual === "boolean")) {
    const a = actual;
    const e = expected as number | boolean;
    switch (op) {
      case "eq":
        return a === e;
      case "ne":
        return a !== e;
      case "gt":
        return a > e;
      case "lt":
        return a < e;
      case "ge":
        return a >= e;
      case "le":
        return a <= e;
      default:
        return false;
    }
  }
  return op === "ne";
}

/** True when `resource` (a stored resource as JSON) matches `node`. */
export function matchesFilter(node: FilterNode, resource: unknown, opts: MatchOptions, prefix: string[] = []): boolean {
  switch (node.kind) {
    case "and":
      return matchesFilter(node.left, resource, opts, prefix) && matchesFilter(node.right, resource, opts, prefix);
    case "or":
      return matchesFilter(node.left, resource, opts, prefix) || matchesFilter(node.right, resource, opts, prefix);
    case "not":
      return !matchesFilter(node.expr, resource, opts, prefix);
    case "present":
      return resolve(resource, node.path).some((v) => v !== "" && !(Array.isArray(v) && v.length === 0));
    case "valuePath":
      return resolve(resource, node.path).some((el) => matchesFilter(node.filter, el, opts, [...prefix, ...node.path]));
    case "compare": {
      const exact = opts.caseExact([...prefix, ...node.path].join("."));
      const values = resolve(resource, node.path);
      const expected = node.value;
      if (expected === null) return node.op === "eq" ? values.length === 0 : node.op === "ne" ? values.length > 0 : false;
      if (node.op === "ne") return !values.some((v) => compare(v, "eq", expected, exact));
      return values.some((v) => compare(v, node.op, expected, exact));
    }
  }
}
