/**
 * Reading what ldapts returns for a search entry (its `Entry`: `dn` plus one property per attribute), shared
 * by the LDAP adapter's account run (connector.ts) and its discovery listing (discovery.ts).
 */
import type { Entry } from "ldapts";
import { normalizeDn } from "./dn.js";

/**
 * An attribute's values as strings, looked up case-insensitively (attribute descriptions are, RFC 4512
 * §2.5). A Buffer value is decoded as UTF-8; an attribute the entry lacks gives [].
 */
export function values(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const v = key === undefined ? undefined : entry[key];
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : x));
}

/**
 * A member value's normal form (dn.ts normalizeDn); a value that is not a DN is kept lower-cased behind an
 * `invalid:` prefix, so it matches nothing the adapter writes or looks for.
 */
export function normOrRaw(dn: string): string {
  try {
    return normalizeDn(dn);
  } catch {
    return `invalid:${dn.toLowerCase()}`;
  }
}
