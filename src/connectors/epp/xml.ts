/**
 * EPP XML with fast-xml-parser: building commands/responses from objects and parsing them back.
 * Namespaces are written as the RFCs give them (epp-1.0 default namespace, domain:/contact: prefixes);
 * parsing strips prefixes, so callers address elements by local name.
 */
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { ProvisioError } from "../../errors.js";

export const NS = {
  epp: "urn:ietf:params:xml:ns:epp-1.0",
  domain: "urn:ietf:params:xml:ns:domain-1.0",
  contact: "urn:ietf:params:xml:ns:contact-1.0",
  host: "urn:ietf:params:xml:ns:host-1.0",
} as const;

/** An XML element as fast-xml-parser models it: attributes under "@_name", text under "#text". */
export type XmlNode = { [key: string]: XmlValue };
export type XmlValue = string | number | boolean | XmlNode | XmlValue[] | null | undefined;

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  processEntities: true,
});

/** Elements that may repeat and are therefore always parsed as arrays. */
const ALWAYS_ARRAY = new Set(["result", "cd", "status", "contact", "hostObj", "hostAttr", "street", "objURI", "extURI", "value", "postalInfo", "host", "lang", "version"]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => ALWAYS_ARRAY.has(name),
});

const rawParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/**
 * Parse keeping prefixes and xmlns attributes, for code that must resolve namespaces (the simulator
 * decides domain vs contact by the namespace URI, not by the prefix a client happened to choose).
 * Call after {@link parseEpp} has validated the document.
 */
export function parseEppRaw(xml: string): XmlNode {
  return ((rawParser.parse(xml) as XmlNode).epp as XmlNode | undefined) ?? {};
}

/** Serialise an `<epp>` document. `body` is the content of the root element (e.g. { command: ... }). */
export function buildEpp(body: XmlNode): string {
  return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>' + builder.build({ epp: { "@_xmlns": NS.epp, ...body } });
}

/** Raised when a frame is not well-formed XML or not an `<epp>` document; code PV_EPP_XML. */
export class EppXmlError extends ProvisioError {
  constructor(message: string) {
    super("PV_EPP_XML", message);
  }
}

/**
 * Parse an EPP document and return the content of its root `<epp>` element.
 * @throws EppXmlError when the XML is not well-formed or the root is not `<epp>`.
 */
export function parseEpp(xml: string): XmlNode {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new EppXmlError(`malformed EPP XML: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(xml) as XmlNode;
  const epp = doc.epp;
  if (!epp || typeof epp !== "object" || Array.isArray(epp)) throw new EppXmlError("not an EPP document: the root element must be <epp>");
  return epp;
}

/** Child element of a parsed node, or undefined. */
export function child(node: XmlValue, name: string): XmlNode | undefined {
  if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
  const v = node[name];
  if (Array.isArray(v)) return (v[0] as XmlNode | undefined) ?? undefined;
  if (v === "" ) return {};
  return v && typeof v === "object" ? (v as XmlNode) : undefined;
}

/** Repeated children of a parsed node (always an array). */
export function children(node: XmlValue, name: string): XmlValue[] {
  if (!node || typeof node !== "object" || Array.isArray(node)) return [];
  const v = node[name];
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Text content of a child element (or of the node itself when name is omitted). */
export function text(node: XmlValue, name?: string): string | undefined {
  const target = name === undefined ? node : node && typeof node === "object" && !Array.isArray(node) ? node[name] : undefined;
  const one = Array.isArray(target) ? target[0] : target;
  if (one === undefined || one === null) return undefined;
  if (typeof one === "object") {
    const t = (one as XmlNode)["#text"];
    return t === undefined || t === null ? "" : String(t);
  }
  return String(one);
}

/** Attribute value of a parsed node. */
export function attr(node: XmlValue, name: string): string | undefined {
  if (!node || typeof node !== "object" || Array.isArray(node)) return undefined;
  const v = node[`@_${name}`];
  return v === undefined || v === null ? undefined : String(v);
}
