/**
 * ScimConnector.discoverAccounts (src/connectors/scim/discovery.ts) against the SCIM simulator, over HTTP:
 * paging by startIndex/count (RFC 7644 §3.4.2.4), membership of the requested entitlement keys exactly as
 * spelled, inactive accounts, servers that page short, repeat an account, leave out totalResults or ignore
 * startIndex, faults mid-listing (the iteration throws after the pages it gave), Retry-After, and the same
 * discovered set at a strict and a sloppy server (case-sensitive filters, duplicate members, 429 bursts).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { DiscoveredAccount, DiscoveryRequest } from "../../../src/connectors/capabilities/account.js";
import { ScimConnector } from "../../../src/connectors/scim/connector.js";
import { ConfigurationError, PermanentError, TransientError } from "../../../src/errors.js";
import { logger } from "../../../src/logger.js";
import { ScimSimulator } from "../../../src/simulators/scim/server.js";
import { SCENARIO_END_STATE, endState, runScenario, seedScenario } from "./scenario.js";

const TOKEN = "scim-discovery-token";
const env = { SCIM_TEST_TOKEN: TOKEN, SCIM_WRONG_TOKEN: "wrong" };
let sim: ScimSimulator;
let connector: ScimConnector;
let seq = 0;
/** Group ids by displayName, and User ids by userName, of `sim` */
const g: Record<string, string> = {};
const u: Record<string, string> = {};

const config = (extra: Record<string, unknown> = {}) => ({
  baseUrl: sim.baseUrl,
  token_env: "SCIM_TEST_TOKEN",
  timeoutMs: 2000,
  maxRetries: 3,
  maxRetryWaitMs: 3000,
  retryBaseDelayMs: 10,
  ...extra,
});
const ctx = () => ({ correlationId: `scim-discovery-${++seq}`, attempt: 1, log: logger() });

/** Every page of a pass, or the pages before the error and the error. */
async function pass(iterable: AsyncIterable<DiscoveredAccount[]>): Promise<{ pages: DiscoveredAccount[][]; error?: unknown }> {
  const pages: DiscoveredAccount[][] = [];
  try {
    for await (const page of iterable) pages.push(page);
  } catch (error) {
    return { pages, error };
  }
  return { pages };
}
/** A complete pass (fails the test on an error). */
async function complete(iterable: AsyncIterable<DiscoveredAccount[]>): Promise<DiscoveredAccount[][]> {
  const pages: DiscoveredAccount[][] = [];
  for await (const page of iterable) pages.push(page);
  return pages;
}
const line = (a: DiscoveredAccount) => `${a.userIdInApp} ${a.active ? "active" : "inactive"} [${a.entitlements.join(",")}]`;
const lines = (pages: DiscoveredAccount[][]) => pages.map((p) => p.map(line));
const discover = (request: Partial<DiscoveryRequest> = {}, extra: Record<string, unknown> = {}, c: ScimConnector = connector) =>
  c.discoverAccounts(config(extra), { entitlementKeys: [g.Engineering!, g.Operations!, g.Empty!], pageSize: 3, ...request }, ctx());
const usersGets = () => sim.requests.filter((q) => q.method === "GET" && q.path === "/Users");

/** The seven accounts in the server's order, holding Engineering / Operations / Empty (keys = Group ids). */
const ALL = [
  "ada active [{eng}]",
  "Bob active [{eng},{ops}]",
  "carol active []",
  "dave inactive [{eng}]",
  "Eve active [{ops}]",
  "frank active []",
  "grace active [{eng}]",
];
const expected = (): string[] => ALL.map((l) => l.replace("{eng}", g.Engineering!).replace("{ops}", g.Operations!));
const chunk = (xs: string[], n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

beforeAll(async () => {
  sim = new ScimSimulator({ token: TOKEN });
  await sim.start();
  for (const name of ["ada", "Bob", "carol", "dave", "Eve", "frank", "grace"]) u[name] = sim.store.createUser({ userName: name, active: name !== "dave" }).id;
  const members = (...names: string[]) => names.map((n) => ({ value: u[n]! }));
  g.Engineering = sim.store.createGroup({ displayName: "Engineering", members: members("ada", "Bob", "dave", "grace") }).id;
  g.Operations = sim.store.createGroup({ displayName: "Operations", members: members("Bob", "Eve") }).id;
  g.Empty = sim.store.createGroup({ displayName: "Empty" }).id;
  g.Secret = sim.store.createGroup({ displayName: "Secret", members: members("ada", "carol") }).id;
  connector = new ScimConnector({ env });
});
afterAll(async () => {
  await connector.close();
  await sim.stop();
});
beforeEach(() => {
  sim.faults.clear();
  sim.clearLog();
  sim.maxPageSize = undefined;
});

describe("discoverAccounts: pages and membership", () => {
  it("7 accounts with pageSize 3: pages of 3, 3 and 1 in the server's order, each with exactly its memberships", async () => {
    const pages = await complete(discover());
    expect(lines(pages)).toEqual(chunk(expected(), 3));
    expect(pages.flat().map((a) => a.nativeId)).toEqual(Object.values(u));
    // each Group once, then three pages; the last page reached totalResults, so no fourth (empty) request
    expect(sim.requests.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
      `GET /Groups/${g.Engineering} 200`,
      `GET /Groups/${g.Operations} 200`,
      `GET /Groups/${g.Empty} 200`,
      "GET /Users 200",
      "GET /Users 200",
      "GET /Users 200",
    ]);
  });

  it("an inactive account is reported active: false, the others active: true", async () => {
    const all = (await complete(discover({ pageSize: 100 }))).flat();
    expect(all.filter((a) => !a.active).map((a) => a.userIdInApp)).toEqual(["dave"]);
    expect(all.filter((a) => a.active)).toHaveLength(6);
  });

  it("one page when pageSize covers everyone, seven with pageSize 1; no entitlement keys: no Group read", async () => {
    expect(lines(await complete(discover({ pageSize: 7 })))).toEqual([expected()]);
    expect(usersGets()).toHaveLength(1);
    sim.clearLog();
    const single = await complete(discover({ pageSize: 1, entitlementKeys: [] }));
    expect(lines(single)).toEqual(ALL.map((l) => [l.replace(/\[.*\]/, "[]")]));
    expect(sim.requests.map((q) => q.path)).toEqual(Array(7).fill("/Users"));
  });

  it("entitlements are the request's keys as spelled, in its order, each once; Groups not asked for are not reported", async () => {
    const keys = ["OPERATIONS", "Engineering", "No Such Group", "Engineering", "engineering"];
    const pages = await complete(discover({ entitlementKeys: keys }, { groupKey: "displayName" }));
    expect(lines(pages).flat()).toEqual([
      "ada active [Engineering,engineering]",
      "Bob active [OPERATIONS,Engineering,engineering]",
      "carol active []", // in Secret, which was not asked for
      "dave inactive [Engineering,engineering]",
      "Eve active [OPERATIONS]",
      "frank active []",
      "grace active [Engineering,engineering]",
    ]);
    // four lookups by displayName (one per distinct key), each Group's members read once
    expect(sim.requests.filter((q) => q.path === "/Groups").map((q) => q.filter)).toEqual([
      'displayName eq "OPERATIONS"',
      'displayName eq "Engineering"',
      'displayName eq "No Such Group"',
      'displayName eq "engineering"',
    ]);
    expect(sim.requests.filter((q) => q.path.startsWith("/Groups/")).map((q) => q.path)).toEqual([`/Groups/${g.Operations}`, `/Groups/${g.Engineering}`]);
  });

  it("a Group id that does not exist holds nobody (404 on its read); the listing goes on", async () => {
    const gone = randomUUID();
    const pages = await complete(discover({ entitlementKeys: [gone, g.Operations!] }));
    expect(lines(pages).flat()).toEqual([
      "ada active []",
      `Bob active [${g.Operations}]`,
      "carol active []",
      "dave inactive []",
      `Eve active [${g.Operations}]`,
      "frank active []",
      "grace active []",
    ]);
    expect(sim.requests[0]).toMatchObject({ path: `/Groups/${gone}`, status: 404 });
  });

  it("nothing is sent before the first next(); the listing sends GETs only", async () => {
    const iterable = discover();
    await new Promise((r) => setTimeout(r, 50));
    expect(sim.requests).toEqual([]);
    await complete(iterable);
    expect(sim.requests.length).toBeGreaterThan(0);
    expect(sim.requests.every((q) => q.method === "GET")).toBe(true);
  });

  it("a service without accounts: no page at all, after one request", async () => {
    const empty = new ScimSimulator({ token: TOKEN });
    await empty.start();
    try {
      const pages = await complete(connector.discoverAccounts(config({ baseUrl: empty.baseUrl }), { entitlementKeys: [], pageSize: 3 }, ctx()));
      expect(pages).toEqual([]);
      expect(empty.requests.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual(["GET /Users 200"]);
    } finally {
      await empty.stop();
    }
  });
});

describe("discoverAccounts: servers that page differently", () => {
  it("a server that returns fewer than count (at most 2): pages of 2, 2, 2, 1, the same accounts", async () => {
    sim.maxPageSize = 2;
    const pages = await complete(discover());
    expect(lines(pages)).toEqual(chunk(expected(), 2));
    expect(usersGets()).toHaveLength(4);
  });

  it("an account inserted before the cursor between two pages: the one pushed onto page 2 is yielded once, none is missed", async () => {
    let aaron = "";
    sim.faults.add({
      method: "GET",
      path: "/Users",
      skip: 1,
      count: 1,
      action: {
        kind: "before",
        // a new account sorted first (as a server ordering by userName would): every other one moves down by one
        run: () => {
          const rest = [...sim.store.users.entries()];
          sim.store.users.clear();
          aaron = randomUUID();
          sim.store.users.set(aaron, { ...rest[0]![1], id: aaron, userName: "aaron" });
          for (const [id, user] of rest) sim.store.users.set(id, user);
        },
      },
    });
    try {
      const pages = await complete(discover());
      // page 2 (startIndex 4) now starts with carol again; the pass ends at startIndex 9 > totalResults 8
      expect(lines(pages)).toEqual([expected().slice(0, 3), expected().slice(3, 5), expected().slice(5)]);
      expect(usersGets()).toHaveLength(3);
    } finally {
      sim.store.users.delete(aaron);
    }
  });

  it("a server that leaves out totalResults is read until a page comes back empty", async () => {
    sim.faults.add({ method: "GET", path: "/Users", count: 10, action: { kind: "rewrite", edit: ({ totalResults: _t, ...rest }) => rest } });
    const pages = await complete(discover());
    expect(lines(pages)).toEqual(chunk(expected(), 3));
    expect(usersGets()).toHaveLength(4);
  });

  it("a server page larger than pageSize is yielded in slices of pageSize", async () => {
    // answers startIndex 1 with all seven whatever count says
    sim.faults.add({
      method: "GET",
      path: "/Users",
      count: 1,
      action: { kind: "rewrite", edit: (body) => ({ ...body, Resources: [...sim.store.users.values()], itemsPerPage: 7 }) },
    });
    const pages = await complete(discover());
    expect(lines(pages)).toEqual(chunk(expected(), 3));
    expect(usersGets()).toHaveLength(1);
  });

  it("a server that ignores startIndex: PV_SCIM_PROTOCOL after the first page, instead of looping or ending early", async () => {
    let first: unknown;
    sim.faults.add({
      method: "GET",
      path: "/Users",
      count: 10,
      action: { kind: "rewrite", edit: (body) => ({ ...body, Resources: (first ??= body.Resources) }) },
    });
    const r = await pass(discover());
    expect(lines(r.pages)).toEqual([expected().slice(0, 3)]);
    expect(r.error).toBeInstanceOf(PermanentError);
    expect(r.error).toMatchObject({ code: "PV_SCIM_PROTOCOL", retryable: false });
    expect((r.error as Error).message).toMatch(/startIndex 4.*does not honour startIndex/);
    expect(usersGets()).toHaveLength(2);
  });

  it("an answer that is not a ListResponse, or a User without a userName: PV_SCIM_PROTOCOL", async () => {
    sim.faults.add({ method: "GET", path: "/Users", count: 1, action: { kind: "rewrite", edit: () => ({ Resources: "none" }) } });
    expect((await pass(discover())).error).toMatchObject({ code: "PV_SCIM_PROTOCOL" });
    sim.faults.add({ method: "GET", path: "/Users", count: 1, action: { kind: "rewrite", edit: (b) => ({ ...b, Resources: [{ id: "x" }] }) } });
    const r = await pass(discover());
    expect(r.pages).toEqual([]);
    expect(r.error).toMatchObject({ code: "PV_SCIM_PROTOCOL" });
  });
});

describe("discoverAccounts: failures mid-listing and throttling", () => {
  it("a 500 on page 2: the iteration throws a TransientError after giving page 1", async () => {
    sim.faults.add({ method: "GET", path: "/Users", skip: 1, count: 1, action: { kind: "respond", status: 500, detail: "database on fire" } });
    const r = await pass(discover());
    expect(lines(r.pages)).toEqual([expected().slice(0, 3)]);
    expect(r.error).toBeInstanceOf(TransientError);
    expect(r.error).toMatchObject({ code: "PV_SCIM_SERVER", retryable: true });
    expect((r.error as TransientError).resultData()).toMatchObject({ http_status: 500, request: "GET /Users", detail: "database on fire" });
    expect(usersGets().map((q) => q.status)).toEqual([200, 500]);
  });

  it("a connection closed on page 2 is retried (a GET); closed on every try, the iteration throws PV_SCIM_CONNECTION", async () => {
    sim.faults.add({ method: "GET", path: "/Users", skip: 1, count: 1, action: { kind: "drop" } });
    expect(lines(await complete(discover()))).toEqual(chunk(expected(), 3));
    expect(usersGets().map((q) => q.status)).toEqual([200, 0, 200, 200]);

    sim.clearLog();
    sim.faults.add({ method: "GET", path: "/Users", skip: 1, count: 10, action: { kind: "drop" } });
    const r = await pass(discover({}, { maxRetries: 1 }));
    expect(lines(r.pages)).toEqual([expected().slice(0, 3)]);
    expect(r.error).toBeInstanceOf(TransientError);
    expect(r.error).toMatchObject({ code: "PV_SCIM_CONNECTION" });
    expect(usersGets().map((q) => q.status)).toEqual([200, 0, 0]);
  });

  it("429 with Retry-After is waited for as asked (the client's retry), then the listing goes on", async () => {
    const waits: number[] = [];
    const recording = new ScimConnector({ env, sleep: async (ms) => void waits.push(ms) });
    sim.faults.add({ method: "GET", path: "/Users", skip: 1, count: 2, action: { kind: "respond", status: 429, retryAfter: 1 } });
    sim.faults.add({ method: "GET", path: "/Groups/", count: 1, action: { kind: "respond", status: 503, retryAfter: 2 } });
    expect(lines(await complete(discover({}, {}, recording)))).toEqual(chunk(expected(), 3));
    expect(waits).toEqual([2000, 1000, 1000]);
    expect(usersGets().map((q) => q.status)).toEqual([200, 429, 429, 200, 200]);
  });

  it("a Retry-After beyond maxRetryWaitMs on page 2: PV_SCIM_RATE_LIMITED with retry_after_ms, after page 1", async () => {
    sim.faults.add({ method: "GET", path: "/Users", skip: 1, count: 1, action: { kind: "respond", status: 429, retryAfter: 120 } });
    const t0 = Date.now();
    const r = await pass(discover());
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(lines(r.pages)).toEqual([expected().slice(0, 3)]);
    expect(r.error).toMatchObject({ code: "PV_SCIM_RATE_LIMITED", retryable: true });
    expect((r.error as TransientError).resultData()).toMatchObject({ http_status: 429, retry_after_ms: 120_000 });
  });

  it("a Group that cannot be read fails the pass before any page: 5xx transient, 4xx PV_SCIM_REJECTED", async () => {
    sim.faults.add({ path: `/Groups/${g.Operations}`, count: 1, action: { kind: "respond", status: 500 } });
    const r1 = await pass(discover());
    expect(r1.pages).toEqual([]);
    expect(r1.error).toMatchObject({ code: "PV_SCIM_SERVER", retryable: true });
    expect(usersGets()).toEqual([]);

    sim.faults.add({ path: `/Groups/${g.Operations}`, count: 1, action: { kind: "respond", status: 400, scimType: "invalidValue", detail: "bad id" } });
    const r2 = await pass(discover());
    expect(r2.pages).toEqual([]);
    expect(r2.error).toBeInstanceOf(PermanentError);
    expect(r2.error).toMatchObject({ code: "PV_SCIM_REJECTED", retryable: false });
    expect((r2.error as Error).message).toContain("bad id");
  });

  it("a bad token (401): PermanentError PV_SCIM_AUTH; a bad config or missing token: ConfigurationError; a bad pageSize: RangeError", async () => {
    const auth = await pass(discover({}, { token_env: "SCIM_WRONG_TOKEN" }));
    expect(auth.error).toBeInstanceOf(PermanentError);
    expect(auth.error).toMatchObject({ code: "PV_SCIM_AUTH", configSuspect: true });
    expect((await pass(discover({}, { token_env: "SCIM_UNSET" }))).error).toBeInstanceOf(ConfigurationError);
    expect((await pass(discover({}, { groupKey: "name" }))).error).toMatchObject({ code: "PV_CONFIG" });
    expect((await pass(discover({ pageSize: 0 }))).error).toBeInstanceOf(RangeError);
    expect((await pass(discover({ pageSize: 2.5 }))).error).toBeInstanceOf(RangeError);
  });

  it("a closed connector refuses a new pass (PV_SCIM_CLOSED)", async () => {
    const closing = new ScimConnector({ env });
    await closing.close();
    expect((await pass(discover({}, {}, closing))).error).toMatchObject({ code: "PV_SCIM_CLOSED", retryable: true });
    expect(sim.requests).toEqual([]);
  });
});

describe("discoverAccounts: a strict and a sloppy server give the same discovered set", () => {
  // denser bursts than sloppy mode's default (2 served, 2 refused), so that even a pass of four requests meets them
  const pair = { strict: new ScimSimulator({ token: TOKEN }), sloppy: new ScimSimulator({ token: TOKEN, mode: "sloppy", throttle: { every: 2, burst: 2 } }) };
  const groups: Record<string, Record<string, string>> = {};
  beforeAll(async () => {
    await Promise.all([pair.strict.start(), pair.sloppy.start()]);
    for (const [mode, s] of Object.entries(pair)) {
      groups[mode] = seedScenario(s);
      const results = await runScenario(connector, config({ baseUrl: s.baseUrl }), groups[mode], `discovery-${mode}`);
      expect(results.every((r) => r.success)).toBe(true);
    }
    // what a sloppy server holds after a client that repeats adds: a duplicate member entry
    const eng = groups.sloppy!.Engineering!;
    const members = pair.sloppy.store.groups.get(eng)!.members as { value: string }[];
    pair.sloppy.store.replaceGroup(eng, { displayName: "Engineering", members: [...members, members[0]!] });
  });
  afterAll(async () => {
    await Promise.all([pair.strict.stop(), pair.sloppy.stop()]);
  });

  it("the stores differ only by the duplicate member entry", () => {
    expect(endState(pair.strict)).toEqual(SCENARIO_END_STATE);
    expect(endState(pair.sloppy)).toEqual({ ...SCENARIO_END_STATE, groups: { ...SCENARIO_END_STATE.groups, Engineering: ["Frank", "Frank", "alice"] } });
  });

  for (const groupKey of ["id", "displayName"] as const) {
    it(`groupKey ${groupKey}: the same accounts, activity and entitlements, through 429 bursts`, async () => {
      const seen: Record<string, string[]> = {};
      for (const [mode, s] of Object.entries(pair)) {
        s.clearLog();
        s.throttle?.reset();
        const keys = groupKey === "id" ? [groups[mode]!.Engineering!, groups[mode]!.Operations!] : ["Engineering", "Operations"];
        const name = new Map(keys.map((k, i) => [k, ["Engineering", "Operations"][i]!]));
        const pages = await complete(connector.discoverAccounts(config({ baseUrl: s.baseUrl, groupKey }), { entitlementKeys: keys, pageSize: 2 }, ctx()));
        expect(pages.map((p) => p.length)).toEqual([2, 2]);
        const ids = pages.flat().map((a) => a.nativeId);
        expect(new Set(ids).size).toBe(4);
        expect(ids.sort()).toEqual([...s.store.users.keys()].sort());
        seen[mode] = pages.flat().map((a) => line({ ...a, entitlements: a.entitlements.map((k) => name.get(k)!) }));
      }
      expect(seen.strict).toEqual(["Frank active [Engineering]", "alice active [Engineering]", "bob inactive []", "carol inactive []"]);
      expect(seen.sloppy).toEqual(seen.strict);
      expect(pair.strict.requests.filter((q) => q.status === 429)).toEqual([]);
      expect(pair.sloppy.throttle!.throttled).toBeGreaterThan(0);
      expect(pair.sloppy.requests.filter((q) => q.status === 429)).toHaveLength(pair.sloppy.throttle!.throttled);
    });
  }

  it("sloppy: a displayName key naming two Groups fails the pass (PV_SCIM_AMBIGUOUS) rather than report nobody", async () => {
    const twin = pair.sloppy.store.createGroup({ displayName: "Operations" }).id;
    try {
      const r = await pass(
        connector.discoverAccounts(config({ baseUrl: pair.sloppy.baseUrl, groupKey: "displayName" }), { entitlementKeys: ["Operations"], pageSize: 2 }, ctx()),
      );
      expect(r.pages).toEqual([]);
      expect(r.error).toBeInstanceOf(PermanentError);
      expect(r.error).toMatchObject({ code: "PV_SCIM_AMBIGUOUS" });
      expect((r.error as Error).message).toContain("2 SCIM Groups have displayName");
    } finally {
      pair.sloppy.store.deleteGroup(twin);
    }
  });
});
