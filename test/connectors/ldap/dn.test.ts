/**
 * DN and filter escaping of the LDAP adapter (src/connectors/ldap/dn.ts): RFC 4514 §2.4 escaping, §3
 * parsing, normalised comparison, RFC 4515 §3 filter values; plus the config schema and the result-code
 * mapping (errors.ts). No server: see ldap.test.ts for the same values against OpenLDAP.
 */
import fc from "fast-check";
import {
  AlreadyExistsError,
  BusyError,
  EqualityFilter,
  FilterParser,
  InvalidCredentialsError,
  NoSuchObjectError,
  UnavailableError,
  UnwillingToPerformError,
} from "ldapts";
import { describe, expect, it } from "vitest";
import { accountDnOf, parseLdapConfig } from "../../../src/connectors/ldap/connector.js";
import {
  DnSyntaxError,
  childDn,
  dnEquals,
  escapeDnValue,
  escapeFilterValue,
  formatDn,
  isWithin,
  normalizeDn,
  parseDn,
} from "../../../src/connectors/ldap/dn.js";
import { applicationError, toProvisioError } from "../../../src/connectors/ldap/errors.js";
import { ConfigurationError, PermanentError, TransientError } from "../../../src/errors.js";

/** Values that break naive DN or filter building. */
const HOSTILE = [
  "a,b",
  "a+b",
  'say "hi"',
  "back\\slash",
  "#leading-hash",
  "mid#hash",
  " leading space",
  "trailing space ",
  "  ",
  "nul\0byte",
  "*",
  "(x)",
  "*)(uid=*",
  "x)(|(objectClass=*)",
  ";<>=",
  "a\\2Cb",
  "ünïcødé ✓ 😀",
  "tab\tnewline\n",
];

describe("escapeDnValue (RFC 4514 §2.4)", () => {
  it.each([
    ["Smith, John", "Smith\\, John"],
    ["a+b", "a\\+b"],
    ['"q"', '\\"q\\"'],
    ["back\\slash", "back\\\\slash"],
    ["#1", "\\#1"],
    ["a#1", "a#1"],
    [" lead", "\\ lead"],
    ["trail ", "trail\\ "],
    [" ", "\\ "],
    ["   ", "\\  \\ "],
    ["nul\0", "nul\\00"],
    ["<>;=", "\\<\\>\\;\\="],
    ["*()", "*()"],
    ["ünï", "ünï"],
    ["", ""],
  ])("%j → %j", (raw, escaped) => {
    expect(escapeDnValue(raw)).toBe(escaped);
  });

  it("every hostile value parses back to itself as the single value of one RDN", () => {
    for (const v of HOSTILE) {
      const dn = childDn("uid", v, "ou=people,dc=x");
      const rdns = parseDn(dn);
      expect(rdns).toHaveLength(3);
      expect(rdns[0]).toEqual([{ type: "uid", value: v }]);
    }
  });

  it("round-trips any string (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1 }), (v) => {
        expect(parseDn(childDn("cn", v, "dc=x"))[0]).toEqual([{ type: "cn", value: v }]);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'\\,+"#<>;= \0*()ab') }), (v) => {
        fc.pre(v.length > 0);
        expect(parseDn(childDn("cn", v, "dc=x"))[0]).toEqual([{ type: "cn", value: v }]);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("parseDn (RFC 4514 §3)", () => {
  it("parses multi-valued RDNs, hex escapes, hexstrings and spaces around separators", () => {
    expect(parseDn("")).toEqual([]);
    expect(parseDn("cn=a+sn=b , ou = x")).toEqual([
      [
        { type: "cn", value: "a" },
        { type: "sn", value: "b" },
      ],
      [{ type: "ou", value: "x" }],
    ]);
    expect(parseDn("uid=\\20#a\\2Cb\\C3\\BC\\20,dc=x")[0]).toEqual([{ type: "uid", value: " #a,bü " }]);
    expect(parseDn("1.3.6.1.4.1.1466.0=#04024869,dc=x")[0]).toEqual([{ type: "1.3.6.1.4.1.1466.0", value: "#04024869", hex: "04024869" }]);
  });

  it.each(["uid", "uid=a,", "=a", "u id=a", "uid=a\\", "uid=a\\zz", 'uid="a"', "uid=a;b", "uid=a<b", "uid=#abc", "uid=\\C3"])("refuses %j", (dn) => {
    expect(() => parseDn(dn)).toThrow(DnSyntaxError);
  });

  it("formatDn(parseDn(x)) is stable", () => {
    const dn = "uid=\\ a\\,b\\+c\\\\d#e\\ ,ou=People,dc=provisio,dc=test";
    expect(formatDn(parseDn(dn))).toBe(dn);
    expect(parseDn(formatDn(parseDn(dn)))).toEqual(parseDn(dn));
  });
});

describe("normalizeDn / dnEquals / isWithin", () => {
  it("compares case-insensitively, across escape styles, spacing and AVA order", () => {
    expect(dnEquals("UID=Alice , OU=People,DC=provisio,DC=test", "uid=alice,ou=people,dc=provisio,dc=test")).toBe(true);
    expect(dnEquals("uid=\\41lice,dc=x", "uid=alice,dc=x")).toBe(true);
    expect(dnEquals("uid=a\\2Cb,dc=x", "uid=a\\,b,dc=x")).toBe(true);
    expect(dnEquals("cn=a+sn=b,dc=x", "SN=B+CN=A,dc=x")).toBe(true);
    expect(dnEquals("cn=a  b,dc=x", "cn=a b,dc=x")).toBe(true);
    expect(dnEquals("uid=alice,dc=x", "uid=alicia,dc=x")).toBe(false);
    expect(dnEquals("uid=a\\,b,dc=x", "uid=a,b=,dc=x")).toBe(false);
    expect(normalizeDn("CN=Staff,OU=Groups")).toBe("cn=staff,ou=groups");
  });

  it("isWithin: equal or below the base, by normalised RDNs", () => {
    expect(isWithin("cn=g,ou=Groups,dc=x", "ou=groups,dc=x")).toBe(true);
    expect(isWithin("ou=groups,dc=x", "OU=groups,dc=x")).toBe(true);
    expect(isWithin("cn=g,ou=people,dc=x", "ou=groups,dc=x")).toBe(false);
    expect(isWithin("cn=ou\\=groups\\,dc\\=x", "ou=groups,dc=x")).toBe(false);
    expect(isWithin("dc=x", "ou=groups,dc=x")).toBe(false);
  });
});

describe("escapeFilterValue (RFC 4515 §3, ldapts Filter#escape)", () => {
  it("escapes * ( ) \\ and NUL, nothing else", () => {
    expect(escapeFilterValue("*)(uid=*")).toBe("\\2a\\29\\28uid=\\2a");
    expect(escapeFilterValue("back\\slash")).toBe("back\\5cslash");
    expect(escapeFilterValue("nul\0")).toBe("nul\\00");
    expect(escapeFilterValue('a,b+"c"<>;=# ü')).toBe('a,b+"c"<>;=# ü');
  });

  it("every hostile value parses back as one equality filter with exactly that value", () => {
    for (const v of [...HOSTILE, childDn("uid", "a,b\\c*", "ou=p")]) {
      const f = FilterParser.parseString(`(uid=${escapeFilterValue(v)})`);
      expect(f).toBeInstanceOf(EqualityFilter);
      expect((f as EqualityFilter).attribute).toBe("uid");
      expect((f as EqualityFilter).value.toString()).toBe(v);
    }
  });
});

describe("LDAP config (ldapConfigSchema)", () => {
  const base = { url: "ldap://127.0.0.1:389", bindDN: "cn=admin,dc=x", password_env: "PW", usersDN: "ou=people,dc=x" };

  it("fills the defaults", () => {
    const c = parseLdapConfig(base);
    expect(c).toMatchObject({
      rdnAttribute: "uid",
      objectClasses: ["inetOrgPerson"],
      disable: "none",
      groupObjectClass: "groupOfNames",
      memberAttribute: "member",
      emptyGroupMember: "cn=nobody",
      tls: { reject_unauthorized: true, starttls: false },
      timeouts: { connectMs: 5000, operationMs: 10000, idleMs: 60000 },
    });
    expect(c.groupsDN).toBeUndefined();
  });

  it.each([
    [{ ...base, url: "http://x" }, /url: must be an ldap:\/\/ or ldaps:\/\/ URL/],
    [{ ...base, password_env: undefined }, /give exactly one of password_env or password_file/],
    [{ ...base, password_file: "/f" }, /give exactly one of password_env or password_file/],
    [{ ...base, password: "inline-secret" }, /password: an inline password is not allowed: use password_env or password_file$/],
    [{ ...base, usersDN: "ou=people,dc" }, /usersDN: usersDN is not a valid DN/],
    [{ ...base, groupsDN: "" }, /groupsDN: groupsDN must not be empty/],
    [{ ...base, rdnAttribute: "u id" }, /rdnAttribute/],
    [{ ...base, disable: { attribute: "uid", value: "x" } }, /disable.attribute must not be the rdnAttribute/],
    [{ ...base, tls: { starttls: true }, url: "ldaps://x" }, /starttls is for ldap:\/\//],
  ])("refuses %j with a ConfigurationError", (cfg, message) => {
    const err = (() => {
      try {
        parseLdapConfig(cfg);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("inline-secret");
  });

  it("accountDnOf escapes the value and refuses an empty one", () => {
    expect(accountDnOf({ rdnAttribute: "uid", usersDN: "ou=p,dc=x" }, "a,b")).toBe("uid=a\\,b,ou=p,dc=x");
    expect(() => accountDnOf({ rdnAttribute: "uid", usersDN: "ou=p,dc=x" }, "")).toThrow(PermanentError);
  });
});

describe("result codes → errors (RFC 4511 Appendix A)", () => {
  it("busy and unavailable are transient; invalid credentials is permanent and configSuspect; per-object codes are left to the operation", () => {
    expect(applicationError(new BusyError("busy"), "x")).toBeInstanceOf(TransientError);
    expect(applicationError(new UnavailableError("down"), "x")?.code).toBe("LDAP52");
    const cred = applicationError(new InvalidCredentialsError("nope"), "bind");
    expect(cred).toBeInstanceOf(PermanentError);
    expect(cred?.configSuspect).toBe(true);
    expect(cred?.code).toBe("LDAP49");
    for (const e of [new NoSuchObjectError(), new AlreadyExistsError(), new UnwillingToPerformError()]) expect(applicationError(e, "x")).toBeUndefined();
    expect(toProvisioError(new UnwillingToPerformError("ro"), "x").code).toBe("LDAP53");
  });

  it("transport failures are transient (configSuspect while connecting); anything else is PV_INTERNAL", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(applicationError(refused, "bind", { connecting: true })).toMatchObject({ code: "ECONNREFUSED", retryable: true, configSuspect: true });
    expect(applicationError(new Error("ModifyRequest: Operation timed out"), "modify")).toMatchObject({
      code: "PV_LDAP_TIMEOUT",
      retryable: true,
      configSuspect: false,
    });
    expect(applicationError(new Error("Connection closed before message response was received."), "modify")?.code).toBe("PV_LDAP_CONNECTION");
    expect(applicationError(new TypeError("bug"), "x")).toBeUndefined();
    expect(toProvisioError(new TypeError("bug"), "x").code).toBe("PV_INTERNAL");
  });
});
