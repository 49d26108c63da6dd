/**
 * Fault injection for the SCIM simulator (tests and demos), in the manner of the EPP simulator's
 * (src/simulators/epp-registry/faults.ts). Each rule applies to the next `count` HTTP requests that match
 * (every request, or only those with `method` and a path matching `path`: a string is a prefix of the
 * path below the SCIM base, e.g. "/Users" or "/Groups/", a RegExp is tested against it).
 *  - respond: answer with this HTTP status and a SCIM error body (RFC 7644 §3.12) instead of executing,
 *             with `Retry-After: <retryAfter>` (seconds) when given: 429 throttling, 503 unavailable, ...
 *  - delay:   wait `ms` before executing (a slow server: a client's timeout runs out)
 *  - before:  run `run()` and then execute (a concurrent change between a client's read and its write,
 *             e.g. another system creating the same user)
 *  - drop:    destroy the connection without an answer (after executing when `afterExecute`)
 * `latencyMs` delays every request.
 */

/** What a matching request gets instead of (or before) normal handling. */
export type ScimFaultAction =
  | { kind: "respond"; status: number; retryAfter?: number | string; detail?: string; scimType?: string }
  | { kind: "delay"; ms: number }
  | { kind: "before"; run: () => void | Promise<void> }
  | { kind: "drop"; afterExecute?: boolean };

/** A fault for the next `count` requests matching `method` and `path` (module doc). */
export interface ScimFaultRule {
  action: ScimFaultAction;
  /** how many matching requests the rule applies to */
  count: number;
  /** HTTP method, e.g. "POST"; any when absent */
  method?: string;
  /** path below the SCIM base ("/Users", "/Groups/<id>"): a prefix string or a RegExp; any when absent */
  path?: string | RegExp;
}

/** The simulator's fault rules, consumed in order by matching requests (module doc). */
export class ScimFaultPlan {
  /** milliseconds added before every request */
  latencyMs = 0;
  private rules: ScimFaultRule[] = [];

  /** Add a rule; returns this for chaining. */
  add(rule: ScimFaultRule): this {
    this.rules.push({ ...rule });
    return this;
  }

  /** Remove every rule and the latency. */
  clear(): void {
    this.rules = [];
    this.latencyMs = 0;
  }

  /** Uses left of every rule (for assertions that a rule was consumed). */
  remaining(): number {
    return this.rules.reduce((n, r) => n + Math.max(0, r.count), 0);
  }

  /** The action for this request, consuming one use of the first matching rule. */
  take(method: string, path: string): ScimFaultAction | undefined {
    const rule = this.rules.find(
      (r) =>
        r.count > 0 &&
        (!r.method || r.method.toUpperCase() === method.toUpperCase()) &&
        (!r.path || (typeof r.path === "string" ? path.startsWith(r.path) : r.path.test(path))),
    );
    if (!rule) return undefined;
    rule.count--;
    return rule.action;
  }
}
