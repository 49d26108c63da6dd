/**
 * provision_host (RFC 5732 <host:create>) validation: every rejection carries its documented code
 * (docs/errors.md PV101, PV115, PV120-PV122, PostgreSQL's 22P02 and 23502) and leaves nothing behind; an
 * accepted row is normalised and gets its job like every provision.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { createAccount, type Account } from "../../helpers/fixtures.js";
import { expectRejected } from "../../helpers/reject.js";

let t: TestDatabase;
let acc: Account;
let other: Account;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool, { tlds: ["example", "co.test"] });
  other = await createAccount(t.pool);
});
afterAll(async () => {
  await t?.close();
});

let n = 0;
const INSERT = "INSERT INTO provision_host (tenant_customer_id, accreditation_id, name, addrs_v4, addrs_v6) VALUES ($1, $2, $3, $4, $5) RETURNING *";
const host = (name: string, v4: unknown = null, v6: unknown = null, a: Account = acc) => [a.tenantId, a.accreditationId, name, v4, v6];
const fresh = (label = "ns") => `${label}${++n}`;

describe("provision_host: accepted rows", () => {
  it("a subordinate host (in a TLD the accreditation serves) with addresses: normalised, job created, shown in v_provision", async () => {
    const name = `${fresh()}.Glue-Test.EXAMPLE.`;
    const r = await t.pool.query(INSERT, host(name, ["192.0.2.1", "198.51.100.7"], ["2001:DB8:0:0::1"]));
    const row = r.rows[0];
    expect(row.name).toBe(name.toLowerCase().slice(0, -1));
    expect(row.addrs_v4).toEqual(["192.0.2.1", "198.51.100.7"]);
    expect(row.addrs_v6).toEqual(["2001:db8::1"]);
    expect(row.job_id).toBeTruthy();
    const v = (await t.pool.query("SELECT provision_type, object_name, status FROM v_provision WHERE id = $1", [row.id])).rows[0];
    expect(v).toEqual({ provision_type: "host", object_name: row.name, status: "pending" });
    const job = (await t.pool.query("SELECT data FROM job WHERE id = $1", [row.job_id])).rows[0];
    expect(job.data).toMatchObject({ name: row.name, addrs_v4: ["192.0.2.1", "198.51.100.7"], addrs_v6: ["2001:db8::1"] });
  });

  it("the longest TLD decides: a host under co.test is subordinate", async () => {
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example.co.test`), { code: "PV121", column: "addrs_v4", message: /subordinate/ });
  });

  it("an external host (outside the accreditation's TLDs) without addresses", async () => {
    const r = await t.pool.query(INSERT, host(`${fresh()}.dns-provider.net`));
    expect(r.rows[0]).toMatchObject({ addrs_v4: [], addrs_v6: [] });
  });
});

describe("provision_host: rejected with the documented code, nothing written", () => {
  it("PV101: not a valid host name", async () => {
    await expectRejected(t.pool, INSERT, host("-bad-.example", ["192.0.2.1"]), { code: "PV101", column: "name" });
    await expectRejected(t.pool, INSERT, host("single-label", ["192.0.2.1"]), { code: "PV101", column: "name" });
  });

  it("23502: no name; no accreditation on a registry table", async () => {
    await expectRejected(t.pool, INSERT, host(null as unknown as string), { code: "23502", column: "name" });
    await expectRejected(t.pool, INSERT, [acc.tenantId, null, `${fresh()}.example`, ["192.0.2.1"], null], { code: "23502", column: "accreditation_id" });
  });

  it("PV107: another tenant's accreditation", async () => {
    await expectRejected(t.pool, INSERT, [acc.tenantId, other.accreditationId, `${fresh()}.example`, ["192.0.2.1"], null], { code: "PV107" });
  });

  it("PV120: an address of the other IP version, a network, a duplicate, a NULL, more than 13", async () => {
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, ["2001:db8::1"]), { code: "PV120", column: "addrs_v4", message: /not an IPv4 address/ });
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, null, ["192.0.2.1"]), {
      code: "PV120",
      column: "addrs_v6",
      message: /not an IPv6 address/,
    });
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, ["192.0.2.0/24"]), { code: "PV120", column: "addrs_v4", message: /network/ });
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, ["192.0.2.1", "192.0.2.1/32"]), {
      code: "PV120",
      column: "addrs_v4",
      message: /more than once/,
    });
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, ["192.0.2.1", null]), { code: "PV120", column: "addrs_v4", message: /NULL/ });
    const many = Array.from({ length: 14 }, (_, i) => `192.0.2.${i + 1}`);
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, many), { code: "PV120", column: "addrs_v4", message: /at most 13/ });
  });

  it("22P02: not an address at all (PostgreSQL's inet type)", async () => {
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`, ["192.0.2.300"]), { code: "22P02" });
  });

  it("PV121: a subordinate host without addresses, an external host with some", async () => {
    await expectRejected(t.pool, INSERT, host(`${fresh()}.example`), { code: "PV121", column: "addrs_v4", message: /subordinate/ });
    await expectRejected(t.pool, INSERT, host(`${fresh()}.elsewhere.net`, null, ["2001:db8::53"]), { code: "PV121", column: "addrs_v6", message: /external/ });
  });

  it("PV122: a create in flight; a host the inventory holds under this accreditation", async () => {
    const name = `${fresh()}.example`;
    await t.pool.query(INSERT, host(name, ["192.0.2.1"]));
    await expectRejected(t.pool, INSERT, host(name.toUpperCase(), ["192.0.2.2"]), { code: "PV122", column: "name", message: /in flight/ });
    const held = `${fresh()}.example`;
    await t.pool.query("INSERT INTO host (tenant_customer_id, accreditation_id, name, roid) VALUES ($1, $2, $3, 'H1-SIM')", [
      acc.tenantId,
      acc.accreditationId,
      held,
    ]);
    await expectRejected(t.pool, INSERT, host(held, ["192.0.2.1"]), { code: "PV122", column: "name", message: /already exists/ });
  });

  it("PV115: the registry's creation date is provisio's to set", async () => {
    await expectRejected(
      t.pool,
      "INSERT INTO provision_host (tenant_customer_id, accreditation_id, name, addrs_v4, ry_created_date) VALUES ($1, $2, $3, '{192.0.2.1}', now())",
      [acc.tenantId, acc.accreditationId, `${fresh()}.example`],
      { code: "PV115", column: "ry_created_date" },
    );
  });
});
