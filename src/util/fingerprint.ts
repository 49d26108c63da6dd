/**
 * A configuration's fingerprint: the SHA-256 (hex) of its canonical JSON, so that the same settings give
 * the same key whatever the order of their keys. Connectors key their pools and sessions by it (EPP,
 * LDAP, SQL): a changed configuration row gets a new pool, an unchanged one keeps its own.
 */
import { createHash } from "node:crypto";

/** JSON with object keys sorted and undefined members left out (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** SHA-256 (hex) of {@link canonicalJson}(v). */
export function fingerprint(v: unknown): string {
  return createHash("sha256").update(canonicalJson(v)).digest("hex");
}
