/**
 * The simulator's objects, in memory: domains (RFC 5731) and contacts (RFC 5733), with the registry's
 * own identifiers (roid) and a count of successful creates per name, so tests can prove "exactly once".
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

export class RegistryStore {
  readonly domains = new Map<string, SimDomain>();
  readonly contacts = new Map<string, SimContact>();
  /** successful <create> commands per domain name, ever (deletes do not reset it) */
  readonly domainCreates = new Map<string, number>();
  private roidSeq = 0;

  constructor(readonly repoId = "SIM") {}

  nextRoid(kind: "D" | "C"): string {
    return `${kind}${++this.roidSeq}-${this.repoId}`;
  }
}
