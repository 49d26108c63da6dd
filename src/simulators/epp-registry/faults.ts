/**
 * Fault injection for tests and demos. Each rule applies to the next `count` commands that match
 * (all commands, or only those named in `commands`, e.g. ["domain:create"]).
 *  - respond: answer with this result code instead of executing (e.g. 2400, 2500, 2502)
 *  - drop:    close the connection; with afterExecute the command is executed first (ambiguous outcome)
 *  - stall:   never answer; with afterExecute the command is executed first
 *  - raw:     write these bytes instead of a response (a truncated frame, an impossible RFC 5734 length
 *             header, invalid XML, a response without the expected resData), then close the
 *             connection when `close` is set; with afterExecute the command is executed first
 * `latencyMs` delays every response; `greetingDelayMs` delays the greeting of each new connection (a slow
 * or overloaded registry: a client's connect timeout runs out while the TLS connection is up).
 */
export type FaultAction =
  | { kind: "respond"; code: number }
  | { kind: "drop"; afterExecute?: boolean }
  | { kind: "stall"; afterExecute?: boolean }
  | { kind: "raw"; bytes: Buffer | ((clTRID: string | undefined) => Buffer); close?: boolean; afterExecute?: boolean };

export interface FaultRule {
  action: FaultAction;
  count: number;
  commands?: string[];
}

export class FaultPlan {
  latencyMs = 0;
  greetingDelayMs = 0;
  private rules: FaultRule[] = [];

  /** Add a rule; returns this for chaining. */
  add(rule: FaultRule): this {
    this.rules.push({ ...rule });
    return this;
  }

  /** Remove every rule and the delays. */
  clear(): void {
    this.rules = [];
    this.latencyMs = 0;
    this.greetingDelayMs = 0;
  }

  /** The action for this command, consuming one use of the first matching rule. */
  take(command: string): FaultAction | undefined {
    const rule = this.rules.find((r) => r.count > 0 && (!r.commands || r.commands.includes(command)));
    if (!rule) return undefined;
    rule.count--;
    return rule.action;
  }
}
