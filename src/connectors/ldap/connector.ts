/**
 * The LDAP account connector (type "ldap", capability "account"): accounts are entries below `usersDN`,
 * entitlements are groups (groupOfNames by default, RFC 4519 §3.5) whose member attribute holds the
 * account's DN. Configuration: src/connectors/ldap/config.ts (ldapConfigSchema). Connections:
 * src/connectors/ldap/pool.ts (one bound client per configuration, closed by close()). Result codes and
 * errors: src/connectors/ldap/errors.ts.
 *
 * Reserved (src/connectors/ldap/reserved.ts): the entry the connector binds as (the config's bindDN) is never
 * managed nor listed. An account DN that is the bindDN (normalised) fails the whole call with PermanentError
 * PV_LDAP_RESERVED before anything is read; an entitlement key that is the bindDN is "failed" with
 * native_code PV_LDAP_RESERVED; discoverAccounts leaves the entry out.
 *
 * applyDesiredState plans, then applies (src/connectors/capabilities/account.ts):
 * 1. read: the account entry (base search on `<rdnAttribute>=<escaped userIdInApp>,<usersDN>`, with its
 *    entryUUID and the disable attribute), each named group (base search, its member values), and, for
 *    deactivateWhenEmpty, the groups below groupsDN that hold the account (a filter with the escaped DN);
 * 2. plan: per operation "already" when the directory holds it, "failed" when it cannot be done (an
 *    entitlement key that is not a DN (34), the bindDN (PV_LDAP_RESERVED), outside groupsDN when groupsDN is
 *    set (PV_LDAP_GROUPS_DN: a tenant-written entitlement can only name a group of the configured subtree),
 *    a group that does not exist (32) or is not of groupObjectClass), else to do; membership is compared on DNs normalised case-insensitively
 *    (dn.ts normalizeDn);
 * 3. apply (not in a dry run, where "to do" is reported as "skipped"): create or enable the account,
 *    add memberships, remove memberships, then disable the account when it holds no group any more.
 *    68 on add, 20 on adding a member, 16 and 32 on removing one are "already". A group's last member is
 *    never removed alone (65 objectClassViolation): one modify adds `emptyGroupMember` and removes the
 *    account (RFC 4511 §4.6 applies a modify's changes atomically); the placeholder is removed again by the
 *    modify that adds the next member. A modify that meets a group changed since it was read (16, 20 or 65
 *    where the plan expected otherwise) re-reads that group and re-plans it once.
 * Per-operation failures are recorded (outcome "failed", native_code = the LDAP result code) and the
 * other operations go on; transient failures and refused binds are thrown (errors.ts).
 * nativeId is the account's entryUUID (RFC 4530) when the server has it, else its DN.
 *
 * discoverAccounts lists the accounts below `usersDN` with the simple paged results control (RFC 2696) on
 * a connection of its own, with the request's groups each one is a member of: src/connectors/ldap/discovery.ts.
 */
import { Attribute, Change, EqualityFilter, type Client } from "ldapts";
import { ConfigurationError, PermanentError } from "../../errors.js";
import type { AccountDesiredState, AccountOperation, AccountOperations, AccountResult, DiscoveredAccount, DiscoveryRequest } from "../capabilities/account.js";
import type { Capability, CommandContext, Connector } from "../types.js";
import { ldapConfigSchema, type LdapConfig } from "./config.js";
import { DiscoveryRun, checkPageSize } from "./discovery.js";
import { childDn, escapeFilterValue, isWithin, normalizeDn } from "./dn.js";
import { normOrRaw, values } from "./entries.js";
import { LDAP, applicationError, messageOf, resultCodeOf, toProvisioError } from "./errors.js";
import { LdapClientPool, type LdapHandle } from "./pool.js";
import { RESERVED, assertNotReservedAccount, reservedEntitlementMessage, reservedNorm } from "./reserved.js";

export { ldapConfigSchema, type LdapConfig } from "./config.js";

/**
 * Parse an application's LDAP configuration.
 * @throws ConfigurationError (PV_CONFIG) naming every bad field and the rule it breaks (never a secret:
 *   the config holds references only)
 */
export function parseLdapConfig(config: unknown): LdapConfig {
  const parsed = ldapConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new ConfigurationError(
      `invalid LDAP connector config: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

/**
 * The DN of the account `userIdInApp`: `<rdnAttribute>=<value escaped by RFC 4514 §2.4>,<usersDN>`.
 * @throws PermanentError PV_LDAP_USER_ID for an empty userIdInApp (no entry can be named by it)
 */
export function accountDnOf(settings: Pick<LdapConfig, "rdnAttribute" | "usersDN">, userIdInApp: string): string {
  if (userIdInApp.length === 0) throw new PermanentError("PV_LDAP_USER_ID", "userIdInApp is empty: no LDAP entry can be named by it");
  return childDn(settings.rdnAttribute, userIdInApp, settings.usersDN);
}

export interface LdapConnectorOptions {
  /** where password_env secrets are looked up (default process.env) */
  env?: NodeJS.ProcessEnv;
}

export class LdapConnector implements Connector, AccountOperations {
  readonly type = "ldap";
  readonly capabilities: readonly Capability[] = ["account"];
  private readonly pool: LdapClientPool;

  constructor(options: LdapConnectorOptions = {}) {
    this.pool = new LdapClientPool(options.env);
  }

  /**
   * Bring the account `desired.userIdInApp` to the desired state (see the module doc and
   * src/connectors/capabilities/account.ts). Entitlement keys are group DNs.
   * @param config the application's connector configuration, parsed by {@link ldapConfigSchema}
   * @param ctx `dryRun: true` reads and plans only: outcomes "already" and "skipped", nothing written
   * @returns one operation per account action and per distinct entitlement key; `success` when none failed
   * @throws ConfigurationError (bad config, unresolvable secret), PermanentError (`LDAP49` and other
   *   session codes, configSuspect; PV_LDAP_USER_ID; PV_LDAP_RESERVED when the account's DN is the bindDN,
   *   thrown before anything is read, also in a dry run; `LDAP<code>` when the account cannot be read),
   *   TransientError (connection refused, dropped or timed out; 1, 3, 51, 52)
   */
  async applyDesiredState(config: unknown, desired: AccountDesiredState, ctx: CommandContext & { dryRun?: boolean }): Promise<AccountResult> {
    const settings = parseLdapConfig(config);
    const accountDN = accountDnOf(settings, desired.userIdInApp);
    assertNotReservedAccount(settings, desired.userIdInApp, accountDN);
    return this.pool.use(settings, (handle) => new AccountRun(settings, desired, accountDN, handle, ctx).execute());
  }

  /**
   * List every account below `usersDN`, a page of at most `request.pageSize` accounts at a time, with the
   * entitlements of `request.entitlementKeys` (group DNs) each holds (src/connectors/ldap/discovery.ts has
   * the whole design; src/connectors/capabilities/account.ts the contract). Read-only.
   *
   * Shape of each account: `{ userIdInApp, nativeId, active, entitlements }` where userIdInApp is the
   * value of `rdnAttribute` in the entry's RDN (what applyDesiredState takes, not the DN), nativeId the
   * entryUUID (RFC 4530) or else the DN (what applyDesiredState returns), active false when the `disable`
   * attribute holds its value, entitlements the request's keys, spelled as given, whose group's
   * `memberAttribute` lists the account (DNs compared normalised, dn.ts normalizeDn). The entry the
   * connector binds as (bindDN) is left out (reserved.ts).
   *
   * Accounts are read with the simple paged results control (RFC 2696) on a connection of the pool's own
   * for this pass (pool.ts lease), released when the iteration ends or is abandoned with `return()`
   * (`break` in `for await`). Nothing is sent before the first `next()`.
   * @param config the application's connector configuration, parsed by {@link ldapConfigSchema}
   * @throws (from the iteration) ConfigurationError (bad config, unresolvable secret); PermanentError
   *   (`LDAP49` and other refused binds, configSuspect; `LDAP32` when usersDN does not exist; `LDAP<code>`
   *   for another refusal of a search, e.g. 4 sizeLimitExceeded; `LDAP10` for search references;
   *   PV_INTERNAL for a pageSize that is not an integer ≥ 1); TransientError (connection refused, dropped
   *   or timed out, also between pages; 1, 3, 51, 52; PV_LDAP_CLOSED). An error after some pages means the
   *   listing is partial.
   */
  async *discoverAccounts(config: unknown, request: DiscoveryRequest, ctx: CommandContext): AsyncGenerator<DiscoveredAccount[], void, undefined> {
    const settings = parseLdapConfig(config);
    checkPageSize(request.pageSize);
    const lease = await this.pool.lease(settings);
    try {
      yield* new DiscoveryRun(settings, request, lease, ctx).pages();
    } finally {
      await lease.release();
    }
  }

  /** Unbind every pooled connection; later calls throw TransientError PV_LDAP_CLOSED. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** What the directory says of the account. */
interface AccountState {
  exists: boolean;
  /** the DN as the server returned it */
  dn?: string;
  entryUUID?: string;
  /** the stored value of the disable attribute equal to the configured one, when present */
  disabledValue?: string;
}

/** What the directory says of one group. */
type GroupState =
  | { kind: "group"; members: { raw: string; norm: string }[] }
  | { kind: "missing" }
  | { kind: "not-a-group" }
  | { kind: "error"; code: number; message: string };

/** An entitlement of the request, its operation and, once read, its group. */
interface EntitlementPlan {
  dn: string;
  norm: string;
  op: AccountOperation;
  /** refused before reading (not a DN, the bindDN, outside groupsDN, also granted): op.outcome is "failed" */
  rejected: boolean;
  /** to be applied (outcome is "skipped" in a dry run, the final outcome otherwise) */
  todo: boolean;
  group?: GroupState;
}

const DONE = new Set<string>(["applied", "already"]);

/** native_code of an entitlement key outside groupsDN (refused when groupsDN is set). */
const GROUPS_DN = "PV_LDAP_GROUPS_DN";

/** One applyDesiredState call: read, plan, apply. */
class AccountRun {
  private readonly dry: boolean;
  private readonly accountNorm: string;
  private readonly placeholderNorm: string;
  private readonly bindNorm: string;

  constructor(
    private readonly s: LdapConfig,
    private readonly desired: AccountDesiredState,
    private readonly accountDN: string,
    private readonly handle: LdapHandle,
    private readonly ctx: CommandContext & { dryRun?: boolean },
  ) {
    this.dry = ctx.dryRun === true;
    this.accountNorm = normalizeDn(accountDN);
    this.placeholderNorm = normalizeDn(s.emptyGroupMember);
    this.bindNorm = reservedNorm(s);
  }

  async execute(): Promise<AccountResult> {
    const d = this.desired;
    const target = d.userIdInApp;
    // ---- read and plan
    let account = await this.readAccount();
    const grants = this.entitlements(d.entitlementsToGrant, "grant", new Set());
    const revokes = this.entitlements(d.entitlementsToRevoke, "revoke", new Set(grants.map((g) => g.norm)));
    for (const e of [...grants, ...revokes]) if (!e.rejected) e.group = await this.readGroup(e.dn);
    const holdings = d.deactivateWhenEmpty ? await this.readHoldings(account) : undefined;

    const createOp: AccountOperation | undefined = d.ensureAccount
      ? { op: "create_account", target, outcome: account.exists ? "already" : "skipped" }
      : undefined;
    let enableOp: AccountOperation | undefined =
      d.ensureAccount && account.disabledValue !== undefined ? { op: "enable_account", target, outcome: "skipped" } : undefined;
    const willExist = account.exists || d.ensureAccount;
    for (const g of grants) if (!g.rejected) this.planGrant(g, willExist);
    for (const r of revokes) if (!r.rejected) this.planRevoke(r);

    if (this.dry) {
      const ops = [createOp, enableOp, ...grants.map((g) => g.op), ...revokes.map((r) => r.op)];
      // an account this plan enables counts as enabled
      const disableOp = this.planDisable(account.exists || d.ensureAccount, account.disabledValue !== undefined && !enableOp, holdings, grants, revokes);
      return this.result(ops, disableOp, account.exists ? account : undefined);
    }

    // ---- apply
    let accountFailed = false;
    if (createOp && !account.exists) {
      const r = await this.createAccount();
      Object.assign(createOp, r);
      accountFailed = r.outcome === "failed";
      account = accountFailed ? account : await this.readAccount();
      if (account.disabledValue !== undefined) enableOp = { op: "enable_account", target, outcome: "skipped" };
    }
    if (enableOp && account.disabledValue !== undefined) {
      Object.assign(enableOp, await this.enableAccount(account.disabledValue));
      if (DONE.has(enableOp.outcome)) account = { ...account, disabledValue: undefined };
    }
    for (const g of grants) {
      if (!g.todo) continue;
      if (accountFailed) Object.assign(g.op, { outcome: "failed", message: "not attempted: the account could not be created" });
      else Object.assign(g.op, await this.applyGrant(g));
    }
    for (const r of revokes) if (r.todo) Object.assign(r.op, await this.applyRevoke(r));
    const disableOp = this.planDisable(account.exists, account.disabledValue !== undefined, holdings, grants, revokes);
    if (disableOp?.outcome === "skipped") Object.assign(disableOp, await this.disableAccount());
    return this.result([createOp, enableOp, ...grants.map((g) => g.op), ...revokes.map((r) => r.op)], disableOp, account.exists ? account : undefined);
  }

  // ------------------------------------------------------------------ reading

  /**
   * Base search on the account's DN: exists, entryUUID, disable attribute. 32 noSuchObject: absent.
   * @throws TransientError, PermanentError LDAP<code> for any other failure (nothing can be planned)
   */
  private async readAccount(): Promise<AccountState> {
    const disableAttr = this.s.disable === "none" ? undefined : this.s.disable.attribute;
    try {
      const client = await this.handle.client();
      const { searchEntries } = await client.search(this.accountDN, {
        scope: "base",
        filter: "(objectClass=*)",
        attributes: ["entryUUID", ...(disableAttr ? [disableAttr] : [])],
      });
      const entry = searchEntries[0];
      if (!entry) return { exists: false };
      const uuid = values(entry, "entryUUID")[0];
      let disabledValue: string | undefined;
      if (this.s.disable !== "none") {
        const want = this.s.disable.value.toLowerCase();
        disabledValue = values(entry, this.s.disable.attribute).find((v) => v.toLowerCase() === want);
      }
      return { exists: true, dn: entry.dn, entryUUID: uuid, disabledValue };
    } catch (err) {
      if (resultCodeOf(err) === LDAP.noSuchObject) return { exists: false };
      throw toProvisioError(err, `read account ${this.accountDN}`);
    }
  }

  /**
   * Base search on a group with filter (objectClass=<groupObjectClass>), returning its member values.
   * 32: missing; found but filtered out: not a group; other per-object codes: recorded.
   * @throws TransientError / PermanentError for failures of the whole application
   */
  private async readGroup(dn: string): Promise<GroupState> {
    try {
      const client = await this.handle.client();
      const { searchEntries } = await client.search(dn, {
        scope: "base",
        filter: new EqualityFilter({ attribute: "objectClass", value: this.s.groupObjectClass }),
        attributes: [this.s.memberAttribute],
      });
      const entry = searchEntries[0];
      if (!entry) return { kind: "not-a-group" };
      return { kind: "group", members: values(entry, this.s.memberAttribute).map((raw) => ({ raw, norm: normOrRaw(raw) })) };
    } catch (err) {
      if (resultCodeOf(err) === LDAP.noSuchObject) return { kind: "missing" };
      const mapped = applicationError(err, `read group ${dn}`);
      if (mapped) throw mapped;
      const code = resultCodeOf(err);
      if (code === undefined) throw toProvisioError(err, `read group ${dn}`);
      return { kind: "error", code, message: messageOf(err) };
    }
  }

  /**
   * The groups below groupsDN holding the account (normalised DNs): a subtree search with
   * (&(objectClass=<groupObjectClass>)(<memberAttribute>=<account DN, escaped by RFC 4515 §3>)), paged.
   * Undefined when no disable is configured or groupsDN is missing (no holdings can be known).
   */
  private async readHoldings(account: AccountState): Promise<Set<string> | undefined> {
    if (this.s.disable === "none" || !this.s.groupsDN) return undefined;
    if (!account.exists) return new Set();
    const filter = `(&(objectClass=${escapeFilterValue(this.s.groupObjectClass)})(${this.s.memberAttribute}=${escapeFilterValue(this.accountDN)}))`;
    try {
      const client = await this.handle.client();
      const { searchEntries } = await client.search(this.s.groupsDN, { scope: "sub", filter, attributes: ["1.1"], paged: { pageSize: 500 } });
      return new Set(searchEntries.map((e) => normOrRaw(e.dn)));
    } catch (err) {
      throw toProvisioError(err, `search the groups of ${this.accountDN} below ${this.s.groupsDN}`);
    }
  }

  // ------------------------------------------------------------------ planning

  /**
   * One plan per distinct entitlement key (duplicates by normalised DN dropped). Keys that are not DNs
   * (34), are the bindDN (PV_LDAP_RESERVED), lie outside groupsDN when it is set (PV_LDAP_GROUPS_DN), or
   * (revokes) are also granted, get a "failed" outcome at once, before any read.
   */
  private entitlements(keys: string[], kind: "grant" | "revoke", granted: Set<string>): EntitlementPlan[] {
    const seen = new Set<string>();
    const plans: EntitlementPlan[] = [];
    for (const key of keys) {
      let norm: string;
      try {
        norm = normalizeDn(key);
      } catch (err) {
        plans.push({
          dn: key,
          norm: `invalid:${key}`,
          rejected: true,
          todo: false,
          op: { op: kind, target: key, outcome: "failed", native_code: LDAP.invalidDNSyntax, message: `not a valid DN (RFC 4514): ${messageOf(err)}` },
        });
        continue;
      }
      if (seen.has(norm)) continue;
      seen.add(norm);
      const op: AccountOperation = { op: kind, target: key, outcome: "skipped" };
      let reason: Partial<AccountOperation> | undefined;
      if (norm === "") reason = { native_code: LDAP.invalidDNSyntax, message: "empty DN" };
      else if (norm === this.bindNorm) reason = { native_code: RESERVED, message: reservedEntitlementMessage(this.s, key) };
      else if (this.s.groupsDN && !isWithin(key, this.s.groupsDN))
        reason = { native_code: GROUPS_DN, message: `${key} is not below groupsDN ${this.s.groupsDN}: only groups of the configured subtree are managed` };
      else if (granted.has(norm)) reason = { message: "also listed in entitlementsToGrant" };
      if (reason) Object.assign(op, { outcome: "failed" }, reason);
      plans.push({ dn: key, norm, op, rejected: reason !== undefined, todo: false });
    }
    return plans;
  }

  private groupFailure(e: EntitlementPlan, g: GroupState | undefined): boolean {
    if (g?.kind === "not-a-group") Object.assign(e.op, { outcome: "failed", message: `${e.dn} is not a ${this.s.groupObjectClass} entry` });
    else if (g?.kind === "error") Object.assign(e.op, { outcome: "failed", native_code: g.code, message: g.message });
    else return false;
    return true;
  }

  private planGrant(e: EntitlementPlan, accountWillExist: boolean): void {
    const g = e.group;
    if (this.groupFailure(e, g)) return;
    if (g?.kind === "missing") return void Object.assign(e.op, { outcome: "failed", native_code: LDAP.noSuchObject, message: `group ${e.dn} does not exist` });
    if (g?.kind === "group" && g.members.some((m) => m.norm === this.accountNorm)) return void Object.assign(e.op, { outcome: "already" });
    if (!accountWillExist) {
      return void Object.assign(e.op, {
        outcome: "failed",
        native_code: LDAP.noSuchObject,
        message: `account ${this.accountDN} does not exist (ensureAccount is false)`,
      });
    }
    e.todo = true;
    Object.assign(e.op, { outcome: "skipped", message: this.dry ? `would add ${this.s.memberAttribute} ${this.accountDN}` : undefined });
  }

  private planRevoke(e: EntitlementPlan): void {
    const g = e.group;
    if (this.groupFailure(e, g)) return;
    if (g?.kind === "missing") return void Object.assign(e.op, { outcome: "already", native_code: LDAP.noSuchObject, message: `group ${e.dn} does not exist` });
    if (g?.kind !== "group" || !g.members.some((m) => m.norm === this.accountNorm)) return void Object.assign(e.op, { outcome: "already" });
    const last = g.members.every((m) => m.norm === this.accountNorm);
    if (last && this.placeholderNorm === this.accountNorm) {
      return void Object.assign(e.op, {
        outcome: "failed",
        native_code: LDAP.objectClassViolation,
        message: "the account is the group's last member and is also emptyGroupMember",
      });
    }
    e.todo = true;
    const message = last
      ? `would replace the last member by emptyGroupMember ${this.s.emptyGroupMember}`
      : `would remove ${this.s.memberAttribute} ${this.accountDN}`;
    Object.assign(e.op, { outcome: "skipped", message: this.dry ? message : undefined });
  }

  /**
   * The disable_account operation, if any: only with deactivateWhenEmpty and a configured disable; "failed"
   * without groupsDN; "already" when there is no account or it is disabled; to do ("skipped") when no
   * group below groupsDN holds the account once the grants and revokes that succeeded (or, in a dry run,
   * would succeed) are counted; none when it still holds one.
   */
  private planDisable(
    accountExists: boolean,
    disabled: boolean,
    holdings: Set<string> | undefined,
    grants: EntitlementPlan[],
    revokes: EntitlementPlan[],
  ): AccountOperation | undefined {
    const d = this.desired;
    if (!d.deactivateWhenEmpty || this.s.disable === "none") return undefined;
    const target = d.userIdInApp;
    if (!this.s.groupsDN)
      return { op: "disable_account", target, outcome: "failed", message: "deactivateWhenEmpty needs groupsDN to know the account's groups" };
    if (!accountExists) return { op: "disable_account", target, outcome: "already", message: "the account does not exist" };
    const held = new Set(holdings);
    const counts = (e: EntitlementPlan) => DONE.has(e.op.outcome) || (this.dry && e.op.outcome === "skipped");
    for (const g of grants) if (counts(g)) held.add(g.norm);
    for (const r of revokes) if (counts(r)) held.delete(r.norm);
    if (held.size > 0) return undefined;
    if (disabled) return { op: "disable_account", target, outcome: "already" };
    const { attribute, value } = this.s.disable;
    return { op: "disable_account", target, outcome: "skipped", message: this.dry ? `would set ${attribute}: ${value}` : undefined };
  }

  // ------------------------------------------------------------------ applying

  /** Add the account entry (RFC 4511 §4.7). 68: already. */
  private async createAccount(): Promise<Partial<AccountOperation>> {
    const a = this.desired.attributes;
    const source = { userName: a.userName, email: a.email ?? undefined, displayName: a.displayName ?? undefined };
    const attrs: Record<string, string[]> = {};
    for (const [name, from] of Object.entries(this.s.accountAttributes)) {
      const value = (Array.isArray(from) ? from : [from]).map((f) => source[f]).find((v) => v !== undefined && v !== "");
      if (value !== undefined) attrs[name] = [value];
    }
    const rdnKey = Object.keys(attrs).find((k) => k.toLowerCase() === this.s.rdnAttribute.toLowerCase()) ?? this.s.rdnAttribute;
    attrs[rdnKey] = [this.desired.userIdInApp, ...(attrs[rdnKey] ?? []).filter((v) => v !== this.desired.userIdInApp)];
    const entry = { objectClass: this.s.objectClasses, ...attrs };
    return this.writeOnce("add", this.accountDN, (c) => c.add(this.accountDN, entry), [LDAP.entryAlreadyExists]);
  }

  /** Delete the disable value (modify delete). 16: already. */
  private async enableAccount(storedValue: string): Promise<Partial<AccountOperation>> {
    if (this.s.disable === "none") return { outcome: "already" };
    const change = new Change({ operation: "delete", modification: new Attribute({ type: this.s.disable.attribute, values: [storedValue] }) });
    return this.writeOnce("enable", this.accountDN, (c) => c.modify(this.accountDN, change), [LDAP.noSuchAttribute]);
  }

  /** Set the disable attribute to the value (modify replace: idempotent). */
  private async disableAccount(): Promise<Partial<AccountOperation>> {
    if (this.s.disable === "none") return { outcome: "already" };
    const change = new Change({ operation: "replace", modification: new Attribute({ type: this.s.disable.attribute, values: [this.s.disable.value] }) });
    return this.writeOnce("disable", this.accountDN, (c) => c.modify(this.accountDN, change), []);
  }

  /**
   * Add the account to a group (RFC 4511 §4.6 modify/add), removing the placeholder member in the same
   * modify when present. 20: already. 16 or 65 (the group changed since it was read): re-read, re-plan once.
   */
  private async applyGrant(e: EntitlementPlan): Promise<Partial<AccountOperation>> {
    for (let attempt = 0; ; attempt++) {
      const g = attempt === 0 ? e.group : await this.readGroup(e.dn);
      if (g?.kind === "missing") return { outcome: "failed", native_code: LDAP.noSuchObject, message: `group ${e.dn} does not exist` };
      if (g?.kind === "not-a-group") return { outcome: "failed", message: `${e.dn} is not a ${this.s.groupObjectClass} entry` };
      if (g?.kind === "error") return { outcome: "failed", native_code: g.code, message: g.message };
      if (g?.members.some((m) => m.norm === this.accountNorm)) return { outcome: "already" };
      const changes = [this.memberChange("add", this.accountDN)];
      const placeholder = g?.members.find((m) => m.norm === this.placeholderNorm);
      if (placeholder) changes.push(this.memberChange("delete", placeholder.raw));
      const r = await this.write(
        "grant",
        e.dn,
        (c) => c.modify(e.dn, changes),
        [LDAP.attributeOrValueExists],
        attempt === 0 ? [LDAP.noSuchAttribute, LDAP.objectClassViolation] : [],
      );
      if (r !== "replan") return r;
      this.ctx.log.debug({ group: e.dn }, "LDAP group changed since it was read; re-planning the grant");
    }
  }

  /**
   * Remove the account from a group (modify/delete of the stored value). When it is the last member, one
   * modify adds emptyGroupMember first, so 65 is never met. 16 and 32: already. 20 or 65 (the group changed
   * since it was read): re-read, re-plan once.
   */
  private async applyRevoke(e: EntitlementPlan): Promise<Partial<AccountOperation>> {
    for (let attempt = 0; ; attempt++) {
      const g = attempt === 0 ? e.group : await this.readGroup(e.dn);
      if (g?.kind === "missing") return { outcome: "already", native_code: LDAP.noSuchObject, message: `group ${e.dn} does not exist` };
      if (g?.kind === "not-a-group") return { outcome: "failed", message: `${e.dn} is not a ${this.s.groupObjectClass} entry` };
      if (g?.kind === "error") return { outcome: "failed", native_code: g.code, message: g.message };
      const mine = g?.members.find((m) => m.norm === this.accountNorm);
      if (!g || !mine) return { outcome: "already" };
      const last = g.members.every((m) => m.norm === this.accountNorm);
      const changes = last
        ? [this.memberChange("add", this.s.emptyGroupMember), this.memberChange("delete", mine.raw)]
        : [this.memberChange("delete", mine.raw)];
      const r = await this.write(
        "revoke",
        e.dn,
        (c) => c.modify(e.dn, changes),
        [LDAP.noSuchAttribute, LDAP.noSuchObject],
        attempt === 0 ? [LDAP.attributeOrValueExists, LDAP.objectClassViolation] : [],
      );
      if (r !== "replan") return r;
      this.ctx.log.debug({ group: e.dn }, "LDAP group changed since it was read; re-planning the revoke");
    }
  }

  private memberChange(operation: "add" | "delete", dn: string): Change {
    return new Change({ operation, modification: new Attribute({ type: this.s.memberAttribute, values: [dn] }) });
  }

  /**
   * Run one write on a bound client and map its result: success → "applied"; a code in `already` → that
   * outcome; a code in `replan` → "replan"; other per-object codes → "failed" with native_code and message.
   * @throws TransientError / PermanentError for failures of the whole application (errors.ts)
   */
  private async write(
    what: string,
    dn: string,
    fn: (client: Client) => Promise<void>,
    already: number[],
    replan: number[] = [],
  ): Promise<Partial<AccountOperation> | "replan"> {
    try {
      const client = await this.handle.client();
      await fn(client);
      this.ctx.log.debug({ ldap: what, dn, correlationId: this.ctx.correlationId }, "LDAP write applied");
      return { outcome: "applied", message: undefined };
    } catch (err) {
      const mapped = applicationError(err, `LDAP ${what} ${dn}`);
      if (mapped) throw mapped;
      const code = resultCodeOf(err);
      if (code === undefined) throw toProvisioError(err, `LDAP ${what} ${dn}`);
      if (already.includes(code)) return { outcome: "already", native_code: code, message: messageOf(err) || undefined };
      if (replan.includes(code)) return "replan";
      this.ctx.log.warn({ ldap: what, dn, resultCode: code, correlationId: this.ctx.correlationId }, "LDAP write failed");
      return { outcome: "failed", native_code: code, message: messageOf(err) };
    }
  }

  /** {@link write} without re-planning. */
  private async writeOnce(what: string, dn: string, fn: (client: Client) => Promise<void>, already: number[]): Promise<Partial<AccountOperation>> {
    const r = await this.write(what, dn, fn, already, []);
    return r === "replan" ? { outcome: "failed", message: "unexpected re-plan" } : r;
  }

  private result(ops: (AccountOperation | undefined)[], disableOp: AccountOperation | undefined, account: AccountState | undefined): AccountResult {
    const operations = [...ops, disableOp].filter((o): o is AccountOperation => o !== undefined).map(clean);
    const ok = this.dry ? ["already", "skipped"] : ["applied", "already"];
    return {
      success: operations.every((o) => ok.includes(o.outcome)),
      nativeId: account ? (account.entryUUID ?? account.dn ?? this.accountDN) : undefined,
      operations,
    };
  }
}

/** The operation without undefined fields (result_data is JSON). */
function clean(op: AccountOperation): AccountOperation {
  return Object.fromEntries(Object.entries(op).filter(([, v]) => v !== undefined)) as unknown as AccountOperation;
}
