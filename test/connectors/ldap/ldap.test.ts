/**
 * The LDAP account adapter (src/connectors/ldap/) against a real OpenLDAP started by the test
 * (test/helpers/slapd.ts): plan then apply, "already" on a repeat, the last member of a groupOfNames,
 * deactivate and re-enable, dry run, hostile names, per-operation failures, and the errors thrown for bad
 * credentials and a server that is down (issue 12).
 */
import { Attribute, Change, type Client } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountDesiredState, AccountResult } from "../../../src/connectors/capabilities/account.js";
import { LdapConnector, accountDnOf, parseLdapConfig } from "../../../src/connectors/ldap/connector.js";
import { dnEquals, escapeFilterValue } from "../../../src/connectors/ldap/dn.js";
import { LdapClientPool } from "../../../src/connectors/ldap/pool.js";
import { ConfigurationError, PermanentError, ProvisioError, TransientError } from "../../../src/errors.js";
import { logger } from "../../../src/logger.js";
import { freePort } from "../../helpers/private-postgres.js";
import { SEED_PLACEHOLDER, startSlapd, type Slapd } from "../../helpers/slapd.js";

const PW_ENV = "PROVISIO_TEST_LDAP_PW";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let slapd: Slapd;
let admin: Client;
let connector: LdapConnector;
let cfg: Record<string, unknown>;
let seq = 0;

const ctx = (dryRun?: boolean) => ({ correlationId: `ldap-test-${++seq}`, attempt: 1, log: logger(), dryRun });
const desired = (userIdInApp: string, over: Partial<AccountDesiredState> = {}): AccountDesiredState => ({
  userIdInApp,
  attributes: { userName: userIdInApp, email: "someone@example.test", displayName: `Display ${userIdInApp}` },
  ensureAccount: true,
  entitlementsToGrant: [],
  entitlementsToRevoke: [],
  deactivateWhenEmpty: false,
  ...over,
});
const apply = (d: AccountDesiredState, opts: { dryRun?: boolean; config?: Record<string, unknown> } = {}) =>
  connector.applyDesiredState(opts.config ?? cfg, d, ctx(opts.dryRun));
const outcomes = (r: AccountResult) => r.operations.map((o) => `${o.op}:${o.outcome}`);
const dnOf = (uid: string) => accountDnOf({ rdnAttribute: "uid", usersDN: slapd.peopleDN }, uid);

/** A fresh groupOfNames below ou=groups holding only `member` (default: the placeholder). */
async function newGroup(cn: string, member = SEED_PLACEHOLDER): Promise<string> {
  const dn = `cn=${cn}-${++seq},${slapd.groupsDN}`;
  await admin.add(dn, { objectClass: "groupOfNames", cn: `${cn}-${seq}`, member });
  return dn;
}

async function members(groupDN: string): Promise<string[]> {
  const { searchEntries } = await admin.search(groupDN, { scope: "base", attributes: ["member"] });
  const m = searchEntries[0]?.member ?? [];
  return (Array.isArray(m) ? m : [m]).map(String);
}

const isMember = async (groupDN: string, uid: string) => (await members(groupDN)).some((m) => dnEquals(m, dnOf(uid)));

async function account(uid: string): Promise<Record<string, unknown> | undefined> {
  try {
    const { searchEntries } = await admin.search(dnOf(uid), { scope: "base", attributes: ["*", "entryUUID", disableAttr()] });
    // ldapts lists a requested attribute the entry lacks as []
    return searchEntries[0] && Object.fromEntries(Object.entries(searchEntries[0]).filter(([, v]) => !(Array.isArray(v) && v.length === 0)));
  } catch {
    return undefined;
  }
}

/** Every entry below the suffix with all user and operational attributes (entryCSN, modifyTimestamp), sorted. */
async function snapshot(): Promise<string> {
  const { searchEntries } = await admin.search(slapd.baseDN, { scope: "sub", attributes: ["*", "+"] });
  return JSON.stringify(
    searchEntries
      .map((e) => Object.fromEntries(Object.entries(e).sort(([a], [b]) => a.localeCompare(b))))
      .sort((a, b) => String(a.dn).localeCompare(String(b.dn))),
  );
}

const disableAttr = () => (slapd.overlays.ppolicy ? "pwdAccountLockedTime" : "shadowExpire");

beforeAll(async () => {
  const t0 = Date.now();
  slapd = await startSlapd();
  expect(Date.now() - t0).toBeLessThan(3_000);
  admin = await slapd.admin();
  connector = new LdapConnector({ env: { [PW_ENV]: slapd.adminPassword } });
  // pwdAccountLockedTime comes with the ppolicy overlay; without it, the nis schema's shadowExpire does
  cfg = {
    url: slapd.url,
    bindDN: slapd.adminDN,
    password_env: PW_ENV,
    usersDN: slapd.peopleDN,
    groupsDN: slapd.groupsDN,
    objectClasses: slapd.overlays.ppolicy ? ["inetOrgPerson"] : ["inetOrgPerson", "shadowAccount"],
    disable: slapd.overlays.ppolicy ? { attribute: "pwdAccountLockedTime", value: "000001010000Z" } : { attribute: "shadowExpire", value: "1" },
  };
});

afterAll(async () => {
  await connector?.close();
  await admin?.unbind();
  await slapd?.stop();
});

describe("LDAP adapter: plan then apply, effectively once", () => {
  it("creates the account and grants two groups; the same call again is all 'already' and writes nothing", async () => {
    const [g1, g2] = [await newGroup("two-a"), await newGroup("two-b")];
    const r = await apply(desired("alice", { entitlementsToGrant: [g1, g2] }));
    expect(r.success).toBe(true);
    expect(outcomes(r)).toEqual(["create_account:applied", "grant:applied", "grant:applied"]);
    expect(r.operations.map((o) => o.target)).toEqual(["alice", g1, g2]);
    const entry = await account("alice");
    expect(r.nativeId).toMatch(UUID);
    expect(r.nativeId).toBe(entry?.entryUUID);
    expect(entry).toMatchObject({ uid: "alice", cn: "Display alice", sn: "Display alice", mail: "someone@example.test" });
    // the placeholder made way for the first real member
    expect(await members(g1)).toEqual([dnOf("alice")]);
    expect(await members(g2)).toEqual([dnOf("alice")]);

    const before = await snapshot();
    const again = await apply(desired("alice", { entitlementsToGrant: [g1, g2] }));
    expect(again).toEqual({ success: true, nativeId: r.nativeId, operations: again.operations });
    expect(outcomes(again)).toEqual(["create_account:already", "grant:already", "grant:already"]);
    expect(await snapshot()).toBe(before);
  });

  it("revokes one group (applied), then again (already); the other stays", async () => {
    const [g1, g2, g3] = [await newGroup("rv-a"), await newGroup("rv-b"), await newGroup("rv-c")];
    await apply(desired("bob", { entitlementsToGrant: [g1, g2] }));
    await admin.modify(g3, new Change({ operation: "add", modification: new Attribute({ type: "member", values: [`cn=someone-else,${slapd.peopleDN}`] }) }));
    await apply(desired("bob", { entitlementsToGrant: [g3] }));
    const r = await apply(desired("bob", { ensureAccount: false, entitlementsToRevoke: [g3] }));
    expect(outcomes(r)).toEqual(["revoke:applied"]);
    expect(r.success).toBe(true);
    // bob's grant removed the placeholder (another member was there too), the revoke removed bob only
    expect(await members(g3)).toEqual([`cn=someone-else,${slapd.peopleDN}`]);
    const again = await apply(desired("bob", { ensureAccount: false, entitlementsToRevoke: [g3] }));
    expect(outcomes(again)).toEqual(["revoke:already"]);
    expect(await isMember(g1, "bob")).toBe(true);
    expect(await isMember(g2, "bob")).toBe(true);
  });

  it("revoking a group's last member puts the placeholder in, in the same modify (no 65 objectClassViolation)", async () => {
    const g = await newGroup("last");
    await apply(desired("erin", { entitlementsToGrant: [g] }));
    expect(await members(g)).toEqual([dnOf("erin")]);
    const dry = await apply(desired("erin", { ensureAccount: false, entitlementsToRevoke: [g] }), { dryRun: true });
    expect(dry.operations[0]).toMatchObject({ op: "revoke", outcome: "skipped", message: expect.stringContaining("emptyGroupMember cn=nobody") });
    const r = await apply(desired("erin", { ensureAccount: false, entitlementsToRevoke: [g] }));
    expect(r.operations).toEqual([{ op: "revoke", target: g, outcome: "applied" }]);
    expect(await members(g)).toEqual([SEED_PLACEHOLDER]);
    expect(outcomes(await apply(desired("erin", { ensureAccount: false, entitlementsToRevoke: [g] })))).toEqual(["revoke:already"]);
    // the next grant removes the placeholder again
    await apply(desired("erin", { entitlementsToGrant: [g] }));
    expect(await members(g)).toEqual([dnOf("erin")]);
  });

  it("uses a configured emptyGroupMember, recognised by normalised DN", async () => {
    const g = await newGroup("custom-empty", `CN=empty  group , DC=Provisio,DC=Test`);
    const config = { ...cfg, emptyGroupMember: `cn=Empty Group,${slapd.baseDN}` };
    await apply(desired("ernie", { entitlementsToGrant: [g] }), { config });
    expect(await members(g)).toEqual([dnOf("ernie")]);
    await apply(desired("ernie", { ensureAccount: false, entitlementsToRevoke: [g] }), { config });
    expect(await members(g)).toEqual([`cn=Empty Group,${slapd.baseDN}`]);
  });

  it("two accounts leaving a two-member group at once: one modify meets the changed group, re-reads it and re-plans", async () => {
    const g = await newGroup("race");
    await apply(desired("race-1", { entitlementsToGrant: [g] }));
    await apply(desired("race-2", { entitlementsToGrant: [g] }));
    const rs = await Promise.all(["race-1", "race-2"].map((u) => apply(desired(u, { ensureAccount: false, entitlementsToRevoke: [g] }))));
    expect(rs.map(outcomes)).toEqual([["revoke:applied"], ["revoke:applied"]]);
    expect(await members(g)).toEqual([SEED_PLACEHOLDER]);
  });

  it("concurrent identical grants: every operation is applied exactly once, the others say 'already'", async () => {
    const [g1, g2] = [await newGroup("conc-a"), await newGroup("conc-b")];
    const rs = await Promise.all(Array.from({ length: 5 }, () => apply(desired("carl", { entitlementsToGrant: [g1, g2] }))));
    expect(rs.every((r) => r.success)).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(rs.map((r) => r.operations[i]!.outcome).filter((o) => o === "applied")).toHaveLength(1);
      expect(rs.map((r) => r.operations[i]!.outcome).filter((o) => o === "already")).toHaveLength(4);
    }
    expect(await members(g1)).toEqual([dnOf("carl")]);
    expect(new Set(rs.map((r) => r.nativeId)).size).toBe(1);
  });

  it("compares membership by normalised DN, case-insensitively, and removes the value as stored", async () => {
    const g = await newGroup("case");
    await apply(desired("carol"));
    const stored = `UID=Carol , OU=People,DC=Provisio,DC=Test`;
    await admin.modify(g, new Change({ operation: "add", modification: new Attribute({ type: "member", values: [stored] }) }));
    const before = (await members(g)).length;
    expect(outcomes(await apply(desired("carol", { entitlementsToGrant: [g] })))).toEqual(["create_account:already", "grant:already"]);
    expect(await members(g)).toHaveLength(before);
    expect(outcomes(await apply(desired("carol", { ensureAccount: false, entitlementsToRevoke: [g] })))).toEqual(["revoke:applied"]);
    expect(await isMember(g, "carol")).toBe(false);
  });
});

describe("LDAP adapter: deactivate and enable", () => {
  it("deactivateWhenEmpty disables only once nothing is held; a repeat is 'already'; ensureAccount enables again", async () => {
    const [g1, g2] = [await newGroup("deact-a"), await newGroup("deact-b")];
    await apply(desired("dave", { entitlementsToGrant: [g1, g2] }));
    const one = await apply(desired("dave", { ensureAccount: false, entitlementsToRevoke: [g1], deactivateWhenEmpty: true }));
    expect(outcomes(one)).toEqual(["revoke:applied"]);
    expect((await account("dave"))?.[disableAttr()]).toBeUndefined();

    const dry = await apply(desired("dave", { ensureAccount: false, entitlementsToRevoke: [g2], deactivateWhenEmpty: true }), { dryRun: true });
    expect(outcomes(dry)).toEqual(["revoke:skipped", "disable_account:skipped"]);

    const both = await apply(desired("dave", { ensureAccount: false, entitlementsToRevoke: [g2], deactivateWhenEmpty: true }));
    expect(outcomes(both)).toEqual(["revoke:applied", "disable_account:applied"]);
    expect((await account("dave"))?.[disableAttr()]).toBe(slapd.overlays.ppolicy ? "000001010000Z" : "1");
    const again = await apply(desired("dave", { ensureAccount: false, entitlementsToRevoke: [g2], deactivateWhenEmpty: true }));
    expect(outcomes(again)).toEqual(["revoke:already", "disable_account:already"]);

    const enabled = await apply(desired("dave", { entitlementsToGrant: [g1] }));
    expect(outcomes(enabled)).toEqual(["create_account:already", "enable_account:applied", "grant:applied"]);
    expect((await account("dave"))?.[disableAttr()]).toBeUndefined();
    expect(outcomes(await apply(desired("dave", { entitlementsToGrant: [g1] })))).toEqual(["create_account:already", "grant:already"]);
  });

  it("counts groups below groupsDN not named in the request; without groupsDN the disable fails with a reason", async () => {
    const [g1, g2] = [await newGroup("hold-a"), await newGroup("hold-b")];
    await apply(desired("dora", { entitlementsToGrant: [g1, g2] }));
    const r = await apply(desired("dora", { ensureAccount: false, entitlementsToRevoke: [g1], deactivateWhenEmpty: true }));
    expect(outcomes(r)).toEqual(["revoke:applied"]);
    const noGroups = { ...cfg, groupsDN: undefined };
    const r2 = await apply(desired("dora", { ensureAccount: false, entitlementsToRevoke: [g2], deactivateWhenEmpty: true }), { config: noGroups });
    expect(r2.success).toBe(false);
    expect(r2.operations[1]).toMatchObject({ op: "disable_account", outcome: "failed", message: expect.stringContaining("groupsDN") });
    // disable: "none" records nothing
    const r3 = await apply(desired("dora", { ensureAccount: false, entitlementsToRevoke: [g2], deactivateWhenEmpty: true }), {
      config: { ...cfg, disable: "none" },
    });
    expect(outcomes(r3)).toEqual(["revoke:already"]);
  });
});

describe("LDAP adapter: dry run", () => {
  it("plans (skipped / already) and changes nothing in the directory", async () => {
    const [g1, g2] = [await newGroup("dry-a"), await newGroup("dry-b")];
    const before = await snapshot();
    const r = await apply(desired("frank", { entitlementsToGrant: [g1, g2] }), { dryRun: true });
    expect(r.success).toBe(true);
    expect(outcomes(r)).toEqual(["create_account:skipped", "grant:skipped", "grant:skipped"]);
    expect(r.nativeId).toBeUndefined();
    expect(r.operations[1]!.message).toContain("would add member");
    expect(await snapshot()).toBe(before);
    expect(await account("frank")).toBeUndefined();

    await apply(desired("frank", { entitlementsToGrant: [g1] }));
    const mid = await snapshot();
    const r2 = await apply(desired("frank", { entitlementsToGrant: [g1, g2], entitlementsToRevoke: [slapd.groups[0]!] }), { dryRun: true });
    expect(outcomes(r2)).toEqual(["create_account:already", "grant:already", "grant:skipped", "revoke:already"]);
    expect(r2.nativeId).toMatch(UUID);
    expect(await snapshot()).toBe(mid);
  });
});

describe("LDAP adapter: hostile names", () => {
  const HOSTILE = [
    "a,b",
    "a+b",
    'say "hi"',
    "back\\slash",
    "#leading-hash",
    " leading space",
    "trailing space ",
    "nul\0byte",
    "*",
    "(x)",
    "*)(uid=*",
    "x)(|(objectClass=*)",
    ";<>=",
    "a\\2Cb",
    "ünïcødé ✓",
  ];

  it.each(HOSTILE)("userIdInApp %j is created with exactly that RDN value, found again by an escaped filter, and a repeat is 'already'", async (uid) => {
    const g = await newGroup("hostile");
    const r = await apply(desired(uid, { entitlementsToGrant: [g] }));
    expect(outcomes(r)).toEqual(["create_account:applied", "grant:applied"]);
    const { searchEntries } = await admin.search(slapd.peopleDN, { scope: "sub", filter: `(uid=${escapeFilterValue(uid)})`, attributes: ["uid", "entryUUID"] });
    expect(searchEntries).toHaveLength(1);
    expect(searchEntries[0]!.uid).toBe(uid);
    expect(dnEquals(searchEntries[0]!.dn, dnOf(uid))).toBe(true);
    expect(searchEntries[0]!.entryUUID).toBe(r.nativeId);
    expect(await isMember(g, uid)).toBe(true);
    const again = await apply(desired(uid, { entitlementsToGrant: [g] }));
    expect(outcomes(again)).toEqual(["create_account:already", "grant:already"]);
    expect(again.nativeId).toBe(r.nativeId);
    expect(outcomes(await apply(desired(uid, { ensureAccount: false, entitlementsToRevoke: [g] })))).toEqual(["revoke:applied"]);
  });

  it("an injection-shaped userIdInApp matches only its own entry", async () => {
    await apply(desired("*)(uid=*"));
    const { searchEntries } = await admin.search(slapd.peopleDN, { scope: "one", filter: `(uid=${escapeFilterValue("*)(uid=*")})`, attributes: ["uid"] });
    expect(searchEntries.map((e) => e.uid)).toEqual(["*)(uid=*"]);
    const all = await admin.search(slapd.peopleDN, { scope: "one", filter: "(uid=*)", attributes: ["1.1"] });
    expect(all.searchEntries.length).toBeGreaterThan(1);
  });
});

describe("LDAP adapter: per-operation failures do not abort the rest", () => {
  it("an unknown group is 'failed' with native_code 32 while the other grants apply; bad keys fail with a reason", async () => {
    const [g1, g2] = [await newGroup("mixed-a"), await newGroup("mixed-b")];
    const ghost = `cn=ghost,${slapd.groupsDN}`;
    const role = `cn=a-role,${slapd.groupsDN}`;
    await admin.add(role, { objectClass: "organizationalRole", cn: "a-role" });
    const outside = `cn=elsewhere,${slapd.baseDN}`;
    const r = await apply(desired("grace", { entitlementsToGrant: [g1, ghost, "not a dn", outside, role, g2, g1.toUpperCase()] }));
    expect(r.success).toBe(false);
    expect(r.operations).toEqual([
      { op: "create_account", target: "grace", outcome: "applied" },
      { op: "grant", target: g1, outcome: "applied" },
      { op: "grant", target: ghost, outcome: "failed", native_code: 32, message: expect.stringContaining("does not exist") },
      { op: "grant", target: "not a dn", outcome: "failed", native_code: 34, message: expect.stringContaining("not a valid DN") },
      { op: "grant", target: outside, outcome: "failed", native_code: "PV_LDAP_GROUPS_DN", message: expect.stringContaining("not below groupsDN") },
      { op: "grant", target: role, outcome: "failed", message: expect.stringContaining("not a groupOfNames entry") },
      { op: "grant", target: g2, outcome: "applied" },
    ]);
    expect(await isMember(g1, "grace")).toBe(true);
    expect(await isMember(g2, "grace")).toBe(true);
    // revoking from a group that does not exist: the membership does not exist either
    const rv = await apply(desired("grace", { ensureAccount: false, entitlementsToRevoke: [ghost] }));
    expect(rv).toMatchObject({ success: true, operations: [{ op: "revoke", outcome: "already", native_code: 32 }] });
  });

  it("a server-side refusal (an attribute the schema does not allow) is recorded with its result code", async () => {
    const g = await newGroup("schema");
    const config = { ...cfg, accountAttributes: { cn: "userName", sn: "userName", homeDirectory: "userName" } };
    const r = await apply(desired("heidi", { entitlementsToGrant: [g] }), { config });
    expect(r.success).toBe(false);
    expect(r.operations[0]).toMatchObject({ op: "create_account", outcome: "failed", native_code: 65 });
    expect(r.operations[1]).toMatchObject({ op: "grant", outcome: "failed", message: expect.stringContaining("not attempted") });
    expect(await isMember(g, "heidi")).toBe(false);
  });

  it("without ensureAccount a grant for a missing account fails (32); a revoke still removes a dangling membership", async () => {
    const g = await newGroup("dangling");
    const r = await apply(desired("ivan", { ensureAccount: false, entitlementsToGrant: [g] }));
    expect(r).toMatchObject({ success: false, operations: [{ op: "grant", outcome: "failed", native_code: 32 }] });
    expect(r.nativeId).toBeUndefined();
    await admin.modify(g, new Change({ operation: "add", modification: new Attribute({ type: "member", values: [dnOf("ivan")] }) }));
    const rv = await apply(desired("ivan", { ensureAccount: false, entitlementsToRevoke: [g], deactivateWhenEmpty: true }));
    expect(outcomes(rv)).toEqual(["revoke:applied", "disable_account:already"]);
    expect(await members(g)).toEqual([SEED_PLACEHOLDER]);
  });
});

describe("LDAP adapter: reserved entries (PV_LDAP_RESERVED) and the groupsDN subtree", () => {
  /**
   * The entry the connector binds as, placed where a mapping can name it: the rootdn cn=admin,<suffix> as an
   * entry of usersDN = the suffix with rdnAttribute cn, so "admin" is the bind account's user id (bound as
   * the rootdn the adapter could write anything, so an unchanged directory means it refused).
   */
  const bindEntry = () => slapd.adminDN;
  const reservedCfg = () => ({ ...cfg, usersDN: slapd.baseDN, rdnAttribute: "cn", accountAttributes: { sn: "userName", uid: "userName" } });

  it("a mapping naming the bind account fails the whole call (also a dry run, any spelling); nothing is granted, revoked or disabled", async () => {
    const [held, other] = [await newGroup("bind-held"), await newGroup("bind-other")];
    await admin.add(bindEntry(), { objectClass: cfg.objectClasses as string[], cn: "admin", sn: "admin", uid: "admin" });
    await admin.modify(held, new Change({ operation: "add", modification: new Attribute({ type: "member", values: [bindEntry()] }) }));
    try {
      const before = await snapshot();
      const calls: [AccountDesiredState, { dryRun?: boolean; config?: Record<string, unknown> }][] = [
        [desired("admin", { entitlementsToGrant: [other] }), { config: reservedCfg() }],
        [desired("admin", { ensureAccount: false, entitlementsToRevoke: [held], deactivateWhenEmpty: true }), { config: reservedCfg() }],
        [desired("admin", { ensureAccount: false, deactivateWhenEmpty: true }), { config: reservedCfg() }],
        [desired("admin", { entitlementsToGrant: [other] }), { config: reservedCfg(), dryRun: true }],
        // the bindDN and the user id spelled otherwise: compared as normalised DNs
        [desired(" ADMIN", { entitlementsToGrant: [other] }), { config: { ...reservedCfg(), bindDN: `CN=Admin ,  DC=Provisio,DC=TEST` } }],
      ];
      for (const [d, opts] of calls) {
        const err = await apply(d, opts).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(PermanentError);
        expect(err).toMatchObject({ code: "PV_LDAP_RESERVED", message: expect.stringContaining(accountDnOf(reservedCfg(), d.userIdInApp)) });
        expect((err as Error).message).toContain("bindDN");
      }
      expect(await snapshot()).toBe(before);
      expect((await members(other)).some((m) => dnEquals(m, bindEntry()))).toBe(false);
      expect((await members(held)).some((m) => dnEquals(m, bindEntry()))).toBe(true);
      const { searchEntries } = await admin.search(bindEntry(), { scope: "base", attributes: [disableAttr()] });
      expect(searchEntries[0]?.[disableAttr()] ?? []).toEqual([]);

      // the same configuration manages any other account of that usersDN
      const r = await apply(desired("not-the-admin", { entitlementsToGrant: [other] }), { config: reservedCfg() });
      expect(outcomes(r)).toEqual(["create_account:applied", "grant:applied"]);
      await admin.del(accountDnOf(reservedCfg(), "not-the-admin"));
    } finally {
      await admin.del(bindEntry());
    }
  });

  it("an entitlement key that is the bindDN is 'failed' PV_LDAP_RESERVED (grant and revoke, also in a dry run); the others apply", async () => {
    const g = await newGroup("bind-key");
    // without groupsDN any group DN is accepted, so only the reserved rule refuses the bindDN
    const config = { ...cfg, groupsDN: undefined };
    const spelled = `CN=ADMIN, dc=provisio , dc=test`;
    for (const dryRun of [true, false]) {
      const r = await apply(desired("bind-key-user", { entitlementsToGrant: [spelled, g], entitlementsToRevoke: [bindEntry()] }), { config, dryRun });
      expect(r.success).toBe(false);
      expect(r.operations.filter((o) => o.target === spelled || o.target === bindEntry())).toEqual([
        { op: "grant", target: spelled, outcome: "failed", native_code: "PV_LDAP_RESERVED", message: expect.stringContaining("binds as") },
        { op: "revoke", target: bindEntry(), outcome: "failed", native_code: "PV_LDAP_RESERVED", message: expect.stringContaining("binds as") },
      ]);
      expect(r.operations.find((o) => o.target === g)?.outcome).toBe(dryRun ? "skipped" : "applied");
    }
    expect(await isMember(g, "bind-key-user")).toBe(true);
  });

  it("with groupsDN set, a key outside it is 'failed' PV_LDAP_GROUPS_DN even when it names a real group; without groupsDN that group is granted", async () => {
    const ouDN = `ou=elsewhere-groups,${slapd.baseDN}`;
    await admin.add(ouDN, { objectClass: "organizationalUnit", ou: "elsewhere-groups" });
    const outside = `cn=admins,${ouDN}`;
    await admin.add(outside, { objectClass: "groupOfNames", cn: "admins", member: SEED_PLACEHOLDER });
    // a DN that only ends like groupsDN's RDN value is not below it
    const lookalike = `cn=x,ou=groups-not,${slapd.baseDN}`;
    const r = await apply(desired("outside-keys", { entitlementsToGrant: [outside, lookalike], entitlementsToRevoke: [outside] }));
    expect(r.success).toBe(false);
    const refused = { outcome: "failed", native_code: "PV_LDAP_GROUPS_DN", message: expect.stringContaining(`not below groupsDN ${slapd.groupsDN}`) };
    expect(r.operations).toEqual([
      { op: "create_account", target: "outside-keys", outcome: "applied" },
      { op: "grant", target: outside, ...refused },
      { op: "grant", target: lookalike, ...refused },
      { op: "revoke", target: outside, outcome: "failed", native_code: "PV_LDAP_GROUPS_DN", message: expect.any(String) },
    ]);
    expect(await isMember(outside, "outside-keys")).toBe(false);
    const open = await apply(desired("outside-keys", { entitlementsToGrant: [outside] }), { config: { ...cfg, groupsDN: undefined } });
    expect(outcomes(open)).toEqual(["create_account:already", "grant:applied"]);
    expect(await isMember(outside, "outside-keys")).toBe(true);
  });
});

describe("LDAP adapter: errors thrown for the whole application", () => {
  it("a wrong password is a PermanentError LDAP49, configSuspect, without the password in the message", async () => {
    const bad = new LdapConnector({ env: { [PW_ENV]: "wrong-password-123" } });
    try {
      const err = await bad.applyDesiredState(cfg, desired("judy"), ctx()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect(err).toMatchObject({ code: "LDAP49", retryable: false, configSuspect: true });
      expect((err as Error).message).not.toContain("wrong-password-123");
    } finally {
      await bad.close();
    }
    expect(await account("judy")).toBeUndefined();
  });

  it("a missing secret or an invalid config is a ConfigurationError", async () => {
    const noSecret = new LdapConnector({ env: {} });
    await expect(noSecret.applyDesiredState(cfg, desired("judy"), ctx())).rejects.toThrow(ConfigurationError);
    await noSecret.close();
    await expect(connector.applyDesiredState({ ...cfg, url: "https://x" }, desired("judy"), ctx())).rejects.toThrow(/invalid LDAP connector config: url/);
  });

  it("a server that is down is a TransientError; once it is back the pooled connection binds again and writes", async () => {
    const other = await startSlapd({ groups: ["g"] });
    const c = new LdapConnector({ env: { [PW_ENV]: other.adminPassword } });
    const config = { ...cfg, url: other.url, usersDN: other.peopleDN, groupsDN: other.groupsDN, bindDN: other.adminDN };
    try {
      expect((await c.applyDesiredState(config, desired("kim"), ctx())).success).toBe(true);
      await other.kill();
      const err = await c.applyDesiredState(config, desired("kim", { entitlementsToGrant: other.groups }), ctx()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as ProvisioError).retryable).toBe(true);
      await other.restart();
      const r = await c.applyDesiredState(config, desired("kim", { entitlementsToGrant: other.groups }), ctx());
      expect(outcomes(r)).toEqual(["create_account:already", "grant:applied"]);
    } finally {
      await c.close();
      await other.stop();
    }
  });

  it("a port nobody listens on is a TransientError (ECONNREFUSED, configSuspect)", async () => {
    const port = await freePort();
    const err = await connector.applyDesiredState({ ...cfg, url: `ldap://127.0.0.1:${port}` }, desired("lena"), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "ECONNREFUSED", configSuspect: true });
  });

  it("after close() calls are refused (transient: another worker takes the job)", async () => {
    const c = new LdapConnector({ env: { [PW_ENV]: slapd.adminPassword } });
    await c.applyDesiredState(cfg, desired("mona"), ctx());
    await c.close();
    await expect(c.applyDesiredState(cfg, desired("mona"), ctx())).rejects.toMatchObject({ code: "PV_LDAP_CLOSED", retryable: true });
  });
});

describe("LDAP adapter over TLS", () => {
  it("ldaps:// with the server's CA, StartTLS on ldap://; an untrusted certificate is a TransientError marked configSuspect", async () => {
    const tls = await startSlapd({ tls: true, groups: ["g"] });
    const c = new LdapConnector({ env: { [PW_ENV]: tls.adminPassword } });
    const base = { ...cfg, usersDN: tls.peopleDN, groupsDN: tls.groupsDN, bindDN: tls.adminDN };
    try {
      const ldaps = { ...base, url: tls.ldapsUrl, tls: { ca_file: tls.caFile } };
      expect(outcomes(await c.applyDesiredState(ldaps, desired("tess", { entitlementsToGrant: tls.groups }), ctx()))).toEqual([
        "create_account:applied",
        "grant:applied",
      ]);
      const starttls = { ...base, url: tls.url, tls: { ca_file: tls.caFile, starttls: true, servername: "localhost" } };
      expect(outcomes(await c.applyDesiredState(starttls, desired("tess", { entitlementsToGrant: tls.groups }), ctx()))).toEqual([
        "create_account:already",
        "grant:already",
      ]);
      const untrusted = await c.applyDesiredState({ ...base, url: tls.ldapsUrl }, desired("tess"), ctx()).catch((e: unknown) => e);
      expect(untrusted).toBeInstanceOf(TransientError);
      expect(untrusted).toMatchObject({ code: "PV_LDAP_TLS", configSuspect: true });
    } finally {
      await c.close();
      await tls.stop();
    }
  });
});

describe("LDAP connection pool", () => {
  it("keeps one bound client per configuration, a new one for another configuration, and retires idle ones", async () => {
    const pool = new LdapClientPool({ [PW_ENV]: slapd.adminPassword });
    const settings = parseLdapConfig({ ...cfg, timeouts: { idleMs: 1_000 } });
    try {
      const a = await pool.use(settings, (h) => h.client());
      const b = await pool.use(settings, (h) => h.client());
      expect(b).toBe(a);
      expect(pool.size).toBe(1);
      await pool.use(parseLdapConfig({ ...cfg, timeouts: { idleMs: 1_000, operationMs: 5_000 } }), (h) => h.client());
      expect(pool.size).toBe(2);
      await new Promise((r) => setTimeout(r, 1_300));
      expect(pool.size).toBe(0);
      expect(a.isConnected).toBe(false);
      // a connection the server dropped is bound again, not reused anonymously
      const c = await pool.use(settings, (h) => h.client());
      await c.unbind();
      const d = await pool.use(settings, async (h) => {
        const client = await h.client();
        await client.modify(slapd.groups[0]!, new Change({ operation: "add", modification: new Attribute({ type: "description", values: ["bound"] }) }));
        return client;
      });
      expect(d).not.toBe(c);
    } finally {
      await pool.close();
    }
  });
});
