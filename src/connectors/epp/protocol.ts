/**
 * RFC 5730 message shapes shared by the client: command envelopes, greeting and response parsing.
 * Object-specific commands (RFC 5731 domain, RFC 5732 host, RFC 5733 contact) are in domain.ts, host.ts
 * and contact.ts.
 */
import { EppXmlError, NS, buildEpp, child, children, parseEpp, text, attr, type XmlNode } from "./xml.js";
import type { EppResult } from "./errors.js";

/** RFC 5730 §2.4 greeting: what the server offers. */
export interface EppGreeting {
  svID: string;
  svDate: string;
  versions: string[];
  objURIs: string[];
}

/**
 * The object namespace URIs this client manages (RFC 5730 §2.9.1.1 <svcs><objURI>): RFC 5731 domain,
 * RFC 5733 contact, RFC 5732 host. A session logs in with those of them the server's greeting offers.
 */
export const SUPPORTED_OBJ_URIS: readonly string[] = [NS.domain, NS.contact, NS.host];

/** Wrap a command element (e.g. { create: {...} }) with its clTRID (RFC 5730 §2.5). */
export function buildCommand(commandBody: XmlNode, clTRID: string): string {
  return buildEpp({ command: { ...commandBody, clTRID } });
}

/** RFC 5730 §2.9.1.1 login. Object URIs must be among those the greeting offered. */
export function buildLogin(clID: string, pw: string, objURIs: string[], clTRID: string): string {
  return buildCommand({ login: { clID, pw, options: { version: "1.0", lang: "en" }, svcs: { objURI: objURIs } } }, clTRID);
}

/** RFC 5730 §2.9.1.2 logout. */
export function buildLogout(clTRID: string): string {
  return buildCommand({ logout: "" }, clTRID);
}

/**
 * Parse a greeting frame.
 * @throws EppXmlError when the frame is not a greeting.
 */
export function parseGreeting(xml: string): EppGreeting {
  const greeting = child(parseEpp(xml), "greeting");
  if (!greeting) throw new EppXmlError("expected an EPP <greeting>");
  const menu = child(greeting, "svcMenu");
  return {
    svID: text(greeting, "svID") ?? "",
    svDate: text(greeting, "svDate") ?? "",
    versions: children(menu, "version").map((v) => text(v) ?? ""),
    objURIs: children(menu, "objURI").map((v) => text(v) ?? ""),
  };
}

/** A parsed response: the first <result>, the <resData> content (prefixes stripped) and <trID>. */
export interface EppResponse {
  result: EppResult;
  resData: XmlNode | undefined;
}

/**
 * Parse an RFC 5730 §2.6 response frame.
 * @throws EppXmlError when the frame is not a response or has no result code.
 */
export function parseResponse(xml: string): EppResponse {
  const response = child(parseEpp(xml), "response");
  if (!response) throw new EppXmlError("expected an EPP <response>");
  const first = children(response, "result")[0];
  const code = Number(attr(first, "code"));
  if (!Number.isInteger(code) || code < 1000 || code > 2999) throw new EppXmlError(`response has no valid result code: ${attr(first, "code")}`);
  const extValue = child(first, "extValue");
  const trID = child(response, "trID");
  const result: EppResult = {
    code,
    msg: text(first, "msg") ?? "",
    reason: extValue ? text(extValue, "reason") : undefined,
    clTRID: text(trID, "clTRID"),
    svTRID: text(trID, "svTRID"),
  };
  return { result, resData: child(response, "resData") };
}
