/**
 * LdapConnector.discoverAccounts (src/connectors/ldap/discovery.ts) against a real OpenLDAP started by the
 * test (test/helpers/slapd.ts): accounts made by applyDesiredState listed page by page (RFC 2696 paged
 * results), each once, with exact memberships, the disabled one inactive, hostile user ids listed exactly
 * and usable by applyDesiredState again, entitlement keys spelled otherwise still matched, entries the
 * adapter cannot name left out, nothing written; and the errors: the server stopping or refusing mid-listing,
 * an idle consumer, an unreachable server, a refused bind, a missing usersDN.
 */
import { Attribute, Change, type Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountDesiredState, DiscoveredAccount, DiscoveryRequest } from "../../../src/connectors/capabilities/account.js";
import { LdapConnector, accountDnOf } from "../../../src/connectors/ldap/connector.js";
import { dnEquals } from "../../../src/connectors/ldap/dn.js";
import type { LdapClientPool } from "../../../src/connectors/ldap/pool.js";
import { ConfigurationError, PermanentError, TransientError } from "../../../src/errors.js";
import { logger } from "../../../src/logger.js";
import { freePort } from "../../helpers/private-postgres.js";
import { SEED_PLACEHOLDER, startSlapd, type Slapd } from "../../helpers/slapd.js";

const PW_ENV = "PROVISIO_TEST_LDAP_DISCOVERY_PW";
const READER_PW_ENV = "PROVISIO_TEST_LDAP_READER_PW";
const READER_PW = "reader-pw-7";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The seven accounts of ou=disc, hostile ids included (RFC 4515 and RFC 4514 metacharacters). */
const INJECTION = "*)(uid=*";
const DN_SPECIALS = ',+"\\<>;=';
const UNICODE = "Ünï Cødé";
const HASH_SPACE = "#hash ";
const UIDS = ["alice", "bob", "carol", INJECTION, DN_SPECIALS, UNICODE, HASH_SPACE];

let slapd: Slapd;
let admin: Client;
let connector: LdapConnector;
/** the adapter configuration for ou=disc */
let cfg: Record<string, unknown>;
let usersDN: string;
let seq = 0;
/** the groups of ou=disc's accounts, an organizationalRole, a DN naming nothing */
let gA: string, gB: string, gC: string, role: string, ghost: string;
/** gB spelled with other case and spaces around the separators */
let gBspelled: string;
/** nativeId applyDesiredState returned per account */
const nativeIds = new Map<string, string>();

const ctx = () => ({ correlationId: `ldap-discovery-${++seq}`, attempt: 1, log: logger() });
const desired = (userIdInApp: string, over: Partial<AccountDesiredState> = {}): AccountDesiredState => ({
  userIdInApp,
  attributes: { userName: userIdInApp, email: null, displayName: null },
  ensureAccount: true,
  entitlementsToGrant: [],
  entitlementsToRevoke: [],
  deactivateWhenEmpty: false,
  ...over,
});
const disableAttr = () => (slapd.overlays.ppolicy ? "pwdAccountLockedTime" : "shadowExpire");
const poolOf = (c: LdapConnector) => (c as unknown as { pool: LdapClientPool }).pool;

/** Every page of a pass. */
async function collect(pages: AsyncIterable<DiscoveredAccount[]>): Promise<DiscoveredAccount[][]> {
  const out: DiscoveredAccount[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

/** The accounts of a pass by userIdInApp (failing on a duplicate). */
function byId(pages: DiscoveredAccount[][]): Record<string, DiscoveredAccount> {
  const all = pages.flat();
  const ids = all.map((a) => a.userIdInApp);
  expect(new Set(ids).size).toBe(ids.length);
  return Object.fromEntries(all.map((a) => [a.userIdInApp, a]));
}

async function members(groupDN: string): Promise<string[]> {
  const { searchEntries } = await admin.search(groupDN, { scope: "base", attributes: ["member"] });
  const m = searchEntries[0]?.member ?? [];
  return (Array.isArray(m) ? m : [m]).map(String);
}

async function newGroup(cn: string): Promise<string> {
  const dn = `cn=${cn},${slapd.groupsDN}`;
  await admin.add(dn, { objectClass: "groupOfNames", cn, member: SEED_PLACEHOLDER });
  return dn;
}

/** Every entry below the suffix with all user and operational attributes, sorted. */
async function snapshot(): Promise<string> {
  const { searchEntries } = await admin.search(slapd.baseDN, { scope: "sub", attributes: ["*", "+"], paged: { pageSize: 1000 } });
  return JSON.stringify(
    searchEntries
      .map((e) => Object.fromEntries(Object.entries(e).sort(([a], [b]) => a.localeCompare(b))))
      .sort((a, b) => String(a.dn).localeCompare(String(b.dn))),
  );
}

const request = (over: Partial<DiscoveryRequest> = {}): DiscoveryRequest => ({
  entitlementKeys: [gA, gBspelled, gC, ghost, "not a dn", role, "", gA],
  pageSize: 3,
  ...over,
});

beforeAll(async () => {
  slapd = await startSlapd({ groups: [] });
  admin = await slapd.admin();
  connector = new LdapConnector({ env: { [PW_ENV]: slapd.adminPassword, [READER_PW_ENV]: READER_PW } });
  usersDN = `ou=disc,${slapd.baseDN}`;
  await admin.add(usersDN, { objectClass: "organizationalUnit", ou: "disc" });
  cfg = {
    url: slapd.url,
    bindDN: slapd.adminDN,
    password_env: PW_ENV,
    usersDN,
    groupsDN: slapd.groupsDN,
    objectClasses: slapd.overlays.ppolicy ? ["inetOrgPerson"] : ["inetOrgPerson", "shadowAccount"],
    disable: slapd.overlays.ppolicy ? { attribute: "pwdAccountLockedTime", value: "000001010000Z" } : { attribute: "shadowExpire", value: "1" },
  };
  [gA, gB, gC] = [await newGroup("Disc-A"), await newGroup("Disc-B"), await newGroup("Disc-C")];
  gBspelled = `CN=disc-b , OU=GROUPS,  dc=Provisio ,DC=TEST`;
  ghost = `cn=ghost,${slapd.groupsDN}`;
  role = `cn=a-role,${slapd.groupsDN}`;
  await admin.add(role, { objectClass: "organizationalRole", cn: "a-role", roleOccupant: accountDnOf({ rdnAttribute: "uid", usersDN }, "alice") });

  const grants: Record<string, string[]> = {
    alice: [gA, gB],
    bob: [gB],
    carol: [gA],
    [INJECTION]: [gA, gC],
    [DN_SPECIALS]: [gC],
    [UNICODE]: [],
    [HASH_SPACE]: [gB],
  };
  for (const uid of UIDS) {
    const r = await connector.applyDesiredState(cfg, desired(uid, { entitlementsToGrant: grants[uid]! }), ctx());
    expect(r.success).toBe(true);
    nativeIds.set(uid, r.nativeId!);
  }
  // carol loses her only group and is disabled the way the adapter disables accounts
  const off = await connector.applyDesiredState(cfg, desired("carol", { ensureAccount: false, entitlementsToRevoke: [gA], deactivateWhenEmpty: true }), ctx());
  expect(off.operations.map((o) => `${o.op}:${o.outcome}`)).toEqual(["revoke:applied", "disable_account:applied"]);
  // bob's membership of gC written by someone else, with his DN spelled in another case and spacing
  const bobSpelled = `UID=BOB ,  OU=DISC,DC=provisio,DC=test`;
  await admin.modify(gC, new Change({ operation: "add", modification: new Attribute({ type: "member", values: [bobSpelled] }) }));
  // not accounts of ou=disc: another class below usersDN, an account one level deeper, one outside usersDN
  await admin.add(`cn=printer,${usersDN}`, { objectClass: "organizationalRole", cn: "printer" });
  await admin.add(`ou=nested,${usersDN}`, { objectClass: "organizationalUnit", ou: "nested" });
  await admin.add(`uid=nested,ou=nested,${usersDN}`, { objectClass: "inetOrgPerson", uid: "nested", cn: "nested", sn: "nested" });
  const outsider = await connector.applyDesiredState({ ...cfg, usersDN: slapd.peopleDN }, desired("outsider", { entitlementsToGrant: [gA] }), ctx());
  expect(outsider.success).toBe(true);
});

afterAll(async () => {
  await connector?.close();
  await admin?.unbind();
  await slapd?.stop();
});

/** What a pass over ou=disc with {@link request}'s keys must report, exactly. */
const expected = (): Record<string, DiscoveredAccount> => {
  const account = (uid: string, entitlements: string[], active = true): [string, DiscoveredAccount] => [
    uid,
    { userIdInApp: uid, nativeId: nativeIds.get(uid)!, active, entitlements },
  ];
  return Object.fromEntries([
    account("alice", [gA, gBspelled]),
    account("bob", [gBspelled, gC]),
    account("carol", [], false),
    account(INJECTION, [gA, gC]),
    account(DN_SPECIALS, [gC]),
    account(UNICODE, []),
    account(HASH_SPACE, [gBspelled]),
  ]);
};

describe("LDAP discovery: the listing", () => {
  it("lists the 7 accounts in pages of 3 (3, 3, 1), each once, with exact memberships, active flags and nativeIds", async () => {
    const pages = await collect(connector.discoverAccounts(cfg, request(), ctx()));
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(byId(pages)).toEqual(expected());
    for (const a of pages.flat()) expect(a.nativeId).toMatch(UUID);
    // the exact spellings of the request's keys, the group named twice once
    expect(pages.flat().find((a) => a.userIdInApp === "alice")!.entitlements).toEqual([gA, gBspelled]);
  });

  it("bob's membership written with another spelling of his DN counts (member values compared normalised)", async () => {
    const stored = await members(gC);
    const bobDN = accountDnOf({ rdnAttribute: "uid", usersDN }, "bob");
    expect(stored).not.toContain(bobDN);
    expect(stored.filter((m) => dnEquals(m, bobDN))).toHaveLength(1);
  });

  it("page size 1 gives seven pages of one; a page size over the count gives one page; the same accounts each time", async () => {
    const ones = await collect(connector.discoverAccounts(cfg, request({ pageSize: 1 }), ctx()));
    expect(ones.map((p) => p.length)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(byId(ones)).toEqual(expected());
    const one = await collect(connector.discoverAccounts(cfg, request({ pageSize: 500 }), ctx()));
    expect(one.map((p) => p.length)).toEqual([7]);
    expect(byId(one)).toEqual(expected());
  });

  it("without entitlement keys every account holds nothing; with the original spelling of gB it is reported so", async () => {
    const none = byId(await collect(connector.discoverAccounts(cfg, request({ entitlementKeys: [] }), ctx())));
    expect(Object.keys(none).sort()).toEqual([...UIDS].sort());
    for (const a of Object.values(none)) expect(a.entitlements).toEqual([]);
    const both = byId(await collect(connector.discoverAccounts(cfg, request({ entitlementKeys: [gB, gBspelled] }), ctx())));
    expect(both.alice!.entitlements).toEqual([gB, gBspelled]);
    expect(both[HASH_SPACE]!.entitlements).toEqual([gB, gBspelled]);
    expect(both.bob!.entitlements).toEqual([gB, gBspelled]);
    expect(both[INJECTION]!.entitlements).toEqual([]);
  });

  it("each userIdInApp is what applyDesiredState takes: applying it again changes nothing and gives the same nativeId", async () => {
    const listed = byId(await collect(connector.discoverAccounts(cfg, request(), ctx())));
    for (const uid of [INJECTION, DN_SPECIALS, UNICODE, HASH_SPACE]) {
      const a = listed[uid]!;
      const r = await connector.applyDesiredState(cfg, desired(a.userIdInApp, { entitlementsToGrant: a.entitlements }), ctx());
      expect(r.operations.map((o) => `${o.op}:${o.outcome}`)).toEqual(["create_account:already", ...a.entitlements.map(() => "grant:already")]);
      expect(r.nativeId).toBe(a.nativeId);
    }
  });

  it("writes nothing: the directory is the same after a pass", async () => {
    const before = await snapshot();
    await collect(connector.discoverAccounts(cfg, request(), ctx()));
    expect(await snapshot()).toBe(before);
  });

  it("leaves out entries applyDesiredState cannot name (another RDN attribute, a multi-valued RDN); disable 'none' reports every account active", async () => {
    const dn2 = `ou=disc2,${slapd.baseDN}`;
    await admin.add(dn2, { objectClass: "organizationalUnit", ou: "disc2" });
    const config = { ...cfg, usersDN: dn2, disable: "none" };
    const real = await connector.applyDesiredState(config, desired("real", { entitlementsToGrant: [gC] }), ctx());
    await admin.add(`uid=multi,${dn2}`, {
      objectClass: "inetOrgPerson",
      uid: ["multi", "alias"],
      cn: "m",
      sn: "m",
      [disableAttr()]: slapd.overlays.ppolicy ? "000001010000Z" : "1",
    });
    await admin.add(`cn=Named By Cn,${dn2}`, { objectClass: "inetOrgPerson", uid: "named", cn: "Named By Cn", sn: "n" });
    await admin.add(`uid=mv+cn=two,${dn2}`, { objectClass: "inetOrgPerson", uid: "mv", cn: "two", sn: "t" });
    const { searchEntries } = await admin.search(`uid=multi,${dn2}`, { scope: "base", attributes: ["entryUUID"] });
    const pages = await collect(connector.discoverAccounts(config, { entitlementKeys: [gC], pageSize: 10 }, ctx()));
    expect(byId(pages)).toEqual({
      real: { userIdInApp: "real", nativeId: real.nativeId, active: true, entitlements: [gC] },
      multi: { userIdInApp: "multi", nativeId: searchEntries[0]!.entryUUID, active: true, entitlements: [] },
    });
    // with the disable configured, the same entry is inactive
    const withDisable = byId(await collect(connector.discoverAccounts({ ...cfg, usersDN: dn2 }, { entitlementKeys: [], pageSize: 10 }, ctx())));
    expect(withDisable.multi!.active).toBe(false);
    expect(withDisable.real!.active).toBe(true);
  });

  it("leaves out the entry the connector binds as (bindDN, any spelling); bound as another DN it is listed; applyDesiredState refuses it", async () => {
    const dn3 = `ou=disc-svc,${slapd.baseDN}`;
    await admin.add(dn3, { objectClass: "organizationalUnit", ou: "disc-svc" });
    const svc = `uid=provisio,${dn3}`;
    await admin.add(svc, { objectClass: "inetOrgPerson", uid: "provisio", cn: "provisio", sn: "provisio", userPassword: READER_PW });
    await admin.modify(gA, new Change({ operation: "add", modification: new Attribute({ type: "member", values: [svc] }) }));
    const asAdmin = { ...cfg, usersDN: dn3 };
    const real = await connector.applyDesiredState(asAdmin, desired("real", { entitlementsToGrant: [gA] }), ctx());
    expect(real.success).toBe(true);
    const { searchEntries } = await admin.search(svc, { scope: "base", attributes: ["entryUUID"] });
    const keys = { entitlementKeys: [gA], pageSize: 1 };
    // bound as the rootdn, uid=provisio is an ordinary account of ou=disc-svc
    expect(byId(await collect(connector.discoverAccounts(asAdmin, keys, ctx())))).toEqual({
      real: { userIdInApp: "real", nativeId: real.nativeId, active: true, entitlements: [gA] },
      provisio: { userIdInApp: "provisio", nativeId: searchEntries[0]!.entryUUID, active: true, entitlements: [gA] },
    });
    // bound as uid=provisio (spelled otherwise), it is the connector's own entry: left out
    const asSvc = { ...asAdmin, bindDN: `UID=Provisio , OU=Disc-Svc,dc=provisio,DC=test`, password_env: READER_PW_ENV };
    const pages = await collect(connector.discoverAccounts(asSvc, keys, ctx()));
    expect(pages).toEqual([[{ userIdInApp: "real", nativeId: real.nativeId, active: true, entitlements: [gA] }]]);
    // and applyDesiredState does not manage it (refused before anything is read)
    await expect(connector.applyDesiredState(asSvc, desired("provisio", { ensureAccount: false, entitlementsToRevoke: [gA] }), ctx())).rejects.toMatchObject({
      code: "PV_LDAP_RESERVED",
      message: expect.stringContaining(svc),
    });
    expect((await members(gA)).some((m) => dnEquals(m, svc))).toBe(true);
    // leave gA as the listing tests expect it
    await admin.modify(
      gA,
      new Change({
        operation: "delete",
        modification: new Attribute({ type: "member", values: [svc, accountDnOf({ rdnAttribute: "uid", usersDN: dn3 }, "real")] }),
      }),
    );
  });

  it("an empty usersDN yields no page", async () => {
    const empty = `ou=empty,${slapd.baseDN}`;
    await admin.add(empty, { objectClass: "organizationalUnit", ou: "empty" });
    expect(await collect(connector.discoverAccounts({ ...cfg, usersDN: empty }, request(), ctx()))).toEqual([]);
  });
});

describe("LDAP discovery: its own connection", () => {
  it("a paged search on the shared connection (applyDesiredState) and another pass between two pages do not disturb it", async () => {
    // OpenLDAP keeps one paged search per connection: on a shared connection these would invalidate the cookie
    const it1 = connector.discoverAccounts(cfg, request({ pageSize: 2 }), ctx())[Symbol.asyncIterator]();
    try {
      const first = await it1.next();
      expect(first.done).toBe(false);
      // deactivateWhenEmpty makes applyDesiredState page through the groups holding alice (readHoldings)
      const r = await connector.applyDesiredState(cfg, desired("alice", { entitlementsToGrant: [gA], deactivateWhenEmpty: true }), ctx());
      expect(r.success).toBe(true);
      expect(byId(await collect(connector.discoverAccounts(cfg, request({ pageSize: 2 }), ctx())))).toEqual(expected());
      const pages = [first.value as DiscoveredAccount[]];
      for (let n = await it1.next(); !n.done; n = await it1.next()) pages.push(n.value);
      expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
      expect(byId(pages)).toEqual(expected());
      expect(poolOf(connector).leases).toBe(0);
    } finally {
      await it1.return?.();
    }
  });

  it("leaving the iteration early (break) releases the connection; before the first page none is opened", async () => {
    const pool = poolOf(connector);
    const pass = connector.discoverAccounts(cfg, request(), ctx());
    expect(pool.leases).toBe(0);
    for await (const page of pass) {
      expect(page).toHaveLength(3);
      expect(pool.leases).toBe(1);
      break;
    }
    expect(pool.leases).toBe(0);
  });

  it("a consumer that waits longer than timeouts.idleMs for the next page gets a TransientError; the connection was released", async () => {
    const pass = connector.discoverAccounts({ ...cfg, timeouts: { idleMs: 1_000 } }, request(), ctx())[Symbol.asyncIterator]();
    expect((await pass.next()).value).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 1_400));
    expect(poolOf(connector).leases).toBe(0);
    const err = await pass.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "PV_LDAP_CONNECTION", message: expect.stringContaining("idleMs") });
  });
});

describe("LDAP discovery: errors make the pass partial", () => {
  it("slapd stopped after the first page: asking for the next one throws a TransientError", async () => {
    const other = await startSlapd({ groups: ["g"] });
    const c = new LdapConnector({ env: { [PW_ENV]: other.adminPassword } });
    const config = { ...cfg, url: other.url, bindDN: other.adminDN, usersDN: other.peopleDN, groupsDN: other.groupsDN };
    try {
      for (const uid of ["u1", "u2", "u3", "u4", "u5"])
        expect((await c.applyDesiredState(config, desired(uid, { entitlementsToGrant: other.groups }), ctx())).success).toBe(true);
      const pass = c.discoverAccounts(config, { entitlementKeys: other.groups, pageSize: 2 }, ctx())[Symbol.asyncIterator]();
      const first = await pass.next();
      expect(first.value).toEqual([
        { userIdInApp: "u1", nativeId: expect.stringMatching(UUID), active: true, entitlements: other.groups },
        { userIdInApp: "u2", nativeId: expect.stringMatching(UUID), active: true, entitlements: other.groups },
      ]);
      await other.kill();
      const err = await pass.next().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect(err).toMatchObject({ retryable: true });
      expect(poolOf(c).leases).toBe(0);
      // a new pass once the server is back lists everything
      await other.restart();
      const pages = await collect(c.discoverAccounts(config, { entitlementKeys: [], pageSize: 2 }, ctx()));
      expect(pages.flat().map((a) => a.userIdInApp)).toEqual(["u1", "u2", "u3", "u4", "u5"]);
    } finally {
      await c.close();
      await other.stop();
    }
  });

  it("the server refusing mid-listing (its size limit for a non-root bind DN): the pages so far, then a PermanentError LDAP4", async () => {
    // OpenLDAP's default limits: a bind DN other than the rootdn may page through 500 entries in all
    const bulk = `ou=bulk,${slapd.baseDN}`;
    await admin.add(bulk, { objectClass: "organizationalUnit", ou: "bulk" });
    const reader = `uid=reader,${slapd.baseDN}`;
    await admin.add(reader, { objectClass: "inetOrgPerson", uid: "reader", cn: "reader", sn: "reader", userPassword: READER_PW });
    for (let i = 0; i < 520; i++) await admin.add(`uid=b${i},${bulk}`, { objectClass: "inetOrgPerson", uid: `b${i}`, cn: "b", sn: "b" });
    const config = { ...cfg, usersDN: bulk, bindDN: reader, password_env: READER_PW_ENV };
    const pages: DiscoveredAccount[][] = [];
    const err = await (async () => {
      for await (const page of connector.discoverAccounts(config, { entitlementKeys: [gA], pageSize: 100 }, ctx())) pages.push(page);
    })().catch((e: unknown) => e);
    expect(pages.map((p) => p.length)).toEqual([100, 100, 100, 100, 100]);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ code: "LDAP4", retryable: false, message: expect.stringContaining("size.prtotal") });
    // the rootdn has no limit: all 520
    const all = await collect(connector.discoverAccounts({ ...cfg, usersDN: bulk }, { entitlementKeys: [], pageSize: 100 }, ctx()));
    expect(all.map((p) => p.length)).toEqual([100, 100, 100, 100, 100, 20]);
    expect(new Set(all.flat().map((a) => a.userIdInApp))).toEqual(new Set(Array.from({ length: 520 }, (_, i) => `b${i}`)));
  });

  it("a port nobody listens on: a TransientError (ECONNREFUSED, configSuspect), thrown by the iteration, not the call", async () => {
    const port = await freePort();
    const pass = connector.discoverAccounts({ ...cfg, url: `ldap://127.0.0.1:${port}` }, request(), ctx());
    const err = await collect(pass).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "ECONNREFUSED", configSuspect: true });
  });

  it("a wrong password is a PermanentError LDAP49 (configSuspect); a missing usersDN a PermanentError LDAP32", async () => {
    const bad = new LdapConnector({ env: { [PW_ENV]: "wrong-password" } });
    try {
      const err = await collect(bad.discoverAccounts(cfg, request(), ctx())).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect(err).toMatchObject({ code: "LDAP49", configSuspect: true });
    } finally {
      await bad.close();
    }
    const missing = await collect(connector.discoverAccounts({ ...cfg, usersDN: `ou=missing,${slapd.baseDN}` }, request(), ctx())).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PermanentError);
    expect(missing).toMatchObject({ code: "LDAP32", message: expect.stringContaining("ou=missing") });
  });

  it("an invalid config is a ConfigurationError, a page size below 1 a PermanentError; after close() a PV_LDAP_CLOSED", async () => {
    await expect(collect(connector.discoverAccounts({ ...cfg, url: "https://x" }, request(), ctx()))).rejects.toThrow(ConfigurationError);
    await expect(collect(connector.discoverAccounts(cfg, request({ pageSize: 0 }), ctx()))).rejects.toMatchObject({ code: "PV_INTERNAL" });
    const c = new LdapConnector({ env: { [PW_ENV]: slapd.adminPassword } });
    const pass = c.discoverAccounts(cfg, request(), ctx())[Symbol.asyncIterator]();
    expect((await pass.next()).value).toHaveLength(3);
    await c.close();
    expect(poolOf(c).leases).toBe(0);
    const err = await pass.next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "PV_LDAP_CLOSED" });
    await expect(collect(c.discoverAccounts(cfg, request(), ctx()))).rejects.toMatchObject({ code: "PV_LDAP_CLOSED", retryable: true });
  });
});
