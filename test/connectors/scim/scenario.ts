/**
 * One sequence of grants and revokes, applied through the SCIM connector to a simulator, and the end
 * state it leaves there, so tests can run it against a strict and a sloppy server (case-sensitive
 * filters, duplicate member adds, 429 bursts) and compare. Entitlements are named by Group displayName
 * and sent as that simulator's Group ids (groupKey "id", the default).
 */
import type { AccountDesiredState, AccountResult } from "../../../src/connectors/capabilities/account.js";
import type { ScimConnector } from "../../../src/connectors/scim/connector.js";
import { logger } from "../../../src/logger.js";
import type { ScimSimulator } from "../../../src/simulators/scim/server.js";

export const SCENARIO_GROUPS = ["Engineering", "Operations"] as const;

/** What the scenario leaves at the service (see {@link endState}), written out by hand. */
export const SCENARIO_END_STATE = {
  users: ["alice active", "bob inactive", "carol inactive", "Frank active"],
  groups: { Engineering: ["Frank", "alice"], Operations: [] },
};

type Step = { userIdInApp: string; grant?: string[]; revoke?: string[]; ensureAccount?: boolean; deactivateWhenEmpty?: boolean };

/**
 * "Frank" exists beforehand (so a case-sensitive filter misses "frank"); "ALICE" is alice again; bob loses
 * his only group and is deactivated; Frank is granted Engineering twice, then loses Operations without a
 * create to fall back on (ensureAccount false); "CAROL", in no group, is deactivated.
 */
const STEPS: Step[] = [
  { userIdInApp: "frank", grant: ["Engineering"] },
  { userIdInApp: "alice", grant: ["Engineering", "Operations"] },
  { userIdInApp: "ALICE", grant: ["Engineering"] },
  { userIdInApp: "alice", revoke: ["Operations"], ensureAccount: false },
  { userIdInApp: "bob", grant: ["Operations"] },
  { userIdInApp: "bob", revoke: ["Operations"], ensureAccount: false, deactivateWhenEmpty: true },
  { userIdInApp: "frank", grant: ["Engineering", "Operations"] },
  { userIdInApp: "frank", revoke: ["Operations"], ensureAccount: false, deactivateWhenEmpty: true },
  { userIdInApp: "carol" },
  { userIdInApp: "CAROL", ensureAccount: false, deactivateWhenEmpty: true },
];

/** Create the scenario's Groups and the pre-existing "Frank" in `sim`'s store; returns displayName -> id. */
export function seedScenario(sim: ScimSimulator): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const name of SCENARIO_GROUPS) ids[name] = sim.store.createGroup({ displayName: name }).id;
  sim.store.createUser({ userName: "Frank" });
  return ids;
}

/** Apply every step through `connector` with `config`; returns each step's result. */
export async function runScenario(
  connector: ScimConnector,
  config: Record<string, unknown>,
  groupIds: Record<string, string>,
  tag: string,
): Promise<AccountResult[]> {
  const results: AccountResult[] = [];
  let n = 0;
  for (const s of STEPS) {
    const desired: AccountDesiredState = {
      userIdInApp: s.userIdInApp,
      attributes: { userName: s.userIdInApp, email: `${s.userIdInApp.toLowerCase()}@example.test`, displayName: s.userIdInApp },
      ensureAccount: s.ensureAccount ?? true,
      entitlementsToGrant: (s.grant ?? []).map((g) => groupIds[g]!),
      entitlementsToRevoke: (s.revoke ?? []).map((g) => groupIds[g]!),
      deactivateWhenEmpty: s.deactivateWhenEmpty ?? false,
    };
    results.push(await connector.applyDesiredState(config, desired, { correlationId: `${tag}-${++n}`, attempt: 1, log: logger() }));
  }
  return results;
}

/**
 * The service's state without ids: each User as "<userName> active|inactive" (sorted case-insensitively),
 * each Group's member entries as userNames (sorted; a duplicate entry shows twice).
 */
export function endState(sim: ScimSimulator): { users: string[]; groups: Record<string, string[]> } {
  const byCase = (a: string, b: string) => a.toLowerCase().localeCompare(b.toLowerCase());
  const users = [...sim.store.users.values()].map((u) => `${String(u.userName)} ${u.active === false ? "inactive" : "active"}`).sort(byCase);
  const groups: Record<string, string[]> = {};
  for (const g of sim.store.groups.values()) {
    const members = (g.members as { value: string }[] | undefined) ?? [];
    groups[String(g.displayName)] = members.map((m) => String(sim.store.users.get(m.value)?.userName ?? m.value)).sort();
  }
  return { users, groups };
}
