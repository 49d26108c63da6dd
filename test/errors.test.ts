/**
 * fromPgError (src/errors.ts): what a task does with an error depends on its class here — a
 * ValidationError or PermanentError fails the job, a TransientError retries it. The inputs are shaped as
 * node-postgres and Node's net module produce them (code, severity, column, cause).
 */
import { describe, expect, it } from "vitest";
import { ConfigurationError, PermanentError, TransientError, ValidationError, describeError, fromPgError, isDatabaseUnavailable } from "../src/errors.js";

/** An error as node-postgres' DatabaseError carries it. */
function pgError(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`database says ${code}`), { code, severity: "ERROR", ...extra });
}

describe("fromPgError", () => {
  it.each(["PV101", "PV118", "PV119", "PV201", "PV399", "23505", "23502", "23503"])(
    "a rejected row (%s) is a ValidationError with its code and column",
    (code) => {
      const e = fromPgError(pgError(code, { column: "name" }));
      expect(e).toBeInstanceOf(ValidationError);
      expect([e.code, (e as ValidationError).column, e.retryable]).toEqual([code, "name", false]);
    },
  );

  it.each(["PV501", "PV502"])("the engine's own %s is a PermanentError, not a validation error", (code) => {
    const e = fromPgError(pgError(code));
    expect(e).toBeInstanceOf(PermanentError);
    expect(e).not.toBeInstanceOf(ValidationError);
    expect([e.code, e.retryable]).toEqual([code, false]);
  });

  it.each(["08006", "08001", "53300", "57P01", "57P03", "40001", "40P01"])("a connection-level or concurrency SQLSTATE (%s) is transient", (code) => {
    const e = fromPgError(pgError(code));
    expect(e).toBeInstanceOf(TransientError);
    expect([e.code, e.retryable]).toEqual([code, true]);
  });

  it.each(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EAI_AGAIN"])("a network errno (%s) is transient and means the database is unavailable", (code) => {
    const err = Object.assign(new Error(`connect ${code}`), { code });
    expect(fromPgError(err)).toBeInstanceOf(TransientError);
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it("other SQLSTATEs are permanent with their code (42501, 42P01, P0001)", () => {
    for (const code of ["42501", "42P01", "P0001"]) {
      const e = fromPgError(pgError(code));
      expect([e.constructor.name, e.code]).toEqual(["PermanentError", code]);
    }
  });

  it("follows cause to the database error (a wrapper without a code)", () => {
    const wrapped = new Error("write-back failed", { cause: pgError("PV113", { column: "order_item_plan_ids" }) });
    const e = fromPgError(wrapped);
    expect([e.constructor.name, e.code, (e as ValidationError).column]).toEqual(["ValidationError", "PV113", "order_item_plan_ids"]);
  });

  it("a dropped connection without a code is transient (node-postgres' message), anything else internal", () => {
    expect(fromPgError(new Error("Connection terminated unexpectedly"))).toBeInstanceOf(TransientError);
    const internal = fromPgError(new TypeError("cannot read properties of undefined"));
    expect([internal.constructor.name, internal.code]).toEqual(["PermanentError", "PV_INTERNAL"]);
    expect(isDatabaseUnavailable(new TypeError("x"))).toBe(false);
  });

  it("returns a ProvisioError unchanged, and describeError gives CODE: message", () => {
    const e = new ConfigurationError("AMQP_URL: must be amqp://");
    expect(fromPgError(e)).toBe(e);
    expect(describeError(e)).toBe("PV_CONFIG: AMQP_URL: must be amqp://");
    expect(describeError(new Error("plain"))).toBe("plain");
  });
});
