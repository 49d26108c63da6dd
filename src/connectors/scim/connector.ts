/**
 * The SCIM 2.0 connector (RFC 7643 resources, RFC 7644 protocol): capability "account" (applyDesiredState
 * below; discoverAccounts, the read-only listing of every account, in discovery.ts). The user's id in
 * the application is the SCIM `userName`; an entitlement's native key is a Group's `id` or, with
 * `groupKey: "displayName"`, its `displayName`. The SCIM user `id` is the account's native id.
 *
 * Connector config (connector_config, JSON; {@link scimConfigSchema}):
 *   { "baseUrl": "https://app.example/scim/v2",
 *     "token_env": "VAR" | "token_file": "/path",     // the bearer token, by reference: exactly one
 *     "groupKey": "id" | "displayName",               // default "id"
 *     "timeoutMs": 10000, "maxRetries": 3, "maxRetryWaitMs": 10000, "retryBaseDelayMs": 200,
 *     "linkScanMaxPages": 10, "preconditionRetries": 3 }
 * The token is resolved at each call (a rotated one is used by the next call) and never logged.
 *
 * applyDesiredState plans, then applies only the difference (src/connectors/capabilities/account.ts):
 *  Plan (GETs only):
 *   1. the account: `GET /Users?filter=userName eq "<userName>"` (RFC 7644 §3.4.2.2; the value is a JSON
 *      string, quotes and backslashes escaped). Results are checked here too, case-insensitively (RFC 7643
 *      §4.1.1: userName caseExact=false), so a server that ignores or mis-applies the filter is caught;
 *      several matching accounts fail the application (PV_SCIM_AMBIGUOUS). When the filter finds nothing
 *      and no create will follow (ensureAccount false, or a dry run), the Users are scanned as after a 409
 *      (below: linkScanMaxPages pages of 100), so a revoke or a deactivation still finds an account that a
 *      server comparing userName case-sensitively in filters missed; against any server, a revoke for an
 *      account that does not exist costs that scan.
 *   2. with groupKey "displayName", each Group's id: `GET /Groups?filter=displayName eq "<name>"`.
 *   3. the account's memberships: its `groups` attribute (RFC 7643 §4.1.2) when the server returns it, else
 *      `GET /Groups?filter=members.value eq "<id>"` (paged), else, when the server cannot filter on
 *      members (400/501), each listed Group read on its own (`GET /Groups/<id>`).
 *  Apply, in order, each operation recorded in `operations`:
 *   - create_account: `POST /Users` when absent (ensureAccount). A 409 means it exists after all (created
 *     meanwhile, or by an earlier attempt whose answer was lost): it is looked up again and linked
 *     (op "link_account", native_code 409) instead of failing; a server whose filter compares userName
 *     case-sensitively (so the lookup misses what its uniqueness check saw) is searched page by page, at
 *     most linkScanMaxPages pages of 100 accounts. "already" when the account existed and is active.
 *   - enable_account: PATCH `replace active true` (RFC 7644 §3.5.2.3) when it exists but is inactive.
 *   - grant: PATCH the Group `add members [{value: <user id>}]` (RFC 7644 §3.5.2.1), only when the account
 *     is not already a direct member: a member is never added twice, whatever the server does with a
 *     repeated add. "already" when it is a member.
 *   - revoke: PATCH the Group `remove` with path `members[value eq "<user id>"]` (RFC 7644 §3.5.2.2) when
 *     it is a direct member; "already" when it is not (or the Group does not exist); "failed" when the
 *     membership is only indirect (a nested group: nothing to remove here).
 *   - disable_account (deactivateWhenEmpty): PATCH `replace active false` when, after the revokes, the
 *     account is in no Group at all; "failed" when its memberships could not be read completely.
 *  dryRun: the plan only (outcome "skipped" for what would be applied); nothing but GETs is sent; a Group
 *  to grant is read (GET /Groups/<id>) so the plan already shows an unknown one as failed with 404.
 *
 * 412 Precondition Failed (RFC 7644 §3.14; some servers also answer it to a concurrent modification): the
 * resource changed since the plan read it, so the write's operation is re-planned against what is there
 * now, at most `preconditionRetries` times (default 3; 0: fail at once):
 *   - grant / revoke: the Group is read again (`GET /Groups/<id>?attributes=members`); the account already
 *     a direct member (grant) or no longer one (revoke, or the Group gone: 404) -> outcome "already";
 *     else the same PATCH is sent again.
 *   - enable_account / disable_account: the User is read again (`GET /Users/<id>`); `active` already as
 *     wanted -> "already"; a disable whose re-read User lists Groups again (its `groups` attribute) is not
 *     sent and fails (the next attempt plans from scratch); else the same PATCH is sent again.
 *  An operation settled after a 412 carries native_code 412 and a message saying so ("applied" or
 *  "already"); one still answered 412 after the last re-plan fails with native_code 412 and the message
 *  "<method> <path>: HTTP 412 ...; still 412 Precondition Failed after N re-reads of the <Group|User>",
 *  and the other operations go on; a re-read refused with a 4xx fails the operation with that status.
 *  No If-Match is sent: the adapter's PATCHes are relative (add or remove one member, replace `active`),
 *  not a read-modify-write of the whole resource, so a version check would only turn unrelated changes to
 *  a busy Group into 412s (and the simulator, on scimmy, supports no ETags). 412s therefore come from
 *  servers that check on their own; they are handled when they come.
 *
 * Errors: a 400/404/409 (or other 4xx) on one write, and a 412 that outlasts the re-plans, fail that
 * operation only (native_code = HTTP status, message = method, path, scimType and the server's detail)
 * and the others go on; a grant or
 * revoke that needs an account that could not be created fails with it. 429/503/5xx, timeouts and
 * connection failures are retried within the call (client.ts) and then thrown as ScimTransientError;
 * 401/403 as ScimPermanentError PV_SCIM_AUTH (configSuspect); a bad config or a missing secret as
 * ConfigurationError (PV_CONFIG). See errors.ts for the codes.
 */
import { z } from "zod";
import { resolveSecret } from "../../config.js";
import { ConfigurationError, TransientError } from "../../errors.js";
import type { AccountDesiredState, AccountOperation, AccountOperations, AccountResult, DiscoveredAccount, DiscoveryRequest } from "../capabilities/account.js";
import type { Capability, CommandContext, Connector } from "../types.js";
import { PATCH_OP_SCHEMA, ScimClient, USER_SCHEMA, eqFilter } from "./client.js";
import { discoverScimAccounts } from "./discovery.js";
import { ScimHttpError, ScimPermanentError } from "./errors.js";
import { fold, resolveGroupKeys, type GroupRef } from "./groups.js";

const httpUrl = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    let scheme: string | undefined;
    try {
      scheme = new URL(v).protocol;
    } catch {
      scheme = undefined;
    }
    if (scheme !== "https:" && scheme !== "http:") {
      ctx.addIssue({
        code: "custom",
        message: `must be an https:// (or, for tests, http://) URL, got ${scheme ? `scheme ${scheme}` : "something that is not a URL"}`,
      });
    }
  })
  .transform((v) => v.replace(/\/+$/, ""));

/** The SCIM connector's configuration (connector_config). Unknown keys are refused (a typo is not ignored). */
export const scimConfigSchema = z
  .object({
    /** the SCIM service's base URL, the one /Users and /Groups hang off */
    baseUrl: httpUrl,
    /** environment variable holding the bearer token */
    token_env: z.string().min(1).optional(),
    /** file holding the bearer token (one trailing line ending ignored: src/config.ts resolveSecret) */
    token_file: z.string().min(1).optional(),
    /** what an entitlement's native key names: the Group's id (default) or its displayName */
    groupKey: z.enum(["id", "displayName"]).default("id"),
    /** milliseconds to wait for one HTTP answer */
    timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    /** further tries of one request on 429/503 (and, for GETs, timeouts) within one call */
    maxRetries: z.number().int().min(0).max(10).default(3),
    /** longest wait (a Retry-After or a backoff) within one call; a longer Retry-After ends the call with a transient error */
    maxRetryWaitMs: z.number().int().min(0).max(300_000).default(10_000),
    /** first backoff when the server sent no Retry-After (doubled each try, with jitter) */
    retryBaseDelayMs: z.number().int().min(0).max(60_000).default(200),
    /** pages of 100 accounts searched after a 409 on create when the filter finds nothing (0: none) */
    linkScanMaxPages: z.number().int().min(0).max(1000).default(10),
    /** re-reads and re-plans of one write answered 412 Precondition Failed before it fails (module doc; 0: none) */
    preconditionRetries: z.number().int().min(0).max(10).default(3),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (Boolean(c.token_env) === Boolean(c.token_file)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of token_env or token_file", path: ["token_env"] });
    }
  });
export type ScimConfig = z.infer<typeof scimConfigSchema>;

/**
 * Parse a connector_config for the SCIM connector.
 * @throws ConfigurationError (PV_CONFIG) naming every bad field (never a secret: the config holds none)
 */
export function parseScimConfig(config: unknown): ScimConfig {
  const parsed = scimConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new ConfigurationError(
      `invalid SCIM connector config: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

/**
 * The bearer token the config references, read now.
 * @throws ConfigurationError when the variable is unset or empty or the file unreadable or empty
 */
export function resolveScimToken(c: ScimConfig, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return resolveSecret({ password_env: c.token_env, password_file: c.token_file }, env);
  } catch (err) {
    const where = c.token_env ? `token_env: environment variable ${c.token_env} is not set` : `token_file: cannot read ${c.token_file} or it is empty`;
    throw new ConfigurationError(`SCIM bearer token: ${where}`, { cause: err });
  }
}

/** A SCIM User as read (RFC 7643 §4.1): the attributes this adapter uses. */
interface ScimUser {
  id: string;
  userName: string;
  active?: boolean;
  groups?: { value?: string; type?: string }[];
}

/** What the account belongs to: `direct` memberships can be removed here; `all` counts indirect ones too. */
interface Membership {
  direct: Set<string>;
  all: Set<string>;
  /** false when only the listed Groups were read (the server cannot filter Groups by member) */
  complete: boolean;
}

const patch = (...Operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });

/** Test seams of the connector; production code passes nothing. */
export interface ScimConnectorOptions {
  /** where token_env is looked up (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** injectable for tests (waits for Retry-After and backoff) */
  sleep?: (ms: number) => Promise<void>;
}

/** The SCIM connector: see the module doc. Holds no connections of its own (fetch's pool is process-wide). */
export class ScimConnector implements Connector, AccountOperations {
  readonly type = "scim";
  readonly capabilities: readonly Capability[] = ["account"];
  private closed = false;

  constructor(private readonly options: ScimConnectorOptions = {}) {}

  /**
   * Bring the account of `desired.userIdInApp` (a SCIM userName) to the desired state: plan, then apply
   * (module doc). Returns every operation with its outcome; `nativeId` is the SCIM user id once known.
   * @throws ConfigurationError (bad config, missing token), ScimPermanentError (401/403, an ambiguous or
   *   refused account lookup), ScimTransientError (429/503/5xx after retries, timeouts, connection failures)
   */
  async applyDesiredState(config: unknown, desired: AccountDesiredState, ctx: CommandContext & { dryRun?: boolean }): Promise<AccountResult> {
    this.checkOpen();
    const cfg = parseScimConfig(config);
    return new ScimRun(this.client(cfg, ctx), cfg, desired, ctx.dryRun === true, ctx).run();
  }

  /**
   * Every account of the SCIM service, page by page, with the entitlement keys of `request` each one
   * holds (discovery.ts: first each key's Group members, then `GET /Users?startIndex=&count=`, RFC 7644
   * §3.4.2.4). Each yielded page is an array of at most `request.pageSize` accounts; every account
   * (SCIM id) appears once in the pass: `userIdInApp` = userName, `nativeId` = id, `active` = false only
   * when the User's active is false, `entitlements` = the request's keys (spelled as given, in its order,
   * each once) whose Group lists the user as a direct member. Read-only: GET requests only. Nothing is
   * sent before the first `next()`; the pass is complete only when the iteration ends without an error.
   * @param config the connector_config (parsed by {@link scimConfigSchema}; the token resolved now)
   * @throws (from the iteration) ConfigurationError (bad config, missing token), ScimTransientError
   *   (429/503 after the in-call waits for Retry-After, 5xx, timeouts, dropped or refused connections,
   *   a closed connector), ScimPermanentError (PV_SCIM_AUTH for 401/403, PV_SCIM_REJECTED for a list or
   *   Group read refused with another 4xx, PV_SCIM_AMBIGUOUS for a displayName key naming several Groups,
   *   PV_SCIM_PROTOCOL for an answer that is not a usable ListResponse), RangeError for a pageSize that is
   *   not an integer of at least 1 (a caller's bug)
   */
  async *discoverAccounts(config: unknown, request: DiscoveryRequest, ctx: CommandContext): AsyncGenerator<DiscoveredAccount[], void, undefined> {
    this.checkOpen();
    const cfg = parseScimConfig(config);
    yield* discoverScimAccounts(this.client(cfg, ctx), cfg.groupKey, request, ctx.log);
  }

  /** Refuse new work (in-flight calls finish). */
  async close(): Promise<void> {
    this.closed = true;
  }

  /** @throws TransientError PV_SCIM_CLOSED after close() */
  private checkOpen(): void {
    if (this.closed) throw new TransientError("PV_SCIM_CLOSED", "the SCIM connector is closed (the worker is shutting down)");
  }

  /** One client per call: the config's URL and retry bounds, the token read now, X-Request-ID from ctx. */
  private client(cfg: ScimConfig, ctx: CommandContext): ScimClient {
    return new ScimClient({
      baseUrl: cfg.baseUrl,
      token: resolveScimToken(cfg, this.options.env),
      timeoutMs: cfg.timeoutMs,
      maxRetries: cfg.maxRetries,
      maxRetryWaitMs: cfg.maxRetryWaitMs,
      retryBaseDelayMs: cfg.retryBaseDelayMs,
      log: ctx.log,
      requestId: `${ctx.correlationId}-${ctx.attempt}${ctx.step ? `-${ctx.step}` : ""}`,
      sleep: this.options.sleep,
    });
  }
}

/** One applyDesiredState: the plan and its application. */
class ScimRun {
  private readonly ops: AccountOperation[] = [];
  private readonly userName: string;
  private user: ScimUser | undefined;
  private membership: Membership | undefined;
  /** the account will exist once the dry run's create is applied */
  private plannedCreate = false;
  /** why there is no account to grant to, when creating or linking it failed */
  private accountFailure: string | undefined;

  constructor(
    private readonly client: ScimClient,
    private readonly cfg: ScimConfig,
    private readonly desired: AccountDesiredState,
    private readonly dryRun: boolean,
    private readonly ctx: CommandContext,
  ) {
    this.userName = desired.userIdInApp;
  }

  async run(): Promise<AccountResult> {
    this.user = await this.findUser();
    // no create will follow whose 409 would reveal an account the filter missed (module doc, plan step 1)
    if (!this.user && (!this.desired.ensureAccount || this.dryRun)) this.user = await this.scanForUser();
    const keys = [...new Set([...this.desired.entitlementsToGrant, ...this.desired.entitlementsToRevoke])];
    const groups = await this.resolveGroups(keys);
    const groupIds = [...groups.values()].flatMap((g) => ("id" in g ? [g.id] : []));
    if (this.user) this.membership = await this.readMembership(this.user, groupIds);

    await this.ensureAccount(groupIds);
    const granted = new Set<string>();
    const revoked = new Set<string>();
    for (const key of new Set(this.desired.entitlementsToGrant)) {
      const gid = await this.grant(key, groups.get(key)!);
      if (gid) granted.add(gid);
    }
    for (const key of new Set(this.desired.entitlementsToRevoke)) {
      const gid = await this.revoke(key, groups.get(key)!);
      if (gid) revoked.add(gid);
    }
    if (this.desired.deactivateWhenEmpty) await this.deactivateWhenEmpty(granted, revoked);

    return { success: this.ops.every((o) => o.outcome !== "failed"), ...(this.user ? { nativeId: this.user.id } : {}), operations: this.ops };
  }

  private record(op: AccountOperation): void {
    this.ops.push(op);
    this.ctx.log.debug({ scim: op, dryRun: this.dryRun }, "scim operation");
  }

  private failed(op: AccountOperation["op"], target: string, err: ScimHttpError): void {
    this.record({ op, target, outcome: "failed", native_code: err.status, message: err.message });
  }

  /**
   * Send one write of operation `op` and say how it ended (not recorded here). On 412 Precondition Failed,
   * `replan` reads the resource again (module doc) and returns the operation's end when the write is no
   * longer needed ("already", or "failed" with a reason), or undefined to send it again; at most
   * cfg.preconditionRetries re-plans, then "failed" with native_code 412. Another 4xx, on the write or on
   * the re-read, fails the operation with its status.
   * @param what "Group" or "User": what `replan` re-reads, for the messages
   * @throws ScimTransientError / ScimPermanentError from the client (the write's or the re-read's)
   */
  private async writeReplanning(
    op: AccountOperation["op"],
    target: string,
    what: "Group" | "User",
    write: () => Promise<unknown>,
    replan: () => Promise<Pick<AccountOperation, "outcome" | "message"> | undefined>,
  ): Promise<AccountOperation> {
    let rereads = 0;
    let first: ScimHttpError | undefined;
    const after = () => `after HTTP 412 Precondition Failed (${first!.message}) and ${rereads} re-read${rereads === 1 ? "" : "s"} of the ${what}`;
    for (;;) {
      try {
        await write();
        return first ? { op, target, outcome: "applied", native_code: 412, message: `applied ${after()}` } : { op, target, outcome: "applied" };
      } catch (err) {
        if (!(err instanceof ScimHttpError)) throw err;
        if (err.status !== 412) return { op, target, outcome: "failed", native_code: err.status, message: first ? `${err.message} (${after()})` : err.message };
        first ??= err;
        if (rereads >= this.cfg.preconditionRetries) {
          return {
            op,
            target,
            outcome: "failed",
            native_code: 412,
            message: `${err.message}; still 412 Precondition Failed after ${rereads} re-read${rereads === 1 ? "" : "s"} of the ${what} (preconditionRetries ${this.cfg.preconditionRetries})`,
          };
        }
      }
      rereads++;
      this.ctx.log.debug({ op, target, reread: rereads }, "scim: 412 Precondition Failed; re-reading and re-planning");
      let now: Pick<AccountOperation, "outcome" | "message"> | undefined;
      try {
        now = await replan();
      } catch (err) {
        if (!(err instanceof ScimHttpError)) throw err;
        return { op, target, outcome: "failed", native_code: err.status, message: `re-reading the ${what} ${after()}: ${err.message}` };
      }
      if (now) return { op, target, native_code: 412, ...now, message: `${now.message ? `${now.message} ` : ""}${after()}` };
    }
  }

  /** The Group's direct members as read now (`GET /Groups/<id>?attributes=members`). @throws ScimHttpError (e.g. 404) */
  private async rereadMembers(gid: string): Promise<Set<string>> {
    const g = await this.client.request<{ members?: { value?: unknown }[] }>("GET", `/Groups/${encodeURIComponent(gid)}`, { query: { attributes: "members" } });
    return new Set((g?.members ?? []).flatMap((m) => (typeof m.value === "string" ? [m.value] : [])));
  }

  /**
   * The account whose userName equals this.userName case-insensitively, by filter (RFC 7644 §3.4.2.2).
   * @throws ScimPermanentError PV_SCIM_AMBIGUOUS for several, PV_SCIM_REJECTED when the lookup is refused
   */
  private async findUser(): Promise<ScimUser | undefined> {
    let found: ScimUser[];
    try {
      found = await this.client.list<ScimUser>("/Users", { filter: eqFilter("userName", this.userName) }, 100, 10);
    } catch (err) {
      if (err instanceof ScimHttpError) throw new ScimPermanentError("PV_SCIM_REJECTED", `looking up the account: ${err.message}`, err.info, { cause: err });
      throw err;
    }
    return this.pick(found, "/Users?filter=userName");
  }

  /**
   * The one user among `found` with this userName (case-insensitively; an exact match wins a tie).
   * @param path the request that found them, for the error
   * @throws ScimPermanentError PV_SCIM_AMBIGUOUS when several match
   */
  private pick(found: ScimUser[], path: string): ScimUser | undefined {
    const matches = found.filter((u) => typeof u.userName === "string" && typeof u.id === "string" && fold(u.userName) === fold(this.userName));
    if (matches.length <= 1) return matches[0];
    const exact = matches.filter((u) => u.userName === this.userName);
    if (exact.length === 1) return exact[0];
    throw new ScimPermanentError(
      "PV_SCIM_AMBIGUOUS",
      `${matches.length} SCIM accounts have userName ${JSON.stringify(this.userName)} (compared case-insensitively): ids ${matches.map((u) => u.id).join(", ")}`,
      { method: "GET", path },
    );
  }

  /** Each key's Group (groups.ts). */
  private resolveGroups(keys: string[]): Promise<Map<string, GroupRef>> {
    return resolveGroupKeys(this.client, this.cfg.groupKey, keys);
  }

  /** The user's memberships (module doc, plan step 3). */
  private async readMembership(user: ScimUser, groupIds: string[]): Promise<Membership> {
    if (Array.isArray(user.groups)) {
      const all = new Set<string>();
      const direct = new Set<string>();
      for (const g of user.groups) {
        if (typeof g.value !== "string") continue;
        all.add(g.value);
        if (!g.type || g.type.toLowerCase() === "direct") direct.add(g.value);
      }
      return { all, direct, complete: true };
    }
    try {
      const groups = await this.client.list<{ id: string }>("/Groups", { filter: eqFilter("members.value", user.id), attributes: "id" });
      const ids = new Set(groups.map((g) => g.id));
      return { all: ids, direct: new Set(ids), complete: true };
    } catch (err) {
      if (!(err instanceof ScimHttpError) || (err.status !== 400 && err.status !== 501)) throw err;
      this.ctx.log.debug({ status: err.status }, "scim: the server cannot filter Groups by members.value; reading each Group");
    }
    const direct = new Set<string>();
    for (const gid of groupIds) {
      try {
        const g = await this.client.request<{ members?: { value?: string }[] }>("GET", `/Groups/${encodeURIComponent(gid)}`, {
          query: { attributes: "members" },
        });
        if (g?.members?.some((m) => m.value === user.id)) direct.add(gid);
      } catch (err) {
        if (!(err instanceof ScimHttpError)) throw err; // a missing Group holds nobody; granting it will say so
      }
    }
    return { all: new Set(direct), direct, complete: false };
  }

  /** create_account / link_account / enable_account (module doc). */
  private async ensureAccount(groupIds: string[]): Promise<void> {
    if (!this.user) {
      if (!this.desired.ensureAccount) return;
      if (this.dryRun) {
        this.plannedCreate = true;
        this.record({ op: "create_account", target: this.userName, outcome: "skipped" });
        return;
      }
      try {
        const created = await this.client.request<ScimUser>("POST", "/Users", { body: this.newUser() });
        if (!created || typeof created.id !== "string")
          throw new ScimPermanentError("PV_SCIM_PROTOCOL", "POST /Users: HTTP 201 without the new User's id", { method: "POST", path: "/Users" });
        this.user = created;
        this.membership = { all: new Set(), direct: new Set(), complete: true };
        this.record({ op: "create_account", target: this.userName, outcome: "applied" });
        return;
      } catch (err) {
        if (!(err instanceof ScimHttpError)) throw err;
        if (err.status !== 409) {
          this.failed("create_account", this.userName, err);
          this.accountFailure = `the account could not be created (${err.message})`;
          return;
        }
        const existing = (await this.findUser()) ?? (await this.scanForUser());
        if (!existing) {
          this.record({
            op: "create_account",
            target: this.userName,
            outcome: "failed",
            native_code: 409,
            message: `${err.message}; and no account with this userName could be found to link`,
          });
          this.accountFailure = "the account exists (409) but could not be found";
          return;
        }
        this.user = existing;
        this.membership = await this.readMembership(existing, groupIds);
        this.record({
          op: "link_account",
          target: this.userName,
          outcome: "applied",
          native_code: 409,
          message: `the account already existed (${err.message}); linked SCIM user ${existing.id}`,
        });
      }
    } else if (this.desired.ensureAccount && this.user.active !== false) {
      this.record({ op: "create_account", target: this.userName, outcome: "already" });
      return;
    }
    if (this.desired.ensureAccount && this.user.active === false) await this.setActive(true);
  }

  /**
   * After a 409 whose userName the filter cannot find (a server comparing it case-sensitively in filters
   * but not in its uniqueness check), or when the filter found nothing and no create will follow: read
   * the Users page by page, at most linkScanMaxPages pages.
   */
  private async scanForUser(): Promise<ScimUser | undefined> {
    if (this.cfg.linkScanMaxPages === 0) return undefined;
    const all = await this.client.list<ScimUser>("/Users", {}, 100, this.cfg.linkScanMaxPages);
    const found = this.pick(all, "/Users (scan)");
    if (!found) return undefined;
    return (await this.client.request<ScimUser>("GET", `/Users/${encodeURIComponent(found.id)}`)) ?? found;
  }

  /** The POST /Users body (RFC 7643 §4.1): userName, active, and displayName / emails when known. */
  private newUser(): Record<string, unknown> {
    const a = this.desired.attributes;
    return {
      schemas: [USER_SCHEMA],
      userName: this.userName,
      active: true,
      ...(a.displayName ? { displayName: a.displayName } : {}),
      ...(a.email ? { emails: [{ value: a.email, type: "work", primary: true }] } : {}),
    };
  }

  /** enable_account / disable_account: PATCH replace active (RFC 7644 §3.5.2.3). */
  private async setActive(active: boolean): Promise<void> {
    const op = active ? "enable_account" : "disable_account";
    const user = this.user!;
    if (user.active === active || (active && user.active === undefined)) {
      this.record({ op, target: this.userName, outcome: "already" });
      return;
    }
    if (this.dryRun) {
      this.record({ op, target: this.userName, outcome: "skipped" });
      return;
    }
    const path = `/Users/${encodeURIComponent(user.id)}`;
    const result = await this.writeReplanning(
      op,
      this.userName,
      "User",
      () => this.client.request("PATCH", path, { body: patch({ op: "replace", path: "active", value: active }) }),
      async () => {
        const now = await this.client.request<ScimUser>("GET", path);
        if (now?.active === active || (active && now?.active === undefined)) return { outcome: "already" };
        const groups = (Array.isArray(now?.groups) ? now.groups : []).flatMap((g) => (typeof g.value === "string" ? [g.value] : []));
        if (!active && groups.length > 0) {
          return { outcome: "failed", message: `not deactivated: the account is in Groups again (${groups.join(", ")})` };
        }
        return undefined;
      },
    );
    if (result.outcome === "applied" || result.outcome === "already") user.active = active;
    this.record(result);
  }

  /** One grant; returns the Group id when the account holds it afterwards (or would, in a dry run). */
  private async grant(key: string, ref: GroupRef): Promise<string | undefined> {
    if ("error" in ref) {
      this.record({ op: "grant", target: key, outcome: "failed", native_code: ref.error.status, message: ref.error.message });
      return undefined;
    }
    const user = this.user;
    if (!user && !this.plannedCreate) {
      const why = this.accountFailure ?? "the account does not exist and ensureAccount is false";
      this.record({ op: "grant", target: key, outcome: "failed", message: `no account to grant to: ${why}` });
      return undefined;
    }
    if (user && this.membership?.direct.has(ref.id)) {
      this.record({ op: "grant", target: key, outcome: "already" });
      return ref.id;
    }
    if (this.dryRun) {
      try {
        await this.client.request("GET", `/Groups/${encodeURIComponent(ref.id)}`, { query: { attributes: "id" } });
      } catch (err) {
        if (!(err instanceof ScimHttpError)) throw err;
        this.failed("grant", key, err);
        return undefined;
      }
      this.record({ op: "grant", target: key, outcome: "skipped" });
      return ref.id;
    }
    const result = await this.writeReplanning(
      "grant",
      key,
      "Group",
      () =>
        this.client.request("PATCH", `/Groups/${encodeURIComponent(ref.id)}`, {
          body: patch({ op: "add", path: "members", value: [{ value: user!.id }] }),
        }),
      async () => ((await this.rereadMembers(ref.id)).has(user!.id) ? { outcome: "already", message: "already a member:" } : undefined),
    );
    this.record(result);
    if (result.outcome === "failed") return undefined;
    this.membership?.direct.add(ref.id);
    this.membership?.all.add(ref.id);
    return ref.id;
  }

  /** One revoke; returns the Group id when the account no longer holds it (or would not, in a dry run). */
  private async revoke(key: string, ref: GroupRef): Promise<string | undefined> {
    if ("error" in ref) {
      if (ref.error.status === 404) {
        this.record({ op: "revoke", target: key, outcome: "already", message: ref.error.message });
        return undefined;
      }
      this.record({ op: "revoke", target: key, outcome: "failed", native_code: ref.error.status, message: ref.error.message });
      return undefined;
    }
    const user = this.user;
    if (!user || !this.membership?.all.has(ref.id)) {
      this.record({ op: "revoke", target: key, outcome: "already", ...(user ? {} : { message: "no account" }) });
      return ref.id;
    }
    if (!this.membership.direct.has(ref.id)) {
      this.record({
        op: "revoke",
        target: key,
        outcome: "failed",
        message: "the account holds this Group only indirectly (through a nested Group): nothing to remove here",
      });
      return undefined;
    }
    if (this.dryRun) {
      this.record({ op: "revoke", target: key, outcome: "skipped" });
      return ref.id;
    }
    const result = await this.writeReplanning(
      "revoke",
      key,
      "Group",
      () =>
        this.client.request("PATCH", `/Groups/${encodeURIComponent(ref.id)}`, {
          body: patch({ op: "remove", path: `members[${eqFilter("value", user.id)}]` }),
        }),
      async () => {
        let members: Set<string>;
        try {
          members = await this.rereadMembers(ref.id);
        } catch (err) {
          if (err instanceof ScimHttpError && err.status === 404) return { outcome: "already", message: "the Group no longer exists:" };
          throw err;
        }
        return members.has(user.id) ? undefined : { outcome: "already", message: "no longer a member:" };
      },
    );
    this.record(result);
    if (result.outcome === "failed") return undefined;
    this.membership.direct.delete(ref.id);
    this.membership.all.delete(ref.id);
    return ref.id;
  }

  /** disable_account when the account is, after the revokes, in no Group at all. */
  private async deactivateWhenEmpty(granted: Set<string>, revoked: Set<string>): Promise<void> {
    if (!this.user) {
      if (!this.plannedCreate) this.record({ op: "disable_account", target: this.userName, outcome: "already", message: "no account" });
      return;
    }
    const m = this.membership!;
    if (!m.complete) {
      this.record({
        op: "disable_account",
        target: this.userName,
        outcome: "failed",
        message: "the server cannot list the account's Groups (no groups attribute, no members.value filter): not deactivated",
      });
      return;
    }
    const held = new Set([...m.all].filter((g) => !revoked.has(g)));
    for (const g of granted) held.add(g);
    if (held.size > 0) return;
    await this.setActive(false);
  }
}
