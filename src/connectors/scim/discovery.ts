/**
 * The SCIM connector's discoverAccounts (src/connectors/capabilities/account.ts): every account of the
 * service, page by page, with the request's entitlement keys each one holds. Read-only: GETs only.
 *
 * 1. Membership first, each Group once: every distinct key of `request.entitlementKeys` is resolved the
 *    way applyDesiredState resolves it (groups.ts: the Group's id, or with groupKey "displayName" a
 *    `GET /Groups?filter=displayName eq "<key>"`), then the Group is read with
 *    `GET /Groups/<id>?attributes=members` (RFC 7644 §3.4.1, §3.4.2.5) and its members' `value`s (User
 *    ids; RFC 7643 §4.2) give a map user id -> keys. Two keys naming one Group share one read. Only direct
 *    members count, as applyDesiredState's grant counts them: a User that belongs through a nested Group
 *    is not reported as holding the key. A Group that does not exist (404, or no Group with the
 *    displayName) holds nobody; a displayName that names several Groups fails the pass
 *    (PV_SCIM_AMBIGUOUS), because reporting nobody would be wrong.
 * 2. Then the Users, by index (RFC 7644 §3.4.2.4): `GET /Users?startIndex=<i>&count=<pageSize>
 *    &attributes=userName,active` (id is always returned, RFC 7643 §7), from startIndex 1; the next
 *    startIndex is this one plus the number of Resources the page held (a server may return fewer than
 *    `count`: itemsPerPage is only what it says it did). The listing ends when a page holds no Resources or
 *    the next startIndex is past `totalResults`; a server without totalResults is read until an empty
 *    page. Every account is yielded once, by SCIM id: one that shows up again on a later page (the list
 *    moved under the cursor) is skipped; a non-empty page holding only accounts already yielded means the
 *    server does not honour startIndex, and the pass fails (PV_SCIM_PROTOCOL) rather than end early or
 *    loop. A server page larger than pageSize is yielded in slices of pageSize; an empty slice is never
 *    yielded.
 *
 * Each request goes through ScimClient.request: 429/503 wait for Retry-After (or back off) within the
 * config's maxRetries and maxRetryWaitMs, a GET whose connection dropped or timed out is retried, and
 * what is left is thrown: ScimTransientError (429/503 after the waits, 5xx, timeouts, connections),
 * ScimPermanentError PV_SCIM_AUTH (401/403). A list or Group read refused with another 4xx is a
 * ScimPermanentError PV_SCIM_REJECTED; an answer without a Resources array, or a User without a string id
 * and userName, PV_SCIM_PROTOCOL. An error ends the iteration after the pages already yielded: the
 * caller must treat that pass as partial.
 */
import type { Logger } from "../../logger.js";
import type { DiscoveredAccount, DiscoveryRequest } from "../capabilities/account.js";
import type { ScimClient, ScimListResponse } from "./client.js";
import { ScimHttpError, ScimPermanentError } from "./errors.js";
import { resolveGroupKeys } from "./groups.js";

/** The attributes of a listed User that discovery reads (RFC 7643 §4.1). */
interface ListedUser {
  id?: unknown;
  userName?: unknown;
  active?: unknown;
}

/**
 * List every account (module doc).
 * @param groupKey what an entitlement key names (connector config `groupKey`)
 * @param request `entitlementKeys` (duplicates reported once), `pageSize` (an integer of at least 1: the
 *   SCIM `count`, and the most accounts one yielded page holds)
 * @returns pages of accounts: `{ userIdInApp: userName, nativeId: id, active, entitlements }`
 * @throws RangeError for a bad pageSize; the errors of the module doc
 */
export async function* discoverScimAccounts(
  client: ScimClient,
  groupKey: "id" | "displayName",
  request: DiscoveryRequest,
  log: Logger,
): AsyncGenerator<DiscoveredAccount[], void, undefined> {
  const pageSize = request.pageSize;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`discoverAccounts: pageSize must be an integer of at least 1, got ${pageSize}`);
  const holders = await readHolders(client, groupKey, [...new Set(request.entitlementKeys)], log);

  const seen = new Set<string>();
  let startIndex = 1;
  for (;;) {
    const page = await readPage(client, startIndex, pageSize);
    const resources = page.Resources ?? [];
    log.debug({ startIndex, count: pageSize, resources: resources.length, totalResults: page.totalResults }, "scim discovery: page of Users");
    if (resources.length === 0) return;

    const fresh: DiscoveredAccount[] = [];
    for (const u of resources) {
      if (typeof u?.id !== "string" || !u.id || typeof u.userName !== "string") {
        throw new ScimPermanentError(
          "PV_SCIM_PROTOCOL",
          `GET /Users (startIndex ${startIndex}): a User without a string id and userName (RFC 7643 §3.1, §4.1)`,
          { method: "GET", path: "/Users", status: 200 },
        );
      }
      if (seen.has(u.id)) continue;
      seen.add(u.id);
      fresh.push({ userIdInApp: u.userName, nativeId: u.id, active: u.active !== false, entitlements: holders.get(u.id) ?? [] });
    }
    if (fresh.length === 0) {
      throw new ScimPermanentError(
        "PV_SCIM_PROTOCOL",
        `GET /Users (startIndex ${startIndex}): every one of the ${resources.length} Users on this page was already listed: the server does not honour startIndex (RFC 7644 §3.4.2.4), so the listing cannot be completed`,
        { method: "GET", path: "/Users", status: 200 },
      );
    }
    for (let i = 0; i < fresh.length; i += pageSize) yield fresh.slice(i, i + pageSize);

    startIndex += resources.length;
    if (typeof page.totalResults === "number" && startIndex > page.totalResults) return;
  }
}

/**
 * One page of Users (RFC 7644 §3.4.2.4), checked to be a ListResponse.
 * @throws ScimPermanentError PV_SCIM_REJECTED (a 4xx other than 401/403/429), PV_SCIM_PROTOCOL (no body,
 *   or Resources that is not an array); the client's errors
 */
async function readPage(client: ScimClient, startIndex: number, count: number): Promise<ScimListResponse<ListedUser>> {
  let page: ScimListResponse<ListedUser> | undefined;
  try {
    page = await client.request<ScimListResponse<ListedUser>>("GET", "/Users", { query: { startIndex, count, attributes: "userName,active" } });
  } catch (err) {
    if (err instanceof ScimHttpError) throw new ScimPermanentError("PV_SCIM_REJECTED", `listing the accounts: ${err.message}`, err.info, { cause: err });
    throw err;
  }
  if (page === null || typeof page !== "object" || (page.Resources !== undefined && !Array.isArray(page.Resources))) {
    throw new ScimPermanentError(
      "PV_SCIM_PROTOCOL",
      `GET /Users (startIndex ${startIndex}): the answer is not a ListResponse with a Resources array (RFC 7644 §3.4.2)`,
      { method: "GET", path: "/Users", status: 200 },
    );
  }
  return page;
}

/**
 * user id -> the keys (in `keys` order) whose Group lists it as a member, each Group read once.
 * @throws ScimPermanentError PV_SCIM_AMBIGUOUS (a displayName naming several Groups), PV_SCIM_REJECTED (a
 *   Group lookup or read refused with a 4xx other than 404); the client's errors
 */
async function readHolders(client: ScimClient, groupKey: "id" | "displayName", keys: string[], log: Logger): Promise<Map<string, string[]>> {
  const refs = await resolveGroupKeys(client, groupKey, keys);
  const membersOf = new Map<string, Set<string>>();
  const holders = new Map<string, string[]>();
  for (const key of keys) {
    const ref = refs.get(key)!;
    if ("error" in ref) {
      if (ref.error.status === 404) {
        log.warn({ key }, "scim discovery: no Group for this entitlement key; nobody holds it");
        continue;
      }
      const http = { method: "GET", path: "/Groups", status: ref.error.status };
      if (ref.error.status === 409) throw new ScimPermanentError("PV_SCIM_AMBIGUOUS", `entitlement ${JSON.stringify(key)}: ${ref.error.message}`, http);
      throw new ScimPermanentError("PV_SCIM_REJECTED", `entitlement ${JSON.stringify(key)}: ${ref.error.message}`, http);
    }
    let members = membersOf.get(ref.id);
    if (!members) {
      members = await readMembers(client, ref.id, key, log);
      membersOf.set(ref.id, members);
    }
    for (const id of members) {
      const held = holders.get(id);
      if (held) held.push(key);
      else holders.set(id, [key]);
    }
  }
  return holders;
}

/**
 * The member values of Group `id` (`GET /Groups/<id>?attributes=members`; duplicates, as a sloppy server
 * keeps them, collapse). A Group that is not there (404) has none.
 * @throws ScimPermanentError PV_SCIM_REJECTED (another 4xx), PV_SCIM_PROTOCOL (members not a list); the client's errors
 */
async function readMembers(client: ScimClient, id: string, key: string, log: Logger): Promise<Set<string>> {
  const path = `/Groups/${encodeURIComponent(id)}`;
  let group: { members?: unknown } | undefined;
  try {
    group = await client.request<{ members?: unknown }>("GET", path, { query: { attributes: "members" } });
  } catch (err) {
    if (!(err instanceof ScimHttpError)) throw err;
    if (err.status === 404) {
      log.warn({ key, group: id }, "scim discovery: the entitlement's Group does not exist; nobody holds it");
      return new Set();
    }
    throw new ScimPermanentError("PV_SCIM_REJECTED", `entitlement ${JSON.stringify(key)}: reading its Group: ${err.message}`, err.info, { cause: err });
  }
  const members = group?.members ?? [];
  if (!Array.isArray(members)) {
    throw new ScimPermanentError("PV_SCIM_PROTOCOL", `GET ${path}: members is not a list (RFC 7643 §4.2)`, { method: "GET", path, status: 200 });
  }
  const out = new Set<string>();
  for (const m of members as unknown[]) {
    const value = m !== null && typeof m === "object" ? (m as { value?: unknown }).value : undefined;
    if (typeof value === "string" && value) out.add(value);
  }
  return out;
}
