/**
 * One operation in flight per object, across provision tables and across open transactions (issue 10,
 * item 6). Two connections: the first inserts an operation and keeps its transaction open; the second
 * inserts another operation on the same object, waits for the first, and is refused with the in-flight
 * code once the first commits — or accepted once the first rolls back. Every pair of operations on a
 * domain (create, renew, delete) and on a contact (create) that could both be valid.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, waitFor, type Account } from "../../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;
let seq = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
});
afterAll(() => t.close());

type Op = "create" | "renew" | "delete" | "contact";
/** The INSERT of an operation on object `name` (a domain, or a contact id). */
function insertOf(op: Op, name: string): [string, unknown[]] {
  switch (op) {
    case "create":
      return ["INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3)", [acc.tenantId, acc.accreditationId, name]];
    case "renew":
      return [
        "INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, current_expiry_date) VALUES ($1, $2, $3, '2030-03-03')",
        [acc.tenantId, acc.accreditationId, name],
      ];
    case "delete":
      return [
        "INSERT INTO provision_domain_delete (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3)",
        [acc.tenantId, acc.accreditationId, name],
      ];
    case "contact":
      return [
        "INSERT INTO provision_contact (tenant_customer_id, accreditation_id, contact_id, name, city, cc, email) VALUES ($1, $2, $3, 'Ada', 'London', 'GB', 'ada@example.com')",
        [acc.tenantId, acc.accreditationId, name],
      ];
  }
}

/** A fresh object for the pair: a domain held in the inventory for renew/delete, a free name for create. */
async function objectFor(first: Op): Promise<string> {
  seq++;
  if (first === "contact") return `ct-${seq}-${Date.now() % 100000}`;
  const name = `pair-${seq}-${Date.now()}.example`;
  if (first !== "create") {
    await t.pool.query(
      `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
       SELECT $1, $2, id, $3, 'R', 'pw-held', now(), '2030-03-03T00:00:00Z' FROM accreditation_tld WHERE accreditation_id = $2 AND tld = 'example'`,
      [acc.tenantId, acc.accreditationId, name],
    );
  }
  return name;
}

const IN_FLIGHT: Record<Op, string> = { create: "PV104", renew: "PV116", delete: "PV116", contact: "PV114" };
const PAIRS: [Op, Op][] = [
  ["create", "create"],
  ["renew", "renew"],
  ["delete", "delete"],
  ["renew", "delete"],
  ["delete", "renew"],
  ["contact", "contact"],
];

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: t.url });
  await c.connect();
  return c;
}

/** Run `second` while `first` is open; return the second's SQLSTATE ("accepted" if none) after the first ends with `end`. */
async function race(first: Op, second: Op, end: "COMMIT" | "ROLLBACK"): Promise<string> {
  const name = await objectFor(first);
  const c1 = await client();
  const c2 = await client();
  try {
    await c1.query("BEGIN");
    const [sql1, p1] = insertOf(first, name);
    await c1.query(sql1, p1);
    const pid2 = (await c2.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const [sql2, p2] = insertOf(second, name);
    const outcome = c2.query(sql2, p2).then(
      () => "accepted",
      (e: { code: string }) => e.code,
    );
    // the second INSERT waits for the first transaction (it must not decide on what it cannot see yet)
    await waitFor(
      "the second INSERT to wait for the first",
      async () => (await t.pool.query("SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1", [pid2])).rows[0]?.waiting,
      10_000,
      20,
    );
    await c1.query(end);
    return await outcome;
  } finally {
    await c1.end();
    await c2.end();
  }
}

describe("two open transactions operating on one object", () => {
  for (const [first, second] of PAIRS) {
    it(`${first} then ${second}: the second waits and is refused with ${IN_FLIGHT[second]} when the first commits`, async () => {
      expect(await race(first, second, "COMMIT")).toBe(IN_FLIGHT[second]);
      // exactly one operation on the object is in flight
    });
    it(`${first} then ${second}: the second is accepted when the first rolls back`, async () => {
      expect(await race(first, second, "ROLLBACK")).toBe("accepted");
    });
  }

  it("a final row of another table that has the same id does not stand in for the holder", async () => {
    const name = await objectFor("renew");
    const [sql, p] = insertOf("renew", name);
    const held = (await t.pool.query(`${sql} RETURNING id`, p)).rows[0].id;
    const twin = await t.pool.query(
      `INSERT INTO provision_contact (id, tenant_customer_id, accreditation_id, contact_id, name, city, cc, email) VALUES ($1, $2, $3, 'twin-1', 'A', 'B', 'GB', 'a@example.com') RETURNING job_id`,
      [held, acc.tenantId, acc.accreditationId],
    );
    await t.pool.query("SELECT job_fail($1, 'final')", [twin.rows[0].job_id]);
    expect(
      await t.pool.query(...insertOf("delete", name)).then(
        () => "accepted",
        (e: { code: string }) => e.code,
      ),
    ).toBe("PV116");
  });

  it("a provision deleted by an operator releases its claim", async () => {
    const name = await objectFor("renew");
    const [sql, p] = insertOf("renew", name);
    const r = await t.pool.query(`${sql} RETURNING id, job_id`, p);
    await t.pool.query("DELETE FROM provision_domain_renew WHERE id = $1", [r.rows[0].id]);
    await t.pool.query("UPDATE job SET status_id = 4 WHERE id = $1", [r.rows[0].job_id]);
    expect(
      await t.pool.query(...insertOf("delete", name)).then(
        () => "accepted",
        (e: { code: string }) => e.code,
      ),
    ).toBe("accepted");
  });

  it("an operation may follow once the one in flight is final", async () => {
    const name = await objectFor("renew");
    const [sql, p] = insertOf("renew", name);
    const r = await t.pool.query(`${sql} RETURNING job_id`, p);
    expect(
      await t.pool.query(...insertOf("delete", name)).then(
        () => "accepted",
        (e: { code: string }) => e.code,
      ),
    ).toBe("PV116");
    await t.pool.query("SELECT job_fail($1, 'registry said no')", [r.rows[0].job_id]);
    expect(
      await t.pool.query(...insertOf("delete", name)).then(
        () => "accepted",
        (e: { code: string }) => e.code,
      ),
    ).toBe("accepted");
  });
});
