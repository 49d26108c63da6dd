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

/** A 2xxx response. `retryable` follows {@link isTransientResult}. */
export class EppCommandError extends PermanentError {
  override readonly retryable: boolean;
  constructor(readonly result: EppResult, readonly command: string) {
    super(`EPP${result.code}`, `${command}: ${result.code} ${result.msg || EPP_RESULT_MESSAGE[result.code] || ""}${result.reason ? ` (${result.reason})` : ""}`);
    this.retryable = isTransientResult(result.code);
  }
}

/** Connection refused or dropped, TLS failure, or no response in time. Always transient. */
export class EppTransportError extends TransientError {
  /** true when a command was sent and its outcome is unknown (it may have been executed) */
  readonly ambiguous: boolean;
  constructor(code: string, message: string, options: { cause?: unknown; ambiguous?: boolean } = {}) {
    super(code, message, options);
    this.ambiguous = options.ambiguous ?? false;
  }
}
