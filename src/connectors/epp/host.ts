/** RFC 5732 host commands: builders for <command> bodies and parsers for their <resData>. */
import type { HostAddr, HostCreateInput } from "../capabilities/registry.js";
import { NS, attr, child, children, text, type XmlNode, type XmlValue, EppXmlError } from "./xml.js";

export type { HostAddr, HostAddrVersion, HostCreateInput } from "../capabilities/registry.js";

const ns = { "@_xmlns:host": NS.host };

/** <host:creData> (RFC 5732 §3.2.1): the name as the registry stored it, crDate (ISO 8601). */
export interface HostCreateData {
  name: string;
  crDate: string;
}

/** <host:infData> (RFC 5732 §3.1.2). Dates are ISO 8601 as the registry wrote them. */
export interface HostInfoData {
  name: string;
  roid: string;
  /** sponsoring client */
  clID: string;
  /** status values (the `s` attribute of each <host:status>), e.g. ["ok"] */
  status: string[];
  addrs: HostAddr[];
  crDate?: string;
}

/** §3.2.1 <create>: host:name, then one host:addr per address with its ip attribute. */
export function hostCreateBody(input: HostCreateInput): XmlNode {
  return {
    create: {
      "host:create": {
        ...ns,
        "host:name": input.name,
        ...(input.addrs.length ? { "host:addr": input.addrs.map((a) => ({ "@_ip": a.ip, "#text": a.addr })) } : {}),
      },
    },
  };
}

/** §3.1.2 <info>. */
export function hostInfoBody(name: string): XmlNode {
  return { info: { "host:info": { ...ns, "host:name": name } } };
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === "") throw new EppXmlError(`response is missing ${what}`);
  return value;
}

/**
 * The <host:addr> children of `node` (a create command or an infData). The `ip` attribute defaults to
 * "v4" (RFC 5732 §4 schema, addrType).
 * @throws EppXmlError when an ip attribute is neither "v4" nor "v6".
 */
export function hostAddrs(node: XmlValue): HostAddr[] {
  return children(node, "addr").map((a) => {
    const ip = attr(a, "ip") ?? "v4";
    if (ip !== "v4" && ip !== "v6") throw new EppXmlError(`host:addr has ip="${ip}", expected v4 or v6`);
    return { ip, addr: text(a) ?? "" };
  });
}

/**
 * <host:creData>: name, crDate.
 * @throws EppXmlError when either is missing.
 */
export function parseHostCreData(resData: XmlNode | undefined): HostCreateData {
  const d = child(resData, "creData");
  return { name: need(text(d, "name"), "host:name"), crDate: need(text(d, "crDate"), "host:crDate") };
}

/**
 * <host:infData>: name, roid, clID, status, addresses and crDate.
 * @throws EppXmlError when name, roid or clID is missing, or an address has an unknown ip version.
 */
export function parseHostInfData(resData: XmlNode | undefined): HostInfoData {
  const d = child(resData, "infData");
  return {
    name: need(text(d, "name"), "host:name"),
    roid: need(text(d, "roid"), "host:roid"),
    clID: need(text(d, "clID"), "host:clID"),
    status: children(d, "status").map((s) => attr(s, "s") ?? ""),
    addrs: hostAddrs(d),
    crDate: text(d, "crDate"),
  };
}
