/**
 * Plan then apply, the same for every way the sql connector keeps accounts (roles.ts, tables.ts):
 * read the account and the entitlements it holds, work out the operations, run only those that change
 * something, then read the entitlements again to check that what was applied holds
 * (src/connectors/capabilities/account.ts "Effectively once").
 *
 * The operations, in order: create_account (ensureAccount, account missing) or enable_account
 * (ensureAccount, account disabled); one grant per entitlement to grant; one revoke per entitlement to
 * revoke; disable_account (deactivateWhenEmpty, not ensureAccount, and nothing held after the revokes).
 * Keys are compared exactly (a PostgreSQL or MariaDB role name is case-sensitive); a key repeated in a
 * list counts once; a key in both lists is granted and its revoke "failed".
 *
 * Reserved entitlements: a key the read reports as reserved (AccountState.reservedEntitlements: roles.ts,
 * a role provisio never manages, e.g. a superuser role) is neither granted nor revoked, whatever the
 * account holds: its grant or revoke is "failed" with native_code "PV_SQL_RESERVED" (also in a dry run),
 * and the other operations go on.
 *
 * Outcomes: "already" when the state read first shows the operation holds (or the target says so when
 * it runs: a race with another job), "applied" when it ran, "skipped" in a dry run for what would run,
 * "failed" when the target refused it (its SQLSTATE or errno in native_code) or the check afterwards
 * does not find its effect. Grants to an account that does not exist (ensureAccount false, or its
 * creation failed) fail; revokes from it are "already". A transient error, a configuration error or one
 * that says the session cannot work (configSuspect) is thrown: see errors.ts.
 */
import { ConfigurationError, type ProvisioError } from "../../errors.js";
import type { AccountDesiredState, AccountOperation, AccountResult } from "../capabilities/account.js";

/** What the plan reads: does the account exist, is it enabled, what it holds. */
export interface AccountState {
  exists: boolean;
  /** enabled (PostgreSQL LOGIN, MariaDB not locked, the find statement's `active`); false when missing */
  active: boolean;
  /** the account's id in the application (the login name; the id find_account returned) */
  nativeId?: string;
  /** the native keys it holds (direct role memberships; the list statement's rows) */
  entitlements: Set<string>;
  /**
   * Among the keys given to read(), those provisio never grants nor revokes (PV_SQL_RESERVED), each
   * with why (for the operation's message); absent or empty when none is.
   */
  reservedEntitlements?: Map<string, string>;
}

/** What an operation reports when it ran without error. */
export type StepOutcome = "applied" | "already";

/** One way of keeping accounts (PostgreSQL roles, MariaDB roles, an application's tables). */
export interface AccountBackend {
  /**
   * Read the account and what it holds, and which of `entitlementKeys` (the keys to grant and to
   * revoke) are reserved. Driver errors are thrown as they are.
   */
  read(entitlementKeys: readonly string[]): Promise<AccountState>;
  /** Read again what the (existing) account holds, after the grants and revokes. */
  readEntitlements(state: AccountState): Promise<Set<string>>;
  create(): Promise<StepOutcome>;
  enable(state: AccountState): Promise<StepOutcome>;
  disable(state: AccountState): Promise<StepOutcome>;
  grant(key: string, state: AccountState): Promise<StepOutcome>;
  revoke(key: string, state: AccountState): Promise<StepOutcome>;
  /**
   * Called before an operation is run or, in a dry run, reported "skipped": throw (ConfigurationError)
   * when this backend cannot run it at all (a tables-mode statement the config lacks).
   */
  prepare?(op: AccountOperation["op"]): void;
  /** Why `key` cannot name an entitlement here (e.g. too long for an identifier), or undefined. */
  invalidEntitlement(key: string): string | undefined;
  /** A driver error as a ProvisioError (errors.ts) and the target's own code for the operation record. */
  failure(err: unknown): { error: ProvisioError; nativeCode?: string | number };
}

/** Keys once each, in first-seen order. */
function unique(keys: readonly string[]): string[] {
  return [...new Set(keys)];
}

/**
 * Plan and (unless dryRun) apply `desired` through `backend` (see the module doc).
 * @throws what backend.failure() makes of an error that is transient, a configuration error or
 *   configSuspect; a read that fails is always thrown (nothing can be planned without it)
 */
export async function reconcile(backend: AccountBackend, desired: AccountDesiredState, dryRun: boolean): Promise<AccountResult> {
  const ops: AccountOperation[] = [];
  const read = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw backend.failure(err).error;
    }
  };
  /** run one operation; a refusal that will not pass is recorded, the rest is thrown */
  const run = async (op: AccountOperation["op"], target: string, fn: () => Promise<StepOutcome>): Promise<AccountOperation> => {
    let record: AccountOperation;
    backend.prepare?.(op);
    if (dryRun) {
      record = { op, target, outcome: "skipped" };
    } else {
      try {
        record = { op, target, outcome: await fn() };
      } catch (err) {
        const { error, nativeCode } = backend.failure(err);
        if (error.retryable || error.configSuspect || error instanceof ConfigurationError) throw error;
        record = { op, target, outcome: "failed", message: error.message };
        if (nativeCode !== undefined) record.native_code = nativeCode;
      }
    }
    ops.push(record);
    return record;
  };

  const grants = unique(desired.entitlementsToGrant);
  const revokes = unique(desired.entitlementsToRevoke);
  const keys = unique([...grants, ...revokes]);
  let state = await read(() => backend.read(keys));
  const user = desired.userIdInApp;
  /** the account will exist once the plan is applied (a dry run: would) */
  let willExist = state.exists;
  let accountFailure: string | undefined;

  if (desired.ensureAccount) {
    if (!state.exists) {
      const r = await run("create_account", user, () => backend.create());
      if (r.outcome === "skipped") willExist = true;
      else if (r.outcome !== "failed") {
        state = await read(() => backend.read(keys));
        willExist = state.exists;
        if (!state.exists) {
          r.outcome = "failed";
          r.message = "the account was created but cannot be found afterwards (check find_account)";
        } else if (!state.active) {
          await run("enable_account", user, () => backend.enable(state));
        }
      }
      if (r.outcome === "failed") accountFailure = `the account ${user} could not be created`;
    } else if (!state.active) {
      await run("enable_account", user, () => backend.enable(state));
    } else {
      ops.push({ op: "create_account", target: user, outcome: "already" });
    }
  }

  const held = new Set(state.entitlements);
  /** the failed record of an operation on a reserved key, or undefined */
  const reserved = (op: "grant" | "revoke", key: string): AccountOperation | undefined => {
    const why = state.reservedEntitlements?.get(key);
    if (why === undefined) return undefined;
    return { op, target: key, outcome: "failed", native_code: "PV_SQL_RESERVED", message: `${why}; provisio does not ${op} it (PV_SQL_RESERVED)` };
  };
  const applied: { op: "grant" | "revoke"; key: string; record: AccountOperation }[] = [];
  for (const key of grants) {
    const invalid = backend.invalidEntitlement(key);
    const refused = invalid ? undefined : reserved("grant", key);
    if (invalid) ops.push({ op: "grant", target: key, outcome: "failed", message: invalid });
    else if (refused) ops.push(refused);
    else if (state.exists && held.has(key)) ops.push({ op: "grant", target: key, outcome: "already" });
    else if (!willExist) {
      ops.push({
        op: "grant",
        target: key,
        outcome: "failed",
        message: accountFailure ?? `the account ${user} does not exist (the request does not ask to create it)`,
      });
    } else {
      const record = await run("grant", key, () => backend.grant(key, state));
      if (record.outcome === "applied") applied.push({ op: "grant", key, record });
      if (record.outcome !== "failed") held.add(key);
    }
  }
  for (const key of revokes) {
    const refused = reserved("revoke", key);
    if (refused) {
      ops.push(refused);
    } else if (grants.includes(key)) {
      ops.push({ op: "revoke", target: key, outcome: "failed", message: "the same entitlement is also to be granted" });
    } else if (!state.exists || !held.has(key)) {
      ops.push({ op: "revoke", target: key, outcome: "already" });
    } else {
      const record = await run("revoke", key, () => backend.revoke(key, state));
      if (record.outcome === "applied") applied.push({ op: "revoke", key, record });
      if (record.outcome !== "failed") held.delete(key);
    }
  }

  // check: what was applied holds (PostgreSQL 16+ REVOKE of a membership another role granted only warns;
  // a tables-mode statement may change no row)
  if (!dryRun && state.exists && applied.length > 0) {
    const after = await read(() => backend.readEntitlements(state));
    for (const a of applied) {
      if (a.op === "grant" && !after.has(a.key)) {
        a.record.outcome = "failed";
        a.record.message = "the grant ran but the account does not hold the entitlement afterwards";
      } else if (a.op === "revoke" && after.has(a.key)) {
        a.record.outcome = "failed";
        a.record.message = "the revoke ran but the account still holds the entitlement afterwards (granted by another role?)";
      }
    }
    held.clear();
    for (const k of after) held.add(k);
  }

  if (desired.deactivateWhenEmpty && !desired.ensureAccount) {
    if (!state.exists) ops.push({ op: "disable_account", target: user, outcome: "already" });
    else if (held.size === 0) {
      if (state.active) await run("disable_account", user, () => backend.disable(state));
      else ops.push({ op: "disable_account", target: user, outcome: "already" });
    }
  }

  const result: AccountResult = { success: ops.every((o) => o.outcome !== "failed"), operations: ops };
  if (state.exists && state.nativeId !== undefined) result.nativeId = state.nativeId;
  return result;
}
