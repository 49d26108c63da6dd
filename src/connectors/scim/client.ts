/**
 * A small SCIM 2.0 HTTP client (RFC 7644 §3) over Node's global fetch: JSON in and out
 * (`application/scim+json`), bearer token, a timeout per request, and bounded retries inside one call.
 *
 * Retries within one request (at most `maxRetries` more tries):
 *  - 429 and 503: the server did not process the request, so any method is retried, after the
 *    `Retry-After` it sent (RFC 9110 §10.2.3: seconds or an HTTP date) or, without one, an exponential
 *    backoff from `retryBaseDelayMs`. A Retry-After longer than `maxRetryWaitMs` is not waited for (nor
 *    shortened and retried early, the "429 retried naively" that real servers punish): the call ends with
 *    a TransientError carrying `retry_after_ms`, and the engine retries the application with its backoff.
 *  - a connection that could not be opened (refused, DNS): nothing was sent, any method is retried.
 *  - a timeout or a dropped connection: only a GET is retried; for a write the outcome is ambiguous and
 *    the call ends with a TransientError: the next attempt plans again from the server's state (a POST
 *    that did land is then found, or answered 409 and linked), so a write is never blindly repeated.
 * After that: 401/403 -> ScimPermanentError PV_SCIM_AUTH (configSuspect); 500, 502, 504 and other 5xx
 * but 501 -> ScimTransientError; other 4xx and 501 -> {@link ScimHttpError} for the caller to record on its
 * operation. Messages name the method, the path (never the query, which may hold a userName) and what
 * the server said (status, scimType, detail); the token is never logged or put in an error.
 */
import type { Logger } from "../../logger.js";
import { ScimHttpError, ScimPermanentError, ScimTransientError, describeHttp, type ScimHttpInfo } from "./errors.js";

export const SCIM_CONTENT_TYPE = "application/scim+json";
export const PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";

/** One client per applyDesiredState call: where, with which token, and the retry bounds (connector config). */
export interface ScimClientOptions {
  /** e.g. https://app.example/scim/v2 (no trailing slash) */
  baseUrl: string;
  token: string;
  timeoutMs: number;
  maxRetries: number;
  maxRetryWaitMs: number;
  retryBaseDelayMs: number;
  log: Logger;
  /** sent as X-Request-ID so a server's logs show the job and attempt */
  requestId?: string;
  /** injectable for tests */
  sleep?: (ms: number) => Promise<void>;
}

/** A SCIM ListResponse (RFC 7644 §3.4.2). */
export interface ScimListResponse<T> {
  totalResults?: number;
  startIndex?: number;
  itemsPerPage?: number;
  Resources?: T[];
}

/**
 * A SCIM filter comparing `attribute` with a string (RFC 7644 §3.4.2.2): the value is a JSON string, so a
 * quote becomes `\"`, a backslash `\\` and control characters `\uXXXX`, e.g.
 * `eqFilter("userName", 'o"brien\\x')` -> `userName eq "o\"brien\\x"`.
 */
export function eqFilter(attribute: string, value: string): string {
  return `${attribute} eq ${JSON.stringify(value)}`;
}

/**
 * Milliseconds a `Retry-After` header asks for (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), or
 * undefined when it is absent or unreadable.
 */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null || !header.trim()) return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT", "EHOSTUNREACH", "ENETUNREACH"]);

/** The errno-like code of a fetch failure (undici puts it in `cause`). */
function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The HTTP side of the SCIM connector (module doc): one request at a time, retries bounded per request. */
export class ScimClient {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: ScimClientOptions) {
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Send one request (with the retries of the module doc) and return the parsed JSON body of a 2xx
   * answer (undefined for 204 or an empty body).
   * @param path below the base URL, e.g. "/Users" or `/Groups/${id}`
   * @param query query parameters (URL-encoded here)
   * @throws ScimHttpError (4xx but 401/403/429, and 501), ScimTransientError, ScimPermanentError
   */
  async request<T>(method: string, path: string, options: { query?: Record<string, string | number>; body?: unknown } = {}): Promise<T | undefined> {
    const url = new URL(this.o.baseUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { authorization: `Bearer ${this.o.token}`, accept: `${SCIM_CONTENT_TYPE}, application/json` };
    if (options.body !== undefined) headers["content-type"] = SCIM_CONTENT_TYPE;
    if (this.o.requestId) headers["x-request-id"] = this.o.requestId;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const info: ScimHttpInfo = { method, path };

    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.o.maxRetries;
      let res: Response;
      try {
        res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.o.timeoutMs), redirect: "error" });
      } catch (err) {
        const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
        const code = causeCode(err);
        const notSent = !timedOut && code !== undefined && NOT_SENT.has(code);
        if (canRetry && (notSent || method === "GET")) {
          const wait = this.backoff(attempt);
          this.o.log.debug(
            { method, path, code: code ?? (timedOut ? "timeout" : "network"), attempt: attempt + 1, wait },
            "scim: retrying after a transport failure",
          );
          await this.sleep(wait);
          continue;
        }
        const what = timedOut ? `no answer within ${this.o.timeoutMs} ms` : `connection failed (${code ?? (err instanceof Error ? err.message : String(err))})`;
        const ambiguous = !notSent && method !== "GET" ? " (the outcome is unknown: the next attempt reads the state again)" : "";
        throw new ScimTransientError(timedOut ? "PV_SCIM_TIMEOUT" : "PV_SCIM_CONNECTION", `${method} ${path}: ${what}${ambiguous}`, info, {
          cause: err,
          configSuspect: notSent,
        });
      }

      if (res.status >= 200 && res.status < 300) return this.readJson<T>(res, info);

      const failure = { ...info, status: res.status, ...(await this.readError(res)) };
      if (res.status === 429 || res.status === 503) {
        const asked = parseRetryAfter(res.headers.get("retry-after"));
        const wait = asked ?? this.backoff(attempt);
        if (canRetry && wait <= this.o.maxRetryWaitMs) {
          this.o.log.debug({ method, path, status: res.status, attempt: attempt + 1, wait }, "scim: server asked to retry later; waiting");
          await this.sleep(wait);
          continue;
        }
        const why =
          asked !== undefined && asked > this.o.maxRetryWaitMs
            ? `Retry-After ${Math.ceil(asked / 1000)} s is longer than maxRetryWaitMs ${this.o.maxRetryWaitMs}`
            : `still refused after ${attempt + 1} tries`;
        throw new ScimTransientError(
          res.status === 429 ? "PV_SCIM_RATE_LIMITED" : "PV_SCIM_UNAVAILABLE",
          `${describeHttp(failure)} (${why})`,
          asked !== undefined ? { ...failure, retryAfterMs: asked } : failure,
        );
      }
      if (res.status === 401 || res.status === 403) {
        throw new ScimPermanentError("PV_SCIM_AUTH", `${describeHttp(failure)} (check the bearer token and its rights)`, failure, { configSuspect: true });
      }
      if (res.status >= 500 && res.status !== 501) {
        throw new ScimTransientError(res.status === 502 || res.status === 504 ? "PV_SCIM_UNAVAILABLE" : "PV_SCIM_SERVER", describeHttp(failure), failure);
      }
      throw new ScimHttpError(failure);
    }
  }

  /**
   * Every resource of a list request, page by page (RFC 7644 §3.4.2.4: startIndex, count), at most
   * `maxPages` pages of `pageSize`.
   */
  async list<T>(path: string, query: Record<string, string>, pageSize = 100, maxPages = 100): Promise<T[]> {
    const out: T[] = [];
    let startIndex = 1;
    for (let page = 0; page < maxPages; page++) {
      const r = await this.request<ScimListResponse<T>>("GET", path, { query: { ...query, startIndex, count: pageSize } });
      const items = r?.Resources ?? [];
      out.push(...items);
      const total = r?.totalResults ?? out.length;
      if (items.length === 0 || out.length >= total) break;
      startIndex += items.length;
    }
    return out;
  }

  /** Exponential backoff with jitter for the attempt (0-based), capped at maxRetryWaitMs. */
  private backoff(attempt: number): number {
    const ms = Math.min(this.o.maxRetryWaitMs, this.o.retryBaseDelayMs * 2 ** attempt);
    return Math.round(ms * (0.5 + Math.random() / 2));
  }

  private async readJson<T>(res: Response, info: ScimHttpInfo): Promise<T | undefined> {
    if (res.status === 204) return undefined;
    const text = await res.text();
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new ScimPermanentError(
        "PV_SCIM_PROTOCOL",
        `${info.method} ${info.path}: HTTP ${res.status} with a body that is not JSON`,
        { ...info, status: res.status },
        { cause: err },
      );
    }
  }

  /** scimType and detail of a SCIM error body (RFC 7644 §3.12), or the start of a non-SCIM body. */
  private async readError(res: Response): Promise<{ scimType?: string; detail?: string }> {
    let text = "";
    try {
      text = await res.text();
    } catch {
      return {};
    }
    try {
      const j = JSON.parse(text) as { scimType?: unknown; detail?: unknown };
      return {
        ...(typeof j.scimType === "string" ? { scimType: j.scimType } : {}),
        ...(typeof j.detail === "string" ? { detail: j.detail } : {}),
      };
    } catch {
      const t = text.trim().slice(0, 200);
      return t ? { detail: t } : {};
    }
  }
}
