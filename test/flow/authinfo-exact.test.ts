/**
 * What is stored is exactly what is sent and compared (issue 10, item 8). An authInfo with leading or
 * trailing characters that JavaScript's trim removes but XML does not count as whitespace (U+00A0,
 * U+202F, U+FEFF, ...) is valid at INSERT; it must reach the registry unchanged, come back unchanged in
 * <info>, and so let an ambiguous create (answer lost, 2302 on retry) reconcile instead of failing and
 * leaving an orphan at the registry. Real PostgreSQL, a worker, and the simulator over TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import type { TestDatabase } from "../helpers/db.js";
import { startEppFlow, type EppFlow } from "../helpers/flow.js";
import { finalProvision, provisionDomain, type Account } from "../helpers/fixtures.js";
import { TEST_CLID } from "../helpers/simulator.js";

let flow: EppFlow;
let t: TestDatabase;
let sim: EppRegistrySimulator;
let acc: Account;

beforeAll(async () => {
  flow = await startEppFlow();
  ({ t, sim, acc } = flow);
});
afterAll(async () => {
  await flow?.stop();
});

const final = (id: string) => finalProvision(t.pool, id);

/** A value for a test name, with every non-ASCII character as \\uXXXX (they are invisible otherwise). */
const show = (value: string) => JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

const NBSP_PW = "\u00a0secretpw\u00a0";
const OTHER_PW = "\ufeffsecret\u202fpw\u202f";

describe("an authInfo with non-XML whitespace at its ends", () => {
  it("is valid at INSERT (authinfo_error accepts it; PostgreSQL's \\s does not match U+00A0), while JavaScript's trim removes it", async () => {
    const r = await t.pool.query<{ nbsp_is_s: boolean; nbsp_err: string | null; other_err: string | null }>(
      "SELECT $1 ~ '\\s' AS nbsp_is_s, authinfo_error($2) AS nbsp_err, authinfo_error($3) AS other_err",
      ["\u00a0", NBSP_PW, OTHER_PW],
    );
    expect(r.rows[0]).toEqual({ nbsp_is_s: false, nbsp_err: null, other_err: null });
    expect(NBSP_PW.trim()).toBe("secretpw");
    expect(OTHER_PW.trim()).toBe("secret\u202fpw");
  });

  for (const [i, pw] of [NBSP_PW, OTHER_PW].entries()) {
    it(`domain create (${show(pw)}): the registry stores the exact pw the inventory has`, async () => {
      const name = `exact-${i}.example`;
      const p = await final(await provisionDomain(t.pool, acc, name, { pw }));
      expect(p.status).toBe("completed");
      expect(p.attempts).toBe(1);
      const inv = (await t.pool.query("SELECT pw, roid FROM domain WHERE name = $1", [name])).rows[0];
      expect(inv).toEqual({ pw, roid: sim.store.domains.get(name)!.roid });
      expect(sim.store.domains.get(name)!.authInfo).toBe(pw);
    });

    it(`domain create (${show(pw)}) whose answer is lost: the retry's 2302 reconciles, the job completes, no orphan`, async () => {
      const name = `ambiguous-exact-${i}.example`;
      sim.faults.clear();
      sim.faults.add({ action: { kind: "drop", afterExecute: true }, count: 1, commands: ["domain:create"] });
      const p = await final(await provisionDomain(t.pool, acc, name, { pw }));
      sim.faults.clear();
      expect({ status: p.status, message: p.result_message }).toEqual({ status: "completed", message: expect.stringMatching(/reconciled/) });
      expect(p.attempts).toBe(2);
      expect(p.result_data.reconciled).toBe(true);
      const atRegistry = sim.store.domains.get(name)!;
      expect(atRegistry).toMatchObject({ clID: TEST_CLID, authInfo: pw });
      expect(sim.store.domainCreates.get(name)).toBe(1);
      const inv = (await t.pool.query("SELECT pw, roid FROM domain WHERE name = $1 AND deleted_date IS NULL", [name])).rows;
      expect(inv).toEqual([{ pw, roid: atRegistry.roid }]);
      expect(p.roid).toBe(atRegistry.roid);
    });
  }

  it("is compared exactly: a domain of ours whose registry pw is the trimmed value is not taken for ours (2302, job failed)", async () => {
    const name = "trimmed-at-registry.example";
    sim.store.domains.set(name, {
      name,
      roid: "D9001-SIM",
      clID: TEST_CLID,
      crID: TEST_CLID,
      crDate: new Date(),
      exDate: new Date(Date.now() + 3e10),
      authInfo: NBSP_PW.trim(),
      contacts: [],
      ns: [],
      status: ["ok"],
    });
    const p = await final(await provisionDomain(t.pool, acc, name, { pw: NBSP_PW }));
    expect(p.status).toBe("failed");
    expect(p.result_data).toMatchObject({ error_code: "EPP2302", code: 2302 });
    expect((await t.pool.query("SELECT count(*)::int AS n FROM domain WHERE name = $1", [name])).rows[0].n).toBe(0);
  });

  it("contact create whose answer is lost: the retry's 2302 reconciles with the exact pw, at the registry and in the inventory", async () => {
    const contactId = "exact-ct-1";
    sim.faults.clear();
    sim.faults.add({ action: { kind: "drop", afterExecute: true }, count: 1, commands: ["contact:create"] });
    const r = await t.pool.query<{ id: string }>(
      `INSERT INTO provision_contact (tenant_customer_id, accreditation_id, contact_id, name, city, cc, email, pw)
       VALUES ($1, $2, $3, 'Ada Lovelace', 'London', 'GB', 'ada@example.com', $4) RETURNING id`,
      [acc.tenantId, acc.accreditationId, contactId, NBSP_PW],
    );
    const p = await final(r.rows[0]!.id);
    sim.faults.clear();
    expect({ status: p.status, message: p.result_message }).toEqual({ status: "completed", message: expect.stringMatching(/reconciled/) });
    expect(p.attempts).toBe(2);
    expect(p.result_data.reconciled).toBe(true);
    const atRegistry = sim.store.contacts.get(contactId)!;
    expect(atRegistry).toMatchObject({ clID: TEST_CLID, authInfo: NBSP_PW });
    expect(p.roid).toBe(atRegistry.roid);
    const inv = (await t.pool.query("SELECT pw, roid FROM contact WHERE contact_id = $1 AND deleted_date IS NULL", [contactId])).rows;
    expect(inv).toEqual([{ pw: NBSP_PW, roid: atRegistry.roid }]);
  });
});
