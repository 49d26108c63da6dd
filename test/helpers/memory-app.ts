/**
 * An in-memory application for the access family's engine tests, registered by a test as connector type
 * "memory" (in the process where the worker runs): accounts by "<configuration.app>/<user id>", each with
 * `active` and its entitlements. It plans, then applies only the difference, like every adapter
 * (src/connectors/capabilities/account.ts), so the engine's part can be checked exactly. `failures` are
 * thrown by the next calls of applyDesiredState; `discoveryFailures` by the next pages of a listing.
 */
import type {
  AccountDesiredState,
  AccountOperation,
  AccountOperations,
  AccountResult,
  DiscoveredAccount,
  DiscoveryRequest,
} from "../../src/connectors/capabilities/account.js";
import type { Capability, CommandContext, Connector } from "../../src/connectors/types.js";

export class MemoryApp implements Connector, AccountOperations {
  readonly type = "memory";
  readonly capabilities: readonly Capability[] = ["account"];
  readonly accounts = new Map<string, { active: boolean; entitlements: Set<string> }>();
  applied = 0;
  /** errors to throw on the next applyDesiredState calls (then it works) */
  failures: Error[] = [];
  /** called at the start of every applyDesiredState call (a test's hook: change the database between applications) */
  beforeCall: ((desired: AccountDesiredState) => Promise<void>) | undefined;
  /** errors to throw instead of the next pages of discoverAccounts (undefined: that page is served) */
  discoveryFailures: (Error | undefined)[] = [];
  /** pages served by discoverAccounts */
  pagesServed = 0;
  /** accounts listed again, on the first page, after the real ones (a target that repeats itself) */
  listingRepeats: DiscoveredAccount[] = [];

  /** Set an account by hand (drift made outside provisio). */
  put(app: string, userId: string, entitlements: string[], active = true): void {
    this.accounts.set(`${app}/${userId}`, { active, entitlements: new Set(entitlements) });
  }

  async applyDesiredState(config: unknown, d: AccountDesiredState, ctx: CommandContext & { dryRun?: boolean }): Promise<AccountResult> {
    await this.beforeCall?.(d);
    const next = this.failures.shift();
    if (next) throw next;
    // each application (its configuration names it) keeps its own accounts
    const key = `${(config as { app: string }).app}/${d.userIdInApp}`;
    const ops: AccountOperation[] = [];
    const act = (op: AccountOperation["op"], target: string, holds: boolean, apply: () => void) => {
      if (holds) ops.push({ op, target, outcome: "already" });
      else if (ctx.dryRun) ops.push({ op, target, outcome: "skipped" });
      else {
        apply();
        this.applied++;
        ops.push({ op, target, outcome: "applied" });
      }
    };
    let acc = this.accounts.get(key);
    if (d.ensureAccount) {
      if (!acc) act("create_account", d.userIdInApp, false, () => this.accounts.set(key, (acc = { active: true, entitlements: new Set() })));
      else act("enable_account", d.userIdInApp, acc.active, () => (acc!.active = true));
    }
    for (const e of d.entitlementsToGrant) act("grant", e, Boolean(acc?.entitlements.has(e)), () => acc!.entitlements.add(e));
    for (const e of d.entitlementsToRevoke) act("revoke", e, !acc?.entitlements.has(e), () => acc!.entitlements.delete(e));
    if (d.deactivateWhenEmpty && acc && acc.entitlements.size === 0) act("disable_account", d.userIdInApp, !acc.active, () => (acc!.active = false));
    return { success: true, nativeId: acc ? `mem-${d.userIdInApp}` : undefined, operations: ops };
  }

  async *discoverAccounts(config: unknown, request: DiscoveryRequest): AsyncIterable<DiscoveredAccount[]> {
    const prefix = `${(config as { app: string }).app}/`;
    const keys = new Set(request.entitlementKeys);
    const all = [...this.accounts].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => a.localeCompare(b));
    for (let i = 0; i < all.length || i === 0; i += request.pageSize) {
      const fault = this.discoveryFailures.shift();
      if (fault) throw fault;
      this.pagesServed++;
      const page: DiscoveredAccount[] = all.slice(i, i + request.pageSize).map(([k, a]) => ({
        userIdInApp: k.slice(prefix.length),
        nativeId: `mem-${k.slice(prefix.length)}`,
        active: a.active,
        entitlements: [...a.entitlements].filter((e) => keys.has(e)),
      }));
      yield i === 0 ? [...page, ...this.listingRepeats] : page;
      if (all.length === 0) break;
    }
  }

  async close(): Promise<void> {}
}
