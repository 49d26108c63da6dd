/**
 * One registry of connectors keyed by connector type (table connector_type). Instances are created on
 * first use per process and closed by the worker's cleanup hooks (src/connectors/cleanup.ts).
 */
import { ConfigurationError } from "../errors.js";
import { EppConnector } from "./epp/connector.js";
import { NoopConnector } from "./noop/connector.js";
import type { RegistryConnector } from "./types.js";

const factories: Record<string, () => RegistryConnector> = {
  epp: () => new EppConnector(),
  noop: () => new NoopConnector(),
};
const instances = new Map<string, RegistryConnector>();

/**
 * The connector for a type.
 * @throws ConfigurationError (PV_CONFIG) for a type no connector serves.
 */
export function getConnector(type: string): RegistryConnector {
  let c = instances.get(type);
  if (!c) {
    const factory = factories[type];
    if (!factory) throw new ConfigurationError(`no connector serves connector_type "${type}" (known: ${Object.keys(factories).join(", ")})`);
    c = factory();
    instances.set(type, c);
  }
  return c;
}

/** Close and forget every connector instance (worker shutdown). */
export async function closeConnectors(): Promise<void> {
  const all = [...instances.values()];
  instances.clear();
  await Promise.all(all.map((c) => c.close()));
}
