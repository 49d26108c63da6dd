/** The task list: one entry per job type (job_type.task_identifier). */
import type { TaskList } from "graphile-worker";
import { contactCreate } from "./contact__create.js";
import { domainCreate } from "./domain__create.js";
import { domainDelete } from "./domain__delete.js";
import { domainRenew } from "./domain__renew.js";

export const tasks = [contactCreate, domainCreate, domainRenew, domainDelete];

export const taskList: TaskList = Object.fromEntries(tasks.map((t) => [t.identifier, t.task]));
