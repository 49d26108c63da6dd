/**
 * The SCIM adapter's errors. What the server said (HTTP status, RFC 7644 §3.12 `scimType` and `detail`)
 * travels with every error, in its message and in `resultData()`, so a failed job's result_data says which
 * request failed and why instead of "request failed".
 *
 * - {@link ScimHttpError}: one request was refused for a reason that will not pass (400, 404, 409, 412,
 *   other 4xx). The adapter records it on the operation that sent it (outcome "failed", native_code = the
 *   HTTP status) and goes on with the others; never thrown out of applyDesiredState. A 412 Precondition
 *   Failed on a write is first re-read and re-planned (connector.ts, config preconditionRetries) and only
 *   recorded as failed when it outlasts them.
 * - {@link ScimTransientError}: worth a later attempt (429/503 after the in-call retries, 5xx, a timeout, a
 *   dropped or refused connection). Codes: PV_SCIM_RATE_LIMITED (429), PV_SCIM_UNAVAILABLE (503, 502, 504),
 *   PV_SCIM_SERVER (500, other 5xx), PV_SCIM_TIMEOUT, PV_SCIM_CONNECTION, PV_SCIM_CLOSED.
 * - {@link ScimPermanentError}: the whole application fails the same way again: PV_SCIM_AUTH (401/403,
 *   marked configSuspect), PV_SCIM_PROTOCOL (an answer that is not SCIM JSON), PV_SCIM_AMBIGUOUS (several
 *   accounts with the userName), PV_SCIM_REJECTED (the account lookup itself refused, e.g. 400 invalidFilter).
 */
import { PermanentError, TransientError } from "../../errors.js";

/** What is known of the request that failed. Never holds the token. */
export interface ScimHttpInfo {
  method: string;
  /** path below the base URL, without the query (which may hold a userName) */
  path: string;
  status?: number;
  scimType?: string;
  detail?: string;
  /** the wait the server asked for (Retry-After), when it was longer than the adapter may wait */
  retryAfterMs?: number;
}

/** result_data fields of an HTTP failure: http_status, scim_type, detail, request. */
function httpData(info: ScimHttpInfo): Record<string, unknown> {
  return {
    request: `${info.method} ${info.path}`,
    ...(info.status !== undefined ? { http_status: info.status } : {}),
    ...(info.scimType ? { scim_type: info.scimType } : {}),
    ...(info.detail ? { detail: info.detail } : {}),
    ...(info.retryAfterMs !== undefined ? { retry_after_ms: info.retryAfterMs } : {}),
  };
}

/** "POST /Users: HTTP 409 uniqueness: userName \"x\" is already taken" */
export function describeHttp(info: ScimHttpInfo): string {
  const status = info.status !== undefined ? `HTTP ${info.status}` : "no response";
  return `${info.method} ${info.path}: ${status}${info.scimType ? ` ${info.scimType}` : ""}${info.detail ? `: ${info.detail}` : ""}`;
}

/** A request refused for a reason that will not pass; recorded on its operation (see the module doc). */
export class ScimHttpError extends Error {
  readonly status: number;
  readonly scimType: string | undefined;
  readonly detail: string | undefined;
  constructor(readonly info: ScimHttpInfo & { status: number }) {
    super(describeHttp(info));
    this.name = "ScimHttpError";
    this.status = info.status;
    this.scimType = info.scimType;
    this.detail = info.detail;
  }
}

/** A transient SCIM failure (retried by the engine with backoff); `http` says which request and what came back. */
export class ScimTransientError extends TransientError {
  constructor(
    code: string,
    message: string,
    readonly http: ScimHttpInfo,
    options?: { cause?: unknown; configSuspect?: boolean },
  ) {
    super(code, message, options);
  }

  /** `{ error_code, error, request, http_status?, scim_type?, detail?, retry_after_ms? }` */
  override resultData(): Record<string, unknown> {
    return { ...super.resultData(), ...httpData(this.http) };
  }
}

/** A permanent SCIM failure of the whole application; `http` says which request and what came back. */
export class ScimPermanentError extends PermanentError {
  constructor(
    code: string,
    message: string,
    readonly http: ScimHttpInfo,
    options?: { cause?: unknown; configSuspect?: boolean },
  ) {
    super(code, message, options);
  }

  /** `{ error_code, error, request, http_status?, scim_type?, detail? }` */
  override resultData(): Record<string, unknown> {
    return { ...super.resultData(), ...httpData(this.http) };
  }
}
