import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccount, writeCounts, type Account } from "../../helpers/fixtures.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

let t: TestDatabase;
let acc: Account;
let other: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  other = await createAccount(t.pool);
  const tld = await t.pool.query("SELECT id FROM accreditation_tld WHERE accreditation_id = $1 AND tld = 'example'", [acc.accreditationId]);
  await t.pool.query(
    `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
     VALUES ($1, $2, $3, 'mine.example', 'D-1', 'pw', '2026-01-10T08:00:00Z', '2027-01-10T08:00:00Z')`,
    [acc.tenantId, acc.accreditationId, tld.rows[0].id],
  );
});
afterAll(() => t.close());

async function rejectedCode(sql: string, params: unknown[]): Promise<string> {
  const before = await writeCounts(t.pool);
  const code = await t.pool.query(sql, params).then(
    () => "accepted",
    (e: { code: string }) => e.code,
  );
  expect(await writeCounts(t.pool)).toEqual(before);
  return code;
}

const renew = `INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, period, current_expiry_date) VALUES ($1, $2, $3, $4, $5)`;
const del = `INSERT INTO provision_domain_delete (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3)`;

describe("provision_domain_renew validation", () => {
  it("rejects a current_expiry_date that does not match the inventory (PV105)", async () => {
    expect(await rejectedCode(renew, [acc.tenantId, acc.accreditationId, "mine.example", 1, "2027-01-11"])).toBe("PV105");
  });
  it("rejects a renew of a domain the tenant does not hold (PV106)", async () => {
    expect(await rejectedCode(renew, [acc.tenantId, acc.accreditationId, "nope.example", 1, "2027-01-10"])).toBe("PV106");
    expect(await rejectedCode(renew, [other.tenantId, other.accreditationId, "mine.example", 1, "2027-01-10"])).toBe("PV106");
  });
  it("rejects a period outside 1..10 (PV103), a bad name (PV101) and a NULL expiry (23502)", async () => {
    expect(await rejectedCode(renew, [acc.tenantId, acc.accreditationId, "mine.example", 11, "2027-01-10"])).toBe("PV103");
    expect(await rejectedCode(renew, [acc.tenantId, acc.accreditationId, "mine..example", 1, "2027-01-10"])).toBe("PV101");
    expect(await rejectedCode(renew, [acc.tenantId, acc.accreditationId, "mine.example", 1, null])).toBe("23502");
  });
  it("accepts a matching renew, then refuses a second renew or a delete while it is in flight (PV116)", async () => {
    await t.pool.query(renew, [acc.tenantId, acc.accreditationId, "MINE.example", 2, "2027-01-10"]);
    expect(await rejectedCode(renew, [acc.tenantId, acc.accreditationId, "mine.example", 1, "2027-01-10"])).toBe("PV116");
    expect(await rejectedCode(del, [acc.tenantId, acc.accreditationId, "mine.example"])).toBe("PV116");
  });
});

describe("provision_domain_delete validation", () => {
  it("rejects a delete of a domain the tenant does not hold (PV106)", async () => {
    expect(await rejectedCode(del, [acc.tenantId, acc.accreditationId, "other.example"])).toBe("PV106");
    expect(await rejectedCode(del, [other.tenantId, other.accreditationId, "mine.example"])).toBe("PV106");
  });
});
