/**
 * Entries the LDAP adapter never manages nor lists (PV_LDAP_RESERVED), the LDAP counterpart of the SQL
 * adapter's reserved roles (src/connectors/sql/roles.ts, PV_SQL_RESERVED): the entry the connector binds
 * as, the configuration's `bindDN`. A mapping whose derived user id happens to name it (bindDN
 * `uid=provisio,ou=people,...` with usersDN `ou=people,...` and rdnAttribute uid, and a person whose
 * username is "provisio") must not grant it groups, revoke them or disable it: disabling it locks provisio
 * itself out of the directory, and granting it a group hands the service account that group's rights.
 * DNs are compared in their normal form (dn.ts normalizeDn: case, spacing and escapes do not matter).
 *
 * - As the account (applyDesiredState): PermanentError PV_LDAP_RESERVED before anything is read or
 *   written (also in a dry run): the whole call fails, as PV_SQL_RESERVED does for the user id.
 * - As an entitlement key (a group DN to grant or revoke): that operation alone is "failed" with
 *   native_code "PV_LDAP_RESERVED" (also in a dry run); the call's other operations go on.
 * - In a discovery listing (discovery.ts): the entry is left out (src/connectors/capabilities/account.ts:
 *   accounts the adapter never manages are not listed).
 *
 * Not covered: an administrative entry that is not the bindDN (OpenLDAP's rootdn is configured in the
 * server, not in the adapter's configuration, and an ordinary entry can be granted administrative rights
 * by the server's ACLs): place such entries outside usersDN, where the adapter neither writes nor lists.
 */
import { PermanentError } from "../../errors.js";
import type { LdapConfig } from "./config.js";
import { normalizeDn } from "./dn.js";

/** The native_code / error code of an entry the adapter does not manage. */
export const RESERVED = "PV_LDAP_RESERVED";

/**
 * The normal form of the configuration's bindDN (dn.ts normalizeDn). The schema has checked it parses;
 * should it not, "" is returned, which no account or group DN the adapter manages normalises to.
 */
export function reservedNorm(settings: Pick<LdapConfig, "bindDN">): string {
  try {
    return normalizeDn(settings.bindDN);
  } catch {
    return "";
  }
}

/**
 * Refuse to manage the account `accountDN` when it is the entry the connector binds as.
 * @throws PermanentError PV_LDAP_RESERVED naming the DN and the rule
 */
export function assertNotReservedAccount(settings: Pick<LdapConfig, "bindDN">, userIdInApp: string, accountDN: string): void {
  const bind = reservedNorm(settings);
  if (bind !== "" && normalizeDn(accountDN) === bind) {
    throw new PermanentError(
      RESERVED,
      `the account ${accountDN} (userIdInApp ${JSON.stringify(userIdInApp)}) is the entry the connector binds as (bindDN ${settings.bindDN}): provisio does not manage its own service account`,
    );
  }
}

/** The message of an entitlement key refused because it is the bindDN (native_code {@link RESERVED}). */
export function reservedEntitlementMessage(settings: Pick<LdapConfig, "bindDN">, key: string): string {
  return `${key} is the entry the connector binds as (bindDN ${settings.bindDN}): provisio does not manage its own service account`;
}
