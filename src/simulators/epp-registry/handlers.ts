/**
 * Command handlers of the simulated registry, behaving as RFC 5730/5731/5732/5733 registries do:
 * 2302 on an existing object, 2303 on an unknown one, 2201 when the object is another registrar's,
 * renew only with the right curExpDate (2306 otherwise), 2004 for a period outside 1..10 years.
 * Hosts (RFC 5732 §3.2.1): a host under a TLD this registry serves is subordinate and needs its
 * superordinate domain registered here (2303), sponsored by the client (2201), and at least one address
 * (2003); an external host must carry none (2306); an address that is not IPv4/IPv6 as its ip attribute
 * says is 2005.
 */
import { attr, child, children, text, type XmlNode } from "../../connectors/epp/xml.js";
import type { RegistryStore } from "./store.js";
import { addYears } from "../../util/dates.js";
import { isIPv4, isIPv6 } from "node:net";

export interface Reply {
  code: number;
  resData?: XmlNode;
  reason?: string;
}

const domainNs = { "@_xmlns:domain": "urn:ietf:params:xml:ns:domain-1.0" };
const contactNs = { "@_xmlns:contact": "urn:ietf:params:xml:ns:contact-1.0" };
const hostNs = { "@_xmlns:host": "urn:ietf:params:xml:ns:host-1.0" };
const iso = (d: Date) => d.toISOString();
const LDH_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

export class RegistryHandlers {
  constructor(
    private readonly store: RegistryStore,
    private readonly tlds: string[],
  ) {}

  /** Run `<verb>` on object `obj` ("domain" | "contact" | "host") for client clID. `el` is the object element. */
  handle(obj: string, verb: string, el: XmlNode, clID: string): Reply {
    const key = `${obj}:${verb}`;
    switch (key) {
      case "domain:check":
        return this.domainCheck(el);
      case "domain:create":
        return this.domainCreate(el, clID);
      case "domain:info":
        return this.domainInfo(el, clID);
      case "domain:renew":
        return this.domainRenew(el, clID);
      case "domain:delete":
        return this.domainDelete(el, clID);
      case "contact:check":
        return this.contactCheck(el);
      case "contact:create":
        return this.contactCreate(el, clID);
      case "contact:info":
        return this.contactInfo(el, clID);
      case "host:check":
        return this.hostCheck(el);
      case "host:create":
        return this.hostCreate(el, clID);
      case "host:info":
        return this.hostInfo(el);
      default:
        return { code: 2101, reason: `${key} is not implemented by the simulator` };
    }
  }

  private domainCheck(el: XmlNode): Reply {
    const cd = children(el, "name").map((n) => {
      const name = (text(n) ?? "").toLowerCase();
      return { "domain:name": { "@_avail": this.store.domains.has(name) ? "0" : "1", "#text": name } };
    });
    return { code: 1000, resData: { "domain:chkData": { ...domainNs, "domain:cd": cd } } };
  }

  private domainCreate(el: XmlNode, clID: string): Reply {
    const name = (text(el, "name") ?? "").toLowerCase();
    if (!LDH_NAME.test(name)) return { code: 2005, reason: "invalid domain name syntax" };
    if (!this.tlds.some((t) => name.endsWith(`.${t}`))) return { code: 2306, reason: `TLD not offered by this registry` };
    const period = Number(text(el, "period") ?? "1");
    const unit = attr(child(el, "period"), "unit") ?? "y";
    const years = unit === "m" ? period / 12 : period;
    if (!Number.isInteger(years) || years < 1 || years > 10) return { code: 2004, reason: "period must be 1..10 years" };
    if (this.store.domains.has(name)) return { code: 2302 };
    const pw = text(child(el, "authInfo"), "pw");
    if (!pw) return { code: 2003, reason: "authInfo is required" };
    const registrant = text(el, "registrant");
    const contacts = children(el, "contact").map((c) => ({ type: attr(c, "type") ?? "", id: text(c) ?? "" }));
    for (const ref of [registrant, ...contacts.map((c) => c.id)]) {
      if (ref && !this.store.contacts.has(ref)) return { code: 2303, reason: `contact ${ref} does not exist` };
    }
    const now = new Date();
    this.store.domains.set(name, {
      name,
      roid: this.store.nextRoid("D"),
      clID,
      crID: clID,
      crDate: now,
      exDate: addYears(now, years),
      authInfo: pw,
      registrant,
      contacts,
      ns: children(child(el, "ns"), "hostObj").map((h) => text(h) ?? ""),
      status: ["ok"],
    });
    this.store.domainCreates.set(name, (this.store.domainCreates.get(name) ?? 0) + 1);
    const d = this.store.domains.get(name)!;
    return { code: 1000, resData: { "domain:creData": { ...domainNs, "domain:name": name, "domain:crDate": iso(d.crDate), "domain:exDate": iso(d.exDate) } } };
  }

  private domainInfo(el: XmlNode, clID: string): Reply {
    const name = (text(el, "name") ?? "").toLowerCase();
    const d = this.store.domains.get(name);
    if (!d) return { code: 2303 };
    const pw = text(child(el, "authInfo"), "pw");
    const sponsor = d.clID === clID;
    if (!sponsor && pw !== d.authInfo) return { code: 2201 };
    return {
      code: 1000,
      resData: {
        "domain:infData": {
          ...domainNs,
          "domain:name": d.name,
          "domain:roid": d.roid,
          "domain:status": d.status.map((s) => ({ "@_s": s })),
          ...(d.registrant ? { "domain:registrant": d.registrant } : {}),
          ...(d.contacts.length ? { "domain:contact": d.contacts.map((c) => ({ "@_type": c.type, "#text": c.id })) } : {}),
          ...(d.ns.length ? { "domain:ns": { "domain:hostObj": d.ns } } : {}),
          "domain:clID": d.clID,
          "domain:crID": d.crID,
          "domain:crDate": iso(d.crDate),
          ...(d.upDate ? { "domain:upDate": iso(d.upDate) } : {}),
          "domain:exDate": iso(d.exDate),
          ...(sponsor || pw === d.authInfo ? { "domain:authInfo": { "domain:pw": d.authInfo } } : {}),
        },
      },
    };
  }

  private domainRenew(el: XmlNode, clID: string): Reply {
    const name = (text(el, "name") ?? "").toLowerCase();
    const d = this.store.domains.get(name);
    if (!d) return { code: 2303 };
    if (d.clID !== clID) return { code: 2201 };
    const cur = text(el, "curExpDate");
    if (cur !== iso(d.exDate).slice(0, 10)) return { code: 2306, reason: `curExpDate ${cur} does not match ${iso(d.exDate).slice(0, 10)}` };
    const period = Number(text(el, "period") ?? "1");
    if (!Number.isInteger(period) || period < 1 || period > 10) return { code: 2004, reason: "period must be 1..10 years" };
    const exDate = addYears(d.exDate, period);
    if (exDate > addYears(new Date(), 10)) return { code: 2306, reason: "registration would exceed 10 years" };
    d.exDate = exDate;
    d.upDate = new Date();
    return { code: 1000, resData: { "domain:renData": { ...domainNs, "domain:name": d.name, "domain:exDate": iso(d.exDate) } } };
  }

  private domainDelete(el: XmlNode, clID: string): Reply {
    const name = (text(el, "name") ?? "").toLowerCase();
    const d = this.store.domains.get(name);
    if (!d) return { code: 2303 };
    if (d.clID !== clID) return { code: 2201 };
    if (d.status.some((s) => s === "clientDeleteProhibited" || s === "serverDeleteProhibited")) return { code: 2304 };
    this.store.domains.delete(name);
    return { code: 1000 };
  }

  private contactCheck(el: XmlNode): Reply {
    const cd = children(el, "id").map((n) => ({ "contact:id": { "@_avail": this.store.contacts.has(text(n) ?? "") ? "0" : "1", "#text": text(n) } }));
    return { code: 1000, resData: { "contact:chkData": { ...contactNs, "contact:cd": cd } } };
  }

  private contactCreate(el: XmlNode, clID: string): Reply {
    const id = text(el, "id") ?? "";
    if (id.length < 3 || id.length > 16) return { code: 2005, reason: "contact id must be 3..16 characters" };
    if (this.store.contacts.has(id)) return { code: 2302 };
    const postal = child(el, "postalInfo");
    const email = text(el, "email");
    const pw = text(child(el, "authInfo"), "pw");
    if (!postal || !email || !pw) return { code: 2003, reason: "postalInfo, email and authInfo are required" };
    const now = new Date();
    this.store.contacts.set(id, { id, roid: this.store.nextRoid("C"), clID, crDate: now, authInfo: pw, email, name: text(postal, "name") ?? "" });
    return { code: 1000, resData: { "contact:creData": { ...contactNs, "contact:id": id, "contact:crDate": iso(now) } } };
  }

  private contactInfo(el: XmlNode, clID: string): Reply {
    const c = this.store.contacts.get(text(el, "id") ?? "");
    if (!c) return { code: 2303 };
    const pw = text(child(el, "authInfo"), "pw");
    const sponsor = c.clID === clID;
    if (!sponsor && pw !== c.authInfo) return { code: 2201 };
    return {
      code: 1000,
      resData: {
        "contact:infData": {
          ...contactNs,
          "contact:id": c.id,
          "contact:roid": c.roid,
          "contact:status": { "@_s": "ok" },
          "contact:postalInfo": { "@_type": "int", "contact:name": c.name },
          "contact:email": c.email,
          "contact:clID": c.clID,
          "contact:crID": c.clID,
          "contact:crDate": iso(c.crDate),
          "contact:authInfo": { "contact:pw": c.authInfo },
        },
      },
    };
  }

  /**
   * The superordinate domain of host `name` (lower-cased): the longest domain registered here that
   * `name` ends with after at least one leading label is stripped ("ns1.a.example" -> "a.example").
   * Undefined when there is none.
   */
  superordinate(name: string): string | undefined {
    const labels = name.split(".");
    for (let i = 1; i < labels.length; i++) {
      const candidate = labels.slice(i).join(".");
      if (this.store.domains.has(candidate)) return candidate;
    }
    return undefined;
  }

  private hostCheck(el: XmlNode): Reply {
    const cd = children(el, "name").map((n) => {
      const name = (text(n) ?? "").toLowerCase();
      return { "host:name": { "@_avail": this.store.hosts.has(name) ? "0" : "1", "#text": name } };
    });
    return { code: 1000, resData: { "host:chkData": { ...hostNs, "host:cd": cd } } };
  }

  private hostCreate(el: XmlNode, clID: string): Reply {
    const name = (text(el, "name") ?? "").toLowerCase();
    if (!name) return { code: 2003, reason: "host:name is required" };
    if (!LDH_NAME.test(name)) return { code: 2005, reason: "invalid host name syntax" };
    if (this.store.hosts.has(name)) return { code: 2302 };
    const addrs: { ip: "v4" | "v6"; addr: string }[] = [];
    for (const a of children(el, "addr")) {
      const ip = attr(a, "ip") ?? "v4"; // RFC 5732 §4: ip defaults to v4
      const addr = text(a) ?? "";
      if (ip === "v4" && isIPv4(addr)) addrs.push({ ip, addr });
      else if (ip === "v6" && isIPv6(addr) && !addr.includes("%"))
        addrs.push({ ip, addr }); // no zone index
      else return { code: 2005, reason: `host:addr "${addr}" is not a valid ${ip === "v6" ? "IPv6" : ip === "v4" ? "IPv4" : `ip="${ip}"`} address` };
    }
    let superordinate: string | undefined;
    if (this.tlds.some((t) => name.endsWith(`.${t}`))) {
      superordinate = this.superordinate(name);
      if (!superordinate) return { code: 2303, reason: `superordinate domain of ${name} does not exist` };
      if (this.store.domains.get(superordinate)!.clID !== clID)
        return { code: 2201, reason: `superordinate domain ${superordinate} is sponsored by another client` };
      if (!addrs.length) return { code: 2003, reason: "a subordinate host needs at least one address" };
    } else if (addrs.length) {
      return { code: 2306, reason: "an external host must not have addresses" };
    }
    const now = new Date();
    this.store.hosts.set(name, { name, roid: this.store.nextRoid("H"), clID, crID: clID, crDate: now, superordinate, addrs, status: ["ok"] });
    return { code: 1000, resData: { "host:creData": { ...hostNs, "host:name": name, "host:crDate": iso(now) } } };
  }

  /** RFC 5732 §3.1.2: any logged-in client may read a host (hosts have no authInfo). */
  private hostInfo(el: XmlNode): Reply {
    const h = this.store.hosts.get((text(el, "name") ?? "").toLowerCase());
    if (!h) return { code: 2303 };
    return {
      code: 1000,
      resData: {
        "host:infData": {
          ...hostNs,
          "host:name": h.name,
          "host:roid": h.roid,
          "host:status": h.status.map((s) => ({ "@_s": s })),
          ...(h.addrs.length ? { "host:addr": h.addrs.map((a) => ({ "@_ip": a.ip, "#text": a.addr })) } : {}),
          "host:clID": h.clID,
          "host:crID": h.crID,
          "host:crDate": iso(h.crDate),
        },
      },
    };
  }
}
