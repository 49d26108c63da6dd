import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccount, writeCounts, type Account } from "../../helpers/fixtures.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

let t: TestDatabase;
let acc: Account;
beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
});
afterAll(() => t.close());

const good = {
  contact_id: "sh8013",
  name: "John Doe",
  city: "Dulles",
  cc: "US",
  email: "jdoe@example.com",
  voice: "+1.7035555555",
  fax: null as string | null,
  street: ["123 Example Dr."],
};
const insert = (c: typeof good) =>
  t.pool.query(
    `INSERT INTO provision_contact (tenant_customer_id, accreditation_id, contact_id, name, city, cc, email, voice, fax, street)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [acc.tenantId, acc.accreditationId, c.contact_id, c.name, c.city, c.cc, c.email, c.voice, c.fax, c.street],
  );

describe("provision_contact validation (RFC 5733)", () => {
  it.each([
    ["contact id too short", { contact_id: "ab" }, "PV109", "contact_id"],
    ["contact id too long", { contact_id: "a".repeat(17) }, "PV109", "contact_id"],
    ["contact id with a space", { contact_id: "ab cd" }, "PV109", "contact_id"],
    ["email without @", { email: "jdoe.example.com" }, "PV110", "email"],
    ["email with a bad domain", { email: "jdoe@exa..mple.com" }, "PV110", "email"],
    ["voice without country code", { voice: "7035555555" }, "PV111", "voice"],
    ["voice too long", { voice: "+1.123456789012345" }, "PV111", "voice"],
    ["fax malformed", { fax: "+1-703" }, "PV111", "fax"],
    ["country code of three letters", { cc: "USA" }, "PV117", "cc"],
    ["empty name", { name: " " }, "PV117", "name"],
    ["four street lines", { street: ["a", "b", "c", "d"] }, "PV117", "street"],
  ])("rejects %s", async (_label, change, code, column) => {
    const before = await writeCounts(t.pool);
    const err = await insert({ ...good, ...change }).then(
      () => undefined,
      (e: { code: string; column: string }) => e,
    );
    expect(err?.code).toBe(code);
    expect(err?.column).toBe(column);
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("accepts a valid contact and refuses the same id while its create is in flight (PV114)", async () => {
    await insert(good);
    const err = await insert(good).then(
      () => undefined,
      (e: { code: string }) => e,
    );
    expect(err?.code).toBe("PV114");
  });
});
