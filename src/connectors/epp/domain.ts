/** RFC 5731 domain commands: builders for <command> bodies and parsers for their <resData>. */
import { NS, child, children, attr, text, type XmlNode } from "./xml.js";
import type { DomainCreateInput, DomainRenewInput } from "../capabilities/registry.js";
import { EppXmlError } from "./xml.js";

const ns = { "@_xmlns:domain": NS.domain };

/** §3.2.1 <create>. */
export function domainCreateBody(input: DomainCreateInput): XmlNode {
  return {
    create: {
      "domain:create": {
        ...ns,
        "domain:name": input.name,
        "domain:period": { "@_unit": "y", "#text": input.period },
        ...(input.nameservers.length ? { "domain:ns": { "domain:hostObj": input.nameservers } } : {}),
        ...(input.registrant ? { "domain:registrant": input.registrant } : {}),
        ...(input.contacts.length ? { "domain:contact": input.contacts.map((c) => ({ "@_type": c.type, "#text": c.id })) } : {}),
        "domain:authInfo": { "domain:pw": input.authInfo },
      },
    },
  };
}

/** §3.1.2 <info> (hosts="all"), with authInfo when the caller has it. */
export function domainInfoBody(name: string, authInfo?: string): XmlNode {
  return {
    info: {
      "domain:info": {
        ...ns,
        "domain:name": { "@_hosts": "all", "#text": name },
        ...(authInfo ? { "domain:authInfo": { "domain:pw": authInfo } } : {}),
      },
    },
  };
}

/** §3.2.3 <renew>. */
export function domainRenewBody(input: DomainRenewInput): XmlNode {
  return {
    renew: {
      "domain:renew": {
        ...ns,
        "domain:name": input.name,
        "domain:curExpDate": input.curExpDate,
        "domain:period": { "@_unit": "y", "#text": input.period },
      },
    },
  };
}

/** §3.2.2 <delete>. */
export function domainDeleteBody(name: string): XmlNode {
  return { delete: { "domain:delete": { ...ns, "domain:name": name } } };
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === "") throw new EppXmlError(`response is missing ${what}`);
  return value;
}

/** <domain:creData>: name, crDate, exDate. */
export function parseDomainCreData(resData: XmlNode | undefined): { name: string; crDate: string; exDate: string } {
  const d = child(resData, "creData");
  return { name: need(text(d, "name"), "domain:name"), crDate: need(text(d, "crDate"), "domain:crDate"), exDate: need(text(d, "exDate"), "domain:exDate") };
}

/** <domain:infData>. */
export function parseDomainInfData(resData: XmlNode | undefined) {
  const d = child(resData, "infData");
  return {
    name: need(text(d, "name"), "domain:name"),
    roid: need(text(d, "roid"), "domain:roid"),
    clID: need(text(d, "clID"), "domain:clID"),
    status: children(d, "status").map((s) => attr(s, "s") ?? ""),
    registrant: text(d, "registrant"),
    crDate: text(d, "crDate"),
    exDate: text(d, "exDate"),
    authInfo: text(child(d, "authInfo"), "pw"),
  };
}

/** <domain:renData>: name, exDate. */
export function parseDomainRenData(resData: XmlNode | undefined): { name: string; exDate: string } {
  const d = child(resData, "renData");
  return { name: need(text(d, "name"), "domain:name"), exDate: need(text(d, "exDate"), "domain:exDate") };
}
