/**
 * Fault injection for the SCIM simulator (tests and demos), in the manner of the EPP simulator's
 * (src/simulators/epp-registry/faults.ts). Each rule applies to the next `count` HTTP requests that match
 * (every request, or only those with `method` and a path matching `path`: a string is a prefix of the
 * path below the SCIM base, e.g. "/Users" or "/Groups/", a RegExp is tested against it), after letting
 * the first `skip` matching requests through untouched (e.g. `skip: 1` hits the second page of a listing).
 *  - respond: answer with this HTTP status and a SCIM error body (RFC 7644 §3.12) instead of executing,
 *             with `Retry-After: <retryAfter>` (seconds) when given: 429 throttling, 503 unavailable, ...;
 *             `run()`, when given, runs first (the concurrent change a 412 or a 409 reports)
 *  - {@link ScimFaultPlan.preconditionFailed}: the next `count` writes (PATCH by default) of one resource
 *             answered 412 Precondition Failed (RFC 7644 §3.14: the resource changed since the client read
 *             it; the simulator has no ETags, so a 412 comes only from here), each after an optional
 *             `change` to the store (someone else's write, e.g. adding the same member)
 *  - delay:   wait `ms` before executing (a slow server: a client's timeout runs out)
 *  - before:  run `run()` and then execute (a concurrent change between a client's read and its write,
 *             e.g. another system creating the same user)
 *  - drop:    destroy the connection without an answer (after executing when `afterExecute`)
 *  - rewrite: execute, then answer with `edit(body)` instead of the JSON body the simulator produced (a
 *             server that repeats an item on the next page, leaves out totalResults, ignores startIndex)
 * `latencyMs` delays every request.
 *
 * {@link ScimBurstThrottle} is the sloppy mode's rate limiter (server.ts option `throttle`): bursts of 429
 * answers at a fixed rhythm, independent of the rules above.
 */

/** What a matching request gets instead of (or before) normal handling. */
export type ScimFaultAction =
  | { kind: "respond"; status: number; retryAfter?: number | string; detail?: string; scimType?: string; run?: () => void | Promise<void> }
  | { kind: "delay"; ms: number }
  | { kind: "before"; run: () => void | Promise<void> }
  | { kind: "drop"; afterExecute?: boolean }
  /** `body` is the parsed JSON the simulator would have sent; `query` the request's query parameters */
  | { kind: "rewrite"; edit: (body: Record<string, unknown>, query: Record<string, unknown>) => unknown };

/** A fault for the next `count` requests matching `method` and `path` (module doc). */
export interface ScimFaultRule {
  action: ScimFaultAction;
  /** how many matching requests the rule applies to */
  count: number;
  /** how many matching requests to let through untouched before the rule applies (default 0) */
  skip?: number;
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

  /**
   * Answer the next `count` writes of `path` (e.g. `/Groups/<id>`; method PATCH unless given) with 412
   * Precondition Failed, running `change` (a concurrent write to the store) before each answer.
   */
  preconditionFailed(o: { path: string | RegExp; count: number; method?: string; change?: () => void | Promise<void> }): this {
    return this.add({
      method: o.method ?? "PATCH",
      path: o.path,
      count: o.count,
      action: {
        kind: "respond",
        status: 412,
        detail: "the resource was modified concurrently (simulated precondition failure)",
        ...(o.change ? { run: o.change } : {}),
      },
    });
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

  /**
   * The action for this request, consuming one use of the first matching rule. A matching rule that
   * still has `skip` left lets the request through (one skip consumed) and the search goes on with the
   * next rules.
   */
  take(method: string, path: string): ScimFaultAction | undefined {
    for (const r of this.rules) {
      if (r.count <= 0) continue;
      if (r.method && r.method.toUpperCase() !== method.toUpperCase()) continue;
      if (r.path && !(typeof r.path === "string" ? path.startsWith(r.path) : r.path.test(path))) continue;
      if (r.skip && r.skip > 0) {
        r.skip--;
        continue;
      }
      r.count--;
      return r.action;
    }
    return undefined;
  }
}

/**
 * How a {@link ScimBurstThrottle} answers: after `every` requests served normally, the next `burst`
 * requests are answered 429 with `Retry-After: <retryAfter>` (seconds), and so on.
 */
export interface ScimThrottleOptions {
  /** requests served between two bursts; at least 1 */
  every: number;
  /** consecutive requests answered 429 in one burst; at least 1 */
  burst: number;
  /** the Retry-After header of the 429 answers, in seconds (0: retry at once); at least 0 */
  retryAfter: number;
}

/**
 * The sloppy mode's default rhythm: 5 requests served, then 2 answered 429 with Retry-After 0. Two in a row
 * make a client retry the same request twice (the adapter's default maxRetries is 3); Retry-After 0 keeps
 * tests fast.
 */
export const DEFAULT_THROTTLE: Readonly<ScimThrottleOptions> = Object.freeze({ every: 5, burst: 2, retryAfter: 0 });

/**
 * 429 bursts (what real SCIM servers' rate limiters do): counts the requests it is asked about and says
 * which to refuse (see {@link ScimThrottleOptions}). Deterministic, so a test can tell which request is
 * refused; `reset()` starts the rhythm again.
 */
export class ScimBurstThrottle {
  readonly options: Readonly<ScimThrottleOptions>;
  /** requests answered 429 so far */
  throttled = 0;
  private seen = 0;

  /** @throws RangeError when every or burst is not an integer of at least 1, or retryAfter is negative */
  constructor(options: Partial<ScimThrottleOptions> = {}) {
    const o = { ...DEFAULT_THROTTLE, ...options };
    if (!Number.isInteger(o.every) || o.every < 1) throw new RangeError(`throttle.every must be an integer of at least 1, got ${o.every}`);
    if (!Number.isInteger(o.burst) || o.burst < 1) throw new RangeError(`throttle.burst must be an integer of at least 1, got ${o.burst}`);
    if (!(o.retryAfter >= 0)) throw new RangeError(`throttle.retryAfter must be at least 0 seconds, got ${o.retryAfter}`);
    this.options = Object.freeze(o);
  }

  /** Count one request; true when it is to be answered 429. */
  take(): boolean {
    const position = this.seen++ % (this.options.every + this.options.burst);
    if (position < this.options.every) return false;
    this.throttled++;
    return true;
  }

  /** Start the rhythm again (the next `every` requests are served) and zero `throttled`. */
  reset(): void {
    this.seen = 0;
    this.throttled = 0;
  }
}
