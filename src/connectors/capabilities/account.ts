/**
 * The account capability: make an application's account for one user hold exactly the entitlements it
 * should (seed 002 "Provisioning Connector Adapters": applyDesiredState(configDetails,
 * appSpecificDesiredState)). To be implemented by the access family's adapters (SQL, LDAP, SCIM); no
 * connector offers it yet, so getConnector(type, "account") fails with a configuration error today.
 *
 * Adapters are effectively-once: they read the target's current state first and apply only the
 * difference, so a repeated call reports every operation as "already".
 */
import type { CommandContext } from "../types.js";

/** seed 002 appSpecificDesiredState: the user's id in the application and the native entitlement keys. */
export interface AccountDesiredState {
  userIdInApp: string;
  /** native keys (a group DN, a SCIM group id, a SQL role) the account must hold */
  entitlementsToGrant: string[];
  /** native keys the account must not hold */
  entitlementsToRevoke: string[];
}

/** One operation of a plan or of its application, as stored in result_data. */
export interface AccountOperation {
  op: string;
  target: string;
  outcome: "applied" | "already" | "skipped" | "failed";
  /** the application's own code (an LDAP result code, an HTTP status, a SQLSTATE) */
  native_code?: string | number;
  message?: string;
}

export interface AccountOperations {
  /**
   * Compute, and unless `dryRun` apply, the operations that bring the account to `desired`.
   * @param config the application's connector configuration, parsed by the adapter's own schema
   */
  applyDesiredState(
    config: unknown,
    desired: AccountDesiredState,
    ctx: CommandContext & { dryRun?: boolean },
  ): Promise<{ success: boolean; operations: AccountOperation[] }>;
}
