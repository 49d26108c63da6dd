/**
 * Entitlement keys (group DNs) whose RDN values hold RFC 4514 / RFC 4515 metacharacters, against a real
 * OpenLDAP (test/helpers/slapd.ts): groupOfNames entries below groupsDN named `*)(cn=*`, `a,b`, `a+b`,
 * `"q"`, `back\slash`, `;<>=`, `#lead`, ` lead space`, `trail space `, Unicode, ..., each key written by the
 * adapter's own escaper (dn.ts childDn) and also spelled otherwise but equivalently (every non-alphanumeric
 * character and every non-ASCII byte as a `\XX` hex pair, the attribute type upper-cased). For each:
 * applyDesiredState grants it (the account becomes a member of that group and of no other), a repeat in
 * either spelling is "already", discoverAccounts reports it held (each key spelled as given), a revoke
 * removes exactly that membership, and nothing else in the directory changes. Keys that are filter-injection
 * attempts naming no group fail that one operation and grant nothing.
 */
import type { Client, Entry } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountDesiredState, AccountResult, DiscoveredAccount } from "../../../src/connectors/capabilities/account.js";
import { LdapConnector, accountDnOf } from "../../../src/connectors/ldap/connector.js";
import { childDn, dnEquals, escapeFilterValue, normalizeDn, parseDn } from "../../../src/connectors/ldap/dn.js";
import { logger } from "../../../src/logger.js";
import { SEED_PLACEHOLDER, startSlapd, type Slapd } from "../../helpers/slapd.js";

const PW_ENV = "PROVISIO_TEST_LDAP_GROUP_KEYS_PW";

/** cn values of the hostile groups (each also a decoy for the others: `a,b` vs the literal text `a\2Cb`). */
const HOSTILE_CN = [
  "*)(cn=*",
  "a,b",
  "a\\2Cb",
  "a+b",
  '"q"',
  "back\\slash",
  ";<>=",
  "#lead",
  " lead space",
  "trail space ",
  "ünïcødé ✓",
  "x)(|(objectClass=*)",
] as const;

let slapd: Slapd;
let admin: Client;
let connector: LdapConnector;
let cfg: Record<string, unknown>;
let seq = 0;
/** per hostile cn: the key as the adapter's escaper writes it, the hex spelling, the group's entryUUID */
const groups = new Map<string, { key: string; hex: string; uuid: string }>();

const ctx = (dryRun?: boolean) => ({ correlationId: `ldap-group-keys-${++seq}`, attempt: 1, log: logger(), dryRun });
const desired = (userIdInApp: string, over: Partial<AccountDesiredState> = {}): AccountDesiredState => ({
  userIdInApp,
  attributes: { userName: userIdInApp, email: null, displayName: null },
  ensureAccount: true,
  entitlementsToGrant: [],
  entitlementsToRevoke: [],
  deactivateWhenEmpty: false,
  ...over,
});
const apply = (d: AccountDesiredState) => connector.applyDesiredState(cfg, d, ctx());
const outcomes = (r: AccountResult) => r.operations.map((o) => `${o.op}:${o.outcome}`);
const dnOf = (uid: string) => accountDnOf({ rdnAttribute: "uid", usersDN: slapd.peopleDN }, uid);
const disableAttr = () => (slapd.overlays.ppolicy ? "pwdAccountLockedTime" : "shadowExpire");

/**
 * The same DN, spelled otherwise: attribute type upper-cased, every character of the value that is not an
 * ASCII letter or digit written as `\XX` hex pairs of its UTF-8 bytes (RFC 4514 §2.4 allows any character
 * as hexpairs), e.g. `cn=a\,b` → `CN=a\2Cb`, `cn=\#lead` → `CN=\23lead`.
 */
function hexSpelling(cn: string): string {
  const value = [...cn]
    .map((c) => (/^[A-Za-z0-9]$/.test(c) ? c : [...Buffer.from(c, "utf8")].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, "0")}`).join("")))
    .join("");
  return `CN=${value},${slapd.groupsDN}`;
}

function list(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  const v = key === undefined ? [] : entry[key];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** Every groupOfNames in the directory with its entryUUID, DN as the server returns it, and member values. */
async function allGroups(): Promise<{ dn: string; uuid: string; members: string[] }[]> {
  const { searchEntries } = await admin.search(slapd.baseDN, {
    scope: "sub",
    filter: "(objectClass=groupOfNames)",
    attributes: ["member", "entryUUID"],
    paged: { pageSize: 1000 },
  });
  return searchEntries.map((e) => ({ dn: e.dn, uuid: list(e, "entryUUID")[0]!, members: list(e, "member") }));
}

/** entryUUIDs of the groups listing `uid`'s DN as a member, by two independent checks that must agree. */
async function groupsHolding(uid: string): Promise<string[]> {
  const byClient = (await allGroups()).filter((g) => g.members.some((m) => dnEquals(m, dnOf(uid)))).map((g) => g.uuid);
  const { searchEntries } = await admin.search(slapd.baseDN, {
    scope: "sub",
    filter: `(&(objectClass=groupOfNames)(member=${escapeFilterValue(dnOf(uid))}))`,
    attributes: ["entryUUID"],
  });
  const byServer = searchEntries.map((e) => list(e, "entryUUID")[0]!);
  expect(new Set(byServer)).toEqual(new Set(byClient));
  return byClient;
}

async function groupMembers(uuid: string): Promise<string[]> {
  return (await allGroups()).find((g) => g.uuid === uuid)!.members;
}

/**
 * Every entry below the suffix with all user and operational attributes (entryCSN, modifyTimestamp,
 * modifiersName: any write shows), keyed by entryUUID. hasSubordinates is left out: slapd derives it, and it
 * turns TRUE on ou=people when the first account is added below it.
 */
async function dump(): Promise<Map<string, string>> {
  const { searchEntries } = await admin.search(slapd.baseDN, { scope: "sub", attributes: ["*", "+"], paged: { pageSize: 1000 } });
  return new Map(
    searchEntries.map((e) => [
      list(e, "entryUUID")[0]!,
      JSON.stringify(
        Object.fromEntries(
          Object.entries(e)
            .filter(([k]) => k !== "hasSubordinates")
            .sort(([a], [b]) => a.localeCompare(b)),
        ),
      ),
    ]),
  );
}

/** entryUUIDs of the entries added, removed or changed (in any attribute, operational ones included) between two dumps. */
function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  const ids = new Set([...before.keys(), ...after.keys()]);
  return [...ids].filter((id) => before.get(id) !== after.get(id)).sort();
}

async function uuidOf(dn: string): Promise<string> {
  const { searchEntries } = await admin.search(dn, { scope: "base", attributes: ["entryUUID"] });
  return list(searchEntries[0]!, "entryUUID")[0]!;
}

async function discover(keys: string[]): Promise<Record<string, DiscoveredAccount>> {
  const out: Record<string, DiscoveredAccount> = {};
  for await (const page of connector.discoverAccounts(cfg, { entitlementKeys: keys, pageSize: 50 }, ctx())) {
    for (const a of page) out[a.userIdInApp] = a;
  }
  return out;
}

beforeAll(async () => {
  slapd = await startSlapd();
  admin = await slapd.admin();
  connector = new LdapConnector({ env: { [PW_ENV]: slapd.adminPassword } });
  cfg = {
    url: slapd.url,
    bindDN: slapd.adminDN,
    password_env: PW_ENV,
    usersDN: slapd.peopleDN,
    groupsDN: slapd.groupsDN,
    objectClasses: slapd.overlays.ppolicy ? ["inetOrgPerson"] : ["inetOrgPerson", "shadowAccount"],
    disable: slapd.overlays.ppolicy ? { attribute: "pwdAccountLockedTime", value: "000001010000Z" } : { attribute: "shadowExpire", value: "1" },
  };
  for (const cn of HOSTILE_CN) {
    const key = childDn("cn", cn, slapd.groupsDN);
    await admin.add(key, { objectClass: "groupOfNames", cn, member: SEED_PLACEHOLDER });
    groups.set(cn, { key, hex: hexSpelling(cn), uuid: await uuidOf(key) });
  }
});

afterAll(async () => {
  await connector?.close();
  await admin?.unbind();
  await slapd?.stop();
});

describe("LDAP adapter: group DNs with RFC 4514 / 4515 metacharacters as entitlement keys", () => {
  it("the keys are written as RFC 4514 says, and each names its own group on the server", async () => {
    // the escaper and the hex spelling, checked by hand for a few (so a broken escaper fails here, not only in slapd)
    expect(groups.get("a,b")!.key).toBe(`cn=a\\,b,${slapd.groupsDN}`);
    expect(groups.get("a,b")!.hex).toBe(`CN=a\\2Cb,${slapd.groupsDN}`);
    expect(groups.get("a\\2Cb")!.key).toBe(`cn=a\\\\2Cb,${slapd.groupsDN}`);
    expect(groups.get("#lead")!.key).toBe(`cn=\\#lead,${slapd.groupsDN}`);
    expect(groups.get(" lead space")!.key).toBe(`cn=\\ lead space,${slapd.groupsDN}`);
    expect(groups.get("trail space ")!.key).toBe(`cn=trail space\\ ,${slapd.groupsDN}`);
    expect(groups.get("*)(cn=*")!.key).toBe(`cn=*)(cn\\=*,${slapd.groupsDN}`);
    expect(groups.get("ünïcødé ✓")!.hex).toBe(`CN=\\C3\\BCn\\C3\\AFc\\C3\\B8d\\C3\\A9\\20\\E2\\9C\\93,${slapd.groupsDN}`);
    const uuids = new Set<string>();
    for (const [cn, g] of groups) {
      expect(parseDn(g.key)[0]).toEqual([{ type: "cn", value: cn }]);
      expect(parseDn(g.hex)[0]).toEqual([{ type: "CN", value: cn }]);
      expect(g.hex).not.toBe(g.key);
      expect(normalizeDn(g.hex)).toBe(normalizeDn(g.key));
      // the server resolves both spellings to the same, distinct entry
      expect(await uuidOf(g.hex)).toBe(g.uuid);
      uuids.add(g.uuid);
    }
    expect(uuids.size).toBe(HOSTILE_CN.length);
  });

  const cases = HOSTILE_CN.flatMap((cn, i) => (["escaped", "hex"] as const).map((spelling) => ({ cn, i, spelling })));

  it.each(cases)("group cn $cn, key spelled $spelling: grant, repeat, discover, revoke touch that group only", async ({ cn, i, spelling }) => {
    const g = groups.get(cn)!;
    const [key, other] = spelling === "escaped" ? [g.key, g.hex] : [g.hex, g.key];
    const uid = `gk-${i}-${spelling}`;
    const allKeys = [...groups.values()].flatMap((x) => [x.key, x.hex]);

    // grant: the account is created and becomes a member of exactly this group
    const before = await dump();
    const r = await apply(desired(uid, { entitlementsToGrant: [key] }));
    expect(r.success).toBe(true);
    expect(r.operations).toEqual([
      { op: "create_account", target: uid, outcome: "applied" },
      { op: "grant", target: key, outcome: "applied" },
    ]);
    const accountUuid = await uuidOf(dnOf(uid));
    expect(r.nativeId).toBe(accountUuid);
    expect(await groupsHolding(uid)).toEqual([g.uuid]);
    // the placeholder made way for the account: the group lists it alone
    expect((await groupMembers(g.uuid)).map(normalizeDn)).toEqual([normalizeDn(dnOf(uid))]);
    const granted = await dump();
    // the new account (memberOf on it when the overlay runs) and the group; nothing else
    expect(changed(before, granted)).toEqual([accountUuid, g.uuid].sort());

    // a repeat, in either spelling and in both at once, is all "already" and writes nothing
    for (const keys of [[key], [other], [key, other]]) {
      const again = await apply(desired(uid, { entitlementsToGrant: keys }));
      expect(outcomes(again)).toEqual(["create_account:already", "grant:already"]);
      expect(again.operations[1]!.target).toBe(keys[0]);
    }
    expect(changed(granted, await dump())).toEqual([]);

    // discovery: held under both spellings, each as given; none of the other groups' keys
    const found = await discover([...allKeys.filter((k) => k !== key && k !== other), other, key, `cn=*,${slapd.groupsDN}`]);
    expect(found[uid]).toEqual({ userIdInApp: uid, nativeId: accountUuid, active: true, entitlements: [other, key] });
    expect(changed(granted, await dump())).toEqual([]);

    // revoke (in this spelling): exactly that membership goes, the placeholder comes back, nothing else changes
    const rv = await apply(desired(uid, { ensureAccount: false, entitlementsToRevoke: [key] }));
    expect(rv.operations).toEqual([{ op: "revoke", target: key, outcome: "applied" }]);
    expect(await groupsHolding(uid)).toEqual([]);
    expect(await groupMembers(g.uuid)).toEqual([SEED_PLACEHOLDER]);
    const revoked = await dump();
    // memberOf (when the overlay runs) changes the account entry too
    expect(changed(granted, revoked)).toEqual(slapd.overlays.memberof ? [accountUuid, g.uuid].sort() : [g.uuid]);
    expect(outcomes(await apply(desired(uid, { ensureAccount: false, entitlementsToRevoke: [other] })))).toEqual(["revoke:already"]);
    expect(changed(revoked, await dump())).toEqual([]);
    expect((await discover([key, other]))[uid]?.entitlements).toEqual([]);

    // grant in the other spelling, then revoke with deactivateWhenEmpty: the groups the server lists as
    // holding the account (its own spelling of this DN) must be recognised as this key, or nothing is disabled
    expect(outcomes(await apply(desired(uid, { entitlementsToGrant: [other] })))).toEqual(["create_account:already", "grant:applied"]);
    expect(await groupsHolding(uid)).toEqual([g.uuid]);
    const last = await apply(desired(uid, { ensureAccount: false, entitlementsToRevoke: [key], deactivateWhenEmpty: true }));
    expect(outcomes(last)).toEqual(["revoke:applied", "disable_account:applied"]);
    expect(await groupsHolding(uid)).toEqual([]);
    const { searchEntries } = await admin.search(dnOf(uid), { scope: "base", attributes: [disableAttr()] });
    expect(list(searchEntries[0]!, disableAttr())).toEqual([slapd.overlays.ppolicy ? "000001010000Z" : "1"]);
  });

  it("an account in two hostile groups: revoking one (hex spelling) leaves the other; discovery tells them apart", async () => {
    const [ab, lit] = [groups.get("a,b")!, groups.get("a\\2Cb")!];
    const uid = "gk-two";
    expect(outcomes(await apply(desired(uid, { entitlementsToGrant: [ab.key, lit.hex] })))).toEqual([
      "create_account:applied",
      "grant:applied",
      "grant:applied",
    ]);
    expect((await groupsHolding(uid)).sort()).toEqual([ab.uuid, lit.uuid].sort());
    expect((await discover([lit.key, ab.hex, groups.get("a+b")!.key]))[uid]?.entitlements).toEqual([lit.key, ab.hex]);
    const before = await dump();
    expect(outcomes(await apply(desired(uid, { ensureAccount: false, entitlementsToRevoke: [ab.hex] })))).toEqual(["revoke:applied"]);
    expect(await groupsHolding(uid)).toEqual([lit.uuid]);
    const after = await dump();
    const accountUuid = await uuidOf(dnOf(uid));
    expect(changed(before, after)).toEqual(slapd.overlays.memberof ? [accountUuid, ab.uuid].sort() : [ab.uuid]);
    expect((await discover([lit.key, ab.hex, ab.key]))[uid]?.entitlements).toEqual([lit.key]);
  });

  const INJECTED = () => [
    `cn=*)(objectClass=*,${slapd.groupsDN}`,
    `cn=*,${slapd.groupsDN}`,
    `cn=*)(|(cn=*,${slapd.groupsDN}`,
    `cn=x)(member=*,${slapd.groupsDN}`,
    `cn=a\\2Cb*,${slapd.groupsDN}`,
    `cn=*\\2C,${slapd.groupsDN}`,
  ];

  it("keys that are filter-injection attempts naming no group fail that one operation (32), grant nothing, change nothing", async () => {
    const uid = "gk-inject";
    expect(outcomes(await apply(desired(uid)))).toEqual(["create_account:applied"]);
    const real = groups.get("*)(cn=*")!;
    const keys = INJECTED();
    const before = await dump();
    const r = await apply(desired(uid, { entitlementsToGrant: keys }));
    expect(r.success).toBe(false);
    expect(r.operations).toEqual([
      { op: "create_account", target: uid, outcome: "already" },
      ...keys.map((k) => ({ op: "grant", target: k, outcome: "failed", native_code: 32, message: `group ${k} does not exist` })),
    ]);
    expect(await groupsHolding(uid)).toEqual([]);
    expect(changed(before, await dump())).toEqual([]);
    // a dry run and revokes say the same, and write nothing either
    const dry = await connector.applyDesiredState(cfg, desired(uid, { entitlementsToGrant: keys }), ctx(true));
    expect(dry.operations.slice(1).map((o) => [o.outcome, o.native_code])).toEqual(keys.map(() => ["failed", 32]));
    const rv = await apply(desired(uid, { ensureAccount: false, entitlementsToRevoke: keys, deactivateWhenEmpty: true }));
    expect(outcomes(rv)).toEqual([...keys.map(() => "revoke:already"), "disable_account:applied"]);
    expect(changed(before, await dump())).toEqual([await uuidOf(dnOf(uid))]);

    // next to a real grant: only the real group is granted
    const mixed = await apply(desired(uid, { entitlementsToGrant: [keys[0]!, real.hex, keys[1]!] }));
    expect(outcomes(mixed)).toEqual(["create_account:already", "enable_account:applied", "grant:failed", "grant:applied", "grant:failed"]);
    expect(await groupsHolding(uid)).toEqual([real.uuid]);
    // discovery: the injected keys are held by nobody, the real one by this account only
    const found = await discover([...keys, real.key]);
    expect(found[uid]?.entitlements).toEqual([real.key]);
    for (const a of Object.values(found)) expect(a.entitlements.filter((k) => keys.includes(k))).toEqual([]);
  });
});
