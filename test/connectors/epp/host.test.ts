/** RFC 5732 host commands: the <create>/<info> bodies host.ts builds and the <resData> it parses. */
import { describe, expect, it } from "vitest";
import { hostAddrs, hostCreateBody, hostInfoBody, parseHostCreData, parseHostInfData } from "../../../src/connectors/epp/host.js";
import { buildCommand, parseResponse, SUPPORTED_OBJ_URIS } from "../../../src/connectors/epp/protocol.js";
import { EppXmlError, NS, attr, buildEpp, child, children, parseEppRaw, text, type XmlNode } from "../../../src/connectors/epp/xml.js";

/** The object element of a built command, prefixes and xmlns kept (as a registry would resolve them). */
const rawElement = (body: XmlNode, verb: string) => child(child(child(parseEppRaw(buildCommand(body, "c-1")), "command"), verb), `host:${verb}`);

const response = (resData: XmlNode) =>
  parseResponse(buildEpp({ response: { result: { "@_code": 1000, msg: "ok" }, resData, trID: { clTRID: "c-1", svTRID: "s-1" } } }));

describe("host.ts builders (RFC 5732 §3.1.2, §3.2.1)", () => {
  it("<host:create> has host:name then one host:addr per address with its ip attribute, in the host namespace", () => {
    const el = rawElement(
      hostCreateBody({
        name: "ns1.example.example",
        addrs: [
          { ip: "v4", addr: "192.0.2.2" },
          { ip: "v6", addr: "2001:db8::1" },
        ],
      }),
      "create",
    );
    expect(attr(el, "xmlns:host")).toBe(NS.host);
    expect(Object.keys(el!).filter((k) => !k.startsWith("@_"))).toEqual(["host:name", "host:addr"]);
    expect(text(el, "host:name")).toBe("ns1.example.example");
    expect(children(el, "host:addr").map((a) => [attr(a, "ip"), text(a)])).toEqual([
      ["v4", "192.0.2.2"],
      ["v6", "2001:db8::1"],
    ]);
  });

  it("<host:create> without addresses has no host:addr", () => {
    const el = rawElement(hostCreateBody({ name: "ns.external.net", addrs: [] }), "create");
    expect(el).toEqual({ "@_xmlns:host": NS.host, "host:name": "ns.external.net" });
  });

  it("<host:info> names the host", () => {
    expect(rawElement(hostInfoBody("ns1.example.example"), "info")).toEqual({ "@_xmlns:host": NS.host, "host:name": "ns1.example.example" });
  });
});

describe("host.ts parsers", () => {
  it("parses <host:creData>", () => {
    const r = response({ "host:creData": { "@_xmlns:host": NS.host, "host:name": "ns1.example.example", "host:crDate": "2026-01-02T03:04:05.000Z" } });
    expect(parseHostCreData(r.resData)).toEqual({ name: "ns1.example.example", crDate: "2026-01-02T03:04:05.000Z" });
  });

  it("refuses a <host:creData> without crDate, and a response without resData", () => {
    const r = response({ "host:creData": { "@_xmlns:host": NS.host, "host:name": "ns1.example.example" } });
    expect(() => parseHostCreData(r.resData)).toThrow(EppXmlError);
    expect(() => parseHostCreData(undefined)).toThrow(EppXmlError);
  });

  it("parses <host:infData> (RFC 5732 §3.1.2 example): statuses, addresses (ip defaults to v4), dates", () => {
    const r = parseResponse(`<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">
  <response>
    <result code="1000"><msg>Command completed successfully</msg></result>
    <resData>
      <host:infData xmlns:host="urn:ietf:params:xml:ns:host-1.0">
        <host:name>ns1.example.com</host:name>
        <host:roid>NS1_EXAMPLE1-REP</host:roid>
        <host:status s="linked"/>
        <host:status s="clientUpdateProhibited"/>
        <host:addr ip="v4">192.0.2.2</host:addr>
        <host:addr>192.0.2.29</host:addr>
        <host:addr ip="v6">1080:0:0:0:8:800:200C:417A</host:addr>
        <host:clID>ClientY</host:clID>
        <host:crID>ClientX</host:crID>
        <host:crDate>1999-04-03T22:00:00.0Z</host:crDate>
        <host:upID>ClientX</host:upID>
        <host:upDate>1999-12-03T09:00:00.0Z</host:upDate>
        <host:trDate>2000-04-08T09:00:00.0Z</host:trDate>
      </host:infData>
    </resData>
    <trID><clTRID>ABC-12345</clTRID><svTRID>54322-XYZ</svTRID></trID>
  </response>
</epp>`);
    expect(parseHostInfData(r.resData)).toEqual({
      name: "ns1.example.com",
      roid: "NS1_EXAMPLE1-REP",
      clID: "ClientY",
      status: ["linked", "clientUpdateProhibited"],
      addrs: [
        { ip: "v4", addr: "192.0.2.2" },
        { ip: "v4", addr: "192.0.2.29" },
        { ip: "v6", addr: "1080:0:0:0:8:800:200C:417A" },
      ],
      crDate: "1999-04-03T22:00:00.0Z",
    });
  });

  it("parses an <host:infData> with one address and no crDate; refuses one without roid", () => {
    const one = response({
      "host:infData": {
        "@_xmlns:host": NS.host,
        "host:name": "ns.x.net",
        "host:roid": "H1-SIM",
        "host:status": { "@_s": "ok" },
        "host:addr": { "@_ip": "v6", "#text": "2001:db8::53" },
        "host:clID": "me",
      },
    });
    expect(parseHostInfData(one.resData)).toEqual({
      name: "ns.x.net",
      roid: "H1-SIM",
      clID: "me",
      status: ["ok"],
      addrs: [{ ip: "v6", addr: "2001:db8::53" }],
      crDate: undefined,
    });
    const none = response({ "host:infData": { "@_xmlns:host": NS.host, "host:name": "ns.x.net", "host:clID": "me" } });
    expect(() => parseHostInfData(none.resData)).toThrow(EppXmlError);
  });

  it("refuses an address whose ip is neither v4 nor v6", () => {
    expect(() => hostAddrs({ addr: { "@_ip": "v5", "#text": "1.2.3.4" } })).toThrow(EppXmlError);
  });
});

describe("login object services", () => {
  it("the client supports domain, contact and host", () => {
    expect([...SUPPORTED_OBJ_URIS].sort()).toEqual([NS.contact, NS.domain, NS.host].sort());
  });
});
