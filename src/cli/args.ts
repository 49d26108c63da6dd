/** Parsers for command-line option values (commander argParser): they throw InvalidArgumentError, which commander reports as a usage error (exit 1). */
import { InvalidArgumentError } from "commander";

/** An option value that must be an integer >= 1. */
export const positiveInt =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when v is a uuid in its text form (8-4-4-4-12 hex digits, any case, any version). */
export const isUuid = (v: string): boolean => UUID.test(v);

/** An option value that must be a uuid (8-4-4-4-12 hex digits); returned in lower case, as PostgreSQL prints it. */
export const uuidArg =
  (name: string) =>
  (v: string): string => {
    if (!isUuid(v)) throw new InvalidArgumentError(`${name} must be a uuid (8-4-4-4-12 hex digits), got "${v}"`);
    return v.toLowerCase();
  };
