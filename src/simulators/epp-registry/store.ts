/**
 * The simulator's objects, in memory: domains (RFC 5731), hosts (RFC 5732) and contacts (RFC 5733), with
 * the registry's own identifiers (roid) and a count of successful domain creates per name, so tests can
 * prove "exactly once".
 */
export interface SimDomain {
  name: string;
  roid: string;
  clID: string;
  crID: string;
  crDate: Date;
  exDate: Date;
  upDate?: Date;
  authInfo: string;
  registrant?: string;
  contacts: { type: string; id: string }[];
  ns: string[];
  status: string[];
}

export interface SimContact {
  id: string;
  roid: string;
  clID: string;
  crDate: Date;
  authInfo: string;
  email: string;
  name: string;
}

/** An RFC 5732 host object, keyed by its lower-cased name. */
export interface SimHost {
  /** lower-cased fully qualified name */
  name: string;
  roid: string;
  clID: string;
  crID: string;
  crDate: Date;
  /** for a subordinate host: the name of its superordinate domain (in this store); undefined for an external host */
  superordinate?: string;
  addrs: { ip: "v4" | "v6"; addr: string }[];
  status: string[];
}

export class RegistryStore {
  readonly domains = new Map<string, SimDomain>();
  readonly contacts = new Map<string, SimContact>();
  readonly hosts = new Map<string, SimHost>();
  /** successful <create> commands per domain name, ever (deletes do not reset it) */
  readonly domainCreates = new Map<string, number>();
  private roidSeq = 0;

  constructor(readonly repoId = "SIM") {}

  /** The next repository object id, `<kind><n>-<repoId>`: D for domains, C for contacts, H for hosts. */
  nextRoid(kind: "D" | "C" | "H"): string {
    return `${kind}${++this.roidSeq}-${this.repoId}`;
  }
}
