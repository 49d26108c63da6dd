/**
 * The families the worker serves. A family brings tasks (written against src/engine/lifecycle.ts) and
 * the connector types they use (registered with src/connectors/registry.ts when this module loads).
 * Adding a family is one entry here.
 */
import type { TaskList } from "graphile-worker";
import { registerConnectorType } from "../connectors/registry.js";
import type { ConnectorType } from "../connectors/types.js";
import type { DefinedTask } from "../engine/lifecycle.js";
import { LdapConnector } from "../connectors/ldap/connector.js";
import { ScimConnector } from "../connectors/scim/connector.js";
import { SqlConnector } from "../connectors/sql/connector.js";
import { discoveryCrontab, discoveryTasks } from "./access/discovery.js";
import { accessTasks } from "./access/task.js";
import { registryConnectorTypes, registryTasks } from "./registry/index.js";
import { workflowTasks } from "./workflow/index.js";

export interface Family {
  name: string;
  tasks: DefinedTask[];
  connectorTypes: ConnectorType[];
  /** graphile-worker crontab lines of the family's recurring tasks (run when the worker's cron is on) */
  crontab?: string[];
}

export const families: Family[] = [
  { name: "registry", tasks: registryTasks, connectorTypes: registryConnectorTypes },
  {
    name: "access",
    tasks: [...accessTasks, ...discoveryTasks],
    crontab: discoveryCrontab,
    connectorTypes: [
      { type: "ldap", capabilities: ["account"], create: () => new LdapConnector() },
      { type: "scim", capabilities: ["account"], create: () => new ScimConnector() },
      { type: "sql", capabilities: ["account", "schema"], create: () => new SqlConnector() },
    ],
  },
  { name: "workflow", tasks: workflowTasks, connectorTypes: [] },
];

for (const f of families) for (const t of f.connectorTypes) registerConnectorType(t);

/** Every family's tasks, by task identifier (graphile-worker's task list). */
export const taskList: TaskList = Object.fromEntries(families.flatMap((f) => f.tasks).map((t) => [t.identifier, t.task]));

/** Every family's crontab lines, one per line (graphile-worker's crontab format). */
export const crontab: string = families.flatMap((f) => f.crontab ?? []).join("\n");
