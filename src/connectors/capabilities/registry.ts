/**
 * The registry capability: the object operations of a domain registry (RFC 5731 domains, RFC 5733
 * contacts), in RFC 5730's vocabulary, whatever protocol carries them. Implemented by the EPP adapter
 * (src/connectors/epp/) and the no-op adapter (src/connectors/noop/); used by the registry family's tasks
 * (src/families/registry/). Methods throw ProvisioErrors (src/errors.ts): permanent ones for a refused
 * command (EPP: EppCommandError, code "EPP<result>"), transient ones for transport failures.
 */
import type { CommandContext } from "../types.js";

/** A tenant's account at a provider (table accreditation). `config` is connector-specific, parsed by the connector. */
export interface Accreditation {
  id: string;
  tenantCustomerId: string;
  name: string;
  provider: string;
  connectorType: string;
  config: unknown;
  maxSessions: number;
  /**
   * When this copy of the row was read: performance.now() of this process (ms, monotonic), taken by the
   * registry family (src/families/registry/context.ts) when the SELECT returned. A connector meeting two
   * copies of one accreditation with different settings keeps those of the copy read last, in whatever
   * order the copies reach it. Absent on copies not read by the tasks (tests, tools): the connector uses
   * when it first saw the object.
   */
  readonly readAt?: number;
}

/** What the registry said about a command: RFC 5730 §2.6 <result> and §2.5 <trID>. */
export interface RegistryResult {
  /** RFC 5730 §3 result code: 1xxx success, 2xxx error */
  code: number;
  msg: string;
  /** the <reason> of an <extValue>, when the server gave one */
  reason?: string;
  clTRID?: string;
  svTRID?: string;
}

/** Outcome metadata every registry call returns: the result code, message and transaction ids. */
export interface RegistryOutcome {
  result: RegistryResult;
}

export interface ContactCreateInput {
  id: string;
  name: string;
  org?: string | null;
  street: string[];
  city: string;
  sp?: string | null;
  pc?: string | null;
  cc: string;
  voice?: string | null;
  fax?: string | null;
  email: string;
  authInfo: string;
}
export interface ContactCreateResult extends RegistryOutcome {
  id: string;
  crDate: string;
}
export interface ContactInfoResult extends RegistryOutcome {
  id: string;
  roid: string;
  clID: string;
  /** true when the contact is sponsored by this accreditation's account */
  ours: boolean;
  authInfo?: string;
  crDate?: string;
}

export interface DomainCreateInput {
  name: string;
  /** registration period in years (RFC 5731 §2.5, unit "y") */
  period: number;
  authInfo: string;
  registrant?: string | null;
  contacts: { type: "admin" | "tech" | "billing"; id: string }[];
  nameservers: string[];
}
export interface DomainCreateResult extends RegistryOutcome {
  name: string;
  crDate: string;
  exDate: string;
}
export interface DomainInfoResult extends RegistryOutcome {
  name: string;
  roid: string;
  clID: string;
  /** true when the domain is sponsored by this accreditation's account */
  ours: boolean;
  status: string[];
  crDate?: string;
  exDate?: string;
  authInfo?: string;
  registrant?: string;
}
export interface DomainRenewInput {
  name: string;
  /** RFC 5731 §3.2.3 curExpDate, YYYY-MM-DD */
  curExpDate: string;
  period: number;
}
export interface DomainRenewResult extends RegistryOutcome {
  name: string;
  exDate: string;
}

/** RFC 5732 §2.5 IP address version of a host address. */
export type HostAddrVersion = "v4" | "v6";

/** One RFC 5732 §2.5 address: `ip` the version, `addr` the textual address (e.g. "192.0.2.2", "2001:db8::1"). */
export interface HostAddr {
  ip: HostAddrVersion;
  addr: string;
}

/**
 * A host to create (RFC 5732 §3.2.1): the fully qualified name and its addresses. Addresses are needed
 * for a host subordinate to a domain of the registry (glue) and refused for an external host.
 */
export interface HostCreateInput {
  name: string;
  addrs: HostAddr[];
}
export interface HostCreateResult extends RegistryOutcome {
  name: string;
  crDate: string;
}
export interface HostInfoResult extends RegistryOutcome {
  name: string;
  roid: string;
  clID: string;
  /** true when the host is sponsored by this accreditation's account */
  ours: boolean;
  status: string[];
  addrs: HostAddr[];
  crDate?: string;
}

/**
 * The host capability (RFC 5732), apart from {@link RegistryOperations} so that a connector that does not
 * manage host objects (the no-op connector) need not implement it: a registry object type is a capability
 * of its own, and only the connectors that serve it change when one is added.
 */
export interface HostOperations {
  hostCreate(acc: Accreditation, input: HostCreateInput, ctx: CommandContext): Promise<HostCreateResult>;
  hostInfo(acc: Accreditation, input: { name: string }, ctx: CommandContext): Promise<HostInfoResult>;
}

/** The registry operations (RFC 5731 and RFC 5733). Every call names the accreditation it runs as. */
export interface RegistryOperations {
  contactCreate(acc: Accreditation, input: ContactCreateInput, ctx: CommandContext): Promise<ContactCreateResult>;
  contactInfo(acc: Accreditation, input: { id: string; authInfo?: string }, ctx: CommandContext): Promise<ContactInfoResult>;
  domainCreate(acc: Accreditation, input: DomainCreateInput, ctx: CommandContext): Promise<DomainCreateResult>;
  domainInfo(acc: Accreditation, input: { name: string; authInfo?: string }, ctx: CommandContext): Promise<DomainInfoResult>;
  domainRenew(acc: Accreditation, input: DomainRenewInput, ctx: CommandContext): Promise<DomainRenewResult>;
  domainDelete(acc: Accreditation, input: { name: string }, ctx: CommandContext): Promise<RegistryOutcome>;
}
