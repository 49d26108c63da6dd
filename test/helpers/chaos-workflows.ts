/**
 * What the chaos run (test/chaos/chaos.ts) needs for its workflow runs:
 *  - per-object fault injection in the EPP simulator: its FaultPlan applies a rule to the next n commands
 *    of a name, whoever sends them; {@link targetFaults} lets a decision see the command's frame (so the
 *    runs' domains and contacts get their own faults while the global rules stay the provisions')
 *  - a count of successful contact creates per contact id (the store counts domain creates only)
 *  - the workflow reconciler's repairs, summed from the worker processes' log lines
 */
import type { FaultAction } from "../../src/simulators/epp-registry/faults.js";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";

/** A decision for one command: a fault, none (undefined), or "default" (the simulator's own rules). */
export type FaultPick = (command: string, frame: string) => FaultAction | undefined | "default";

/**
 * Route every command's fault decision through `pick`, which sees the command name and its raw frame
 * (the XML: object names and ids). The simulator classifies a frame, counts it and takes its fault in one
 * synchronous sequence (server.ts onFrame), so the frame remembered by the wrapped `classify` is the one
 * `take` is asked about. Throws when the simulator no longer has those methods (renamed: the wrapper
 * would silently do nothing).
 */
export function targetFaults(sim: EppRegistrySimulator, pick: FaultPick): void {
  const s = sim as unknown as { classify?: (frame: string, command: unknown) => { name: string } };
  if (typeof s.classify !== "function" || typeof sim.faults.take !== "function") {
    throw new Error("targetFaults: the simulator has no classify/take to wrap (renamed?)");
  }
  const classify = s.classify.bind(sim);
  let lastFrame = "";
  s.classify = (frame, command) => {
    lastFrame = frame;
    return classify(frame, command);
  };
  const take = sim.faults.take.bind(sim.faults);
  sim.faults.take = (command: string) => {
    const decision = pick(command, lastFrame);
    return decision === "default" ? take(command) : decision;
  };
}

/** The first `<prefix:local>value</prefix:local>` of a frame (the object's name or id). */
export function frameValue(frame: string, local: string): string | undefined {
  const m = new RegExp(`<(?:[\\w-]+:)?${local}>\\s*([^<\\s]+)\\s*</`).exec(frame);
  return m?.[1];
}

/** Count successful contact creates per id (contactCreate is the store's only writer of contacts). */
export function countContactCreates(sim: EppRegistrySimulator): Map<string, number> {
  const counts = new Map<string, number>();
  const contacts = sim.store.contacts;
  const set = contacts.set.bind(contacts);
  contacts.set = (id, contact) => {
    counts.set(id, (counts.get(id) ?? 0) + 1);
    return set(id, contact);
  };
  return counts;
}

export interface WorkflowRepairs {
  readyDispatched: number;
  settled: number;
  cancelledJobs: number;
  released: number;
  startFailed: number;
}

/**
 * The workflow reconciler's repairs logged by workers (src/worker/heartbeat.ts: the warn line "workflow
 * reconciler repaired runs" with field workflowRepairs), summed over every line of every output; how many
 * such lines did not parse (a line cut short: the caller counts them as repairs of an unknown kind); and the
 * lines themselves, for the report.
 */
export function workflowRepairsLogged(outputs: string[]): { sum: WorkflowRepairs; unparsed: number; lines: string[] } {
  const sum: WorkflowRepairs = { readyDispatched: 0, settled: 0, cancelledJobs: 0, released: 0, startFailed: 0 };
  const lines: string[] = [];
  let unparsed = 0;
  for (const out of outputs) {
    for (const line of out.split("\n")) {
      if (!line.includes("workflow reconciler repaired runs")) continue;
      lines.push(line);
      let rec: { workflowRepairs?: Partial<WorkflowRepairs> } | undefined;
      try {
        rec = JSON.parse(line) as { workflowRepairs?: Partial<WorkflowRepairs> };
      } catch {
        rec = undefined; // a line cut by a SIGKILL
      }
      if (!rec?.workflowRepairs) {
        unparsed += 1;
        continue;
      }
      for (const k of Object.keys(sum) as (keyof WorkflowRepairs)[]) sum[k] += Number(rec.workflowRepairs[k] ?? 0);
    }
  }
  return { sum, unparsed, lines };
}

/** Log lines of the workers' outputs that mention any of `needles` (run, step and job ids). */
export function linesMentioning(outputs: string[], needles: string[], max = 40): string[] {
  const found: string[] = [];
  for (const [i, out] of outputs.entries()) {
    for (const line of out.split("\n")) {
      if (needles.some((n) => n && line.includes(n))) found.push(`[worker ${i}] ${line}`);
      if (found.length >= max) return found;
    }
  }
  return found;
}
