/**
 * The generic connector contract (docs/design.md "Where things live"). A connector is an adapter to one kind of
 * external system (an EPP registry, an LDAP directory, a SCIM service, a database); it knows nothing of
 * jobs, orders or provision tables. What it can do is declared as capabilities, one interface per kind of
 * target (src/connectors/capabilities/): a family asks the connector registry (src/connectors/registry.ts)
 * for a connector type *with* the capability it needs, and gets a clear configuration error when the type
 * does not offer it.
 *
 * Each adapter owns: its configuration schema (zod, parsed from the row that configures it), the protocol
 * identifiers it derives from {@link CommandContext} (EPP's clTRID, for example), and the mapping of its
 * own errors to `result_data` and to transient or permanent (src/errors.ts: ProvisioError.retryable,
 * ProvisioError.resultData()). The task lifecycle (src/engine/lifecycle.ts) knows no protocol.
 */
import type { Logger } from "../logger.js";
import type { SchemaOperations } from "./capabilities/schema.js";
import type { AccountOperations } from "./capabilities/account.js";
import type { HostOperations, RegistryOperations } from "./capabilities/registry.js";

/**
 * Per-command context. `correlationId` identifies the unit of work across attempts (provisio passes the
 * job id), `attempt` counts from 1, `step` names a follow-up command of the same attempt (e.g. "info",
 * "reconcile"). Adapters derive their protocol's transaction id from them: EPP sends the clTRID
 * "<correlationId>-<attempt>[-<step>]" (RFC 5730 §2.5).
 */
export interface CommandContext {
  correlationId: string;
  attempt: number;
  step?: string;
  log: Logger;
}

/** The capabilities a connector may offer, by name, with the interface each one means. */
export interface CapabilityMap {
  /** registry objects (RFC 5731 domains, RFC 5733 contacts): src/connectors/capabilities/registry.ts */
  registry: RegistryOperations;
  /** RFC 5732 host objects: src/connectors/capabilities/registry.ts HostOperations */
  host: HostOperations;
  /** accounts and entitlements in an application (seed 002): src/connectors/capabilities/account.ts */
  account: AccountOperations;
  /** a tenant's schema in an application's database (seed 004): src/connectors/capabilities/schema.ts */
  schema: SchemaOperations;
}
export type Capability = keyof CapabilityMap;

/** What every connector is, whatever it can do. */
export interface Connector {
  /** the connector type (table connector_type), e.g. "epp" */
  readonly type: string;
  /** the capabilities this connector implements; getConnector() checks them */
  readonly capabilities: readonly Capability[];
  /**
   * Close pools and sessions; refuse new work. The one shutdown path: the worker calls closeConnectors()
   * (src/connectors/registry.ts), which calls this once per instance.
   */
  close(): Promise<void>;
}

/** A connector offering capability K. */
export type ConnectorWith<K extends Capability> = Connector & CapabilityMap[K];

/** How a family makes a connector type known to the registry (src/families/index.ts). */
export interface ConnectorType {
  type: string;
  capabilities: readonly Capability[];
  create(): Connector;
}
