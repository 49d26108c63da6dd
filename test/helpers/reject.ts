/**
 * "Rejected with a code, and nothing written": the one check every validation test makes (docs/errors.md).
 * Runs a statement that must fail, asserts the SQLSTATE (and the column, when given) and that no row was
 * added anywhere a provision writes (writeCounts: provisions, jobs, graphile-worker jobs, events, audit
 * log, order rows, object claims).
 */
import type pg from "pg";
import { expect } from "vitest";
import { writeCounts } from "./fixtures.js";

export interface Rejection {
  code: string;
  message: string;
  column?: string;
}

/**
 * Run `sql` with `params` on `db` (a pool or a client: a tenant's session, for example) and expect it to
 * be rejected with `expected.code` (and `expected.column` / a message matching `expected.message` when
 * given), with nothing written. `counts` is the pool the row counts are read on (default: `db` when it
 * is a pool); pass the admin pool when `db` is a role that cannot read every table.
 * @returns the rejection, for further assertions
 */
export async function expectRejected(
  db: pg.Pool | pg.ClientBase,
  sql: string,
  params: unknown[],
  expected: { code: string; column?: string; message?: RegExp },
  counts?: pg.Pool,
): Promise<Rejection> {
  const countsOn = counts ?? (db as pg.Pool);
  const before = await writeCounts(countsOn);
  let err: (Error & { code?: string; column?: string }) | undefined;
  try {
    await db.query(sql, params);
  } catch (e) {
    err = e as Error & { code?: string; column?: string };
  }
  expect(err, `expected rejection ${expected.code}, but the statement succeeded: ${sql.slice(0, 80)}`).toBeDefined();
  expect({ code: err!.code, message: err!.message }).toEqual({ code: expected.code, message: expect.stringMatching(expected.message ?? /./) });
  if (expected.column !== undefined) expect(err!.column).toBe(expected.column);
  expect(await writeCounts(countsOn)).toEqual(before);
  return { code: err!.code!, message: err!.message, column: err!.column };
}
