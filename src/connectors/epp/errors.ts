/** Errors of the EPP connector. Codes are "EPP" + the RFC 5730 result code, or PV_EPP_* for transport. */
import { PermanentError, TransientError } from "../../errors.js";
import { EPP_RESULT_MESSAGE, isTransientResult } from "./result-codes.js";

/** What the server said about a command: RFC 5730 §2.6 <result> and <trID>. */
export interface EppResult {
  code: number;
  msg: string;
  /** the <reason> of an <extValue>, when the server gave one */
  reason?: string;
  clTRID?: string;
  svTRID?: string;
}

/**
 * Results that refuse a login (RFC 5730 §2.9.1.1, §3): 2200 authentication error, 2201 authorization
 * error (e.g. a source address the registry does not allow), 2501 authentication error, closing.
 * They mean the accreditation's clID, secret or registry are not (or no longer) right: an operator may be
 * fixing them, so they are retried with backoff, each attempt with settings read again.
 */
const LOGIN_REFUSALS = new Set([2200, 2201, 2501]);

/**
 * A 2xxx response. `retryable` follows {@link isTransientResult}, and is also true for a refused login
 * ({@link LOGIN_REFUSALS}); a refused login is `configSuspect`.
 */
export class EppCommandError extends PermanentError {
  override readonly retryable: boolean;
  constructor(readonly result: EppResult, readonly command: string) {
    const loginRefused = command === "login" && LOGIN_REFUSALS.has(result.code);
    super(`EPP${result.code}`, `${command}: ${result.code} ${result.msg || EPP_RESULT_MESSAGE[result.code] || ""}${result.reason ? ` (${result.reason})` : ""}`, {
      configSuspect: loginRefused,
    });
    this.retryable = isTransientResult(result.code) || loginRefused;
  }
}

/**
 * Connection refused or dropped, TLS failure, or no response in time. Always transient. `configSuspect`
 * when no session could be opened (connect, TLS handshake or certificate verification, greeting).
 */
export class EppTransportError extends TransientError {
  /** true when a command was sent and its outcome is unknown (it may have been executed) */
  readonly ambiguous: boolean;
  constructor(code: string, message: string, options: { cause?: unknown; ambiguous?: boolean; configSuspect?: boolean } = {}) {
    super(code, message, options);
    this.ambiguous = options.ambiguous ?? false;
  }
}
