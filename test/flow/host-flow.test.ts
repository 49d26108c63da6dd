/**
 * provision_host end to end (RFC 5732 <host:create>): INSERT → job → worker → EPP over TLS (the simulator)
 * → result → inventory. A host subordinate to a domain we hold needs its glue; an external host none; the
 * registry's refusals (2303: no such superordinate domain) fail the job with the EPP result; an
 * ambiguous earlier attempt is reconciled from 2302 with <host:info>; a connector without the host
 * capability fails the job with a configuration error instead of guessing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEppFlow, type EppFlow } from "../helpers/flow.js";
import { createAccount, finalProvision, provisionDomain } from "../helpers/fixtures.js";

let flow: EppFlow;
beforeAll(async () => {
  flow = await startEppFlow({ concurrency: 2 });
});
afterAll(async () => {
  await flow?.stop();
});

const insertHost = async (name: string, v4: string[] = [], v6: string[] = [], acc = flow.acc) =>
  (
    await flow.t.pool.query<{ id: string }>(
      "INSERT INTO provision_host (tenant_customer_id, accreditation_id, name, addrs_v4, addrs_v6) VALUES ($1, $2, $3, $4, $5) RETURNING id",
      [acc.tenantId, acc.accreditationId, name, v4, v6],
    )
  ).rows[0]!.id;

describe("provision_host through the worker and the EPP simulator", () => {
  it("creates a subordinate host with glue under a domain we hold, and records it in the inventory", async () => {
    expect((await finalProvision(flow.t.pool, await provisionDomain(flow.t.pool, flow.acc, "glue.example"))).status).toBe("completed");
    const p = await finalProvision(flow.t.pool, await insertHost("NS1.glue.example", ["192.0.2.53"], ["2001:db8::53"]));
    expect(p.status).toBe("completed");
    expect(p.object_name).toBe("ns1.glue.example");
    expect(p.roid).toMatch(/^H\d+-SIM$/);
    expect(p.result_data).toMatchObject({ code: 1000, clTRID: `${p.job_id}-1` });
    const inv = (await flow.t.pool.query("SELECT name, roid, addrs_v4, addrs_v6, ry_created_date FROM host WHERE name = 'ns1.glue.example'")).rows;
    expect(inv).toEqual([{ name: "ns1.glue.example", roid: p.roid, addrs_v4: ["192.0.2.53"], addrs_v6: ["2001:db8::53"], ry_created_date: expect.any(Date) }]);
    const sim = flow.sim.store.hosts.get("ns1.glue.example");
    expect(sim?.addrs).toEqual([
      { ip: "v4", addr: "192.0.2.53" },
      { ip: "v6", addr: "2001:db8::53" },
    ]);
  });

  it("creates an external host without addresses", async () => {
    const p = await finalProvision(flow.t.pool, await insertHost("ns.dns-provider.net"));
    expect(p.status).toBe("completed");
    expect(flow.sim.store.hosts.get("ns.dns-provider.net")?.addrs).toEqual([]);
  });

  it("fails with the registry's 2303 when the superordinate domain does not exist there", async () => {
    const p = await finalProvision(flow.t.pool, await insertHost("ns1.nobody-holds-this.example", ["192.0.2.9"]));
    expect(p.status).toBe("failed");
    expect(p.result_data).toMatchObject({ error_code: "EPP2303", code: 2303 });
    expect(p.attempts).toBe(1);
  });

  it("reconciles a 2302 when the registry's host is ours with the same addresses (an earlier attempt made it)", async () => {
    const first = await finalProvision(flow.t.pool, await insertHost("ns2.glue.example", ["192.0.2.54"]));
    expect(first.status).toBe("completed");
    // as if the first answer had been lost: provisio's inventory does not know the host, the registry does
    await flow.t.pool.query("DELETE FROM host WHERE name = 'ns2.glue.example'");
    const again = await finalProvision(flow.t.pool, await insertHost("ns2.glue.example", ["192.0.2.54"]));
    expect(again.status).toBe("completed");
    expect(again.result_data).toMatchObject({ reconciled: true, code: 1000 });
    expect(again.roid).toBe(first.roid);
  });

  it("does not reconcile a 2302 for a host with other addresses: the job fails with the registry's answer", async () => {
    await flow.t.pool.query("DELETE FROM host WHERE name = 'ns2.glue.example'");
    const p = await finalProvision(flow.t.pool, await insertHost("ns2.glue.example", ["192.0.2.99"]));
    expect(p.status).toBe("failed");
    expect(p.result_data).toMatchObject({ error_code: "EPP2302", code: 2302 });
  });

  it("fails with PV_CONFIG on an accreditation whose connector does not offer the host capability", async () => {
    const noop = await createAccount(flow.t.pool, { connectorType: "noop", tlds: ["example"] });
    const p = await finalProvision(flow.t.pool, await insertHost("ns.elsewhere.org", [], [], noop));
    expect(p.status).toBe("failed");
    expect(p.result_data).toMatchObject({ error_code: "PV_CONFIG" });
    expect(p.result_message).toMatch(/connector_type "noop" does not offer the host capability/);
  });
});
