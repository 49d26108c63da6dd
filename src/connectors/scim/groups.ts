/**
 * What an entitlement's native key names at a SCIM service, shared by applyDesiredState and
 * discoverAccounts (connector.ts, discovery.ts): a Group's `id` (groupKey "id", the default) or its
 * `displayName` (groupKey "displayName", looked up with `GET /Groups?filter=displayName eq "<key>"`,
 * RFC 7644 §3.4.2.2, and compared case-insensitively: RFC 7643 §4.2 displayName caseExact=false).
 */
import { eqFilter, type ScimClient } from "./client.js";
import { ScimHttpError } from "./errors.js";

/**
 * The Group a key resolved to, or why it did not: status 404 (no Group has the displayName), 409 (several
 * do) or the HTTP status of a refused lookup, with a message for result_data.
 */
export type GroupRef = { id: string } | { error: { status: number; message: string } };

/** Case-insensitive equality of caseExact=false attributes (userName, displayName: RFC 7643 §4.1.1, §4.2). */
export const fold = (s: string): string => s.normalize("NFC").toLowerCase();

/**
 * Each key's Group: the key itself with groupKey "id" (no request: whether it exists is learnt when it is
 * read or patched); looked up by displayName otherwise, one list request per key.
 * @returns a map with an entry for every key
 * @throws ScimTransientError / ScimPermanentError from the client (429/503 after retries, 5xx, 401/403,
 *   timeouts); a refused lookup (4xx) is returned as the key's error instead
 */
export async function resolveGroupKeys(client: ScimClient, groupKey: "id" | "displayName", keys: Iterable<string>): Promise<Map<string, GroupRef>> {
  const out = new Map<string, GroupRef>();
  for (const key of keys) {
    if (groupKey === "id") {
      out.set(key, { id: key });
      continue;
    }
    let found: { id: string; displayName?: string }[];
    try {
      found = await client.list("/Groups", { filter: eqFilter("displayName", key), attributes: "id,displayName" }, 100, 10);
    } catch (err) {
      if (!(err instanceof ScimHttpError)) throw err;
      out.set(key, { error: { status: err.status, message: `looking up the Group: ${err.message}` } });
      continue;
    }
    const matches = found.filter((g) => typeof g.displayName === "string" && fold(g.displayName) === fold(key));
    if (matches.length === 1) out.set(key, { id: matches[0]!.id });
    else if (matches.length === 0) out.set(key, { error: { status: 404, message: `no SCIM Group has displayName ${JSON.stringify(key)}` } });
    else out.set(key, { error: { status: 409, message: `${matches.length} SCIM Groups have displayName ${JSON.stringify(key)}` } });
  }
  return out;
}
