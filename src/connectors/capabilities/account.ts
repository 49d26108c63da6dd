/**
 * The account capability: make one user's account in an application hold exactly the entitlements it
 * should (seed 002 "Provisioning Connector Adapters": applyDesiredState(configDetails,
 * appSpecificDesiredState)). Implemented by the access family's adapters: sql (PostgreSQL, MariaDB),
 * ldap (ldapts), scim (SCIM 2.0, RFC 7644).
 *
 * Effectively once: an adapter reads the target's current state first (plan), then applies only the
 * difference (apply), so a repeated call, a retry after an ambiguous timeout or the same grant twice
 * reports every operation as "already" and changes nothing. With `dryRun` it returns the plan (outcome
 * "skipped" for what it would apply, "already" for what holds) and changes nothing.
 *
 * Errors: a failure that may pass (connection refused or dropped, timeout, HTTP 429/503, LDAP busy or
 * unavailable) is thrown as a TransientError (src/errors.ts): the application is retried with backoff.
 * A failure of one operation that will not pass (a schema violation, an unknown group, HTTP 400/404) is
 * recorded on that operation (outcome "failed", native_code, message) and the others go on; the result's
 * `success` is then false. A failure of the whole application that will not pass (bad credentials, an
 * invalid config) is thrown as a PermanentError or ConfigurationError.
 */
import type { CommandContext } from "../types.js";

/** The identity's attributes an adapter may need to create the account (table identity). */
export interface AccountAttributes {
  /** the identity's username (compared case-insensitively wherever the target allows it) */
  userName: string;
  email?: string | null;
  displayName?: string | null;
}

/** seed 002 appSpecificDesiredState, with what a grant or revoke asks of the account itself. */
export interface AccountDesiredState {
  /** the user's id in the application, derived by the mapping (a login name, a DN, a SCIM userName) */
  userIdInApp: string;
  attributes: AccountAttributes;
  /** grant: create the account when missing, enable it when disabled */
  ensureAccount: boolean;
  /** native keys (a group DN, a SCIM group id or displayName, a SQL role) the account must hold */
  entitlementsToGrant: string[];
  /** native keys the account must not hold */
  entitlementsToRevoke: string[];
  /** revoke with deactivate: disable the account when, after the revoke, it holds nothing */
  deactivateWhenEmpty: boolean;
}

/** What an operation did (or, in a dry run, would do). */
export type AccountOperationOutcome = "applied" | "already" | "skipped" | "failed";

/** One operation of a plan or of its application, as stored in result_data. */
export interface AccountOperation {
  op: "create_account" | "enable_account" | "disable_account" | "grant" | "revoke" | "link_account";
  /** the account (userIdInApp) or the entitlement's native key */
  target: string;
  outcome: AccountOperationOutcome;
  /** the application's own code (an LDAP result code, an HTTP status, a SQLSTATE) */
  native_code?: string | number;
  message?: string;
}

export interface AccountResult {
  /** true when every operation is applied or already (or skipped in a dry run) */
  success: boolean;
  /** the account's id in the application once known (an entryUUID or DN, the SCIM id, the login name) */
  nativeId?: string;
  operations: AccountOperation[];
}

/**
 * One account as a discovery pass saw it in the application (seed 002 "Discovery pipeline"): what is
 * there, not what should be. Read-only: listing changes nothing in the application.
 */
export interface DiscoveredAccount {
  /**
   * the account's user id as applyDesiredState takes it (`AccountDesiredState.userIdInApp`): the SQL
   * login or the key of the application's user row, the LDAP naming attribute's value (not the DN), the
   * SCIM userName. Compared with the mapping's derived ids case-insensitively.
   */
  userIdInApp: string;
  /** the account's id in the application (an entryUUID or DN, the SCIM id, the login) */
  nativeId?: string;
  /** false when the account is disabled the way applyDesiredState disables it (SCIM active false, ...) */
  active: boolean;
  /** of the request's entitlementKeys, those the account holds, spelled exactly as the request gave them */
  entitlements: string[];
}

/** What a discovery pass asks of the adapter. */
export interface DiscoveryRequest {
  /** the native keys of the application's entitlements (table entitlement): membership is reported for these only */
  entitlementKeys: string[];
  /** accounts per page (the adapter's read size: SCIM count, LDAP paged results, SQL LIMIT); at least 1 */
  pageSize: number;
}

export interface AccountOperations {
  /**
   * Bring the account of `desired.userIdInApp` to the desired state (see the module doc).
   * @param config the application's connector configuration (connector_config), parsed by the adapter's
   *   own zod schema; secrets are referenced by environment variable or file, never given inline
   * @throws TransientError (retry the application), PermanentError / ConfigurationError (fail it)
   */
  applyDesiredState(config: unknown, desired: AccountDesiredState, ctx: CommandContext & { dryRun?: boolean }): Promise<AccountResult>;

  /**
   * List every account of the application with the entitlements it holds among
   * `request.entitlementKeys`, one page (at most `request.pageSize` accounts) per iteration; each account
   * appears once in the whole pass. Accounts the adapter never manages (SQL's reserved roles: the
   * connector's own login, superusers, `pg_` roles, MariaDB's built-in accounts; LDAP's bindDN entry)
   * are left out.
   * The listing is complete only when the iterator finishes; an error thrown in between means it is
   * partial, and the caller must not conclude that an account it did not see is gone.
   * @throws TransientError (server down, 429/503, timeout: the pass is retried), PermanentError /
   *   ConfigurationError (bad credentials, an invalid config)
   */
  discoverAccounts(config: unknown, request: DiscoveryRequest, ctx: CommandContext): AsyncIterable<DiscoveredAccount[]>;
}
