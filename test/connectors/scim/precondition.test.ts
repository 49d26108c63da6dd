/**
 * The SCIM connector's re-read and re-plan on 412 Precondition Failed (RFC 7644 §3.14), against the SCIM
 * simulator answering 412 by fault injection (faults.preconditionFailed, optionally with a concurrent
 * change to its store); and Group displayName keys with quotes, backslashes and filter syntax resolved
 * exactly (RFC 7644 §3.4.2.2).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AccountDesiredState } from "../../../src/connectors/capabilities/account.js";
import { eqFilter } from "../../../src/connectors/scim/client.js";
import { ScimConnector, parseScimConfig } from "../../../src/connectors/scim/connector.js";
import { logger } from "../../../src/logger.js";
import { ScimSimulator } from "../../../src/simulators/scim/server.js";

const TOKEN = "scim-412-token";
const env = { SCIM_TEST_TOKEN: TOKEN };
let sim: ScimSimulator;
let connector: ScimConnector;
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
const ctx = () => ({ correlationId: `scim-412-${++seq}`, attempt: 1, log: logger() });
const desired = (userIdInApp: string, over: Partial<AccountDesiredState> = {}): AccountDesiredState => ({
  userIdInApp,
  attributes: { userName: userIdInApp },
  ensureAccount: true,
  entitlementsToGrant: [],
  entitlementsToRevoke: [],
  deactivateWhenEmpty: false,
  ...over,
});
const outcomes = (r: { operations: { op: string; target: string; outcome: string }[] }) => r.operations.map((o) => `${o.op}:${o.target}:${o.outcome}`);
/** The request log from the first write on, as "METHOD path status". */
const fromFirstWrite = () => {
  const log = sim.requests.map((q) => `${q.method} ${q.path} ${q.status}`);
  return log.slice(log.findIndex((l) => !l.startsWith("GET ")));
};
/** The bodies the simulator answers to the displayName lookups (`GET /Groups?attributes=id,displayName`) from now on. */
const captureGroupLookup = () => {
  const bodies: Record<string, unknown>[] = [];
  sim.faults.add({
    method: "GET",
    path: /^\/Groups$/,
    count: 100,
    action: {
      kind: "rewrite",
      edit: (body, query) => {
        if (query.attributes === "id,displayName") bodies.push(body); // the lookup, not the membership read
        return body;
      },
    },
  });
  return bodies;
};
const newGroup = (displayName: string) => sim.store.createGroup({ displayName }).id;
const newUser = (userName: string, active = true) => sim.store.createUser({ userName, active }).id;

beforeAll(async () => {
  sim = new ScimSimulator({ token: TOKEN });
  await sim.start();
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

describe("SCIM connector: 412 Precondition Failed -> re-read and re-plan", () => {
  it("preconditionRetries defaults to 3 and is bounded", () => {
    expect(parseScimConfig({ baseUrl: "https://x/scim", token_env: "A" }).preconditionRetries).toBe(3);
    expect(() => parseScimConfig({ baseUrl: "https://x/scim", token_env: "A", preconditionRetries: -1 })).toThrow(/preconditionRetries/);
  });

  it("grant: 412 because someone else added the member meanwhile -> re-read the Group -> already, no second PATCH", async () => {
    const g = newGroup("p-already");
    const u = newUser("p-anna");
    sim.faults.preconditionFailed({ path: `/Groups/${g}`, count: 1, change: () => void sim.store.addMember(g, u) });
    const r = await connector.applyDesiredState(config(), desired("p-anna", { entitlementsToGrant: [g] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:p-anna:already", `grant:${g}:already`]);
    expect(r.success).toBe(true);
    expect(r.operations[1]).toMatchObject({ native_code: 412 });
    expect(r.operations[1]!.message).toMatch(
      /^already a member: after HTTP 412 Precondition Failed \(PATCH \/Groups\/.*: HTTP 412.*\) and 1 re-read of the Group$/,
    );
    expect(fromFirstWrite()).toEqual([`PATCH /Groups/${g} 412`, `GET /Groups/${g} 200`]);
    expect(sim.store.memberEntries(g, u)).toBe(1);
    expect(sim.faults.remaining()).toBe(0);
  });

  it("grant: 412 then success -> applied after one re-read", async () => {
    const g = newGroup("p-applied");
    const u = newUser("p-bert");
    sim.faults.preconditionFailed({ path: `/Groups/${g}`, count: 1 });
    const r = await connector.applyDesiredState(config(), desired("p-bert", { entitlementsToGrant: [g] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:p-bert:already", `grant:${g}:applied`]);
    expect(r.success).toBe(true);
    expect(r.operations[1]).toMatchObject({ native_code: 412 });
    expect(r.operations[1]!.message).toMatch(/^applied after HTTP 412 .* and 1 re-read of the Group$/);
    expect(fromFirstWrite()).toEqual([`PATCH /Groups/${g} 412`, `GET /Groups/${g} 200`, `PATCH /Groups/${g} 200`]);
    expect(sim.store.memberEntries(g, u)).toBe(1);
  });

  it("412 on every try -> failed with native_code 412 after preconditionRetries re-reads; the other operations go on", async () => {
    const stuck = newGroup("p-stuck");
    const other = newGroup("p-other");
    const u = newUser("p-cleo");
    sim.faults.preconditionFailed({ path: `/Groups/${stuck}`, count: 100 });
    const r = await connector.applyDesiredState(config(), desired("p-cleo", { entitlementsToGrant: [stuck, other] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:p-cleo:already", `grant:${stuck}:failed`, `grant:${other}:applied`]);
    expect(r.success).toBe(false);
    expect(r.operations[1]).toMatchObject({ native_code: 412 });
    expect(r.operations[1]!.message).toMatch(
      new RegExp(`^PATCH /Groups/${stuck}: HTTP 412: .*; still 412 Precondition Failed after 3 re-reads of the Group \\(preconditionRetries 3\\)$`),
    );
    const patchStuck = `PATCH /Groups/${stuck} 412`;
    const reread = `GET /Groups/${stuck} 200`;
    expect(fromFirstWrite()).toEqual([patchStuck, reread, patchStuck, reread, patchStuck, reread, patchStuck, `PATCH /Groups/${other} 200`]);
    expect(sim.store.memberEntries(stuck, u)).toBe(0);
    expect(sim.store.memberEntries(other, u)).toBe(1);
    expect(sim.faults.remaining()).toBe(96); // 1 + 3 PATCHes took a 412

    sim.clearLog();
    const once = await connector.applyDesiredState(config({ preconditionRetries: 0 }), desired("p-cleo", { entitlementsToGrant: [stuck] }), ctx());
    expect(outcomes(once)).toEqual(["create_account:p-cleo:already", `grant:${stuck}:failed`]);
    expect(once.operations[1]!.message).toMatch(/still 412 Precondition Failed after 0 re-reads of the Group/);
    expect(fromFirstWrite()).toEqual([patchStuck]);
  });

  it("revoke: 412 because someone else removed the member -> already; 412 then success -> applied", async () => {
    const g = newGroup("p-revoke");
    const u = newUser("p-dora");
    sim.store.addMember(g, u);
    sim.faults.preconditionFailed({ path: `/Groups/${g}`, count: 1, change: () => void sim.store.removeMember(g, u) });
    const r1 = await connector.applyDesiredState(config(), desired("p-dora", { ensureAccount: false, entitlementsToRevoke: [g] }), ctx());
    expect(outcomes(r1)).toEqual([`revoke:${g}:already`]);
    expect(r1.operations[0]).toMatchObject({ native_code: 412 });
    expect(r1.operations[0]!.message).toMatch(/^no longer a member: after HTTP 412/);
    expect(fromFirstWrite()).toEqual([`PATCH /Groups/${g} 412`, `GET /Groups/${g} 200`]);

    sim.store.addMember(g, u);
    sim.clearLog();
    sim.faults.preconditionFailed({ path: `/Groups/${g}`, count: 2 });
    const r2 = await connector.applyDesiredState(config(), desired("p-dora", { ensureAccount: false, entitlementsToRevoke: [g] }), ctx());
    expect(outcomes(r2)).toEqual([`revoke:${g}:applied`]);
    expect(r2.operations[0]!.message).toMatch(/and 2 re-reads of the Group$/);
    expect(sim.store.memberEntries(g, u)).toBe(0);
    expect(fromFirstWrite()).toEqual([
      `PATCH /Groups/${g} 412`,
      `GET /Groups/${g} 200`,
      `PATCH /Groups/${g} 412`,
      `GET /Groups/${g} 200`,
      `PATCH /Groups/${g} 200`,
    ]);
  });

  it("enable_account / disable_account: 412 re-reads the User; active already as wanted -> already", async () => {
    const u = newUser("p-emil", false);
    sim.faults.preconditionFailed({
      path: `/Users/${u}`,
      count: 1,
      change: () => void sim.store.replaceUser(u, { ...sim.store.users.get(u)!, active: true }),
    });
    const r1 = await connector.applyDesiredState(config(), desired("p-emil"), ctx());
    expect(outcomes(r1)).toEqual(["enable_account:p-emil:already"]);
    expect(r1.operations[0]).toMatchObject({ native_code: 412 });
    expect(r1.operations[0]!.message).toMatch(/and 1 re-read of the User$/);
    expect(fromFirstWrite()).toEqual([`PATCH /Users/${u} 412`, `GET /Users/${u} 200`]);

    sim.clearLog();
    sim.faults.preconditionFailed({ path: `/Users/${u}`, count: 1 });
    const r2 = await connector.applyDesiredState(config(), desired("p-emil", { ensureAccount: false, deactivateWhenEmpty: true }), ctx());
    expect(outcomes(r2)).toEqual(["disable_account:p-emil:applied"]);
    expect(sim.store.users.get(u)!.active).toBe(false);
    expect(fromFirstWrite()).toEqual([`PATCH /Users/${u} 412`, `GET /Users/${u} 200`, `PATCH /Users/${u} 200`]);
  });

  it("disable_account: a re-read User that is in a Group again is not deactivated (failed, 412)", async () => {
    const g = newGroup("p-again");
    const u = newUser("p-fay");
    sim.faults.preconditionFailed({ path: `/Users/${u}`, count: 1, change: () => void sim.store.addMember(g, u) });
    const r = await connector.applyDesiredState(config(), desired("p-fay", { ensureAccount: false, deactivateWhenEmpty: true }), ctx());
    expect(outcomes(r)).toEqual(["disable_account:p-fay:failed"]);
    expect(r.operations[0]).toMatchObject({ native_code: 412 });
    expect(r.operations[0]!.message).toContain(`not deactivated: the account is in Groups again (${g})`);
    expect(sim.store.users.get(u)!.active).toBe(true);
    expect(fromFirstWrite()).toEqual([`PATCH /Users/${u} 412`, `GET /Users/${u} 200`]);
  });

  it("the simulator answers 412 only to the matching writes, with a SCIM error body, after the concurrent change", async () => {
    const g = newGroup("p-sim");
    const u = newUser("p-gus");
    let changed = 0;
    sim.faults.preconditionFailed({ path: `/Groups/${g}`, count: 1, change: () => void changed++ });
    const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/scim+json" };
    const get = await fetch(`${sim.baseUrl}/Groups/${g}`, { headers: auth });
    expect(get.status).toBe(200);
    const body = JSON.stringify({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "add", path: "members", value: [{ value: u }] }],
    });
    const res = await fetch(`${sim.baseUrl}/Groups/${g}`, { method: "PATCH", headers: auth, body });
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ status: "412", detail: expect.stringMatching(/modified concurrently/) });
    expect(changed).toBe(1);
    expect(sim.store.memberEntries(g, u)).toBe(0);
    const again = await fetch(`${sim.baseUrl}/Groups/${g}`, { method: "PATCH", headers: auth, body });
    expect(again.status).toBeLessThan(300);
    expect(sim.store.memberEntries(g, u)).toBe(1);
  });
});

describe("SCIM connector: Group displayName keys are filter-escaped (RFC 7644 §3.4.2.2)", () => {
  it('a displayName with quotes and backslashes (ops "east" \\ west) is resolved exactly', async () => {
    const tricky = 'ops "east" \\ west';
    const target = newGroup(tricky);
    const decoys = [newGroup("ops"), newGroup("east"), newGroup("west"), newGroup('ops "east"'), newGroup("ops \\ west")];
    const u = newUser("q-hana");
    const answered = captureGroupLookup();
    const r = await connector.applyDesiredState(config({ groupKey: "displayName" }), desired("q-hana", { entitlementsToGrant: [tricky] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:q-hana:already", `grant:${tricky}:applied`]);
    const lookup = sim.requests.find((q) => q.method === "GET" && q.path === "/Groups");
    expect(lookup).toMatchObject({ filter: eqFilter("displayName", tricky), status: 200 });
    expect(lookup!.filter).toBe('displayName eq "ops \\"east\\" \\\\ west"');
    expect(answered).toHaveLength(1);
    expect(answered[0]).toMatchObject({ totalResults: 1, Resources: [{ id: target, displayName: tricky }] });
    expect(sim.store.memberEntries(target, u)).toBe(1);
    for (const d of decoys) expect(sim.store.memberEntries(d, u)).toBe(0);
  });

  it('an injection in a displayName (x" or displayName pr or ") matches no Group', async () => {
    const injection = 'x" or displayName pr or "';
    const u = newUser("q-ivo");
    expect(sim.store.groups.size).toBeGreaterThan(0); // an unescaped `displayName pr` would match every one of them
    const answered = captureGroupLookup();
    const r = await connector.applyDesiredState(config({ groupKey: "displayName" }), desired("q-ivo", { entitlementsToGrant: [injection] }), ctx());
    expect(outcomes(r)).toEqual(["create_account:q-ivo:already", `grant:${injection}:failed`]);
    expect(r.operations[1]).toMatchObject({ native_code: 404 });
    expect(sim.requests.find((q) => q.path === "/Groups")).toMatchObject({ filter: eqFilter("displayName", injection), status: 200 });
    expect(answered).toEqual([expect.objectContaining({ totalResults: 0 })]); // the server matched nothing, not just the adapter
    expect(sim.requests.filter((q) => q.method !== "GET")).toEqual([]);
    for (const g of sim.store.groups.keys()) expect(sim.store.memberEntries(g, u)).toBe(0);
  });
});
