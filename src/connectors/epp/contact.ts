/** RFC 5733 contact commands: builders for <command> bodies and parsers for their <resData>. */
import { NS, child, text, type XmlNode, EppXmlError } from "./xml.js";
import type { ContactCreateInput } from "../capabilities/registry.js";

const ns = { "@_xmlns:contact": NS.contact };

/** §3.2.1 <create> with one "int" postalInfo. */
export function contactCreateBody(input: ContactCreateInput): XmlNode {
  return {
    create: {
      "contact:create": {
        ...ns,
        "contact:id": input.id,
        "contact:postalInfo": {
          "@_type": "int",
          "contact:name": input.name,
          ...(input.org ? { "contact:org": input.org } : {}),
          "contact:addr": {
            ...(input.street.length ? { "contact:street": input.street } : {}),
            "contact:city": input.city,
            ...(input.sp ? { "contact:sp": input.sp } : {}),
            ...(input.pc ? { "contact:pc": input.pc } : {}),
            "contact:cc": input.cc,
          },
        },
        ...(input.voice ? { "contact:voice": input.voice } : {}),
        ...(input.fax ? { "contact:fax": input.fax } : {}),
        "contact:email": input.email,
        "contact:authInfo": { "contact:pw": input.authInfo },
      },
    },
  };
}

/** §3.1.2 <info>. */
export function contactInfoBody(id: string, authInfo?: string): XmlNode {
  return {
    info: {
      "contact:info": {
        ...ns,
        "contact:id": id,
        ...(authInfo ? { "contact:authInfo": { "contact:pw": authInfo } } : {}),
      },
    },
  };
}

/** <contact:creData>: id, crDate. */
export function parseContactCreData(resData: XmlNode | undefined): { id: string; crDate: string } {
  const d = child(resData, "creData");
  const id = text(d, "id");
  const crDate = text(d, "crDate");
  if (!id || !crDate) throw new EppXmlError("response is missing contact:creData id/crDate");
  return { id, crDate };
}

/** <contact:infData>. */
export function parseContactInfData(resData: XmlNode | undefined) {
  const d = child(resData, "infData");
  const id = text(d, "id");
  const roid = text(d, "roid");
  const clID = text(d, "clID");
  if (!id || !roid || !clID) throw new EppXmlError("response is missing contact:infData id/roid/clID");
  return { id, roid, clID, crDate: text(d, "crDate"), authInfo: text(child(d, "authInfo"), "pw") };
}
