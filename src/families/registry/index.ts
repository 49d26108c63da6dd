/**
 * The registry family: domains, hosts and contacts at a registry (RFC 5731, RFC 5732, RFC 5733) over EPP. It brings its
 * tasks (one per job type, job_type.task_identifier) and its connector types: "epp" (src/connectors/epp/)
 * and "noop" (answers at once, for dry runs and benchmarks).
 */
import { EppConnector } from "../../connectors/epp/connector.js";
import { NoopConnector } from "../../connectors/noop/connector.js";
import type { ConnectorType } from "../../connectors/types.js";
import type { DefinedTask } from "../../engine/lifecycle.js";
import { contactCreate } from "./tasks/contact__create.js";
import { domainCreate } from "./tasks/domain__create.js";
import { domainDelete } from "./tasks/domain__delete.js";
import { domainRenew } from "./tasks/domain__renew.js";
import { hostCreate } from "./tasks/host__create.js";

export const registryTasks: DefinedTask[] = [contactCreate, domainCreate, domainRenew, domainDelete, hostCreate];

export const registryConnectorTypes: ConnectorType[] = [
  { type: "epp", capabilities: ["registry", "host"], create: () => new EppConnector() },
  { type: "noop", capabilities: ["registry"], create: () => new NoopConnector() },
];
