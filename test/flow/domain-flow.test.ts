import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import type { TestDatabase } from "../helpers/db.js";
import { startEppFlow, type EppFlow } from "../helpers/flow.js";
import { createOrder, finalProvision, provisionDomain, waitFor, type Account } from "../helpers/fixtures.js";

let flow: EppFlow;
let t: TestDatabase;
let sim: EppRegistrySimulator;
let acc: Account;

beforeAll(async () => {
  flow = await startEppFlow({ concurrency: 4 });
  ({ t, sim, acc } = flow);
});
afterAll(async () => {
  await flow?.stop();
});

const final = (id: string) => finalProvision(t.pool, id);

describe("insert → job → worker → EPP over TLS → results → order", () => {
  it("creates a contact and a domain for an order and completes the order", async () => {
    const c = await t.pool.query(
      `INSERT INTO provision_contact (tenant_customer_id, accreditation_id, contact_id, name, city, cc, email, voice)
       VALUES ($1, $2, 'reg-001', 'Ada Lovelace', 'London', 'gb', 'ada@example.com', '+44.2071234567') RETURNING id`,
      [acc.tenantId, acc.accreditationId],
    );
    expect((await final(c.rows[0].id)).status).toBe("completed");
    const o = await createOrder(t.pool, acc.tenantId);
    const r = await t.pool.query(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, registration_period, registrant, order_item_plan_ids)
       VALUES ($1, $2, 'flow.example', 2, 'reg-001', $3) RETURNING id`,
      [acc.tenantId, acc.accreditationId, [o.planId]],
    );
    const p = await final(r.rows[0].id);
    expect(p.status).toBe("completed");
    expect(p.result_data).toMatchObject({ code: 1000, msg: "Command completed successfully" });
    expect(p.result_data.svTRID).toMatch(/^SIM-/);
    expect(p.result_data.clTRID).toBe(`${p.job_id}-1`);
    const atRegistry = sim.store.domains.get("flow.example")!;
    expect(p.roid).toBe(atRegistry.roid);
    expect(atRegistry.registrant).toBe("reg-001");
    const d = (await t.pool.query("SELECT roid, ry_expiry_date FROM domain WHERE name = 'flow.example'")).rows[0];
    expect(d.ry_expiry_date.toISOString()).toBe(atRegistry.exDate.toISOString());
    const order = await waitFor("order completed", async () => (await t.pool.query("SELECT * FROM v_order WHERE id = $1 AND is_final", [o.orderId])).rows[0]);
    expect(order.status).toBe("completed");
    expect((await t.pool.query("SELECT status, attempts FROM v_job WHERE id = $1", [p.job_id])).rows[0]).toEqual({ status: "completed", attempts: 1 });
  });

  it("renews with the inventory's expiry and deletes, keeping the inventory in step", async () => {
    const id = await provisionDomain(t.pool, acc, "cycle.example");
    await final(id);
    const exp = (await t.pool.query("SELECT to_char(ry_expiry_date AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS d FROM domain WHERE name = 'cycle.example'")).rows[0].d;
    const renew = await t.pool.query(
      `INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, period, current_expiry_date) VALUES ($1, $2, 'cycle.example', 3, $3) RETURNING id`,
      [acc.tenantId, acc.accreditationId, exp],
    );
    expect((await final(renew.rows[0].id)).status).toBe("completed");
    const after = (await t.pool.query("SELECT ry_expiry_date FROM domain WHERE name = 'cycle.example'")).rows[0].ry_expiry_date as Date;
    expect(after.toISOString()).toBe(sim.store.domains.get("cycle.example")!.exDate.toISOString());
    expect(after.getUTCFullYear()).toBe(Number(exp.slice(0, 4)) + 3);
    const del = await t.pool.query(
      `INSERT INTO provision_domain_delete (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'cycle.example') RETURNING id`,
      [acc.tenantId, acc.accreditationId],
    );
    expect((await final(del.rows[0].id)).status).toBe("completed");
    expect(sim.store.domains.has("cycle.example")).toBe(false);
    expect((await t.pool.query("SELECT deleted_date IS NOT NULL AS deleted FROM domain WHERE name = 'cycle.example'")).rows[0].deleted).toBe(true);
  });

  it("retries transient failures (2400, 2502, dropped connection) and then succeeds", async () => {
    sim.faults.add({ action: { kind: "respond", code: 2400 }, count: 1, commands: ["domain:create"] });
    sim.faults.add({ action: { kind: "respond", code: 2502 }, count: 1, commands: ["domain:create"] });
    sim.faults.add({ action: { kind: "drop" }, count: 1, commands: ["domain:create"] });
    const p = await final(await provisionDomain(t.pool, acc, "flaky.example"));
    expect(p.status).toBe("completed");
    expect(p.attempts).toBe(4);
    expect(sim.store.domainCreates.get("flaky.example")).toBe(1);
  });

  it("fails the provision and the order item with the reason when attempts are exhausted", async () => {
    await t.pool.query("UPDATE job_type SET max_attempts = 3 WHERE name = 'domain_create'");
    sim.faults.add({ action: { kind: "respond", code: 2400 }, count: 3, commands: ["domain:create"] });
    const o = await createOrder(t.pool, acc.tenantId);
    const p = await final(await provisionDomain(t.pool, acc, "doomed.example", { planId: o.planId }));
    await t.pool.query("UPDATE job_type SET max_attempts = 5 WHERE name = 'domain_create'");
    expect(p.status).toBe("failed");
    expect(p.attempts).toBe(3);
    expect(p.result_message).toMatch(/attempts exhausted \(3 of 3\).*EPP2400/);
    const item = await waitFor(
      "order failed",
      async () =>
        (
          await t.pool.query(
            "SELECT o.status, p.result_message FROM v_order o JOIN order_item i ON i.order_id = o.id JOIN order_item_plan p ON p.order_item_id = i.id WHERE o.id = $1 AND o.is_final",
            [o.orderId],
          )
        ).rows[0],
    );
    expect(item.status).toBe("failed");
    expect(item.result_message).toMatch(/EPP2400/);
    expect(sim.store.domains.has("doomed.example")).toBe(false);
  });

  it("fails at once on a permanent error (2302 for another registrar's domain)", async () => {
    sim.store.domains.set("someone-elses.example", {
      name: "someone-elses.example",
      roid: "D999-SIM",
      clID: "other-registrar",
      crID: "other-registrar",
      crDate: new Date(),
      exDate: new Date(Date.now() + 3e10),
      authInfo: "theirs",
      contacts: [],
      ns: [],
      status: ["ok"],
    });
    const p = await final(await provisionDomain(t.pool, acc, "someone-elses.example"));
    expect(p.status).toBe("failed");
    expect(p.attempts).toBe(1);
    expect(p.result_data).toMatchObject({ error_code: "EPP2302", code: 2302 });
    expect((await t.pool.query("SELECT count(*)::int AS n FROM domain WHERE name = 'someone-elses.example'")).rows[0].n).toBe(0);
  });

  it("reconciles a create whose answer was lost: 2302 on retry + info shows it is ours → completed once", async () => {
    sim.faults.add({ action: { kind: "drop", afterExecute: true }, count: 1, commands: ["domain:create"] });
    const p = await final(await provisionDomain(t.pool, acc, "ambiguous.example", { pw: "Our-authInfo-1" }));
    expect(p.status).toBe("completed");
    expect(p.attempts).toBe(2);
    expect(p.result_data.reconciled).toBe(true);
    expect(p.roid).toBe(sim.store.domains.get("ambiguous.example")!.roid);
    expect(sim.store.domainCreates.get("ambiguous.example")).toBe(1);
  });

  it('starts the attempt itself when get_job\'s start trigger did not (payload without "started")', async () => {
    // the trigger is what normally starts attempts (test/sql/start-in-get-job.test.ts); without it the
    // task calls job_start() and the outcome is the same
    await t.pool.query("ALTER TABLE graphile_worker._private_jobs DISABLE TRIGGER provisio_start_attempt");
    try {
      const p = await final(await provisionDomain(t.pool, acc, "started-by-task.example"));
      expect(p.status).toBe("completed");
      expect(p.attempts).toBe(1);
      expect(p.result_data.clTRID).toBe(`${p.job_id}-1`);
    } finally {
      await t.pool.query("ALTER TABLE graphile_worker._private_jobs ENABLE TRIGGER provisio_start_attempt");
    }
  });
});
