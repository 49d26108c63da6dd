import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccount, createOrder, provisionDomain, writeCounts, type Account } from "../../helpers/fixtures.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

let t: TestDatabase;
let acc: Account;
let other: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool, { tlds: ["example", "co.test"] });
  other = await createAccount(t.pool);
});
afterAll(() => t.close());

/** Run an INSERT expected to fail; return its SQLSTATE and column, and assert nothing was written. */
async function rejected(sql: string, params: unknown[]): Promise<{ code: string; column?: string; message: string }> {
  const before = await writeCounts(t.pool);
  const err = await t.pool.query(sql, params).then(
    () => undefined,
    (e: { code: string; column?: string; message: string }) => e,
  );
  expect(err, "the INSERT should have been rejected").toBeDefined();
  expect(await writeCounts(t.pool)).toEqual(before);
  return err!;
}

const insert = `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, registration_period) VALUES ($1, $2, $3, $4)`;

describe("provision_domain validation", () => {
  it.each([
    ["empty label", "a..example"],
    ["leading hyphen", "-a.example"],
    ["trailing hyphen", "a-.example"],
    ["underscore", "a_b.example"],
    ["single label", "example"],
    ["label over 63", `${"a".repeat(64)}.example`],
    ["name over 253", `${"abcdefghi.".repeat(25)}abcd.example`],
    ["U-label (not A-label)", "bücher.example"],
    ["hyphens in 3-4 without xn--", "ab--cd.example"],
    ["space", "a b.example"],
    ["numeric TLD", "a.123"],
    ["empty", ""],
  ])("rejects %s with PV101 on name", async (_label, name) => {
    const err = await rejected(insert, [acc.tenantId, acc.accreditationId, name, 1]);
    expect(err.code).toBe("PV101");
    expect(err.column).toBe("name");
  });

  it("accepts an A-label IDN, upper case and a trailing dot, storing the normalised name", async () => {
    const id = await provisionDomain(t.pool, acc, "XN--BCHER-KVA.Example.");
    const r = await t.pool.query("SELECT name, accreditation_tld_id IS NOT NULL AS tld FROM provision_domain WHERE id = $1", [id]);
    expect(r.rows[0]).toEqual({ name: "xn--bcher-kva.example", tld: true });
  });

  it("matches the longest TLD the accreditation serves", async () => {
    const id = await provisionDomain(t.pool, acc, "shop.co.test");
    const r = await t.pool.query("SELECT t.tld FROM provision_domain p JOIN accreditation_tld t ON t.id = p.accreditation_tld_id WHERE p.id = $1", [id]);
    expect(r.rows[0].tld).toBe("co.test");
  });

  it("rejects a TLD the accreditation does not serve with PV102", async () => {
    const err = await rejected(insert, [acc.tenantId, acc.accreditationId, "a.org", 1]);
    expect(err.code).toBe("PV102");
  });

  it.each([0, 11, -1, 1000])("rejects registration_period %s with PV103", async (period) => {
    const err = await rejected(insert, [acc.tenantId, acc.accreditationId, `p${period < 0 ? "neg" : period}.example`, period]);
    expect(err.code).toBe("PV103");
    expect(err.column).toBe("registration_period");
  });

  it("rejects a second create in flight for the same name with PV104", async () => {
    await provisionDomain(t.pool, acc, "inflight.example");
    const err = await rejected(insert, [acc.tenantId, acc.accreditationId, "INFLIGHT.example", 1]);
    expect(err.code).toBe("PV104");
  });

  it("rejects a domain the tenant already holds with PV104", async () => {
    const tld = await t.pool.query("SELECT id FROM accreditation_tld WHERE accreditation_id = $1 AND tld = 'example'", [acc.accreditationId]);
    await t.pool.query(
      `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
       VALUES ($1, $2, $3, 'held.example', 'D-1', 'pw', now(), now() + interval '1 year')`,
      [acc.tenantId, acc.accreditationId, tld.rows[0].id],
    );
    const err = await rejected(insert, [acc.tenantId, acc.accreditationId, "held.example", 1]);
    expect(err.code).toBe("PV104");
  });

  it("rejects an unknown accreditation and another tenant's alike (PV107: the answer tells nothing of the other tenant; PV108 is retired)", async () => {
    const unknown = await rejected(insert, [acc.tenantId, "00000000-0000-0000-0000-000000000000", "x1.example", 1]);
    expect(unknown.code).toBe("PV107");
    const err = await rejected(insert, [acc.tenantId, other.accreditationId, "x2.example", 1]);
    expect(err.code).toBe("PV107");
    expect(err.column).toBe("accreditation_id");
    expect(err.message).not.toContain(other.tenantId);
  });

  it("rejects an unknown tenant (PV112) and NULLs (23502) naming the field", async () => {
    expect((await rejected(insert, ["00000000-0000-0000-0000-000000000000", acc.accreditationId, "x3.example", 1])).code).toBe("PV112");
    const err = await rejected(insert, [acc.tenantId, acc.accreditationId, null, 1]);
    expect(err.code).toBe("23502");
    expect(err.column).toBe("name");
  });

  it("rejects a malformed registrant contact id with PV109", async () => {
    const err = await rejected(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, registrant) VALUES ($1, $2, 'c.example', $3)`, [
      acc.tenantId,
      acc.accreditationId,
      "x",
    ]);
    expect(err.code).toBe("PV109");
    expect(err.column).toBe("registrant");
  });

  it("rejects order_item_plan_ids of another tenant with PV113 and a status set by the caller with PV115", async () => {
    const theirs = await createOrder(t.pool, other.tenantId);
    const err = await rejected(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'o.example', $3)`,
      [acc.tenantId, acc.accreditationId, [theirs.planId]],
    );
    expect(err.code).toBe("PV113");
    const err2 = await rejected(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, status_id) VALUES ($1, $2, 's.example', 3)`, [
      acc.tenantId,
      acc.accreditationId,
    ]);
    expect(err2.code).toBe("PV115");
  });

  it("rejects the whole multi-row INSERT when one row is bad, leaving nothing behind", async () => {
    const err = await rejected(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'good1.example'), ($1, $2, 'bad..example')`,
      [acc.tenantId, acc.accreditationId],
    );
    expect(err.code).toBe("PV101");
  });

  it("an accepted row gets its job and graphile-worker entry in the same transaction", async () => {
    const id = await provisionDomain(t.pool, acc, "accepted.example");
    const r = await t.pool.query(
      `SELECT p.status, j.job_type, j.status AS job_status, g.task_identifier, g.key
       FROM v_provision p JOIN v_job j ON j.id = p.job_id JOIN graphile_worker.jobs g ON g.key = p.job_id::text WHERE p.id = $1`,
      [id],
    );
    expect(r.rows[0]).toMatchObject({ status: "pending", job_type: "domain_create", job_status: "submitted", task_identifier: "domain__create" });
  });
});
