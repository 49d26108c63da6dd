/**
 * Rows that used to get through, and errors that misled (issue 10, items 7, 10, 11 and the contact's
 * object_name of item 12). Each is refused at INSERT with a documented code naming the field, and
 * nothing is written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, createOrder, jobOf, provisionDomain, writeCounts, type Account } from "../../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool, { tlds: ["example", "com"] });
  await t.pool.query(
    `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
     SELECT $1, $2, id, 'mine.example', 'D-1', 'pw-mine', now(), '2030-04-04T00:00:00Z' FROM accreditation_tld WHERE accreditation_id = $2 AND tld = 'example'`,
    [acc.tenantId, acc.accreditationId],
  );
});
afterAll(() => t.close());

interface PgError {
  code: string;
  column?: string;
  message: string;
}

async function rejected(sql: string, params: unknown[]): Promise<PgError> {
  const before = await writeCounts(t.pool);
  const err = await t.pool.query(sql, params).then(
    () => undefined,
    (e: PgError) => e,
  );
  expect(err, `should be rejected: ${JSON.stringify(params).slice(0, 200)}`).toBeDefined();
  expect(await writeCounts(t.pool)).toEqual(before);
  return err!;
}

const domain = (name: string, extra: { nameservers?: string[]; period?: unknown } = {}) =>
  rejected(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, nameservers, registration_period) VALUES ($1, $2, $3, $4, $5)`, [
    acc.tenantId,
    acc.accreditationId,
    name,
    extra.nameservers ?? [],
    extra.period ?? 1,
  ]);

const contactColumns = ["contact_id", "name", "org", "street", "city", "sp", "pc", "cc", "email", "pw"] as const;
type ContactRow = Partial<Record<(typeof contactColumns)[number], unknown>>;
let contactSeq = 0;
function contactParams(row: ContactRow): unknown[] {
  const base: ContactRow = {
    contact_id: `bad-${++contactSeq}`,
    name: "Ada Lovelace",
    city: "London",
    cc: "GB",
    email: "ada@example.com",
    street: [],
    pw: "Pv-default-pw1",
  };
  const r = { ...base, ...row };
  return [acc.tenantId, acc.accreditationId, ...contactColumns.map((c) => r[c] ?? null)];
}
const contactSql = `INSERT INTO provision_contact (tenant_customer_id, accreditation_id, ${contactColumns.join(", ")})
                    VALUES ($1, $2, ${contactColumns.map((_, i) => `$${i + 3}`).join(", ")})`;
const contact = (row: ContactRow) => rejected(contactSql, contactParams(row));

describe("item 10: bad rows that got through", () => {
  it.each([
    "xn--zz.example",
    "xn--a.example",
    "xn--abc-def.example",
    "xn--123.example",
    "xn--99999999.example",
    "xn--bcher-kva9999.example",
    "xn---kva.example",
    "xn---bcher-kva.example",
    "xn--kva.example",
  ])("an A-label that is not valid Punycode or not an IDN: %s → PV101", async (name) => {
    const err = await domain(name);
    expect([err.code, err.column]).toEqual(["PV101", "name"]);
    expect(err.message).toMatch(/Punycode|ASCII only|Bidi|DISALLOWED|upper-case|hyphen|combining mark/);
  });

  it.each(["example\u212a.com", "\u0130x.example", "exampl\u00e9.com"])("a name that is not ASCII before lower-casing (%j) → PV101", async (name) => {
    const err = await domain(name);
    expect([err.code, err.column]).toEqual(["PV101", "name"]);
    expect(err.message).toContain("ASCII");
  });

  it("accepts valid A-labels (bücher, münchen, 日本語, مثال) and refuses the same in a nameserver", async () => {
    for (const name of ["xn--bcher-kva.example", "xn--mnchen-3ya.example", "xn--wgv71a119e.example", "xn--mgbh0fb.example"]) {
      const r = await t.pool.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3) RETURNING name`, [
        acc.tenantId,
        acc.accreditationId,
        name,
      ]);
      expect(r.rows[0].name).toBe(name);
    }
    const err = await domain("ns-host.example", { nameservers: ["ns1.xn--zz.example"] });
    expect([err.code, err.column]).toEqual(["PV101", "nameservers"]);
  });

  it.each([
    ["a nested street array", { street: [["a"], ["b"]] }, "street"],
    [
      "a nested street array of more lines",
      {
        street: [
          ["a", "b"],
          ["c", "d"],
        ],
      },
      "street",
    ],
    ["a name of ideographic spaces (U+3000)", { name: "\u3000\u3000" }, "name"],
    ["a name of no-break and em spaces", { name: " \u00a0\u2003 " }, "name"],
    ["a city of a zero-width space", { city: "\u200b" }, "city"],
    ["an org of only white space", { org: "\u3000" }, "org"],
    ["a street line of a no-break space", { street: ["\u00a0"] }, "street"],
    ["a sp of tabs", { sp: "\t\t" }, "sp"],
    ["a name with U+FFFE", { name: "Ada\ufffe" }, "name"],
    ["a name with U+FFFF", { name: "Ada\uffff" }, "name"],
    ["a city with a C0 control", { city: "Lon\u0001don" }, "city"],
    ["a street line with a C1 control", { street: ["Main St\u0085"] }, "street"],
  ])("a contact with %s → PV117", async (_what, row, column) => {
    const err = await contact(row);
    expect([err.code, err.column]).toEqual(["PV117", column]);
  });

  it.each(["secretpw\uffff", "\ufffesecretpw", "secret\u0007pw"])("an authInfo XML cannot carry (%j) → PV118", async (pw) => {
    const err = await contact({ pw });
    expect([err.code, err.column]).toEqual(["PV118", "pw"]);
  });

  it.each([".a..b.@example.com", "a..b@example.com", "a.@example.com", ".a@example.com", "..@example.com", "a b@example.com"])(
    "an e-mail address without a dot-atom local part: %s → PV110",
    async (email) => {
      const err = await contact({ email });
      expect([err.code, err.column]).toEqual(["PV110", "email"]);
    },
  );

  it("accepts dot-atoms that are valid", async () => {
    const r = await t.pool.query(`${contactSql} RETURNING email`, contactParams({ email: "ada.king-noel+x@example.com" }));
    expect(r.rows[0].email).toBe("ada.king-noel+x@example.com");
  });

  it.each([[["ns1.example.com", "NS1.example.com."]], [["ns1.example.com", "ns1.example.com"]], [["ns1.example.com.", "ns2.example.com", "Ns1.Example.Com"]]])(
    "nameservers that are the same after normalising (%j) → PV101",
    async (nameservers) => {
      const err = await domain("dup-ns.example", { nameservers });
      expect([err.code, err.column]).toEqual(["PV101", "nameservers"]);
      expect(err.message).toContain("ns1.example.com");
    },
  );

  it("stores nameservers normalised: lower case, no trailing dot", async () => {
    const r = await t.pool.query(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, nameservers) VALUES ($1, $2, 'ns-norm.example', $3) RETURNING nameservers`,
      [acc.tenantId, acc.accreditationId, ["NS1.Example.COM.", "ns2.example.com"]],
    );
    expect(r.rows[0].nameservers).toEqual(["ns1.example.com", "ns2.example.com"]);
  });

  it.each([[1.5], ["1.5"], [2.0001], ["NaN"]])("a registration_period that is not a whole number (%j) → PV103", async (period) => {
    const err = await domain("frac.example", { period });
    expect([err.code, err.column]).toEqual(["PV103", "registration_period"]);
  });

  it("a literal 1.5 in the SQL text is refused too (PostgreSQL used to round it to 2 before any trigger)", async () => {
    const err = await rejected(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, registration_period) VALUES ($1, $2, 'lit.example', 1.5)`,
      [acc.tenantId, acc.accreditationId],
    );
    expect(err.code).toBe("PV103");
    const renew = await rejected(
      `INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, period, current_expiry_date) VALUES ($1, $2, 'mine.example', 2.5, '2030-04-04')`,
      [acc.tenantId, acc.accreditationId],
    );
    expect([renew.code, renew.column]).toEqual(["PV103", "period"]);
  });
});

describe("item 11: errors that misled", () => {
  it("'name..' is refused by the name rule (PV101), not as a TLD not served", async () => {
    for (const name of ["name..", "name.example..", "."]) {
      const err = await domain(name);
      expect([name, err.code]).toEqual([name, "PV101"]);
      expect(err.message).not.toMatch(/TLD/);
    }
  });

  it("renew and delete normalise the name as create does (upper case, a trailing dot)", async () => {
    const renew = await t.pool.query(
      `INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, period, current_expiry_date) VALUES ($1, $2, 'MINE.Example.', 1, '2030-04-04') RETURNING name, job_id`,
      [acc.tenantId, acc.accreditationId],
    );
    expect(renew.rows[0].name).toBe("mine.example");
    await t.pool.query("SELECT job_fail($1, 'test: let the delete in')", [renew.rows[0].job_id]);
    const del = await t.pool.query(
      `INSERT INTO provision_domain_delete (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'mine.example.') RETURNING name`,
      [acc.tenantId, acc.accreditationId],
    );
    expect(del.rows[0].name).toBe("mine.example");
  });

  it("a 1 MB value is not echoed back whole", async () => {
    const huge = "a".repeat(1_000_000);
    for (const err of [
      await domain(`${huge}.example`),
      await domain("x.example", { nameservers: [`${huge}.example`] }),
      await contact({ contact_id: huge }),
      await contact({ email: `${huge}@example.com` }),
      await contact({ cc: huge }),
    ]) {
      expect(err.code).toMatch(/^PV1/);
      expect(err.message.length).toBeLessThan(400);
    }
  });
});

describe("item 7: a provision cannot join a plan that is already final", () => {
  it("is refused with PV119 for a completed or a failed plan, and accepted for an open one", async () => {
    const done = await createOrder(t.pool, acc.tenantId);
    const job = await jobOf(t.pool, await provisionDomain(t.pool, acc, "late-1.example", { planId: done.planId }));
    await t.pool.query("SELECT job_complete($1, $2)", [job, { roid: "L1", crDate: "2026-01-01T00:00:00Z", exDate: "2027-01-01T00:00:00Z" }]);
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [done.orderId])).rows[0].status).toBe("completed");
    const late = await rejected(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'late-2.example', $3)`,
      [acc.tenantId, acc.accreditationId, [done.planId]],
    );
    expect([late.code, late.column]).toEqual(["PV119", "order_item_plan_ids"]);

    const failed = await createOrder(t.pool, acc.tenantId);
    await t.pool.query("SELECT job_fail($1, 'no')", [await jobOf(t.pool, await provisionDomain(t.pool, acc, "late-3.example", { planId: failed.planId }))]);
    expect(
      (
        await rejected(
          `INSERT INTO provision_contact (tenant_customer_id, accreditation_id, contact_id, name, city, cc, email, order_item_plan_ids) VALUES ($1, $2, 'late-c', 'A', 'B', 'GB', 'a@example.com', $3)`,
          [acc.tenantId, acc.accreditationId, [failed.planId]],
        )
      ).code,
    ).toBe("PV119");

    const open = await createOrder(t.pool, acc.tenantId);
    await provisionDomain(t.pool, acc, "open-1.example", { planId: open.planId });
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [open.orderId])).rows[0].status).toBe("pending");
  });

  it("a plan is served by one provision: a second one is refused (PV119) while the first is in flight", async () => {
    // the plan's status follows its provision: with two, the first to finish decided the order's status,
    // and an order completed by the first stayed completed when the second failed
    const o = await createOrder(t.pool, acc.tenantId);
    const first = await jobOf(t.pool, await provisionDomain(t.pool, acc, "served-1.example", { planId: o.planId }));
    const second = await rejected(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'served-2.example', $3)`,
      [acc.tenantId, acc.accreditationId, [o.planId]],
    );
    expect([second.code, second.column]).toEqual(["PV119", "order_item_plan_ids"]);
    // once the first has failed the plan is final, and still refused
    await t.pool.query("SELECT job_fail($1, 'no')", [first]);
    expect(
      (
        await rejected(
          `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'served-3.example', $3)`,
          [acc.tenantId, acc.accreditationId, [o.planId]],
        )
      ).code,
    ).toBe("PV119");
    expect((await t.pool.query("SELECT status FROM v_order WHERE id = $1", [o.orderId])).rows[0].status).toBe("failed");
  });

  it("a provision that serves several plans of one order is accepted (one provision, many plans)", async () => {
    const o = await createOrder(t.pool, acc.tenantId);
    const p2 = await t.pool.query(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [o.itemId]);
    const id = await t.pool.query(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'multi-plan.example', $3) RETURNING id`,
      [acc.tenantId, acc.accreditationId, [o.planId, p2.rows[0].id]],
    );
    expect(id.rowCount).toBe(1);
  });
});

describe("an id already in the table", () => {
  it("is refused (23505), also by INSERT ... ON CONFLICT DO NOTHING, which would have skipped the row but kept its job and claims", async () => {
    const id = (
      await t.pool.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'first.example') RETURNING id`, [
        acc.tenantId,
        acc.accreditationId,
      ])
    ).rows[0].id;
    for (const suffix of ["", " ON CONFLICT DO NOTHING", " ON CONFLICT (id) DO NOTHING"]) {
      const err = await rejected(
        `INSERT INTO provision_domain (id, tenant_customer_id, accreditation_id, name) VALUES ($1, $2, $3, 'ghost.example')${suffix}`,
        [id, acc.tenantId, acc.accreditationId],
      );
      expect([suffix, err.code, err.column]).toEqual([suffix, "23505", "id"]);
    }
    expect((await t.pool.query("SELECT count(*)::int AS n FROM job WHERE data ->> 'name' = 'ghost.example'")).rows[0].n).toBe(0);
  });
});

describe("item 12: v_provision.object_name", () => {
  it("of a contact is its contact_id, not its postal name", async () => {
    const r = await t.pool.query(`${contactSql} RETURNING id`, contactParams({ contact_id: "ada-42", name: "Ada Lovelace" }));
    expect((await t.pool.query("SELECT provision_type, object_name FROM v_provision WHERE id = $1", [r.rows[0].id])).rows[0]).toEqual({
      provision_type: "contact",
      object_name: "ada-42",
    });
  });
});
