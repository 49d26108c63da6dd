/**
 * The SCIM connector (src/connectors/scim/) against the SCIM simulator (src/simulators/scim/), over HTTP:
 * plan then apply, effectively once, case-insensitive userName, 409 -> link, 429/503 handling, per-operation
 * failures, dry run, filter escaping, and the same end state against a strict and a sloppy server
 * (case-sensitive filters, duplicate member adds, 429 bursts). discoverAccounts: discovery.test.ts.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccountDesiredState } from "../../../src/connectors/capabilities/account.js";
import { eqFilter, parseRetryAfter } from "../../../src/connectors/scim/client.js";
import { ScimConnector, parseScimConfig, scimConfigSchema } from "../../../src/connectors/scim/connector.js";
import { PermanentError, TransientError } from "../../../src/errors.js";
import { logger } from "../../../src/logger.js";
import { ScimSimulator } from "../../../src/simulators/scim/server.js";
import { SCENARIO_END_STATE, endState, runScenario, seedScenario } from "./scenario.js";

const TOKEN = "scim-test-token-7f3a";
const env = { SCIM_TEST_TOKEN: TOKEN, SCIM_WRONG_TOKEN: "not-the-token" };
let sim: ScimSimulator;
let connector: ScimConnector;
let eng: string;
let ops: string;
let seq = 0;

const config = (extra: Record<string, unknown> = {}) => ({
  baseUrl: sim.baseUrl,
  token_env: "SCIM_TEST_TOKEN",
  timeoutMs: 2000,
  maxRetries: 3,
  maxRetryWaitMs: 3000,
  retryBaseDelayMs: 10,
  ...extra,
});
const ctx = (dryRun?: boolean) => ({ correlationId: `scim-test-${++seq}`, attempt: 1, log: logger(), ...(dryRun ? { dryRun } : {}) });
const desired = (userIdInApp: string, over: Partial<AccountDesiredState> = {}): AccountDesiredState => ({
  userIdInApp,
  attributes: { userName: userIdInApp, email: `${userIdInApp.replace(/\W/g, "")}@example.test`, displayName: userIdInApp },
  ensureAccount: true,
  entitlementsToGrant: [],
  entitlementsToRevoke: [],
  deactivateWhenEmpty: false,
  ...over,
});
const outcomes = (r: { operations: { op: string; target: string; outcome: string }[] }) => r.operations.map((o) => `${o.op}:${o.target}:${o.outcome}`);
const writes = () => sim.requests.filter((r) => r.method !== "GET");

beforeAll(async () => {
  sim = new ScimSimulator({ token: TOKEN });
  await sim.start();
  eng = sim.store.createGroup({ displayName: "Engineering" }).id;
  ops = sim.store.createGroup({ displayName: "Operations" }).id;
  connector = new ScimConnector({ env });
});
afterAll(async () => {
  await connector.close();
  await sim.stop();
});
beforeEach(() => {
  sim.faults.clear();
  sim.clearLog();
});

describe("SCIM connector: plan then apply, effectively once", () => {
  it("creates the account and grants two groups (applied)", async () => {
    const r = await connector.applyDesiredState(config(), desired("alice", { entitlementsToGrant: [eng, ops] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:alice:applied", `grant:${eng}:applied`, `grant:${ops}:applied`]);
    expect(r.success).toBe(true);
    const user = sim.store.findUserByUserName("alice")!;
    expect(r.nativeId).toBe(user.id);
    expect(user).toMatchObject({ active: true, emails: [{ value: "alice@example.test", primary: true }] });
    expect(sim.store.memberEntries(eng, user.id)).toBe(1);
    expect(sim.store.memberEntries(ops, user.id)).toBe(1);
  });

  it("the same call again: every operation already, no write, exactly one member entry per group", async () => {
    const r = await connector.applyDesiredState(config(), desired("alice", { entitlementsToGrant: [eng, ops] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:alice:already", `grant:${eng}:already`, `grant:${ops}:already`]);
    expect(r.success).toBe(true);
    expect(writes()).toEqual([]);
    const id = sim.store.findUserByUserName("alice")!.id;
    expect(sim.store.memberEntries(eng, id)).toBe(1);
    expect((sim.store.groupView(eng)!.members as unknown[]).length).toBe(1);
  });

  it("a userName differing only in case finds the same account (RFC 7643 §4.1.1 caseExact=false)", async () => {
    const before = sim.store.users.size;
    const r = await connector.applyDesiredState(config(), desired("ALICE", { entitlementsToGrant: [eng] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:ALICE:already", `grant:${eng}:already`]);
    expect(r.nativeId).toBe(sim.store.findUserByUserName("alice")!.id);
    expect(sim.store.users.size).toBe(before);
    expect(writes()).toEqual([]);
  });

  it("revokes with PATCH remove members[value eq ...] (applied), then already", async () => {
    const id = sim.store.findUserByUserName("alice")!.id;
    const r1 = await connector.applyDesiredState(config(), desired("alice", { ensureAccount: false, entitlementsToRevoke: [eng] }), ctx());
    expect(outcomes(r1)).toEqual([`revoke:${eng}:applied`]);
    expect(sim.store.memberEntries(eng, id)).toBe(0);
    expect(writes()).toEqual([{ method: "PATCH", path: `/Groups/${eng}`, status: 200 }]);
    const r2 = await connector.applyDesiredState(config(), desired("alice", { ensureAccount: false, entitlementsToRevoke: [eng] }), ctx());
    expect(outcomes(r2)).toEqual([`revoke:${eng}:already`]);
    expect(r2.success).toBe(true);
  });

  it("deactivateWhenEmpty sets active false when nothing is left; ensureAccount sets it true again", async () => {
    const r1 = await connector.applyDesiredState(
      config(),
      desired("alice", { ensureAccount: false, entitlementsToRevoke: [ops], deactivateWhenEmpty: true }),
      ctx(),
    );
    expect(outcomes(r1)).toEqual([`revoke:${ops}:applied`, "disable_account:alice:applied"]);
    expect(sim.store.findUserByUserName("alice")!.active).toBe(false);
    const again = await connector.applyDesiredState(
      config(),
      desired("alice", { ensureAccount: false, entitlementsToRevoke: [ops], deactivateWhenEmpty: true }),
      ctx(),
    );
    expect(outcomes(again)).toEqual([`revoke:${ops}:already`, "disable_account:alice:already"]);

    const r2 = await connector.applyDesiredState(config(), desired("alice", { entitlementsToGrant: [eng] }), ctx());
    expect(outcomes(r2)).toEqual(["enable_account:alice:applied", `grant:${eng}:applied`]);
    expect(sim.store.findUserByUserName("alice")!.active).toBe(true);
  });

  it("does not deactivate an account that still holds another group", async () => {
    await connector.applyDesiredState(config(), desired("gina", { entitlementsToGrant: [eng, ops] }), ctx());
    const r = await connector.applyDesiredState(
      config(),
      desired("gina", { ensureAccount: false, entitlementsToRevoke: [eng], deactivateWhenEmpty: true }),
      ctx(),
    );
    expect(outcomes(r)).toEqual([`revoke:${eng}:applied`]);
    expect(sim.store.findUserByUserName("gina")!.active).toBe(true);
  });

  it("a 409 on create (the user appeared meanwhile, in another case) links the existing account", async () => {
    let existing = "";
    sim.faults.add({
      method: "POST",
      path: "/Users",
      count: 1,
      action: { kind: "before", run: () => void (existing = sim.store.createUser({ userName: "CAROL" }).id) },
    });
    const r = await connector.applyDesiredState(config(), desired("carol", { entitlementsToGrant: [eng] }), ctx());
    expect(outcomes(r)).toEqual(["link_account:carol:applied", `grant:${eng}:applied`]);
    expect(r.operations[0]).toMatchObject({ native_code: 409 });
    expect(r.operations[0]!.message).toMatch(/uniqueness/);
    expect(r.nativeId).toBe(existing);
    expect([...sim.store.users.values()].filter((u) => String(u.userName).toLowerCase() === "carol")).toHaveLength(1);
    expect(sim.store.memberEntries(eng, existing)).toBe(1);
  });

  it("an unknown group id fails that operation with 404 and the server's detail while the other grant applies", async () => {
    const unknown = randomUUID();
    const r = await connector.applyDesiredState(config(), desired("dave", { entitlementsToGrant: [unknown, eng] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:dave:applied", `grant:${unknown}:failed`, `grant:${eng}:applied`]);
    expect(r.success).toBe(false);
    expect(r.operations[1]).toMatchObject({ native_code: 404 });
    expect(r.operations[1]!.message).toContain(`PATCH /Groups/${unknown}: HTTP 404`);
    expect(r.operations[1]!.message).toContain("not found");
    expect(sim.store.memberEntries(eng, r.nativeId!)).toBe(1);
  });

  it("dry run: the plan only, and nothing but GETs reaches the server", async () => {
    const unknown = randomUUID();
    const r = await connector.applyDesiredState(config(), desired("erin", { entitlementsToGrant: [eng, unknown] }), ctx(true));
    expect(outcomes(r)).toEqual(["create_account:erin:skipped", `grant:${eng}:skipped`, `grant:${unknown}:failed`]);
    expect(r.operations[2]).toMatchObject({ native_code: 404 });
    expect(r.nativeId).toBeUndefined();
    expect(sim.store.findUserByUserName("erin")).toBeUndefined();

    const existing = await connector.applyDesiredState(
      config(),
      desired("alice", { ensureAccount: false, entitlementsToGrant: [ops], entitlementsToRevoke: [eng], deactivateWhenEmpty: true }),
      ctx(true),
    );
    expect(outcomes(existing)).toEqual([`grant:${ops}:skipped`, `revoke:${eng}:skipped`]);
    const alice = sim.store.findUserByUserName("alice")!;
    expect(sim.store.memberEntries(eng, alice.id)).toBe(1);
    expect(sim.store.memberEntries(ops, alice.id)).toBe(0);

    expect(sim.requests.length).toBeGreaterThan(0);
    expect(sim.requests.every((q) => q.method === "GET")).toBe(true);
  });

  it("a userName with quotes, backslashes and filter syntax round-trips in the filter (RFC 7644 §3.4.2.2)", async () => {
    const tricky = 'o"brien\\x" or userName pr or userName eq "y';
    const r1 = await connector.applyDesiredState(config(), desired(tricky, { entitlementsToGrant: [ops] }), ctx());
    expect(outcomes(r1)).toEqual([`create_account:${tricky}:applied`, `grant:${ops}:applied`]);
    expect(sim.requests[0]).toMatchObject({ method: "GET", path: "/Users", filter: eqFilter("userName", tricky), status: 200 });
    expect(eqFilter("userName", tricky)).toBe('userName eq "o\\"brien\\\\x\\" or userName pr or userName eq \\"y"');
    const stored = [...sim.store.users.values()].filter((u) => u.userName === tricky);
    expect(stored).toHaveLength(1);
    expect(r1.nativeId).toBe(stored[0]!.id);

    const r2 = await connector.applyDesiredState(config(), desired(tricky, { entitlementsToGrant: [ops] }), ctx());
    expect(outcomes(r2)).toEqual([`create_account:${tricky}:already`, `grant:${ops}:already`]);
    expect(r2.nativeId).toBe(stored[0]!.id);
  });

  it("groupKey displayName: groups named case-insensitively; an unknown name fails that grant with 404", async () => {
    const r = await connector.applyDesiredState(
      config({ groupKey: "displayName" }),
      desired("hank", { entitlementsToGrant: ["engineering", "No Such Group"] }),
      ctx(),
    );
    expect(outcomes(r)).toEqual(["create_account:hank:applied", "grant:engineering:applied", "grant:No Such Group:failed"]);
    expect(r.operations[2]).toMatchObject({ native_code: 404 });
    expect(sim.store.memberEntries(eng, r.nativeId!)).toBe(1);
    const again = await connector.applyDesiredState(config({ groupKey: "displayName" }), desired("hank", { entitlementsToRevoke: ["ENGINEERING"] }), ctx());
    expect(outcomes(again)).toEqual(["create_account:hank:already", "revoke:ENGINEERING:applied"]);
    expect(sim.store.memberEntries(eng, r.nativeId!)).toBe(0);
  });
});

describe("SCIM connector: throttling, outages and credentials", () => {
  it("429 with Retry-After on the first requests: waits as asked, then succeeds", async () => {
    sim.faults.add({ method: "GET", path: "/Users", count: 2, action: { kind: "respond", status: 429, retryAfter: 1, detail: "slow down" } });
    const t0 = Date.now();
    const r = await connector.applyDesiredState(config(), desired("ivan", { entitlementsToGrant: [eng] }), ctx());
    const elapsed = Date.now() - t0;
    expect(outcomes(r)).toEqual(["create_account:ivan:applied", `grant:${eng}:applied`]);
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(elapsed).toBeLessThan(6000);
    expect(sim.requests.slice(0, 3).map((q) => q.status)).toEqual([429, 429, 200]);
    expect(sim.requests.filter((q) => q.method === "POST")).toHaveLength(1);
  });

  it("a Retry-After longer than maxRetryWaitMs is not waited for: TransientError with retry_after_ms at once", async () => {
    sim.faults.add({ count: 1, action: { kind: "respond", status: 429, retryAfter: 120 } });
    const t0 = Date.now();
    const err = await connector.applyDesiredState(config(), desired("ivan"), ctx()).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "PV_SCIM_RATE_LIMITED", retryable: true });
    expect((err as TransientError).resultData()).toMatchObject({ http_status: 429, retry_after_ms: 120_000, request: "GET /Users" });
    expect(sim.requests).toHaveLength(1);
  });

  it("a persistent 503 ends in a TransientError after the bounded retries, with nothing written", async () => {
    sim.faults.add({ count: 100, action: { kind: "respond", status: 503, detail: "maintenance" } });
    const err = await connector.applyDesiredState(config(), desired("judy", { entitlementsToGrant: [eng] }), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "PV_SCIM_UNAVAILABLE", retryable: true });
    expect((err as Error).message).toContain("maintenance");
    expect(sim.requests).toHaveLength(4); // 1 + maxRetries
    expect(writes()).toEqual([]);
  });

  it("a bad token is a PermanentError (PV_SCIM_AUTH, configSuspect) naming the 401", async () => {
    const err = await connector.applyDesiredState(config({ token_env: "SCIM_WRONG_TOKEN" }), desired("alice"), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ code: "PV_SCIM_AUTH", retryable: false, configSuspect: true });
    expect((err as PermanentError).resultData()).toMatchObject({ http_status: 401, request: "GET /Users" });
    expect(JSON.stringify((err as PermanentError).resultData())).not.toContain("not-the-token");
    expect(sim.requests).toHaveLength(1);
  });

  it("a timeout is retried for a GET, then a TransientError PV_SCIM_TIMEOUT", async () => {
    sim.faults.add({ method: "GET", count: 2, action: { kind: "delay", ms: 1500 } });
    const err = await connector.applyDesiredState(config({ timeoutMs: 300, maxRetries: 1 }), desired("kate"), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "PV_SCIM_TIMEOUT" });
  });

  it("a create whose answer is lost is not repeated blindly: TransientError, and the next attempt finds the account", async () => {
    sim.faults.add({ method: "POST", path: "/Users", count: 1, action: { kind: "drop", afterExecute: true } });
    const err = await connector.applyDesiredState(config(), desired("lena", { entitlementsToGrant: [eng] }), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/POST \/Users: .*outcome is unknown/);
    expect(sim.requests.filter((q) => q.method === "POST")).toHaveLength(1);
    const id = sim.store.findUserByUserName("lena")!.id;
    const r = await connector.applyDesiredState(config(), desired("lena", { entitlementsToGrant: [eng] }), { ...ctx(), attempt: 2 });
    expect(outcomes(r)).toEqual(["create_account:lena:already", `grant:${eng}:applied`]);
    expect(r.nativeId).toBe(id);
    expect([...sim.store.users.values()].filter((u) => u.userName === "lena")).toHaveLength(1);
  });

  it("a refused connection is a TransientError marked configSuspect", async () => {
    const down = new ScimSimulator({ token: TOKEN });
    await down.start();
    const url = down.baseUrl;
    await down.stop();
    const err = await connector.applyDesiredState(config({ baseUrl: url, maxRetries: 1 }), desired("kate"), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(err).toMatchObject({ code: "PV_SCIM_CONNECTION", configSuspect: true });
  });

  it("reads the token from token_file (one trailing line ending ignored)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "scim-token-"));
    const file = path.join(dir, "token");
    await writeFile(file, `${TOKEN}\n`);
    try {
      const r = await connector.applyDesiredState(config({ token_env: undefined, token_file: file }), desired("alice", { ensureAccount: false }), ctx());
      expect(r).toMatchObject({ success: true, nativeId: sim.store.findUserByUserName("alice")!.id });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a missing token variable is a configuration error", async () => {
    await expect(connector.applyDesiredState(config({ token_env: "SCIM_UNSET_TOKEN" }), desired("x"), ctx())).rejects.toMatchObject({ code: "PV_CONFIG" });
  });
});

describe("SCIM connector against a sloppy server (case-sensitive filters, duplicate member adds, 429 bursts)", () => {
  let sloppy: ScimSimulator;
  let group: string;
  beforeAll(async () => {
    sloppy = new ScimSimulator({ token: TOKEN, mode: "sloppy" });
    await sloppy.start();
    group = sloppy.store.createGroup({ displayName: "Engineering" }).id;
  });
  afterAll(async () => {
    await sloppy.stop();
  });

  it("reaches the same end state: the 409 is linked by a scan, and a repeated grant adds no duplicate", async () => {
    const frank = sloppy.store.createUser({ userName: "Frank" }).id;
    const cfg = config({ baseUrl: sloppy.baseUrl });
    const r1 = await connector.applyDesiredState(cfg, desired("frank", { entitlementsToGrant: [group] }), ctx());
    expect(outcomes(r1)).toEqual(["link_account:frank:applied", `grant:${group}:applied`]);
    expect(r1.nativeId).toBe(frank);
    const r2 = await connector.applyDesiredState(cfg, desired("Frank", { entitlementsToGrant: [group] }), ctx());
    expect(outcomes(r2)).toEqual(["create_account:Frank:already", `grant:${group}:already`]);
    expect(sloppy.store.memberEntries(group, frank)).toBe(1);
    expect(sloppy.store.users.size).toBe(1);
    expect(sloppy.requests.filter((q) => q.status === 429).length).toBeGreaterThan(0); // the bursts were there, and waited out
  });

  it("without a create to fall back on (a revoke, a dry run), an account the filter misses is found by a scan", async () => {
    const frank = sloppy.store.findUserByUserName("frank")!.id;
    const cfg = config({ baseUrl: sloppy.baseUrl });
    const plan = await connector.applyDesiredState(cfg, desired("frank", { entitlementsToGrant: [group] }), ctx(true));
    expect(outcomes(plan)).toEqual(["create_account:frank:already", `grant:${group}:already`]);
    expect(plan.nativeId).toBe(frank);
    sloppy.clearLog();
    const r = await connector.applyDesiredState(
      cfg,
      desired("frank", { ensureAccount: false, entitlementsToRevoke: [group], deactivateWhenEmpty: true }),
      ctx(),
    );
    expect(outcomes(r)).toEqual([`revoke:${group}:applied`, "disable_account:frank:applied"]);
    expect(r.nativeId).toBe(frank);
    expect(sloppy.store.memberEntries(group, frank)).toBe(0);
    expect(sloppy.store.findUserByUserName("frank")!.active).toBe(false);
    expect(sloppy.requests.filter((q) => q.method === "POST")).toEqual([]);
  });

  it("the same grants and revokes leave the same end state at a strict and at a sloppy server, 429 bursts included", async () => {
    const pair = { strict: new ScimSimulator({ token: TOKEN }), sloppy: new ScimSimulator({ token: TOKEN, mode: "sloppy" }) };
    await Promise.all([pair.strict.start(), pair.sloppy.start()]);
    try {
      const ends: Record<string, ReturnType<typeof endState>> = {};
      for (const [mode, s] of Object.entries(pair)) {
        const results = await runScenario(connector, config({ baseUrl: s.baseUrl }), seedScenario(s), `scenario-${mode}`);
        expect(results.map((r) => r.operations.filter((o) => o.outcome === "failed"))).toEqual(results.map(() => []));
        expect(results.every((r) => r.success)).toBe(true);
        ends[mode] = endState(s);
      }
      expect(ends.strict).toEqual(SCENARIO_END_STATE);
      expect(ends.sloppy).toEqual(ends.strict);
      // what made the sloppy run different: bursts of 429 (waited out, no request lost) and 409s linked
      expect(pair.strict.requests.filter((q) => q.status === 429)).toEqual([]);
      expect(pair.sloppy.throttle!.throttled).toBeGreaterThanOrEqual(4);
      expect(pair.sloppy.requests.filter((q) => q.status === 429)).toHaveLength(pair.sloppy.throttle!.throttled);
      expect(pair.strict.requests.filter((q) => q.method === "POST" && q.status === 409)).toEqual([]);
      expect(pair.sloppy.requests.filter((q) => q.method === "POST" && q.status === 409)).toHaveLength(3); // "frank" twice (the filter misses "Frank") and "ALICE"
    } finally {
      await Promise.all([pair.strict.stop(), pair.sloppy.stop()]);
    }
  });
});

describe("SCIM connector config", () => {
  const base = { baseUrl: "https://app.example/scim/v2/" };
  it("takes exactly one of token_env or token_file", () => {
    expect(scimConfigSchema.safeParse({ ...base }).success).toBe(false);
    expect(scimConfigSchema.safeParse({ ...base, token_env: "A", token_file: "/b" }).success).toBe(false);
    const c = parseScimConfig({ ...base, token_file: "/run/secrets/scim" });
    expect(c).toMatchObject({ baseUrl: "https://app.example/scim/v2", groupKey: "id", timeoutMs: 10_000, maxRetries: 3 });
  });

  it("refuses a non-http(s) URL and unknown keys, naming the field", () => {
    expect(() => parseScimConfig({ baseUrl: "ftp://x/scim", token_env: "A" })).toThrow(/baseUrl: must be an https:\/\//);
    expect(() => parseScimConfig({ ...base, token_env: "A", tokn_file: "x" })).toThrow(/PV_CONFIG|unrecognized|tokn_file/);
    expect(() => parseScimConfig({ ...base, token_env: "A", groupKey: "name" })).toThrow(/groupKey/);
  });

  it("escapes filter values as JSON strings and reads Retry-After in seconds or as a date", () => {
    expect(eqFilter("userName", 'a"b\\c')).toBe('userName eq "a\\"b\\\\c"');
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
