/**
 * The LDAP adapter's discovery listing (LdapConnector.discoverAccounts, contract in
 * src/connectors/capabilities/account.ts): every account below `usersDN`, a page at a time, with the
 * entitlements (group DNs) of the request it holds. Read-only: it sends searches and nothing else.
 *
 * 1. Membership: each distinct entitlement key (compared as normalised DNs, dn.ts normalizeDn) is read once
 *    before the listing, by a base search with (objectClass=<groupObjectClass>) returning its
 *    `memberAttribute` values: exactly what applyDesiredState reads to decide "already" (connector.ts
 *    readGroup), so a discovery pass and a later grant or revoke agree on who holds what. memberOf (RFC
 *    2307bis, OpenLDAP's memberof overlay) is not used: it exists only where an overlay or plugin maintains
 *    it, is configured for one group class and member attribute (not necessarily groupObjectClass and
 *    memberAttribute), and misses memberships written before it was enabled. A key that is not a DN, names
 *    no entry (32, or 34 from the server), or names an entry that is not a group is held by nobody (and
 *    logged); any other failure reading a group ends the pass (thrown: a guess would be reported as fact).
 * 2. Accounts: a one-level search below `usersDN` (accounts are `<rdnAttribute>=<userIdInApp>,<usersDN>`,
 *    connector.ts accountDnOf, so entries deeper down are not the adapter's) with the filter
 *    `(&(objectClass=<objectClasses[0]>)(<rdnAttribute>=*))` (values escaped by RFC 4515 §3), sent with the
 *    simple paged results control (RFC 2696, `pageSize` = request.pageSize) through ldapts's
 *    Client#searchPaginated, which sends one request per page and yields each page as it arrives. Only the
 *    structural class the adapter gives new accounts is required: an account made elsewhere without the
 *    auxiliary classes is still one applyDesiredState manages.
 * 3. Each entry becomes a DiscoveredAccount: userIdInApp is the value of `rdnAttribute` in the entry's own
 *    RDN (RFC 4514 §3, escapes decoded), kept only when accountDnOf(userIdInApp) names the entry again
 *    (compared normalised), i.e. when applyDesiredState with that id reads this very entry; entries named
 *    otherwise (`cn=...`, a multi-valued RDN, a `#hex` value) are left out and logged. nativeId is the
 *    entryUUID (RFC 4530), else the DN, as applyDesiredState returns it; `active` is false when the
 *    `disable` attribute holds the configured value (compared case-insensitively, as applyDesiredState
 *    reads it); entitlements are the request's keys, as given, whose group lists the entry's DN
 *    (normalised on both sides).
 * 4. The entry the connector binds as (bindDN, compared normalised) is left out: applyDesiredState refuses
 *    to manage it (PV_LDAP_RESERVED, reserved.ts), and the account contract leaves reserved accounts out.
 *
 * Connection: the listing runs on a connection of its own (pool.ts LdapClientPool.lease), because the
 * server ties a paged search's cookie to the connection and OpenLDAP keeps one paged search per
 * connection: a paged search of applyDesiredState (readHoldings) or of another pass on the shared
 * connection would invalidate this one's cookie (protocolError 2). The connection is never bound again
 * mid-pass (a new one could not continue the search, and ldapts would reconnect anonymously): a lost
 * connection ends the pass with a TransientError. It is released when the iteration ends (completed,
 * thrown, or the consumer's `return()`, e.g. `break` in `for await`), and also when the consumer waits
 * longer than `timeouts.idleMs` for the next page (asking for it then throws TransientError).
 */
import { EqualityFilter, type Client, type Entry, type SearchResult } from "ldapts";
import { PermanentError, ProvisioError, TransientError } from "../../errors.js";
import type { DiscoveredAccount, DiscoveryRequest } from "../capabilities/account.js";
import type { CommandContext } from "../types.js";
import type { LdapConfig } from "./config.js";
import { childDn, escapeFilterValue, normalizeDn, parseDn } from "./dn.js";
import { normOrRaw, values } from "./entries.js";
import { LDAP, messageOf, resultCodeOf, toProvisioError } from "./errors.js";
import type { LdapLease } from "./pool.js";
import { reservedNorm } from "./reserved.js";

/** Group entries read at once before the listing (LDAP multiplexes requests on one connection, RFC 4511 §5.1). */
const GROUP_READ_CONCURRENCY = 8;
/** How many left-out entries a pass names in its log line. */
const SKIPPED_LOGGED = 5;

/** One entitlement key of the request and the normalised DNs its group lists as members. */
interface Holding {
  key: string;
  members: ReadonlySet<string>;
}

/**
 * Check a discovery request's page size: an integer of at least 1 (the contract's; RFC 2696 §2 `size` is
 * an INTEGER (0 .. maxInt)).
 * @throws PermanentError PV_INTERNAL otherwise (a caller's bug: the application table keeps 1 .. 10000)
 */
export function checkPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 2_147_483_647) {
    throw new PermanentError("PV_INTERNAL", `discovery pageSize must be an integer from 1 to 2147483647, got ${String(pageSize)}`);
  }
}

/** One discovery pass on a leased connection (see the module doc). */
export class DiscoveryRun {
  /** set when the idle timer released the lease while the consumer held a page */
  private idled = false;
  /** DNs of entries of the account class that applyDesiredState cannot address (left out) */
  private readonly skipped: string[] = [];
  private accounts = 0;
  private pageCount = 0;
  private readonly what: string;
  /** the bindDN, normalised: the reserved entry, never listed */
  private readonly bindNorm: string;

  constructor(
    private readonly s: LdapConfig,
    private readonly request: DiscoveryRequest,
    private readonly lease: LdapLease,
    private readonly ctx: CommandContext,
  ) {
    this.what = `list the accounts below ${s.usersDN}`;
    this.bindNorm = reservedNorm(s);
  }

  /**
   * The pages: each holds at most request.pageSize accounts, and a server page is never merged with the
   * next (a page may be smaller than pageSize when entries are left out). No page is yielded for a server
   * page with no account in it, so an empty directory yields no page at all.
   * @throws TransientError (connection lost, refused or timed out; LDAP 1, 3, 51, 52; the consumer idle
   *   longer than timeouts.idleMs; PV_LDAP_CLOSED when the connector is closed mid-pass), PermanentError
   *   (LDAP32 when usersDN does not exist; LDAP10 when the server answers with search references, which
   *   the adapter does not follow; `LDAP<code>` for any other refusal, e.g. 4 sizeLimitExceeded when the
   *   server limits how many entries the bind DN may page through, 50 insufficientAccessRights)
   */
  async *pages(): AsyncGenerator<DiscoveredAccount[], void, undefined> {
    const holdings = await this.readHoldings();
    const { pageSize } = this.request;
    const filter = `(&(objectClass=${escapeFilterValue(this.s.objectClasses[0]!)})(${this.s.rdnAttribute}=*))`;
    const attributes = ["entryUUID", ...(this.s.disable === "none" ? [] : [this.s.disable.attribute])];
    // searchPaginated checks the connection (reconnecting anonymously when it is down) only when it starts,
    // which happens synchronously in the first next(), right after connected() checked it; later pages are
    // sent on that same connection or fail with "Socket connection not established"
    const search = this.connected().searchPaginated(this.s.usersDN, { scope: "one", filter, attributes, paged: { pageSize } });
    try {
      for (;;) {
        let step: IteratorResult<SearchResult, void>;
        try {
          step = await search.next();
        } catch (err) {
          throw this.listingError(err);
        }
        if (step.done) break;
        const { searchEntries, searchReferences } = step.value;
        if (searchReferences.length > 0) {
          throw new PermanentError(
            `LDAP${LDAP.referral}`,
            `${this.what}: the server answered with search references (${searchReferences.slice(0, 3).join(", ")}), which the adapter does not follow: the listing would be incomplete`,
          );
        }
        const accounts = searchEntries.flatMap((e) => this.account(e, holdings) ?? []);
        for (let i = 0; i < accounts.length; i += pageSize) yield* this.hand(accounts.slice(i, i + pageSize));
      }
    } finally {
      await search.return(undefined).catch(() => undefined);
    }
    if (this.skipped.length > 0) {
      this.ctx.log.warn(
        {
          ldap: "discover",
          usersDN: this.s.usersDN,
          rdnAttribute: this.s.rdnAttribute,
          left_out: this.skipped.length,
          examples: this.skipped.slice(0, SKIPPED_LOGGED),
        },
        "LDAP entries below usersDN not named <rdnAttribute>=<value> were left out of the discovery listing",
      );
    }
    this.ctx.log.debug(
      { ldap: "discover", usersDN: this.s.usersDN, pages: this.pageCount, accounts: this.accounts, correlationId: this.ctx.correlationId },
      "LDAP account listing complete",
    );
  }

  /** Yield one page; while the consumer holds it, an idle timer of timeouts.idleMs runs (see the module doc). */
  private async *hand(page: DiscoveredAccount[]): AsyncGenerator<DiscoveredAccount[], void, undefined> {
    this.pageCount++;
    this.accounts += page.length;
    const timer = setTimeout(() => {
      this.idled = true;
      void this.lease.release();
    }, this.s.timeouts.idleMs);
    timer.unref();
    try {
      yield page;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The leased client, checked connected right before an operation (synchronously before it, so ldapts
   * never reconnects it anonymously).
   * @throws TransientError PV_LDAP_CLOSED (the connector was closed), PV_LDAP_CONNECTION (connection lost)
   */
  private connected(): Client {
    if (this.lease.released && !this.idled) throw new TransientError("PV_LDAP_CLOSED", `${this.what}: the LDAP connector was closed during the pass`);
    if (this.lease.released || !this.lease.client.isConnected) {
      throw new TransientError("PV_LDAP_CONNECTION", `${this.what}: the connection was lost during the pass (a paged search cannot go on over another one)`);
    }
    return this.lease.client;
  }

  /** The ProvisioError a failed page request becomes (see {@link pages}). */
  private listingError(err: unknown): ProvisioError {
    if (this.idled) {
      return new TransientError(
        "PV_LDAP_CONNECTION",
        `${this.what}: the next page was asked for more than timeouts.idleMs (${this.s.timeouts.idleMs} ms) after the previous one; its connection had been closed`,
        { cause: err },
      );
    }
    if (this.lease.released) return new TransientError("PV_LDAP_CLOSED", `${this.what}: the LDAP connector was closed during the pass`, { cause: err });
    if (resultCodeOf(err) === LDAP.noSuchObject) {
      return new PermanentError(`LDAP${LDAP.noSuchObject}`, `${this.what}: usersDN ${this.s.usersDN} does not exist (LDAP result 32: ${messageOf(err)})`, {
        cause: err,
      });
    }
    if (resultCodeOf(err) === LDAP.sizeLimitExceeded) {
      return new PermanentError(
        `LDAP${LDAP.sizeLimitExceeded}`,
        `${this.what}: LDAP result 4 sizeLimitExceeded after ${this.accounts} accounts: the server limits how many entries ${this.s.bindDN} may read, paged or not (OpenLDAP: limits ... size.prtotal=unlimited for that DN): ${messageOf(err)}`,
        { cause: err },
      );
    }
    return toProvisioError(err, this.what);
  }

  // ------------------------------------------------------------------ entitlements

  /**
   * The request's entitlement keys in their order, each exact string once, with the members of its group.
   * Keys naming the same group (normalised) share one read.
   */
  private async readHoldings(): Promise<Holding[]> {
    const keys: { key: string; norm: string }[] = [];
    const seen = new Set<string>();
    for (const key of this.request.entitlementKeys) {
      if (seen.has(key)) continue;
      seen.add(key);
      let norm: string;
      try {
        norm = normalizeDn(key);
      } catch (err) {
        this.ctx.log.warn({ ldap: "discover", entitlement: key, reason: messageOf(err) }, "LDAP entitlement key is not a DN (RFC 4514): no account holds it");
        continue;
      }
      if (norm === "") {
        this.ctx.log.warn({ ldap: "discover", entitlement: key }, "LDAP entitlement key is the empty DN: no account holds it");
        continue;
      }
      keys.push({ key, norm });
    }
    const groups = new Map<string, { key: string; members?: ReadonlySet<string> }>();
    for (const k of keys) if (!groups.has(k.norm)) groups.set(k.norm, { key: k.key });
    const queue = [...groups.values()];
    const worker = async () => {
      for (let g = queue.shift(); g; g = queue.shift()) g.members = await this.readMembers(g.key);
    };
    await Promise.all(Array.from({ length: Math.min(GROUP_READ_CONCURRENCY, queue.length) }, worker));
    return keys.map((k) => ({ key: k.key, members: groups.get(k.norm)!.members! }));
  }

  /**
   * The normalised member DNs of the group `dn`: a base search with (objectClass=<groupObjectClass>).
   * Empty when the entry does not exist (32), the server refuses its DN (34) or it is not a group.
   * @throws TransientError / PermanentError (errors.ts toProvisioError) for any other failure
   */
  private async readMembers(dn: string): Promise<ReadonlySet<string>> {
    try {
      const { searchEntries } = await this.connected().search(dn, {
        scope: "base",
        filter: new EqualityFilter({ attribute: "objectClass", value: this.s.groupObjectClass }),
        attributes: [this.s.memberAttribute],
      });
      const entry = searchEntries[0];
      if (!entry) {
        this.ctx.log.warn({ ldap: "discover", entitlement: dn }, `LDAP entitlement key is not a ${this.s.groupObjectClass} entry: no account holds it`);
        return new Set();
      }
      return new Set(values(entry, this.s.memberAttribute).map(normOrRaw));
    } catch (err) {
      const code = resultCodeOf(err);
      if (code === LDAP.noSuchObject || code === LDAP.invalidDNSyntax) {
        this.ctx.log.debug({ ldap: "discover", entitlement: dn, resultCode: code }, "LDAP group does not exist: no account holds it");
        return new Set();
      }
      throw err instanceof ProvisioError ? err : toProvisioError(err, `${this.what}: read group ${dn}`);
    }
  }

  // ------------------------------------------------------------------ accounts

  /**
   * The account an entry is, or undefined: when applyDesiredState cannot name it (remembered in `skipped`)
   * or when it is the reserved bindDN entry.
   */
  private account(entry: Entry, holdings: Holding[]): DiscoveredAccount | undefined {
    const userIdInApp = this.userIdOf(entry.dn);
    if (userIdInApp === undefined) {
      this.skipped.push(entry.dn);
      this.ctx.log.debug({ ldap: "discover", dn: entry.dn }, "LDAP entry below usersDN is not named <rdnAttribute>=<value>: left out");
      return undefined;
    }
    const norm = normOrRaw(entry.dn);
    if (norm === this.bindNorm) {
      this.ctx.log.debug({ ldap: "discover", dn: entry.dn }, "LDAP entry is the connector's bindDN (reserved): left out");
      return undefined;
    }
    const disable = this.s.disable;
    const disabled = disable !== "none" && values(entry, disable.attribute).some((v) => v.toLowerCase() === disable.value.toLowerCase());
    return {
      userIdInApp,
      nativeId: values(entry, "entryUUID")[0] ?? entry.dn,
      active: !disabled,
      entitlements: holdings.filter((h) => h.members.has(norm)).map((h) => h.key),
    };
  }

  /**
   * The value of rdnAttribute in the first RDN of `dn` (decoded, RFC 4514 §3) when
   * `<rdnAttribute>=<escaped value>,<usersDN>` names `dn` again; otherwise undefined.
   */
  private userIdOf(dn: string): string | undefined {
    try {
      const rdn = parseDn(dn)[0] ?? [];
      const ava = rdn.find((a) => a.type.toLowerCase() === this.s.rdnAttribute.toLowerCase() && a.hex === undefined);
      if (!ava || ava.value === "") return undefined;
      return normalizeDn(childDn(this.s.rdnAttribute, ava.value, this.s.usersDN)) === normalizeDn(dn) ? ava.value : undefined;
    } catch {
      return undefined;
    }
  }
}
