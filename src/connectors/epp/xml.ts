/**
 * EPP XML with fast-xml-parser: building commands/responses from objects and parsing them back.
 * Namespaces are written as the RFCs give them (epp-1.0 default namespace, domain:/contact: prefixes);
 * parsing strips prefixes, so callers address elements by local name.
 *
 * Parsing changes a value only as XML defines: XML whitespace (XML 1.0 §2.3 S: #x20 #x9 #xD #xA) at
 * either end of element content and attribute values is dropped, as the XML Schema "collapse" of a
 * token (RFC 5730 eppcom:pwAuthInfoType, clIDType, ...) drops it, and entity and character references
 * are replaced (§4.6, §4.1). Every other character is kept: U+00A0, U+2000..U+200A, U+3000, U+FEFF and
 * the rest of what JavaScript's String.prototype.trim would remove are ordinary characters in XML, so an
 * authInfo stored with them is sent, stored at the registry and read back exactly.
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

/**
 * Writes every value as it is (UTF-8, no trimming, no formatting), escaping only & < > ' " as the
 * predefined entities the parser replaces back. A value with XML whitespace at either end does not
 * survive the round trip (the parser drops it); the SQL validators refuse such an authInfo.
 */
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  suppressEmptyNode: true,
  suppressBooleanAttributes: false,
  processEntities: true,
});

/** Elements that may repeat and are therefore always parsed as arrays. */
const ALWAYS_ARRAY = new Set([
  "result",
  "cd",
  "status",
  "contact",
  "hostObj",
  "hostAttr",
  "street",
  "objURI",
  "extURI",
  "value",
  "postalInfo",
  "host",
  "lang",
  "version",
]);

const isXmlWhitespace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

/**
 * `value` without XML whitespace (XML 1.0 §2.3 S: #x20 #x9 #xD #xA) at either end; nothing else is
 * removed (unlike String.prototype.trim, which also removes U+00A0, U+3000, U+FEFF, ...). Linear time.
 */
export function trimXmlWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isXmlWhitespace(value.charCodeAt(start))) start++;
  while (end > start && isXmlWhitespace(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

const PREDEFINED: Record<string, string> = { lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' };
const REFERENCE = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|apos|quot));/g;

/** XML 1.0 §2.2 Char: the code points a character reference may name. */
const isXmlChar = (cp: number) =>
  cp === 0x09 || cp === 0x0a || cp === 0x0d || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

/**
 * Reference replacement as XML 1.0 defines it: the five predefined entities (§4.6) and character
 * references `&#N;` / `&#xN;` to any XML Char (§4.1). fast-xml-parser's own decoder leaves character
 * references as written unless HTML entities are switched on (which would also expand `&nbsp;` and
 * the like, which XML does not define). Anything else — an undeclared entity, a reference to a code
 * point XML does not allow, entities a DOCTYPE declares (EPP documents have none) — is left as written.
 */
const xmlReferences = {
  decode: (value: string): string =>
    value.indexOf("&") < 0
      ? value
      : value.replace(REFERENCE, (ref: string, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
          if (named !== undefined) return PREDEFINED[named] ?? ref;
          const cp = hex !== undefined ? parseInt(hex, 16) : parseInt(dec ?? "", 10);
          return isXmlChar(cp) ? String.fromCodePoint(cp) : ref;
        }),
  reset: () => undefined,
  setXmlVersion: () => undefined,
  addInputEntities: () => undefined,
  setExternalEntities: () => undefined,
};

/**
 * Options both parsers share. trimValues is off because fast-xml-parser trims with
 * String.prototype.trim; the value processors trim XML whitespace only. Text that is only XML
 * whitespace (indentation between elements) becomes "" and is dropped, as trimValues dropped it, so
 * the parsed shapes are those trimValues gave. References are replaced before the processors run.
 */
const parseOptions = {
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  textNodeName: "#text",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  entityDecoder: xmlReferences,
  tagValueProcessor: (_name: string, value: string) => trimXmlWhitespace(value),
  attributeValueProcessor: (_name: string, value: string) => trimXmlWhitespace(value),
} as const;

const parser = new XMLParser({
  ...parseOptions,
  removeNSPrefix: true,
  isArray: (name) => ALWAYS_ARRAY.has(name),
});

const rawParser = new XMLParser({
  ...parseOptions,
  removeNSPrefix: false,
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
  if (Array.isArray(v)) return v[0] as XmlNode | undefined;
  if (v === "") return {};
  return v && typeof v === "object" ? v : undefined;
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
