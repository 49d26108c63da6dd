/** errorLine (src/cli/error-line.ts): what a failed command prints, always one line. No database needed. */
import { describe, expect, it } from "vitest";
import { errorLine } from "../../src/cli/error-line.js";
import { ConfigurationError, PermanentError } from "../../src/errors.js";

/** an error shaped like node-postgres' DatabaseError */
function dbError(message: string, code: string, hint?: string): Error {
  return Object.assign(new Error(message), { code, severity: "ERROR", ...(hint ? { hint } : {}) });
}

describe("errorLine", () => {
  it("appends the SQLSTATE and hint of a database error on the cause chain", () => {
    expect(errorLine(dbError("permission denied for schema public", "42501"))).toBe("permission denied for schema public (SQLSTATE 42501)");
    const wrapped = new Error("stored-procedures/engine/security/roles.sql: must be owner of table job", {
      cause: dbError("must be owner of table job", "42501", "run it as the owner"),
    });
    expect(errorLine(wrapped)).toBe("stored-procedures/engine/security/roles.sql: must be owner of table job (SQLSTATE 42501; hint: run it as the owner)");
  });

  it("drops stack frames folded into a message and joins the rest", () => {
    const err = new Error(
      "Unable to ensure migrations table: error: permission denied for schema public\n    at /x/pg/lib/client.js:694:17\n    at async runner (/x/index.js:3780:5)",
    );
    expect(errorLine(err)).toBe("Unable to ensure migrations table: error: permission denied for schema public");
  });

  it("keeps a ProvisioError as CODE: message", () => {
    expect(errorLine(new ConfigurationError("invalid environment: DATABASE_URL: must be a postgres:// or postgresql:// URL"))).toBe(
      "PV_CONFIG: invalid environment: DATABASE_URL: must be a postgres:// or postgresql:// URL",
    );
    expect(errorLine(new PermanentError("42501", "denied", { cause: dbError("denied", "42501") }))).toBe("42501: denied");
  });

  it("reports the errors of an AggregateError without a message (every address refused the connection)", () => {
    const agg = new AggregateError([new Error("connect ECONNREFUSED ::1:1"), new Error("connect ECONNREFUSED 127.0.0.1:1")]);
    expect(errorLine(agg)).toBe("connect ECONNREFUSED ::1:1; connect ECONNREFUSED 127.0.0.1:1");
  });

  it("prints no SQLSTATE for a Node errno code of five letters (EPIPE, EPERM), on the error or its cause chain", () => {
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE", errno: -32, syscall: "write" });
    expect(errorLine(epipe)).toBe("write EPIPE");
    const eperm = Object.assign(new Error("EPERM: operation not permitted, open '/x'"), { code: "EPERM", errno: -1, syscall: "open", path: "/x" });
    expect(errorLine(new Error("cannot write the certificate", { cause: eperm }))).toBe("cannot write the certificate");
    // a database error further down the chain is still found past the errno error
    const wrapped = Object.assign(new Error("migrate failed", { cause: dbError("must be owner of table job", "42501") }), { code: "EPERM" });
    expect(errorLine(wrapped)).toBe("migrate failed (SQLSTATE 42501)");
  });

  it("prints a SQLSTATE only for an error PostgreSQL raised (severity set), not for any 5-character code", () => {
    expect(errorLine(Object.assign(new Error("some library failed"), { code: "ABCDE" }))).toBe("some library failed");
    expect(errorLine(dbError("registration_period must be 1..10 years, got 11", "PV103"))).toBe(
      "registration_period must be 1..10 years, got 11 (SQLSTATE PV103)",
    );
    expect(errorLine(Object.assign(new Error("lower case"), { code: "pv103", severity: "ERROR" }))).toBe("lower case");
  });

  it("handles a thrown non-error", () => {
    expect(errorLine("plain text")).toBe("plain text");
  });
});
