/**
 * The SCIM simulator's in-memory Users and Groups (RFC 7643 §4.1, §4.2), behind scimmy's resource
 * handlers (server.ts). Rules it enforces, by mode:
 *  - strict (RFC behaviour): `userName` is unique case-insensitively (RFC 7643 §4.1.1 caseExact=false,
 *    uniqueness=server) and a duplicate is answered 409 scimType "uniqueness" (RFC 7644 §3.3); a Group's
 *    `displayName` likewise; filters compare strings case-insensitively except caseExact attributes (id,
 *    externalId, meta, member and group values); a member already present is not added again (RFC 7644
 *    §3.5.2.1: "no changes SHOULD be made").
 *  - sloppy (what real servers get wrong): uniqueness is still enforced case-insensitively (a database
 *    collation) but filters compare case-sensitively, so `userName eq "alice"` misses "Alice" and the
 *    create that follows gets 409; a repeated PATCH add duplicates the member entry; and a Group's
 *    displayName need not be unique. (Sloppy mode's 429 bursts are the server's: server.ts `throttle`.)
 * A member's `value` must be the id of an existing User or Group (400 invalidValue otherwise). Deleting a
 * User removes it from every Group. The User's `groups` attribute (RFC 7643 §4.1.2, read-only) is derived
 * from the Groups' members and omitted when empty.
 */
import { randomUUID } from "node:crypto";
import SCIMMY from "scimmy";
import { matchesFilter, type FilterNode, type MatchOptions } from "./filter.js";

export type ScimMode = "strict" | "sloppy";

/** A stored resource as JSON: its attributes, `id` and `meta` (RFC 7643 §3.1). */
export interface StoredResource {
  id: string;
  meta: { resourceType: "User" | "Group"; created: string; lastModified: string; version: string };
  [attribute: string]: unknown;
}

/** One entry of a Group's `members` (RFC 7643 §4.2). */
export interface ScimMember {
  value: string;
  display?: string;
  type?: string;
  $ref?: string;
}

/** A SCIM error for scimmy to answer with (RFC 7644 §3.12: status, scimType, detail). */
export function scimError(status: number, scimType: string | undefined, detail: string): Error {
  return new SCIMMY.Types.Error(status, scimType as string, detail);
}

const READ_ONLY = new Set(["id", "meta", "schemas", "groups"]);

/** Case-insensitive comparison of a caseExact=false string attribute. */
const fold = (s: string): string => s.normalize("NFC").toLowerCase();

/** The Users and Groups of one simulator, with the rules of its mode (module doc). Tests seed and inspect it directly. */
export class ScimStore {
  readonly users = new Map<string, StoredResource>();
  readonly groups = new Map<string, StoredResource>();
  private version = 0;

  constructor(public mode: ScimMode = "strict") {}

  /** How the filters compare strings in the current mode. */
  get matchOptions(): MatchOptions {
    if (this.mode === "sloppy") return { caseExact: () => true };
    return {
      caseExact: (p) => p === "id" || p === "externalid" || p.startsWith("meta.") || p === "members.value" || p === "groups.value",
    };
  }

  /**
   * Create a User from its attributes (read-only ones ignored). `active` defaults to true.
   * @throws 400 invalidValue without a userName, 409 uniqueness for a taken one
   */
  createUser(attrs: Record<string, unknown>): StoredResource {
    const data = this.writable(attrs);
    this.checkUserName(data.userName, undefined);
    const user = this.stamp("User", randomUUID(), { active: true, ...data });
    this.users.set(user.id, user);
    return this.userView(user.id)!;
  }

  /**
   * Replace a User's attributes (PUT, or the result of a PATCH).
   * @throws 404 when there is no such User, 400/409 as {@link createUser}
   */
  replaceUser(id: string, attrs: Record<string, unknown>): StoredResource {
    const old = this.users.get(id);
    if (!old) throw scimError(404, undefined, `Resource ${id} not found`);
    const data = this.writable(attrs);
    this.checkUserName(data.userName, id);
    this.users.set(id, this.stamp("User", id, data, old.meta.created));
    return this.userView(id)!;
  }

  /** Delete a User and its memberships. @throws 404 when there is no such User */
  deleteUser(id: string): void {
    if (!this.users.delete(id)) throw scimError(404, undefined, `Resource ${id} not found`);
    for (const g of this.groups.values()) {
      const members = (g.members as ScimMember[] | undefined) ?? [];
      if (members.some((m) => m.value === id)) g.members = members.filter((m) => m.value !== id);
    }
  }

  /** The User as served: its attributes plus the derived `groups`. */
  userView(id: string): StoredResource | undefined {
    const u = this.users.get(id);
    if (!u) return undefined;
    const groups = [...this.groups.values()]
      .filter((g) => ((g.members as ScimMember[] | undefined) ?? []).some((m) => m.value === id))
      .map((g) => ({ value: g.id, display: g.displayName as string, $ref: `../Groups/${g.id}`, type: "direct" }));
    return structuredClone(groups.length ? { ...u, groups } : u);
  }

  /** Users matching `filter` (all without one). */
  listUsers(filter?: FilterNode): StoredResource[] {
    const all = [...this.users.keys()].map((id) => this.userView(id)!);
    return filter ? all.filter((u) => matchesFilter(filter, u, this.matchOptions)) : all;
  }

  /** The User whose userName is `userName` compared case-insensitively (for tests). */
  findUserByUserName(userName: string): StoredResource | undefined {
    const id = [...this.users.values()].find((u) => typeof u.userName === "string" && fold(u.userName) === fold(userName))?.id;
    return id ? this.userView(id) : undefined;
  }

  /**
   * Create a Group. Members are `{ value: <User or Group id> }`.
   * @throws 400 invalidValue without a displayName or with an unknown member, 409 uniqueness (strict) for a taken displayName
   */
  createGroup(attrs: Record<string, unknown>): StoredResource {
    const data = this.writable(attrs);
    this.checkDisplayName(data.displayName, undefined);
    const { members: _members, ...rest } = data;
    const group = this.stamp("Group", randomUUID(), { ...rest, ...this.membersOf(data) });
    this.groups.set(group.id, group);
    return structuredClone(group);
  }

  /** Replace a Group's attributes (PUT, or the result of a PATCH). @throws 404, 400, 409 as {@link createGroup} */
  replaceGroup(id: string, attrs: Record<string, unknown>): StoredResource {
    const old = this.groups.get(id);
    if (!old) throw scimError(404, undefined, `Resource ${id} not found`);
    const data = this.writable(attrs);
    this.checkDisplayName(data.displayName, id);
    const { members: _members, ...rest } = data;
    const group = this.stamp("Group", id, { ...rest, ...this.membersOf(data) }, old.meta.created);
    this.groups.set(id, group);
    return structuredClone(group);
  }

  /** Delete a Group. @throws 404 when there is no such Group */
  deleteGroup(id: string): void {
    if (!this.groups.delete(id)) throw scimError(404, undefined, `Resource ${id} not found`);
  }

  /** The Group as served. */
  groupView(id: string): StoredResource | undefined {
    const g = this.groups.get(id);
    return g ? structuredClone(g) : undefined;
  }

  /** Groups matching `filter` (all without one). */
  listGroups(filter?: FilterNode): StoredResource[] {
    const all = [...this.groups.values()].map((g) => structuredClone(g));
    return filter ? all.filter((g) => matchesFilter(filter, g, this.matchOptions)) : all;
  }

  /** Add `memberId` to Group `groupId`'s members, as another client's PATCH would (tests: a concurrent change). */
  addMember(groupId: string, memberId: string): StoredResource {
    const g = this.groups.get(groupId);
    if (!g) throw scimError(404, undefined, `Resource ${groupId} not found`);
    return this.replaceGroup(groupId, { ...g, members: [...((g.members as ScimMember[] | undefined) ?? []), { value: memberId }] });
  }

  /** Remove every entry of `memberId` from Group `groupId`'s members (tests: a concurrent change). */
  removeMember(groupId: string, memberId: string): StoredResource {
    const g = this.groups.get(groupId);
    if (!g) throw scimError(404, undefined, `Resource ${groupId} not found`);
    return this.replaceGroup(groupId, { ...g, members: ((g.members as ScimMember[] | undefined) ?? []).filter((m) => m.value !== memberId) });
  }

  /** How many member entries of Group `groupId` have value `memberId` (2 or more: a duplicate). */
  memberEntries(groupId: string, memberId: string): number {
    return ((this.groups.get(groupId)?.members as ScimMember[] | undefined) ?? []).filter((m) => m.value === memberId).length;
  }

  /** Forget every User and Group. */
  clear(): void {
    this.users.clear();
    this.groups.clear();
  }

  private writable(attrs: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(structuredClone(attrs))) if (!READ_ONLY.has(k) && v !== undefined) out[k] = v;
    return out;
  }

  private stamp(resourceType: "User" | "Group", id: string, data: Record<string, unknown>, created?: string): StoredResource {
    const now = new Date().toISOString();
    return { ...data, id, meta: { resourceType, created: created ?? now, lastModified: now, version: `W/"${++this.version}"` } };
  }

  private checkUserName(userName: unknown, self: string | undefined): void {
    if (typeof userName !== "string" || !userName.trim()) throw scimError(400, "invalidValue", "Required attribute 'userName' is missing or empty");
    const taken = [...this.users.values()].find((u) => u.id !== self && typeof u.userName === "string" && fold(u.userName) === fold(userName));
    if (taken) throw scimError(409, "uniqueness", `userName ${JSON.stringify(userName)} is already taken (by ${JSON.stringify(taken.userName)})`);
  }

  private checkDisplayName(displayName: unknown, self: string | undefined): void {
    if (typeof displayName !== "string" || !displayName.trim()) throw scimError(400, "invalidValue", "Required attribute 'displayName' is missing or empty");
    if (this.mode === "sloppy") return;
    const taken = [...this.groups.values()].find((g) => g.id !== self && typeof g.displayName === "string" && fold(g.displayName) === fold(displayName));
    if (taken) throw scimError(409, "uniqueness", `Group displayName ${JSON.stringify(displayName)} is already taken`);
  }

  /** The `members` attribute checked (every value an existing User or Group) and, in strict mode, without duplicates. */
  private membersOf(data: Record<string, unknown>): { members?: ScimMember[] } {
    if (data.members === undefined) return {};
    if (!Array.isArray(data.members)) throw scimError(400, "invalidValue", "members must be a list of {value}");
    const out: ScimMember[] = [];
    for (const m of data.members as unknown[]) {
      const value = m && typeof m === "object" ? (m as { value?: unknown }).value : undefined;
      if (typeof value !== "string" || !value) throw scimError(400, "invalidValue", "every member needs a value (a User or Group id)");
      const user = this.users.get(value);
      const group = this.groups.get(value);
      if (!user && !group) throw scimError(400, "invalidValue", `member ${JSON.stringify(value)} is not the id of a User or Group`);
      if (this.mode === "strict" && out.some((x) => x.value === value)) continue;
      out.push({
        value,
        display: (user?.userName ?? group?.displayName) as string,
        type: user ? "User" : "Group",
        $ref: `../${user ? "Users" : "Groups"}/${value}`,
      });
    }
    return out.length ? { members: out } : {};
  }
}
