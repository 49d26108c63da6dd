/**
 * EPP result codes (RFC 5730 §3) and how provisio treats them.
 * 1xxx success; 2xxx failure. 2400 (command failed), 2500 and 2502 (server closing connection) are
 * transient: the same command may succeed later. The other 2xxx codes are the client's fault or a
 * policy refusal and fail the job at once.
 */
export const EPP_RESULT = {
  SUCCESS: 1000,
  SUCCESS_PENDING: 1001,
  SUCCESS_NO_MESSAGES: 1300,
  SUCCESS_ACK: 1301,
  SUCCESS_ENDING_SESSION: 1500,
  UNKNOWN_COMMAND: 2000,
  SYNTAX_ERROR: 2001,
  USE_ERROR: 2002,
  REQUIRED_PARAMETER_MISSING: 2003,
  PARAMETER_VALUE_RANGE_ERROR: 2004,
  PARAMETER_VALUE_SYNTAX_ERROR: 2005,
  UNIMPLEMENTED_PROTOCOL_VERSION: 2100,
  UNIMPLEMENTED_COMMAND: 2101,
  UNIMPLEMENTED_OPTION: 2102,
  UNIMPLEMENTED_EXTENSION: 2103,
  BILLING_FAILURE: 2104,
  NOT_ELIGIBLE_FOR_RENEWAL: 2105,
  NOT_ELIGIBLE_FOR_TRANSFER: 2106,
  AUTHENTICATION_ERROR: 2200,
  AUTHORIZATION_ERROR: 2201,
  INVALID_AUTHORIZATION_INFORMATION: 2202,
  OBJECT_PENDING_TRANSFER: 2300,
  OBJECT_NOT_PENDING_TRANSFER: 2301,
  OBJECT_EXISTS: 2302,
  OBJECT_DOES_NOT_EXIST: 2303,
  OBJECT_STATUS_PROHIBITS_OPERATION: 2304,
  OBJECT_ASSOCIATION_PROHIBITS_OPERATION: 2305,
  PARAMETER_VALUE_POLICY_ERROR: 2306,
  UNIMPLEMENTED_OBJECT_SERVICE: 2307,
  DATA_MANAGEMENT_POLICY_VIOLATION: 2308,
  COMMAND_FAILED: 2400,
  COMMAND_FAILED_CLOSING: 2500,
  AUTHENTICATION_ERROR_CLOSING: 2501,
  SESSION_LIMIT_EXCEEDED_CLOSING: 2502,
} as const;

/** The RFC 5730 §3 text for each code. */
export const EPP_RESULT_MESSAGE: Record<number, string> = {
  1000: "Command completed successfully",
  1001: "Command completed successfully; action pending",
  1300: "Command completed successfully; no messages",
  1301: "Command completed successfully; ack to dequeue",
  1500: "Command completed successfully; ending session",
  2000: "Unknown command",
  2001: "Command syntax error",
  2002: "Command use error",
  2003: "Required parameter missing",
  2004: "Parameter value range error",
  2005: "Parameter value syntax error",
  2100: "Unimplemented protocol version",
  2101: "Unimplemented command",
  2102: "Unimplemented option",
  2103: "Unimplemented extension",
  2104: "Billing failure",
  2105: "Object is not eligible for renewal",
  2106: "Object is not eligible for transfer",
  2200: "Authentication error",
  2201: "Authorization error",
  2202: "Invalid authorization information",
  2300: "Object pending transfer",
  2301: "Object not pending transfer",
  2302: "Object exists",
  2303: "Object does not exist",
  2304: "Object status prohibits operation",
  2305: "Object association prohibits operation",
  2306: "Parameter value policy error",
  2307: "Unimplemented object service",
  2308: "Data management policy violation",
  2400: "Command failed",
  2500: "Command failed; server closing connection",
  2501: "Authentication error; server closing connection",
  2502: "Session limit exceeded; server closing connection",
};

/** True for 1000..1999. */
export const isSuccess = (code: number): boolean => code >= 1000 && code < 2000;

/** Codes worth retrying (the list: 2400, 2500, 2502). */
export const isTransientResult = (code: number): boolean => code === 2400 || code === 2500 || code === 2502;

/** Codes after which the server closes the connection (RFC 5730 §3: 25xx). */
export const closesSession = (code: number): boolean => code >= 2500 && code < 2600;
