/**
 * Distinguished names and filter values for the LDAP adapter: escaping (RFC 4514 §2.4 for DN attribute
 * values, RFC 4515 §3 for filter assertion values), parsing (RFC 4514 §3) and the normal form in which the
 * adapter compares DNs (group members, entitlement keys, the placeholder member).
 *
 * ldapts 8.x has a filter escaper (Filter#escape: `*`, `(`, `)`, `\`, NUL as `\XX`, exactly RFC 4515 §3's
 * list), used here. Its DN builder (RDN#toString) is not used: it wraps values with a leading or trailing
 * space in double quotes (an RFC 1779 form RFC 4514 dropped) and leaves NUL unescaped; and ldapts has no
 * DN parser. Both are written here instead.
 */
import { PresenceFilter } from "ldapts";

/** A DN string that does not parse by RFC 4514 §3. `position` is the 0-based offset of the problem. */
export class DnSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = "DnSyntaxError";
  }
}

/** One attributeTypeAndValue of an RDN (RFC 4514 §3). */
export interface Ava {
  /** the attribute type as written (a descr such as "uid" or a numericoid) */
  type: string;
  /** the decoded value (escapes resolved) of a string value */
  value: string;
  /** for a `#`-prefixed hexstring value (RFC 4514 §2.4, the BER encoding): the hex digits, lower case */
  hex?: string;
}

/** A relative distinguished name: one or more AVAs joined by `+` (RFC 4514 §3). */
export type Rdn = Ava[];

/** RFC 4514 §2.4: characters escaped with a backslash wherever they occur (plus `=`, allowed by §3). */
const ALWAYS_ESCAPED = new Set(['"', "+", ",", ";", "<", ">", "\\", "="]);

/**
 * Escape an attribute value for use in a DN string (RFC 4514 §2.4): `"` `+` `,` `;` `<` `>` `\` (and `=`,
 * which §3 allows escaping) get a backslash; a leading SPACE or `#` and a trailing SPACE get a backslash;
 * NUL and the other control characters (U+0000-U+001F, U+007F) become `\XX` hex pairs. Everything else,
 * non-ASCII included, stays as it is (the DN is sent as UTF-8).
 * @param value the raw value, e.g. `Smith, John` → `Smith\, John`; `#1 ` → `\#1\ `
 * @returns the escaped value; "" for ""
 */
export function escapeDnValue(value: string): string {
  const chars = [...value];
  let out = "";
  chars.forEach((c, i) => {
    const code = c.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0").toUpperCase()}`;
    else if (ALWAYS_ESCAPED.has(c)) out += `\\${c}`;
    else if (i === 0 && (c === " " || c === "#")) out += `\\${c}`;
    else if (i === chars.length - 1 && c === " ") out += "\\ ";
    else out += c;
  });
  return out;
}

/**
 * Escape an assertion value for use in a string filter (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL become
 * `\2a`, `\28`, `\29`, `\5c`, `\00`; other characters stay (UTF-8). Delegates to ldapts's Filter#escape.
 * @example `(uid=${escapeFilterValue("*)(uid=*")})` → `(uid=\2a\29\28uid=\2a)`
 */
export function escapeFilterValue(value: string): string {
  return new PresenceFilter().escape(value);
}

const HEX = /^[0-9a-fA-F]{2}$/;
const TYPE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)$/;

/**
 * Parse a DN string (RFC 4514 §3) into its RDNs, first (leftmost, most specific) first. Accepted: string
 * values with `\<special>` and `\XX` escapes (hex pairs are decoded as UTF-8), `#hexstring` values, spaces
 * around `,` `+` `=` (as servers and people write them; RFC 4514 §3 lets implementations accept them).
 * The empty string is the empty DN (no RDNs).
 * @throws DnSyntaxError for anything else: a missing `=`, a bad attribute type, a dangling or bad escape,
 *   an unescaped `"` `;` `<` `>`, bad hex, invalid UTF-8
 */
export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  let i = 0;
  const n = dn.length;
  const skipSpaces = () => {
    while (i < n && dn[i] === " ") i++;
  };
  skipSpaces();
  if (i === n) return rdns;
  let rdn: Rdn = [];
  for (;;) {
    // attributeType
    skipSpaces();
    const typeStart = i;
    while (i < n && dn[i] !== "=" && dn[i] !== "," && dn[i] !== "+") i++;
    const type = dn.slice(typeStart, i).trim();
    if (dn[i] !== "=") throw new DnSyntaxError(`expected "=" after attribute type at ${i}`, i);
    if (!TYPE.test(type)) throw new DnSyntaxError(`invalid attribute type "${type}" at ${typeStart}`, typeStart);
    i++; // "="
    skipSpaces();
    const ava: Ava = { type, value: "" };
    if (dn[i] === "#") {
      const start = ++i;
      while (i < n && /[0-9a-fA-F]/.test(dn[i]!)) i++;
      const hex = dn.slice(start, i);
      if (hex.length === 0 || hex.length % 2 !== 0) throw new DnSyntaxError(`invalid hexstring at ${start}`, start);
      ava.hex = hex.toLowerCase();
      ava.value = `#${ava.hex}`;
      skipSpaces();
    } else {
      const bytes: number[] = [];
      // index in `bytes` after the last escaped or non-space character: unescaped trailing spaces are dropped
      let significantEnd = 0;
      while (i < n && dn[i] !== "," && dn[i] !== "+") {
        const c = dn[i]!;
        if (c === "\\") {
          const next = dn[i + 1];
          if (next === undefined) throw new DnSyntaxError(`dangling "\\" at ${i}`, i);
          if (HEX.test(dn.slice(i + 1, i + 3))) {
            bytes.push(parseInt(dn.slice(i + 1, i + 3), 16));
            i += 3;
          } else if ('"+,;<>\\ #='.includes(next)) {
            bytes.push(next.charCodeAt(0));
            i += 2;
          } else {
            throw new DnSyntaxError(`invalid escape "\\${next}" at ${i}`, i);
          }
          significantEnd = bytes.length;
          continue;
        }
        if (c === '"' || c === ";" || c === "<" || c === ">" || c === "\0") throw new DnSyntaxError(`unescaped ${JSON.stringify(c)} at ${i}`, i);
        const cp = dn.codePointAt(i)!;
        const chunk = String.fromCodePoint(cp);
        bytes.push(...Buffer.from(chunk, "utf8"));
        if (c !== " ") significantEnd = bytes.length;
        i += chunk.length;
      }
      try {
        ava.value = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes.slice(0, significantEnd)));
      } catch {
        throw new DnSyntaxError(`value is not valid UTF-8 before ${i}`, i);
      }
    }
    rdn.push(ava);
    if (i === n) {
      rdns.push(rdn);
      return rdns;
    }
    if (dn[i] === "+") {
      i++;
      continue;
    }
    if (dn[i] === ",") {
      rdns.push(rdn);
      rdn = [];
      i++;
      continue;
    }
    throw new DnSyntaxError(`unexpected ${JSON.stringify(dn[i])} at ${i}`, i);
  }
}

/**
 * Format RDNs back to an RFC 4514 string (values escaped by {@link escapeDnValue}; hexstring values as
 * `#hex`). parseDn(formatDn(x)) deep-equals x.
 */
export function formatDn(rdns: Rdn[]): string {
  return rdns.map((rdn) => rdn.map((a) => `${a.type}=${a.hex !== undefined ? `#${a.hex}` : escapeDnValue(a.value)}`).join("+")).join(",");
}

/**
 * The normal form of a DN for comparisons: attribute types lower-cased; string values NFKC-normalised,
 * lower-cased and with insignificant spaces removed (leading and trailing spaces dropped, inner runs folded
 * to one: the caseIgnoreMatch preparation of RFC 4518 §2, which is what uid, cn, ou, dc and o use); AVAs of a
 * multi-valued RDN sorted by type; re-escaped by {@link formatDn}. So `UID=Alice , OU=People` and
 * `uid=alice,ou=people` and `uid=\41lice,ou=people` compare equal. Numeric OIDs are not mapped to names.
 * @throws DnSyntaxError when `dn` does not parse
 */
export function normalizeDn(dn: string): string {
  return formatDn(
    parseDn(dn).map((rdn) =>
      rdn
        .map((a) => ({
          type: a.type.toLowerCase(),
          value: a.hex !== undefined ? a.value : a.value.normalize("NFKC").toLowerCase().trim().replace(/ +/g, " "),
          hex: a.hex,
        }))
        .sort((x, y) => (x.type < y.type ? -1 : x.type > y.type ? 1 : x.value < y.value ? -1 : x.value > y.value ? 1 : 0)),
    ),
  );
}

/** True when a and b name the same entry by {@link normalizeDn}. @throws DnSyntaxError when either does not parse */
export function dnEquals(a: string, b: string): boolean {
  return normalizeDn(a) === normalizeDn(b);
}

/**
 * True when `dn` is `base` or lies below it (its last RDNs equal base's RDNs, compared normalised).
 * @throws DnSyntaxError when either does not parse
 */
export function isWithin(dn: string, base: string): boolean {
  const d = parseDn(normalizeDn(dn));
  const b = parseDn(normalizeDn(base));
  if (b.length > d.length) return false;
  return formatDn(d.slice(d.length - b.length)) === formatDn(b);
}

/** `<rdnAttribute>=<escaped value>,<parent>`: the DN of an entry named `value` below `parent` (RFC 4514 §2). */
export function childDn(rdnAttribute: string, value: string, parent: string): string {
  return parent ? `${rdnAttribute}=${escapeDnValue(value)},${parent}` : `${rdnAttribute}=${escapeDnValue(value)}`;
}
