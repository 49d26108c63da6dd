/**
 * The SCIM simulator (src/simulators/scim/) on its own, over HTTP: what scimmy gives (PATCH, lists,
 * errors) and what the simulator adds (uniqueness, filters with escapes, member de-duplication, paging
 * past the end and a page-size cap, faults, sloppy mode's 429 bursts, the request log, bearer auth).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseFilter, matchesFilter, ScimFilterError } from "../../../src/simulators/scim/filter.js";
import { DEFAULT_THROTTLE, ScimSimulator } from "../../../src/simulators/scim/server.js";

const TOKEN = "sim-token";
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
let strict: ScimSimulator;
let sloppy: ScimSimulator;

async function call(sim: ScimSimulator, method: string, path: string, body?: unknown, token = TOKEN) {
  const res = await fetch(sim.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}
const q = (filter: string) => `?filter=${encodeURIComponent(filter)}`;
const addMember = (id: string) => ({ schemas: [PATCH], Operations: [{ op: "add", path: "members", value: [{ value: id }] }] });

beforeAll(async () => {
  strict = new ScimSimulator({ token: TOKEN });
  sloppy = new ScimSimulator({ token: TOKEN, mode: "sloppy" });
  await Promise.all([strict.start(), sloppy.start()]);
});
afterAll(async () => {
  await Promise.all([strict.stop(), sloppy.stop()]);
});
beforeEach(() => {
  for (const s of [strict, sloppy]) {
    s.store.clear();
    s.faults.clear();
    s.clearLog();
    s.throttle?.reset(); // sloppy: the next 5 requests are served, then 2 answered 429 (DEFAULT_THROTTLE)
  }
});

describe("SCIM simulator (strict)", () => {
  it("refuses a request without the bearer token with 401 and a SCIM error body", async () => {
    const r = await call(strict, "GET", "/Users", undefined, "wrong");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(r.body).toMatchObject({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "401" });
  });

  it("creates a User (201) and answers 409 uniqueness for the same userName in another case (RFC 7644 §3.3)", async () => {
    const a = await call(strict, "POST", "/Users", { schemas: [USER], userName: "Alice" });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ userName: "Alice", active: true, meta: { resourceType: "User" } });
    const b = await call(strict, "POST", "/Users", { schemas: [USER], userName: "alice" });
    expect(b.status).toBe(409);
    expect(b.body).toMatchObject({ status: "409", scimType: "uniqueness" });
  });

  it("filters userName case-insensitively, with escaped quotes and backslashes; a bad filter is 400 invalidFilter", async () => {
    const tricky = 'o"brien\\x';
    await call(strict, "POST", "/Users", { schemas: [USER], userName: "Alice" });
    await call(strict, "POST", "/Users", { schemas: [USER], userName: tricky });
    const a = await call(strict, "GET", `/Users${q('userName eq "ALICE"')}`);
    expect(a.body.Resources.map((u: any) => u.userName)).toEqual(["Alice"]);
    const t = await call(strict, "GET", `/Users${q(`userName eq ${JSON.stringify(tricky)}`)}`);
    expect(t.body.totalResults).toBe(1);
    expect(t.body.Resources[0].userName).toBe(tricky);
    const bad = await call(strict, "GET", `/Users${q('userName eq "unterminated')}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ scimType: "invalidFilter" });
    expect(strict.requests.at(-1)).toMatchObject({ method: "GET", path: "/Users", status: 400, filter: 'userName eq "unterminated' });
  });

  it("PATCH add/remove of Group members (RFC 7644 §3.5.2): a repeated add keeps one entry, remove by members[value eq]", async () => {
    const u = (await call(strict, "POST", "/Users", { schemas: [USER], userName: "bob" })).body;
    const g = strict.store.createGroup({ displayName: "G" });
    expect((await call(strict, "PATCH", `/Groups/${g.id}`, addMember(u.id))).status).toBe(200);
    expect((await call(strict, "PATCH", `/Groups/${g.id}`, addMember(u.id))).status).toBe(204);
    expect(strict.store.memberEntries(g.id, u.id)).toBe(1);
    const user = await call(strict, "GET", `/Users/${u.id}`);
    expect(user.body.groups).toEqual([expect.objectContaining({ value: g.id, display: "G" })]);
    const byMember = await call(strict, "GET", `/Groups${q(`members.value eq "${u.id}"`)}&attributes=id`);
    expect(byMember.body.Resources.map((x: any) => x.id)).toEqual([g.id]);

    const remove = { schemas: [PATCH], Operations: [{ op: "remove", path: `members[value eq "${u.id}"]` }] };
    expect((await call(strict, "PATCH", `/Groups/${g.id}`, remove)).status).toBe(200);
    expect(strict.store.memberEntries(g.id, u.id)).toBe(0);
    expect((await call(strict, "PATCH", `/Groups/${g.id}`, remove)).status).toBe(204);
    expect((await call(strict, "GET", `/Users/${u.id}`)).body.groups).toBeUndefined();
  });

  it("refuses a member that is no User or Group (400) and a PATCH of an unknown Group (404)", async () => {
    const g = strict.store.createGroup({ displayName: "G" });
    const r = await call(strict, "PATCH", `/Groups/${g.id}`, addMember("no-such-user"));
    expect(r.status).toBe(400);
    expect(r.body.detail).toContain("no-such-user");
    expect((await call(strict, "PATCH", "/Groups/nope", addMember("x"))).status).toBe(404);
  });

  it("PATCH replace active, and pagination with startIndex and count", async () => {
    const u = (await call(strict, "POST", "/Users", { schemas: [USER], userName: "carl" })).body;
    const r = await call(strict, "PATCH", `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: false }] });
    expect(r.body.active).toBe(false);
    for (let i = 0; i < 5; i++) strict.store.createUser({ userName: `page-${i}` });
    const page = await call(strict, "GET", "/Users?startIndex=3&count=2");
    expect(page.body).toMatchObject({ totalResults: 6, startIndex: 3, itemsPerPage: 2 });
    expect(page.body.Resources).toHaveLength(2);
  });

  it("injects 429 with Retry-After for the next N matching requests and logs each request", async () => {
    strict.faults.add({ method: "GET", path: "/Users", count: 2, action: { kind: "respond", status: 429, retryAfter: 7 } });
    const a = await call(strict, "GET", "/Users");
    expect(a.status).toBe(429);
    expect(a.headers.get("retry-after")).toBe("7");
    expect((await call(strict, "GET", "/Groups")).status).toBe(200);
    expect((await call(strict, "GET", "/Users")).status).toBe(429);
    expect((await call(strict, "GET", "/Users")).status).toBe(200);
    expect(strict.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(["GET /Users 429", "GET /Groups 200", "GET /Users 429", "GET /Users 200"]);
    expect(strict.faults.remaining()).toBe(0);
  });

  it("paging: a startIndex past the end gets no Resources (scimmy alone answers the first page again); maxPageSize caps count", async () => {
    for (let i = 0; i < 5; i++) strict.store.createUser({ userName: `p${i}` });
    const past = await call(strict, "GET", "/Users?startIndex=6&count=3");
    expect(past.status).toBe(200);
    expect(past.body).toMatchObject({ totalResults: 5, Resources: [] });
    const last = await call(strict, "GET", "/Users?startIndex=5&count=3");
    expect(last.body.Resources.map((u: any) => u.userName)).toEqual(["p4"]);
    expect((await call(strict, "GET", "/Groups?startIndex=2&count=3")).body).toMatchObject({ totalResults: 0, Resources: [] });

    strict.maxPageSize = 2;
    try {
      const capped = await call(strict, "GET", "/Users?startIndex=2&count=3");
      expect(capped.body).toMatchObject({ totalResults: 5, startIndex: 2, itemsPerPage: 2 });
      expect(capped.body.Resources.map((u: any) => u.userName)).toEqual(["p1", "p2"]);
      expect((await call(strict, "GET", "/Users")).body.Resources).toHaveLength(2);
    } finally {
      strict.maxPageSize = undefined;
    }
    expect(() => new ScimSimulator({ token: TOKEN, maxPageSize: 0 })).toThrow(RangeError);
  });

  it("a rule with skip lets the first matching requests through; rewrite edits the answer's JSON", async () => {
    strict.store.createUser({ userName: "r1" });
    strict.faults.add({ method: "GET", path: "/Users", skip: 1, count: 1, action: { kind: "respond", status: 500 } });
    strict.faults.add({
      method: "GET",
      path: "/Groups",
      count: 1,
      action: { kind: "rewrite", edit: (body, query) => ({ ...body, totalResults: undefined, seen: query.count }) },
    });
    expect((await call(strict, "GET", "/Users")).status).toBe(200);
    expect((await call(strict, "GET", "/Users")).status).toBe(500);
    expect((await call(strict, "GET", "/Users")).status).toBe(200);
    const rewritten = await call(strict, "GET", "/Groups?count=7");
    expect(rewritten.status).toBe(200);
    expect(rewritten.headers.get("content-type")).toMatch(/application\/scim\+json/);
    expect(rewritten.body).toMatchObject({ Resources: [], seen: 7 });
    expect(rewritten.body).not.toHaveProperty("totalResults");
    expect((await call(strict, "GET", "/Groups")).body).toMatchObject({ totalResults: 0 });
    expect(strict.faults.remaining()).toBe(0);
  });

  it("answers no 429 bursts unless asked to (strict mode's default)", async () => {
    expect(strict.throttle).toBeUndefined();
    for (let i = 0; i < 10; i++) expect((await call(strict, "GET", "/Users")).status).toBe(200);
  });

  it("serialises concurrent PATCHes of one Group: no member is lost", async () => {
    const g = strict.store.createGroup({ displayName: "busy" });
    const ids = Array.from({ length: 20 }, (_, i) => strict.store.createUser({ userName: `c${i}` }).id);
    await Promise.all(ids.map((id) => call(strict, "PATCH", `/Groups/${g.id}`, addMember(id))));
    expect((strict.store.groupView(g.id)!.members as unknown[]).length).toBe(20);
  });
});

describe("SCIM simulator (sloppy)", () => {
  it("compares userName case-sensitively in filters and duplicates a member on a repeated add", async () => {
    const u = sloppy.store.createUser({ userName: "Dora" });
    const g = sloppy.store.createGroup({ displayName: "G" });
    expect((await call(sloppy, "GET", `/Users${q('userName eq "dora"')}`)).body.totalResults).toBe(0);
    expect((await call(sloppy, "POST", "/Users", { schemas: [USER], userName: "dora" })).status).toBe(409);
    await call(sloppy, "PATCH", `/Groups/${g.id}`, addMember(u.id));
    await call(sloppy, "PATCH", `/Groups/${g.id}`, addMember(u.id));
    expect(sloppy.store.memberEntries(g.id, u.id)).toBe(2);
  });

  it("answers 429 bursts with Retry-After 0: 5 requests served, then 2 refused, again and again (DEFAULT_THROTTLE)", async () => {
    expect(DEFAULT_THROTTLE).toEqual({ every: 5, burst: 2, retryAfter: 0 });
    const answers: string[] = [];
    for (let i = 0; i < 14; i++) {
      const r = await call(sloppy, i % 2 ? "GET" : "POST", i % 2 ? "/Users" : "/Groups", i % 2 ? undefined : { displayName: `g${i}` });
      answers.push(r.status === 429 ? `429 ${r.headers.get("retry-after")} ${r.body.status}` : String(r.status));
    }
    expect(answers).toEqual(["201", "200", "201", "200", "201", "429 0 429", "429 0 429", "200", "201", "200", "201", "200", "429 0 429", "429 0 429"]);
    expect(sloppy.throttle!.throttled).toBe(4);
    expect(sloppy.store.groups.size).toBe(5); // a refused POST changed nothing
    expect(sloppy.requests.filter((r) => r.status === 429)).toHaveLength(4);
  });

  it("the bursts are configurable (every, burst, retryAfter), in either mode, or off", async () => {
    const custom = new ScimSimulator({ token: TOKEN, throttle: { every: 1, burst: 3, retryAfter: 2 } });
    const off = new ScimSimulator({ token: TOKEN, mode: "sloppy", throttle: false });
    await Promise.all([custom.start(), off.start()]);
    try {
      const statuses: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await call(custom, "GET", "/Users");
        statuses.push(`${r.status}${r.headers.get("retry-after") ? `/${r.headers.get("retry-after")}` : ""}`);
      }
      expect(statuses).toEqual(["200", "429/2", "429/2", "429/2", "200"]);
      expect(off.throttle).toBeUndefined();
      for (let i = 0; i < 8; i++) expect((await call(off, "GET", "/Users")).status).toBe(200);
    } finally {
      await Promise.all([custom.stop(), off.stop()]);
    }
    expect(() => new ScimSimulator({ token: TOKEN, throttle: { every: 0 } })).toThrow(RangeError);
    expect(() => new ScimSimulator({ token: TOKEN, throttle: { burst: 1.5 } })).toThrow(RangeError);
    expect(() => new ScimSimulator({ token: TOKEN, throttle: { retryAfter: -1 } })).toThrow(RangeError);
  });
});

describe("SCIM filter parser (RFC 7644 §3.4.2.2)", () => {
  const strictOpts = { caseExact: (p: string) => p === "id" };
  const user = { id: "U1", userName: "Alice", active: true, emails: [{ value: "a@x.test", type: "work" }], name: { familyName: "Doe" } };
  const m = (f: string) => matchesFilter(parseFilter(f), user, strictOpts);
  it("evaluates comparisons, presence, and/or/not with precedence, value paths and URN prefixes", () => {
    expect(m('userName eq "alice"')).toBe(true);
    expect(m('id eq "u1"')).toBe(false);
    expect(m("active eq true and name.familyName pr")).toBe(true);
    expect(m('userName eq "x" or userName sw "al" and active eq false')).toBe(false);
    expect(m('not (userName eq "bob")')).toBe(true);
    expect(m('emails[type eq "work" and value ew "@X.TEST"]')).toBe(true);
    expect(m('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ALICE"')).toBe(true);
    expect(m("title pr")).toBe(false);
  });
  it("rejects what is outside the grammar", () => {
    for (const bad of ['userName eq "a', "userName eq", "userName xx 1", '(userName eq "a"', 'userName eq "a" extra']) {
      expect(() => parseFilter(bad)).toThrow(ScimFilterError);
    }
  });
});
