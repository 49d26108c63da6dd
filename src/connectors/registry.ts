/**
 * The connector registry: connector types (table connector_type) are registered by the families that
 * bring them (src/families/index.ts); tasks ask for a type together with the capability they need.
 * Instances are created on first use, one per type per process, and closed by closeConnectors(), the one
 * shutdown path (the worker calls it once when it stops).
 */
import { ConfigurationError } from "../errors.js";
import type { Capability, Connector, ConnectorType, ConnectorWith } from "./types.js";

const types = new Map<string, ConnectorType>();
const instances = new Map<string, Connector>();

/**
 * Make a connector type known. Registering the same type again replaces its factory (tests do this);
 * an instance already created stays until closeConnectors().
 */
export function registerConnectorType(t: ConnectorType): void {
  types.set(t.type, t);
}

/** The registered connector types (for messages and tests). */
export function connectorTypes(): string[] {
  return [...types.keys()];
}

/**
 * The connector of `type`, checked to offer `capability`.
 * @throws ConfigurationError (PV_CONFIG) for a type no family registered, or one that does not offer
 *   the capability (e.g. an accreditation whose connector_type names an LDAP connector)
 */
export function getConnector<K extends Capability>(type: string, capability: K): ConnectorWith<K> {
  const t = types.get(type);
  if (!t) throw new ConfigurationError(`no connector serves connector_type "${type}" (known: ${connectorTypes().join(", ") || "none"})`);
  if (!t.capabilities.includes(capability)) {
    throw new ConfigurationError(`connector_type "${type}" does not offer the ${capability} capability (it offers: ${t.capabilities.join(", ") || "none"})`);
  }
  let c = instances.get(type);
  if (!c) {
    c = t.create();
    instances.set(type, c);
  }
  if (!c.capabilities.includes(capability)) {
    throw new ConfigurationError(`connector "${type}" was registered with the ${capability} capability but does not declare it`);
  }
  return c as ConnectorWith<K>;
}

/** Close and forget every connector instance (worker shutdown). Errors are collected and returned, not thrown. */
export async function closeConnectors(): Promise<Error[]> {
  const all = [...instances.values()];
  instances.clear();
  const results = await Promise.allSettled(all.map((c) => c.close()));
  return results
    .filter((r): r is PromiseRejectedResult => r.status === "rejected")
    .map((r) => (r.reason instanceof Error ? r.reason : new Error(String(r.reason))));
}
