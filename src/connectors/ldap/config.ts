/**
 * The LDAP adapter's configuration (connector_config.configuration of an application whose connector type
 * is "ldap"), parsed with zod. Secrets are referenced (password_env or password_file, src/config.ts
 * secretRefSchema), never given inline. Example:
 *
 *   { "url": "ldaps://ldap.example.org", "bindDN": "cn=provisio,ou=services,dc=example,dc=org",
 *     "password_env": "LDAP_PROVISIO_PW",
 *     "usersDN": "ou=people,dc=example,dc=org", "groupsDN": "ou=groups,dc=example,dc=org",
 *     "rdnAttribute": "uid", "objectClasses": ["inetOrgPerson"],
 *     "disable": { "attribute": "pwdAccountLockedTime", "value": "000001010000Z" },
 *     "emptyGroupMember": "cn=nobody", "timeouts": { "connectMs": 5000, "operationMs": 10000 } }
 */
import { z } from "zod";
import { secretRefSchema } from "../../config.js";
import { DnSyntaxError, parseDn } from "./dn.js";

/** A DN string that parses by RFC 4514 §3 (src/connectors/ldap/dn.ts parseDn). */
const dnString = (what: string, opts: { allowEmpty?: boolean } = {}) =>
  z.string().superRefine((v, ctx) => {
    try {
      if (parseDn(v).length === 0 && !opts.allowEmpty) ctx.addIssue({ code: "custom", message: `${what} must not be empty` });
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `${what} is not a valid DN (RFC 4514): ${err instanceof DnSyntaxError ? err.message : String(err)}` });
    }
  });

/** An attribute description: a descr (RFC 4512 §1.4 keystring) or a numericoid. */
const attributeName = z.string().regex(/^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/, "must be an attribute name such as uid or cn");

/** Where an attribute of a new account takes its value from (the identity's attributes, AccountAttributes). */
const attributeSource = z.enum(["userName", "email", "displayName"]);

const ldapUrl = z.string().superRefine((v, ctx) => {
  let scheme: string | undefined;
  try {
    scheme = new URL(v).protocol;
  } catch {
    scheme = undefined;
  }
  if (scheme !== "ldap:" && scheme !== "ldaps:") {
    ctx.addIssue({ code: "custom", message: `must be an ldap:// or ldaps:// URL, got ${scheme ? `scheme ${scheme}` : "something that is not a URL"}` });
  }
});

export const ldapConfigSchema = z
  .object({
    /** ldap://host[:389] or ldaps://host[:636] (scheme, host and port only) */
    url: ldapUrl,
    /**
     * the DN provisio binds as (simple bind, RFC 4511 §4.2). Reserved (reserved.ts): never managed as an
     * account or group (PV_LDAP_RESERVED) nor listed by discovery
     */
    bindDN: dnString("bindDN"),
    /** the bind password, by reference: exactly one of password_env and password_file */
    password_env: z.string().min(1).optional(),
    password_file: z.string().min(1).optional(),
    /** refused: a secret is never given inline (the message does not echo it) */
    password: z.undefined({ error: "an inline password is not allowed: use password_env or password_file" }).optional(),
    /** the parent of account entries: an account's DN is `<rdnAttribute>=<userIdInApp>,<usersDN>` */
    usersDN: dnString("usersDN"),
    /**
     * where the account's groups live. Entitlement keys (group DNs) outside it are refused (outcome
     * "failed", native_code PV_LDAP_GROUPS_DN: a tenant-written entitlement can name only a group of this
     * subtree; without groupsDN any group DN is accepted), and deactivateWhenEmpty counts the account's groups below it; without it no disable is
     * done (the operation fails with a message saying so).
     */
    groupsDN: dnString("groupsDN").optional(),
    /** the naming attribute of account entries; userIdInApp is its value */
    rdnAttribute: attributeName.default("uid"),
    /** objectClass values of a new account entry (structural first, then auxiliaries) */
    objectClasses: z.array(z.string().min(1)).min(1).default(["inetOrgPerson"]),
    /**
     * attributes of a new account and where each takes its value: the first non-empty source wins; an
     * attribute with no value is left out. Existing accounts' attributes are not changed.
     */
    accountAttributes: z
      .record(attributeName, z.union([attributeSource, z.array(attributeSource).min(1)]))
      .default({ cn: ["displayName", "userName"], sn: ["displayName", "userName"], displayName: "displayName", mail: "email" }),
    /**
     * how an account is disabled: the attribute set to the value (modify replace); enabling deletes that
     * value. The account counts as disabled when the attribute holds the value (compared case-insensitively).
     * "none": accounts are never disabled or enabled (deactivateWhenEmpty records nothing).
     * Example with the ppolicy overlay: { "attribute": "pwdAccountLockedTime", "value": "000001010000Z" }.
     */
    disable: z.union([z.literal("none"), z.object({ attribute: attributeName, value: z.string().min(1) })]).default("none"),
    /** objectClass of group entries */
    groupObjectClass: z.string().min(1).default("groupOfNames"),
    /** the attribute of a group entry holding member DNs (groupOfNames: member; groupOfUniqueNames: uniqueMember) */
    memberAttribute: attributeName.default("member"),
    /**
     * the member value put into a group whose last real member is removed, because groupOfNames requires
     * at least one member (RFC 4519 §3.5; removing the last one is 65 objectClassViolation). Default
     * "cn=nobody": a DN no one can bind as and that grants nothing (the bind DN would give provisio's
     * service account the group's rights). It is removed again when the next member is added.
     */
    emptyGroupMember: dnString("emptyGroupMember").default("cn=nobody"),
    /** ldaps:// and StartTLS: a CA file (PEM, read at each bind), certificate checking, SNI name */
    tls: z
      .object({
        ca_file: z.string().min(1).optional(),
        reject_unauthorized: z.boolean().default(true),
        servername: z.string().min(1).optional(),
        /** ldap:// only: upgrade with StartTLS (RFC 4511 §4.14) before binding */
        starttls: z.boolean().default(false),
      })
      .default({ reject_unauthorized: true, starttls: false }),
    /** milliseconds: TCP/TLS connect, one LDAP operation, an idle bound connection before it is unbound */
    timeouts: z
      .object({
        connectMs: z.number().int().min(100).max(300_000).default(5_000),
        operationMs: z.number().int().min(100).max(600_000).default(10_000),
        idleMs: z.number().int().min(1_000).max(3_600_000).default(60_000),
      })
      .default({ connectMs: 5_000, operationMs: 10_000, idleMs: 60_000 }),
  })
  .superRefine((c, ctx) => {
    const r = secretRefSchema.safeParse({ password_env: c.password_env, password_file: c.password_file });
    if (!r.success) ctx.addIssue({ code: "custom", message: r.error.issues[0]!.message, path: ["password_env"] });
    if (c.tls.starttls && c.url.startsWith("ldaps:"))
      ctx.addIssue({ code: "custom", message: "starttls is for ldap:// URLs; ldaps:// is TLS already", path: ["tls", "starttls"] });
    if (c.disable !== "none" && c.disable.attribute.toLowerCase() === c.rdnAttribute.toLowerCase()) {
      ctx.addIssue({ code: "custom", message: "disable.attribute must not be the rdnAttribute", path: ["disable", "attribute"] });
    }
  });

/** The parsed configuration (defaults applied). */
export type LdapConfig = z.infer<typeof ldapConfigSchema>;
