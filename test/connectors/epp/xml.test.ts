/**
 * The XML layer changes no value except as XML defines (issue 10, item 8): only XML whitespace
 * (XML 1.0 §2.3 S: #x20 #x9 #xD #xA) around element content and attribute values is dropped, as the
 * XML Schema "collapse" of a token (RFC 5730 pwAuthInfoType) drops it. U+00A0 and the other characters
 * JavaScript's String.prototype.trim removes are ordinary characters and must round-trip exactly.
 */
import { describe, expect, it } from "vitest";
import { attr, buildEpp, child, children, parseEpp, parseEppRaw, text, trimXmlWhitespace, type XmlNode } from "../../../src/connectors/epp/xml.js";
import { domainCreateBody, domainInfoBody, parseDomainInfData } from "../../../src/connectors/epp/domain.js";
import { contactCreateBody, parseContactInfData } from "../../../src/connectors/epp/contact.js";
import { buildCommand, parseResponse } from "../../../src/connectors/epp/protocol.js";

/** Every character String.prototype.trim removes that is not XML whitespace. */
const NOT_XML_WHITESPACE = [
  "\u00a0",
  "\u1680",
  "\u2000",
  "\u2001",
  "\u2002",
  "\u2003",
  "\u2004",
  "\u2005",
  "\u2006",
  "\u2007",
  "\u2008",
  "\u2009",
  "\u200a",
  "\u2028",
  "\u2029",
  "\u202f",
  "\u205f",
  "\u3000",
  "\ufeff",
];

/** A value for a test name, with every non-ASCII character as \\uXXXX (they are invisible otherwise). */
const show = (value: string) => JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

const VALUES = [
  "\u00a0secretpw\u00a0",
  "\u3000secretpw\u3000",
  "\ufeffsecretpw\ufeff",
  "\u2003secret\u2000pw\u200a",
  "\u1680a\u2028b\u2029\u205f\u202f",
  ...NOT_XML_WHITESPACE.map((c) => `${c}pw-${c.codePointAt(0)!.toString(16)}${c}`),
  `a&b<c>d'e"f\u00a0`,
];

describe("xml.ts: values round-trip build → parse unchanged", () => {
  it("JavaScript's trim would remove each of these characters (so the test could fail)", () => {
    for (const c of NOT_XML_WHITESPACE) expect(`${c}x${c}`.trim()).toBe("x");
  });

  for (const value of VALUES) {
    const label = show(value);
    it(`element text ${label}`, () => {
      const doc = parseEpp(buildEpp({ command: { info: { pw: value, other: { "@_a": "1", "#text": value } } } }));
      const info = child(child(doc, "command"), "info");
      expect(text(info, "pw")).toBe(value);
      expect(text(info, "other")).toBe(value);
      expect(attr(child(info, "other"), "a")).toBe("1");
    });

    it(`attribute value ${label}`, () => {
      const doc = parseEpp(buildEpp({ command: { info: { el: { "@_v": value } } } }));
      expect(attr(child(child(child(doc, "command"), "info"), "el"), "v")).toBe(value);
      const raw = parseEppRaw(buildEpp({ command: { info: { "x:el": { "@_xmlns:x": "urn:x", "@_v": value, "#text": value } } } }));
      const el = child(child(child(raw, "command"), "info"), "x:el");
      expect(attr(el, "v")).toBe(value);
      expect(text(el)).toBe(value);
    });

    it(`domain and contact authInfo ${label} in <create> and <infData>`, () => {
      const create = parseEpp(buildCommand(domainCreateBody({ name: "a.example", period: 1, authInfo: value, contacts: [], nameservers: [] }), "c-1"));
      const el = child(child(child(create, "command"), "create"), "create");
      expect(text(child(el, "authInfo"), "pw")).toBe(value);

      const contact = parseEpp(
        buildCommand(contactCreateBody({ id: "ct-1", name: value, street: [value], city: value, cc: "NL", email: "a@example.com", authInfo: value }), "c-2"),
      );
      const c = child(child(child(contact, "command"), "create"), "create");
      expect(text(child(c, "authInfo"), "pw")).toBe(value);
      expect(text(child(c, "postalInfo"), "name")).toBe(value);
      expect(text(child(child(c, "postalInfo"), "addr"), "city")).toBe(value);
      expect(children(child(child(c, "postalInfo"), "addr"), "street").map((s) => text(s))).toEqual([value]);

      const info = parseEpp(buildCommand(domainInfoBody("a.example", value), "c-3"));
      expect(text(child(child(child(child(info, "command"), "info"), "info"), "authInfo"), "pw")).toBe(value);

      const response = (resData: XmlNode) =>
        parseResponse(buildEpp({ response: { result: { "@_code": 1000, msg: "ok" }, resData, trID: { clTRID: "c-4", svTRID: "s-1" } } }));
      const d = parseDomainInfData(
        response({
          "domain:infData": {
            "@_xmlns:domain": "urn:ietf:params:xml:ns:domain-1.0",
            "domain:name": "a.example",
            "domain:roid": "D1-SIM",
            "domain:clID": "me",
            "domain:authInfo": { "domain:pw": value },
          },
        }).resData,
      );
      expect(d.authInfo).toBe(value);
      const ci = parseContactInfData(
        response({
          "contact:infData": {
            "@_xmlns:contact": "urn:ietf:params:xml:ns:contact-1.0",
            "contact:id": "ct-1",
            "contact:roid": "C1-SIM",
            "contact:clID": "me",
            "contact:authInfo": { "contact:pw": value },
          },
        }).resData,
      );
      expect(ci.authInfo).toBe(value);
    });
  }

  it("keeps them when XML whitespace surrounds them (a pretty-printed document)", () => {
    const doc = parseEpp(
      `<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">\n <command>\n  <info>\n   <pw>\n\t \u00a0secretpw\u00a0 \r\n  </pw>\n   <q v=" \u3000x\ufeff\t"/>\n  </info>\n </command>\n</epp>`,
    );
    const info = child(child(doc, "command"), "info");
    expect(text(info, "pw")).toBe("\u00a0secretpw\u00a0");
    expect(attr(child(info, "q"), "v")).toBe("\u3000x\ufeff");
  });

  it("replaces character references (XML 1.0 §4.1), to non-XML whitespace too, and keeps what they stand for", () => {
    const doc = parseEpp(
      '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><info><pw>&#xA0;pw&#x3000;</pw><q v="&#160;x&#xFEFF;"/><r>&#65;&#x1F600;&lt;&amp;&gt;&apos;&quot;</r></info></command></epp>',
    );
    const info = child(child(doc, "command"), "info");
    expect(text(info, "pw")).toBe("\u00a0pw\u3000");
    expect(attr(child(info, "q"), "v")).toBe("\u00a0x\ufeff");
    expect(text(info, "r")).toBe("A\u{1F600}<&>'\"");
    const raw = child(
      child(parseEppRaw('<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><info><pw>&#xA0;pw&#xA0;</pw></info></command></epp>'), "command"),
      "info",
    );
    expect(text(raw, "pw")).toBe("\u00a0pw\u00a0");
  });

  it("leaves what XML does not define as written: an undeclared entity (&nbsp;), a reference to a non-Char (&#0;)", () => {
    const info = child(
      child(parseEpp('<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><info><a>&nbsp;x</a><b>&#0;&#xD800;y</b></info></command></epp>'), "command"),
      "info",
    );
    expect(text(info, "a")).toBe("&nbsp;x");
    expect(text(info, "b")).toBe("&#0;&#xD800;y");
  });
});

describe("xml.ts: XML whitespace is handled as before", () => {
  const pretty = `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">
\t<response>
    <result code=" 1000 ">
      <msg lang="en">  Command completed successfully\r\n  </msg>
    </result>
    <resData>
      <domain:infData xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">
        <domain:name>
          example.example
        </domain:name>
        <domain:roid> D1-SIM </domain:roid>
        <domain:status s="ok"/>
        <domain:status s=" clientHold ">  held  </domain:status>
        <domain:contact type="admin"> adm-1 </domain:contact>
        <domain:ns>
          <domain:hostObj>ns1.example.net</domain:hostObj>
          <domain:hostObj>\tns2.example.net\t</domain:hostObj>
        </domain:ns>
        <domain:clID>me</domain:clID>
        <domain:authInfo>
          <domain:pw> secret-pw </domain:pw>
        </domain:authInfo>
        <domain:empty></domain:empty>
        <domain:blank>  \t\r\n  </domain:blank>
      </domain:infData>
    </resData>
    <trID>
      <clTRID> ABC-1 </clTRID>
      <svTRID>SV-1</svTRID>
    </trID>
  </response>
</epp>
`;

  it("drops whitespace-only text between elements and XML whitespace around content: the shapes are unchanged", () => {
    const epp = parseEpp(pretty);
    expect(epp).toEqual({
      response: {
        result: [{ "@_code": "1000", msg: { "@_lang": "en", "#text": "Command completed successfully" } }],
        resData: {
          infData: {
            name: "example.example",
            roid: "D1-SIM",
            status: [{ "@_s": "ok" }, { "@_s": "clientHold", "#text": "held" }],
            contact: [{ "@_type": "admin", "#text": "adm-1" }],
            ns: { hostObj: ["ns1.example.net", "ns2.example.net"] },
            clID: "me",
            authInfo: { pw: "secret-pw" },
            empty: "",
            blank: "",
          },
        },
        trID: { clTRID: "ABC-1", svTRID: "SV-1" },
      },
    });
    const r = parseResponse(pretty);
    expect(r.result).toMatchObject({ code: 1000, msg: "Command completed successfully", clTRID: "ABC-1", svTRID: "SV-1" });
    expect(parseDomainInfData(r.resData)).toMatchObject({ name: "example.example", roid: "D1-SIM", status: ["ok", "clientHold"], authInfo: "secret-pw" });
  });

  it("the raw parser (prefixes kept) gives the same shapes", () => {
    const raw = parseEppRaw(pretty);
    const infData = child(child(child(raw, "response"), "resData"), "domain:infData");
    expect(attr(infData, "xmlns:domain")).toBe("urn:ietf:params:xml:ns:domain-1.0");
    expect(text(infData, "domain:name")).toBe("example.example");
    expect(text(child(infData, "domain:authInfo"), "domain:pw")).toBe("secret-pw");
    expect(infData?.["domain:blank"]).toBe("");
    expect(Object.keys(child(raw, "response")!)).toEqual(["result", "resData", "trID"]);
  });

  it("empty elements (<hello/>, <logout/>) are still the empty string", () => {
    expect(parseEpp('<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><hello/></epp>').hello).toBe("");
    expect(parseEpp('<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">\n  <hello>\n  </hello>\n</epp>').hello).toBe("");
    expect(child(parseEpp(buildEpp({ command: { logout: "", clTRID: "x" } })), "command")).toEqual({ logout: "", clTRID: "x" });
  });

  it("CDATA content is the same value as the escaped text it stands for", () => {
    const epp = parseEpp(
      '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><command><info><a><![CDATA[ \u00a0x<y ]]></a><b> \u00a0x&lt;y </b></info></command></epp>',
    );
    const info = child(child(epp, "command"), "info");
    expect(text(info, "b")).toBe("\u00a0x<y");
    expect(text(info, "a")).toBe(text(info, "b"));
  });

  it("trimXmlWhitespace removes only #x20 #x9 #xD #xA at either end", () => {
    expect(trimXmlWhitespace(" \t\r\n a b \n\t\r ")).toBe("a b");
    expect(trimXmlWhitespace("   ")).toBe("");
    expect(trimXmlWhitespace("")).toBe("");
    expect(trimXmlWhitespace("x")).toBe("x");
    for (const c of NOT_XML_WHITESPACE) expect(trimXmlWhitespace(` ${c}x${c} `)).toBe(`${c}x${c}`);
    // linear, not a backtracking regular expression: a long run of inner spaces is cheap
    const long = `a${" ".repeat(200_000)}b`;
    expect(trimXmlWhitespace(long)).toBe(long);
  });
});
