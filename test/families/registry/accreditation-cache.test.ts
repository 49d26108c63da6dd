/**
 * The accreditation cache of the tasks (src/families/registry/context.ts loadAccreditation): a read that fails late
 * forgets only its own cache entry, never a newer one; each read stamps the row with when it was read
 * (Accreditation.readAt), which the EPP connector orders settings by. Real PostgreSQL: the failing read
 * is a statement cancelled by statement_timeout while a lock holds it up.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forgetAccreditation, loadAccreditation } from "../../../src/families/registry/context.js";
import type { PgHelpers } from "../../../src/engine/sql/query.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, waitFor, type Account } from "../../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool, { connectorType: "noop" });
});
afterAll(async () => {
  await t?.close();
});

/** helpers whose statements run on `pool`, counting them */
function helpersOn(pool: pg.Pool): PgHelpers & { reads: number } {
  const h = {
    reads: 0,
    withPgClient: async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
      h.reads++;
      const client = await pool.connect();
      try {
        return await fn(client);
      } finally {
        client.release();
      }
    },
  };
  return h;
}

/** the number of sessions waiting for a lock on table accreditation */
async function waitingOnAccreditation(): Promise<number> {
  const r = await t.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'accreditation'::regclass AND NOT granted");
  return r.rows[0]!.n;
}

describe("loadAccreditation", () => {
  it("a read that fails after a newer one started forgets only its own cache entry", async () => {
    const impatient = new pg.Pool({ connectionString: t.url, max: 1, options: "-c statement_timeout=400" });
    const locker = await t.pool.connect();
    try {
      const slow = helpersOn(impatient);
      const fresh = helpersOn(t.pool);
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE accreditation IN ACCESS EXCLUSIVE MODE");

      // job 1 reads the row; the read is held up, then cancelled (57014)
      const first = loadAccreditation(slow, acc.accreditationId).then(
        () => undefined,
        (e: unknown) => e,
      );
      await waitFor("the first read waits for the lock", async () => (await waitingOnAccreditation()) === 1, 5000, 20);
      // meanwhile another job's attempt failed configSuspect: the row is forgotten and read again
      forgetAccreditation(acc.accreditationId);
      const second = loadAccreditation(fresh, acc.accreditationId);
      await waitFor("the second read waits for the lock", async () => (await waitingOnAccreditation()) === 2, 5000, 20);

      expect(await first).toMatchObject({ code: "57014" });
      await locker.query("ROLLBACK");
      const row = await second;
      expect(row).toMatchObject({ id: acc.accreditationId, connectorType: "noop" });

      // the late failure of the first read left the second read's entry in place
      expect(await loadAccreditation(fresh, acc.accreditationId)).toBe(row);
      expect(fresh.reads).toBe(1);
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      locker.release();
      await impatient.end();
    }
  });

  it("stamps each read with when it returned (readAt, increasing)", async () => {
    const h = helpersOn(t.pool);
    forgetAccreditation(acc.accreditationId);
    const a = await loadAccreditation(h, acc.accreditationId);
    forgetAccreditation(acc.accreditationId);
    const b = await loadAccreditation(h, acc.accreditationId);
    expect(h.reads).toBe(2);
    expect(a).not.toBe(b);
    expect(typeof a.readAt).toBe("number");
    expect(b.readAt!).toBeGreaterThan(a.readAt!);
    expect(await loadAccreditation(h, acc.accreditationId)).toBe(b); // cached: same object, same readAt
  });
});
