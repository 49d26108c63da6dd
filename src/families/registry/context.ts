/**
 * The registry family's plug-in to the task lifecycle (src/engine/lifecycle.ts): every task of this
 * family runs as an accreditation (the tenant's account at a registry, table accreditation) through a
 * connector offering the registry capability (src/connectors/capabilities/registry.ts).
 *
 * Accreditations are read once per ACCREDITATION_TTL_MS per process, not once per job: a job costs one
 * round trip less. Each copy carries `readAt` (performance.now() when its SELECT returned): the EPP
 * connector keeps the settings of the copy read last, so a job still holding a copy read before an
 * UPDATE does not bring the old settings back. A changed accreditation (new host, new password_env, new
 * max_sessions) is picked up within the TTL, and by the next attempt of a job whose attempt failed with a
 * `configSuspect` error (the connector could not open a session: connection refused, TLS failure, login
 * refused), which forgets the cached row. The secret itself is never cached here (the connector resolves
 * it when it opens a session).
 */
import { performance } from "node:perf_hooks";
import type { InferResult } from "kysely";
import type { Accreditation, RegistryResult } from "../../connectors/capabilities/registry.js";
import { getConnector } from "../../connectors/registry.js";
import type { ConnectorWith } from "../../connectors/types.js";
import { queryBuilder } from "../../db/kysely.js";
import { defineTask, type DefinedTask, type FamilyPlugin, type TaskSpec } from "../../engine/lifecycle.js";
import { query, type PgHelpers } from "../../engine/sql/query.js";
import { ConfigurationError } from "../../errors.js";

/** The capabilities the registry family's tasks use: the domain and contact operations, and host objects. */
export type RegistryCapability = "registry" | "host";

/** What the registry family's handlers get besides the lifecycle's TaskContext. */
export interface RegistryContext<K extends RegistryCapability = "registry"> {
  acc: Accreditation;
  /** the accreditation's connector, checked to offer capability K */
  connector: ConnectorWith<K>;
}

/** Every registry provision table has accreditation_id, so every task's data schema parses it. */
export interface RegistryTaskData {
  accreditation_id: string;
}

const ACCREDITATION_TTL_MS = 5_000;
const accreditationCache = new Map<string, { at: number; acc: Promise<Accreditation> }>();

/** Forget the cached row of accreditation `id`: the next job using it reads it again. */
export function forgetAccreditation(id: string): void {
  accreditationCache.delete(id);
}

/**
 * The accreditation row `id`, from the cache when read less than ACCREDITATION_TTL_MS ago. Exported for
 * tests.
 * @throws ConfigurationError when the row does not exist; the database's error when the read fails
 */
export async function loadAccreditation(helpers: PgHelpers, id: string): Promise<Accreditation> {
  const hit = accreditationCache.get(id);
  if (hit && Date.now() - hit.at < ACCREDITATION_TTL_MS) return hit.acc;
  const acc = readAccreditation(helpers, id);
  const entry = { at: Date.now(), acc };
  accreditationCache.set(id, entry);
  // a failed read forgets its own entry only: it may fail after the row was forgotten and read again
  acc.catch(() => {
    if (accreditationCache.get(id) === entry) accreditationCache.delete(id);
  });
  return acc;
}

async function readAccreditation(helpers: PgHelpers, id: string): Promise<Accreditation> {
  // built with kysely, run on graphile-worker's client through query() (its retries)
  const read = queryBuilder
    .selectFrom("accreditation")
    .select(["id", "tenant_customer_id", "name", "provider", "connector_type", "config", "max_sessions"])
    .where("id", "=", id)
    .compile();
  const rows = await query<InferResult<typeof read>[number]>(helpers, read.sql, [...read.parameters]);
  const readAt = performance.now(); // when this copy was read: connectors keep the settings read last
  const r = rows[0];
  if (!r) throw new ConfigurationError(`accreditation ${id} no longer exists`);
  return {
    id: r.id,
    tenantCustomerId: r.tenant_customer_id,
    name: r.name,
    provider: r.provider,
    connectorType: r.connector_type,
    config: r.config,
    maxSessions: r.max_sessions,
    readAt,
  };
}

/**
 * The registry family's plug-in for tasks needing `capability`: the accreditation (cached) and its
 * connector, checked to offer the capability (else PV_CONFIG, e.g. a host task on a no-op accreditation).
 */
export function registryFamily<K extends RegistryCapability>(capability: K): FamilyPlugin<RegistryTaskData, RegistryContext<K>> {
  return {
    name: "registry",
    async context({ data, helpers }) {
      const acc = await loadAccreditation(helpers, data.accreditation_id);
      return { acc, connector: getConnector(acc.connectorType, capability) };
    },
    onFailure(err, { data }) {
      if (err.configSuspect) forgetAccreditation(data.accreditation_id);
    },
  };
}

/**
 * Define a task of the registry family (see src/engine/lifecycle.ts defineTask). `capability` (default
 * "registry") is what its connector must offer; a task for a new registry object type names the
 * capability that object's operations belong to.
 */
export function defineRegistryTask<D extends RegistryTaskData, K extends RegistryCapability = "registry">(
  spec: TaskSpec<D, RegistryContext<K>> & { capability?: K },
): DefinedTask {
  const family = registryFamily(spec.capability ?? ("registry" as K));
  return defineTask(family as FamilyPlugin<D, RegistryContext<K>>, spec);
}

/** result_data fields every registry success carries: the RFC 5730 result code, message and transaction ids. */
export function registryResultData(result: RegistryResult): Record<string, unknown> {
  return { code: result.code, msg: result.msg, svTRID: result.svTRID, clTRID: result.clTRID };
}
