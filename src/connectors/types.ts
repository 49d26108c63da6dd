/**
 * The connector interface (seed 002 "Provisioning Connector Adapters"): plain typed inputs in, typed
 * results out. Connectors know nothing of jobs, orders or provision tables. One registry keyed by
 * connector type (src/connectors/registry.ts) serves the tasks.
 */
import type { Logger } from "../logger.js";
import type { EppResult } from "./epp/errors.js";

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
   * When this copy of the row was read: performance.now() of this process (ms, monotonic), taken by
   * src/tasks/run-job.ts when the SELECT returned. A connector meeting two copies of one accreditation
   * with different settings keeps those of the copy read last, in whatever order the copies reach it.
   * Absent on copies not read by the tasks (tests, tools): the connector uses when it first saw the object.
   */
  readonly readAt?: number;
}

/** Per-command context: the client transaction id to send and a scoped logger. */
export interface CommandContext {
  /** RFC 5730 clTRID: provisio sends "<job id>-<attempt>" */
  clTRID: string;
  log: Logger;
}

/** Outcome metadata every registry call returns: the result code, message and transaction ids. */
export interface RegistryOutcome {
  result: EppResult;
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

/**
 * A registry connector (RFC 5731/5733 operations). Methods throw ProvisioErrors: EppCommandError
 * (code EPP<result>) for 2xxx results, transient errors for transport failures.
 */
export interface RegistryConnector {
  readonly type: string;
  contactCreate(acc: Accreditation, input: ContactCreateInput, ctx: CommandContext): Promise<ContactCreateResult>;
  contactInfo(acc: Accreditation, input: { id: string; authInfo?: string }, ctx: CommandContext): Promise<ContactInfoResult>;
  domainCreate(acc: Accreditation, input: DomainCreateInput, ctx: CommandContext): Promise<DomainCreateResult>;
  domainInfo(acc: Accreditation, input: { name: string; authInfo?: string }, ctx: CommandContext): Promise<DomainInfoResult>;
  domainRenew(acc: Accreditation, input: DomainRenewInput, ctx: CommandContext): Promise<DomainRenewResult>;
  domainDelete(acc: Accreditation, input: { name: string }, ctx: CommandContext): Promise<RegistryOutcome>;
  /** Close sessions and pools. */
  close(): Promise<void>;
}
