/**
 * LDAP result codes (RFC 4511 §4.1.9 and Appendix A) and how the LDAP adapter maps them and ldapts's
 * transport errors to provisio's errors (src/errors.ts) and to operation outcomes
 * (src/connectors/capabilities/account.ts).
 *
 * | result code                                   | meaning for provisio                                      |
 * |-----------------------------------------------|-----------------------------------------------------------|
 * | 68 entryAlreadyExists on add                  | outcome "already"                                         |
 * | 20 attributeOrValueExists on adding a member  | outcome "already"                                         |
 * | 16 noSuchAttribute on removing a member/value | outcome "already"                                         |
 * | 32 noSuchObject on removing from a group      | outcome "already" (the group, hence the membership, is gone) |
 * | 1 operationsError, 3 timeLimitExceeded, 51 busy, 52 unavailable | TransientError `LDAP<code>`: retry with backoff |
 * | 7, 8, 13, 48, 49 (auth method, stronger auth, confidentiality, inappropriate auth, invalid credentials) | PermanentError `LDAP<code>`, configSuspect: the whole application fails |
 * | anything else (32 on a grant, 17, 19, 21, 34, 50, 53, 64, 65, 80, ...) | outcome "failed" on that operation, native_code = the code |
 *
 * 53 unwillingToPerform is "administrative policy" (RFC 4511 Appendix A.2: a read-only replica, a password
 * policy), which a retry does not change, so it is per-operation and permanent. Transport failures
 * (connection refused, reset or closed: the errno or PV_LDAP_CONNECTION; connect or operation timeout:
 * PV_LDAP_TIMEOUT; TLS handshake or certificate: PV_LDAP_TLS; an unparsable response) are TransientError;
 * when no session could be opened at all they are also configSuspect.
 *
 * A discovery listing (discovery.ts) has no operation to record a code on: a failed search throws, by the
 * same table (transient codes and transport failures TransientError, session codes PermanentError
 * configSuspect), and any other code is a PermanentError `LDAP<code>` (32 when usersDN does not exist, 4
 * sizeLimitExceeded when the server limits how much the bind DN may read, 10 for search references), so the
 * pass is partial. A group that does not exist (32) is only a group no account is a member of.
 */
import { MessageParserError, ResultCodeError } from "ldapts";
import { PermanentError, ProvisioError, TransientError } from "../../errors.js";

/** The RFC 4511 result codes the adapter names (Appendix A). */
export const LDAP = {
  success: 0,
  operationsError: 1,
  timeLimitExceeded: 3,
  sizeLimitExceeded: 4,
  authMethodNotSupported: 7,
  strongerAuthRequired: 8,
  referral: 10,
  confidentialityRequired: 13,
  noSuchAttribute: 16,
  undefinedAttributeType: 17,
  constraintViolation: 19,
  attributeOrValueExists: 20,
  invalidAttributeSyntax: 21,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  inappropriateAuthentication: 48,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  namingViolation: 64,
  objectClassViolation: 65,
  entryAlreadyExists: 68,
  other: 80,
} as const;

/** Result codes worth another attempt (RFC 4511 Appendix A.2: the condition may pass). */
export const TRANSIENT_RESULT_CODES: ReadonlySet<number> = new Set([LDAP.operationsError, LDAP.timeLimitExceeded, LDAP.busy, LDAP.unavailable]);

/** Result codes that say the session's settings (bind DN, password, TLS) are wrong: the whole application fails. */
export const SESSION_RESULT_CODES: ReadonlySet<number> = new Set([
  LDAP.authMethodNotSupported,
  LDAP.strongerAuthRequired,
  LDAP.confidentialityRequired,
  LDAP.inappropriateAuthentication,
  LDAP.invalidCredentials,
]);

const TRANSIENT_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
const TRANSPORT_MESSAGE = /Connection timeout|Operation timed out|Connection closed|Socket error|Socket connection not established|socket hang up/i;

/** The LDAP result code carried by an ldapts error (ResultCodeError#code), or undefined for anything else. */
export function resultCodeOf(err: unknown): number | undefined {
  return err instanceof ResultCodeError ? err.code : undefined;
}

/** The server's diagnostic message of an ldapts ResultCodeError (or the error's message). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for a transport-level failure: no result code, the connection or the response is what failed. */
export function isTransportError(err: unknown): boolean {
  if (err instanceof MessageParserError) return true;
  if (!(err instanceof Error) || err instanceof ResultCodeError) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (typeof code === "string" && (TRANSIENT_ERRNO.has(code) || isTlsErrno(code))) || TRANSPORT_MESSAGE.test(err.message);
}

/** Node's TLS handshake and certificate verification error codes (ERR_TLS_*, ERR_SSL_*, DEPTH_ZERO_SELF_SIGNED_CERT, ...). */
function isTlsErrno(code: string): boolean {
  return code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || /CERT|SELF_SIGNED/.test(code);
}

/**
 * The ProvisioError a failure that concerns the whole application becomes, or undefined when `err` is a
 * result code to record on one operation (see the module table). Already-mapped ProvisioErrors are returned
 * as they are.
 * @param what what was being done, for the message (e.g. "bind as cn=admin,dc=x", "modify cn=g,ou=groups")
 * @param opts.connecting true while opening the session (connect, StartTLS, bind): transport failures and
 *   session codes are then configSuspect
 */
export function applicationError(err: unknown, what: string, opts: { connecting?: boolean } = {}): ProvisioError | undefined {
  if (err instanceof ProvisioError) return err;
  const code = resultCodeOf(err);
  if (code !== undefined) {
    if (TRANSIENT_RESULT_CODES.has(code)) return new TransientError(`LDAP${code}`, `${what}: LDAP result ${code}: ${messageOf(err)}`, { cause: err });
    if (SESSION_RESULT_CODES.has(code))
      return new PermanentError(`LDAP${code}`, `${what}: LDAP result ${code}: ${messageOf(err)}`, { cause: err, configSuspect: true });
    return undefined;
  }
  if (isTransportError(err)) {
    const errno = (err as NodeJS.ErrnoException).code;
    const pvCode = /timed out|timeout/i.test(messageOf(err))
      ? "PV_LDAP_TIMEOUT"
      : typeof errno === "string" && TRANSIENT_ERRNO.has(errno)
        ? errno
        : typeof errno === "string" && isTlsErrno(errno)
          ? "PV_LDAP_TLS"
          : "PV_LDAP_CONNECTION";
    return new TransientError(pvCode, `${what}: ${messageOf(err)}`, { cause: err, configSuspect: opts.connecting ?? false });
  }
  return undefined;
}

/**
 * Like {@link applicationError}, but every error becomes a ProvisioError: a result code that is not
 * transient or a session code becomes a PermanentError `LDAP<code>` (used where no single operation can
 * carry it, e.g. reading the account); an error that is neither a result code nor a transport failure (a
 * bug) becomes PermanentError PV_INTERNAL.
 */
export function toProvisioError(err: unknown, what: string, opts: { connecting?: boolean } = {}): ProvisioError {
  const mapped = applicationError(err, what, opts);
  if (mapped) return mapped;
  const code = resultCodeOf(err);
  if (code !== undefined)
    return new PermanentError(`LDAP${code}`, `${what}: LDAP result ${code}: ${messageOf(err)}`, { cause: err, configSuspect: opts.connecting ?? false });
  return new PermanentError("PV_INTERNAL", `${what}: ${messageOf(err)}`, { cause: err });
}
