import { afterAll, beforeAll, describe, expect, it } from "vitest";
import tls from "node:tls";
import { EppConnector, clTRIDOf } from "../../../src/connectors/epp/connector.js";
import { EppCommandError, EppTransportError } from "../../../src/connectors/epp/errors.js";
import type { Accreditation } from "../../../src/connectors/capabilities/registry.js";
import type { CommandContext } from "../../../src/connectors/types.js";
import { logger } from "../../../src/logger.js";
import type { EppRegistrySimulator } from "../../../src/simulators/epp-registry/server.js";
import { startSimulator, stopSimulator } from "../../helpers/simulator.js";

let sim: EppRegistrySimulator;
let acc: Accreditation;
let connector: EppConnector;
let seq = 0;
const ctx = (): CommandContext => ({ correlationId: `test-${++seq}`, attempt: 1, log: logger() });

beforeAll(async () => {
  const s = await startSimulator();
  sim = s.sim;
  acc = { id: "acc-1", tenantCustomerId: "t", name: "sim", provider: "sim", connectorType: "epp", config: s.config, maxSessions: 2 };
  connector = new EppConnector({ commandTimeoutMs: 1500, connectTimeoutMs: 2000 });
});
afterAll(async () => {
  await connector.close();
  await stopSimulator(sim);
});

describe("EPP connector against the simulator over TLS", () => {
  it("creates, reads, renews and deletes a domain (RFC 5731) with clTRID echoed and an svTRID", async () => {
    const c = ctx();
    const created = await connector.domainCreate(
      acc,
      { name: "life.example", period: 2, authInfo: "pw-1", contacts: [], nameservers: ["ns1.life.example"] },
      c,
    );
    expect(created.result).toMatchObject({ code: 1000, clTRID: clTRIDOf(c) });
    expect(created.result.svTRID).toMatch(/^SIM-/);
    const info = await connector.domainInfo(acc, { name: "life.example", authInfo: "pw-1" }, ctx());
    expect(info).toMatchObject({ name: "life.example", ours: true, authInfo: "pw-1", clID: "test-registrar" });
    expect(info.roid).toMatch(/^D\d+-SIM$/);
    const renewed = await connector.domainRenew(acc, { name: "life.example", curExpDate: created.exDate.slice(0, 10), period: 1 }, ctx());
    expect(new Date(renewed.exDate).getUTCFullYear()).toBe(new Date(created.exDate).getUTCFullYear() + 1);
    await expect(connector.domainRenew(acc, { name: "life.example", curExpDate: created.exDate.slice(0, 10), period: 1 }, ctx())).rejects.toMatchObject({
      code: "EPP2306",
    });
    await connector.domainDelete(acc, { name: "life.example" }, ctx());
    await expect(connector.domainInfo(acc, { name: "life.example" }, ctx())).rejects.toMatchObject({ code: "EPP2303", retryable: false });
  });

  it("answers 2302 for an existing domain and 2201 for another registrar's", async () => {
    await connector.domainCreate(acc, { name: "taken.example", period: 1, authInfo: "a", contacts: [], nameservers: [] }, ctx());
    const err = await connector.domainCreate(acc, { name: "taken.example", period: 1, authInfo: "a", contacts: [], nameservers: [] }, ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(EppCommandError);
    expect(err.result.code).toBe(2302);
    const otherAcc = { ...acc, id: "acc-other", config: { ...(acc.config as object), clID: "other-registrar", password_env: "PROVISIO_TEST_OTHER_PW" } };
    process.env.PROVISIO_TEST_OTHER_PW = "other-pw";
    await expect(connector.domainDelete(otherAcc, { name: "taken.example" }, ctx())).rejects.toMatchObject({ code: "EPP2201" });
  });

  it("creates a contact (RFC 5733) and reads it back", async () => {
    const r = await connector.contactCreate(
      acc,
      { id: "ct-1", name: "Jane", street: ["1 Road"], city: "Town", cc: "NL", email: "j@example.com", authInfo: "cpw" },
      ctx(),
    );
    expect(r.id).toBe("ct-1");
    const info = await connector.contactInfo(acc, { id: "ct-1" }, ctx());
    expect(info).toMatchObject({ ours: true, authInfo: "cpw" });
  });

  it("refuses a wrong password with 2200, retried with backoff (an operator may be fixing the secret)", async () => {
    process.env.PROVISIO_TEST_BAD_PW = "wrong";
    const bad = { ...acc, id: "acc-bad", config: { ...(acc.config as object), password_env: "PROVISIO_TEST_BAD_PW" } };
    await expect(connector.domainInfo(bad, { name: "x.example" }, ctx())).rejects.toMatchObject({ code: "EPP2200", retryable: true, configSuspect: true });
  });

  it("never opens more sessions than max_sessions", async () => {
    const before = sim.commandCounts.get("login") ?? 0;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        connector.domainCreate(acc, { name: `pool-${i}.example`, period: 1, authInfo: "p", contacts: [], nameservers: [] }, ctx()),
      ),
    );
    expect((sim.commandCounts.get("login") ?? 0) - before).toBeLessThanOrEqual(2);
    expect(sim.connectionCount).toBeLessThanOrEqual(3); // 2 for acc-1 (+1 possibly from the other-registrar test)
  });

  it("marks 2400 and 2500 as transient, and a stalled command as an ambiguous timeout", async () => {
    sim.faults.add({ action: { kind: "respond", code: 2400 }, count: 1 }).add({ action: { kind: "respond", code: 2500 }, count: 1 });
    await expect(connector.domainInfo(acc, { name: "pool-1.example" }, ctx())).rejects.toMatchObject({ code: "EPP2400", retryable: true });
    await expect(connector.domainInfo(acc, { name: "pool-1.example" }, ctx())).rejects.toMatchObject({ code: "EPP2500", retryable: true });
    sim.faults.add({ action: { kind: "stall" }, count: 1, commands: ["domain:info"] });
    const err = await connector.domainInfo(acc, { name: "pool-1.example" }, ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(EppTransportError);
    expect(err).toMatchObject({ code: "PV_EPP_TIMEOUT", ambiguous: true, retryable: true });
    // the pool recovers with a fresh session
    await expect(connector.domainInfo(acc, { name: "pool-1.example" }, ctx())).resolves.toMatchObject({ ours: true });
  });

  it("reports a refused connection as transient", async () => {
    const dead = { ...acc, id: "acc-dead", config: { ...(acc.config as object), port: 1 } };
    await expect(connector.domainInfo(dead, { name: "a.example" }, ctx())).rejects.toMatchObject({ retryable: true });
  });

  it("fails cleanly on a server that sends an oversized frame header or invalid XML", async () => {
    const { cert, key } = sim.certificate!;
    for (const payload of [Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.concat([Buffer.from([0, 0, 0, 14]), Buffer.from("<epp><x>")])]) {
      const server = tls.createServer({ cert, key }, (s) => s.write(payload));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      const port = (server.address() as { port: number }).port;
      const broken = { ...acc, id: `acc-broken-${port}`, config: { ...(acc.config as object), port } };
      const err = await connector.domainInfo(broken, { name: "a.example" }, ctx()).catch((e) => e);
      expect(err.code).toMatch(/^PV_EPP_/);
      server.close();
    }
  });
});
