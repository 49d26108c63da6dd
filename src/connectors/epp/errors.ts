/** Errors of the EPP connector. Codes are "EPP" + the RFC 5730 result code, or PV_EPP_* for transport. */
import { PermanentError, TransientError } from "../../errors.js";
import type { RegistryResult } from "../capabilities/registry.js";
import { EPP_RESULT_MESSAGE, isTransientResult } from "./result-codes.js";

/** What the server said about a command: RFC 5730 §2.6 <result> and <trID> (the registry capability's result). */
export type EppResult = RegistryResult;

/**
 * Results that refuse a login (RFC 5730 §2.9.1.1, §3): 2200 authentication error, 2201 authorization
 * error (e.g. a source address the registry does not allow), 2501 authentication error, closing.
 * They mean the accreditation's clID, secret or registry are not (or no longer) right: an operator may be
 * fixing them, so they are retried with backoff, each attempt with settings read again.
 */
const LOGIN_REFUSALS = new Set([2200, 2201, 2501]);

/**
 * A 2xxx response. `retryable` follows {@link isTransientResult}, and is also true for a refused login
 * ({@link LOGIN_REFUSALS}); a refused login is `configSuspect` and `loginRefused`.
 * `note` is appended to the message (e.g. that the refusal is a remembered one, no login was sent).
 */
export class EppCommandError extends PermanentError {
  override readonly retryable: boolean;
  /** true for a login refused with 2200, 2201 or 2501: the clID or secret is (now) wrong for this registry */
  readonly loginRefused: boolean;
  constructor(
    readonly result: EppResult,
    readonly command: string,
    options: { note?: string; cause?: unknown } = {},
  ) {
    const loginRefused = command === "login" && LOGIN_REFUSALS.has(result.code);
    const text = `${command}: ${result.code} ${result.msg || EPP_RESULT_MESSAGE[result.code] || ""}${result.reason ? ` (${result.reason})` : ""}`;
    super(`EPP${result.code}`, options.note ? `${text}; ${options.note}` : text, { configSuspect: loginRefused, cause: options.cause });
    this.retryable = isTransientResult(result.code) || loginRefused;
    this.loginRefused = loginRefused;
  }

  /** result_data of a failed job: error_code and error, plus the RFC 5730 result (code, msg, reason, svTRID, clTRID). */
  override resultData(): Record<string, unknown> {
    const r = this.result;
    return { ...super.resultData(), code: r.code, msg: r.msg, reason: r.reason, svTRID: r.svTRID, clTRID: r.clTRID };
  }
}

/**
 * Connection refused or dropped, TLS failure, or no response in time. Always transient. `configSuspect`
 * when no session could be opened (connect, TLS handshake or certificate verification, greeting);
 * `certificateRejected` when the registry's certificate failed verification against the configured CA
 * and server name (Node's `authorizationError`: SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID, ...).
 */
export class EppTransportError extends TransientError {
  /** true when a command was sent and its outcome is unknown (it may have been executed) */
  readonly ambiguous: boolean;
  /** true when the TLS handshake ended with the registry's certificate failing verification */
  readonly certificateRejected: boolean;
  constructor(code: string, message: string, options: { cause?: unknown; ambiguous?: boolean; configSuspect?: boolean; certificateRejected?: boolean } = {}) {
    super(code, message, options);
    this.ambiguous = options.ambiguous ?? false;
    this.certificateRejected = options.certificateRejected ?? false;
  }
}

/**
 * True when a failure to open a session says the settings every session of the pool shares are no longer
 * accepted: the login was refused (2200/2201/2501) or the registry's certificate failed verification.
 * Not for a refused, dropped or slow connection or a late greeting: the registry may merely be busy or
 * restarting, and sessions already logged in may be fine.
 */
export function rejectsSettings(err: unknown): boolean {
  return (err instanceof EppCommandError && err.loginRefused) || (err instanceof EppTransportError && err.certificateRejected);
}
