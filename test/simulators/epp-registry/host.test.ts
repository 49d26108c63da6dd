/**
 * RFC 5732 host objects against the simulator over a real TLS EPP session (src/connectors/epp/session.ts):
 * create and info, the registry's rules for subordinate and external hosts, and the host object service
 * in the greeting and the login.
 */
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { domainCreateBody } from "../../../src/connectors/epp/domain.js";
import { EppCommandError } from "../../../src/connectors/epp/errors.js";
import { FrameDecoder, encodeFrame } from "../../../src/connectors/epp/frame.js";
import { hostCreateBody, hostInfoBody, parseHostCreData, parseHostInfData, type HostAddr } from "../../../src/connectors/epp/host.js";
import { EppSession } from "../../../src/connectors/epp/session.js";
import { buildCommand } from "../../../src/connectors/epp/protocol.js";
import { NS, buildEpp, child, children, parseEpp, text } from "../../../src/connectors/epp/xml.js";
import { logger } from "../../../src/logger.js";
import type { EppRegistrySimulator } from "../../../src/simulators/epp-registry/server.js";
import { TEST_CLID, startSimulator, stopSimulator } from "../../helpers/simulator.js";

const PASSWORD = "s3cret-test-pw"; // test/helpers/simulator.ts
const OTHER = { clID: "other-registrar", password: "other-pw" };

let sim: EppRegistrySimulator;
let ca: string;
let ours: EppSession;
let theirs: EppSession;
let seq = 0;
const clTRID = () => `host-${++seq}`;

const open = (clID: string, password: string, port = sim.port) =>
  EppSession.open(
    {
      host: "127.0.0.1",
      port,
      clID,
      password,
      ca,
      rejectUnauthorized: true,
      servername: "localhost",
      connectTimeoutMs: 3000,
      commandTimeoutMs: 3000,
      log: logger(),
    },
    clTRID(),
  );

const createHost = (s: EppSession, name: string, addrs: HostAddr[] = []) => s.command("host:create", hostCreateBody({ name, addrs }), clTRID());
const createDomain = (s: EppSession, name: string) =>
  s.command("domain:create", domainCreateBody({ name, period: 1, authInfo: "d-pw", contacts: [], nameservers: [] }), clTRID());

/** Send each frame to the simulator on a plain TLS connection, one after the other's answer; the greeting, then the answers. */
async function rawExchange(frames: string[]): Promise<string[]> {
  const received: string[] = [];
  const socket = tls.connect({ host: "127.0.0.1", port: sim.port, ca, servername: "localhost" });
  const decoder = new FrameDecoder();
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.on("close", () => resolve());
    socket.on("data", (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        received.push(frame);
        const next = frames[received.length - 1];
        if (next) socket.write(encodeFrame(next));
      }
    });
  });
  return received;
}

/** The EPP result code a command was refused with (fails the test when it succeeded). */
async function refusal(p: Promise<unknown>): Promise<number> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EppCommandError);
  return (err as EppCommandError).result.code;
}

const V4: HostAddr = { ip: "v4", addr: "192.0.2.53" };
const V6: HostAddr = { ip: "v6", addr: "2001:db8::53" };

beforeAll(async () => {
  const s = await startSimulator();
  sim = s.sim;
  ca = sim.certificate!.cert;
  ours = await open(TEST_CLID, PASSWORD);
  theirs = await open(OTHER.clID, OTHER.password);
  await createDomain(ours, "mine.example");
  await createDomain(theirs, "theirs.example");
});

afterAll(async () => {
  await ours?.logout(clTRID());
  await theirs?.logout(clTRID());
  await stopSimulator(sim);
});

describe("host objects (RFC 5732) on the simulator", () => {
  it("creates a subordinate host with v4 and v6 addresses (1000) and reads it back with <host:info>", async () => {
    const c = clTRID();
    const created = await ours.command("host:create", hostCreateBody({ name: "ns1.mine.example", addrs: [V4, V6] }), c);
    expect(created.result).toMatchObject({ code: 1000, clTRID: c });
    expect(created.result.svTRID).toMatch(/^SIM-/);
    const cre = parseHostCreData(created.resData);
    expect(cre.name).toBe("ns1.mine.example");
    expect(Number.isNaN(Date.parse(cre.crDate))).toBe(false);

    const info = parseHostInfData((await ours.command("host:info", hostInfoBody("ns1.mine.example"), clTRID())).resData);
    expect(info).toEqual({
      name: "ns1.mine.example",
      roid: expect.stringMatching(/^H\d+-SIM$/),
      clID: TEST_CLID,
      status: ["ok"],
      addrs: [V4, V6],
      crDate: cre.crDate,
    });
    expect(sim.store.hosts.get("ns1.mine.example")).toMatchObject({ superordinate: "mine.example", crID: TEST_CLID });
  });

  it("answers with resData in the host namespace (the frames as written on the wire)", async () => {
    await createHost(ours, "ns-ns.mine.example", [V4]);
    const [, , created, info] = await rawExchange([
      buildCommand({ login: { clID: TEST_CLID, pw: PASSWORD, options: { version: "1.0", lang: "en" }, svcs: { objURI: [NS.host] } } }, "raw-1"),
      buildCommand(hostCreateBody({ name: "ns-raw.mine.example", addrs: [V6] }), "raw-2"),
      buildCommand(hostInfoBody("ns-ns.mine.example"), "raw-3"),
      buildCommand({ logout: "" }, "raw-4"),
    ]);
    expect(created).toContain(`<host:creData xmlns:host="${NS.host}"><host:name>ns-raw.mine.example</host:name><host:crDate>`);
    expect(info).toContain(`<host:infData xmlns:host="${NS.host}"><host:name>ns-ns.mine.example</host:name><host:roid>`);
    expect(info).toContain('<host:status s="ok"/><host:addr ip="v4">192.0.2.53</host:addr><host:clID>test-registrar</host:clID>');
  });

  it("stores the name lower-cased: 2302 for an existing host in any case", async () => {
    await createHost(ours, "NS2.Mine.Example", [V4]);
    expect(sim.store.hosts.has("ns2.mine.example")).toBe(true);
    expect(await refusal(createHost(ours, "ns2.mine.example", [V4]))).toBe(2302);
    expect(await refusal(createHost(ours, "Ns2.MINE.example", [V4]))).toBe(2302);
    expect(await refusal(createHost(theirs, "ns2.mine.example", [V4]))).toBe(2302);
    expect(parseHostInfData((await ours.command("host:info", hostInfoBody("NS2.MINE.EXAMPLE"), clTRID())).resData).name).toBe("ns2.mine.example");
  });

  it("2303 when the superordinate domain is not registered", async () => {
    expect(await refusal(createHost(ours, "ns1.unknown.example", [V4]))).toBe(2303);
    // the TLD itself is no superordinate domain, nor is a registered domain's sibling
    expect(await refusal(createHost(ours, "ns1.test", [V4]))).toBe(2303);
    expect(await refusal(createHost(ours, "ns1.mine-not.example", [V4]))).toBe(2303);
    expect(sim.store.hosts.has("ns1.unknown.example")).toBe(false);
  });

  it("finds the superordinate domain several labels up", async () => {
    await createHost(ours, "a.b.ns3.mine.example", [V6]);
    expect(sim.store.hosts.get("a.b.ns3.mine.example")?.superordinate).toBe("mine.example");
  });

  it("2201 when the superordinate domain is another registrar's; its sponsor may create the host", async () => {
    expect(await refusal(createHost(ours, "ns1.theirs.example", [V4]))).toBe(2201);
    expect(sim.store.hosts.has("ns1.theirs.example")).toBe(false);
    await createHost(theirs, "ns1.theirs.example", [V4]);
    // any client may read a host
    expect(parseHostInfData((await ours.command("host:info", hostInfoBody("ns1.theirs.example"), clTRID())).resData).clID).toBe(OTHER.clID);
  });

  it("2003 for a subordinate host without an address", async () => {
    expect(await refusal(createHost(ours, "ns4.mine.example"))).toBe(2003);
  });

  it("2005 for an address that is not what its ip attribute says", async () => {
    for (const bad of [
      { ip: "v4", addr: "192.0.2.256" },
      { ip: "v4", addr: "2001:db8::1" },
      { ip: "v6", addr: "192.0.2.1" },
      { ip: "v6", addr: "2001:db8::g" },
      { ip: "v6", addr: "fe80::1%eth0" },
      { ip: "v4", addr: "" },
    ] as HostAddr[]) {
      expect(await refusal(createHost(ours, "ns5.mine.example", [V4, bad])), JSON.stringify(bad)).toBe(2005);
    }
    expect(
      await refusal(
        ours.command(
          "host:create",
          { create: { "host:create": { "@_xmlns:host": NS.host, "host:name": "ns5.mine.example", "host:addr": { "@_ip": "v5", "#text": "192.0.2.1" } } } },
          clTRID(),
        ),
      ),
    ).toBe(2005);
    expect(await refusal(createHost(ours, "ns_5.mine.example", [V4]))).toBe(2005);
    expect(sim.store.hosts.has("ns5.mine.example")).toBe(false);
  });

  it("an address without an ip attribute is v4 (RFC 5732 §4 default)", async () => {
    await ours.command(
      "host:create",
      { create: { "host:create": { "@_xmlns:host": NS.host, "host:name": "ns6.mine.example", "host:addr": "192.0.2.6" } } },
      clTRID(),
    );
    expect(parseHostInfData((await ours.command("host:info", hostInfoBody("ns6.mine.example"), clTRID())).resData).addrs).toEqual([
      { ip: "v4", addr: "192.0.2.6" },
    ]);
  });

  it("creates an external host without addresses; 2306 for one with addresses", async () => {
    const created = await createHost(ours, "ns1.external.net");
    expect(created.result.code).toBe(1000);
    const info = parseHostInfData((await ours.command("host:info", hostInfoBody("ns1.external.net"), clTRID())).resData);
    expect(info).toMatchObject({ name: "ns1.external.net", clID: TEST_CLID, status: ["ok"], addrs: [] });
    expect(sim.store.hosts.get("ns1.external.net")?.superordinate).toBeUndefined();
    expect(await refusal(createHost(ours, "ns2.external.net", [V4]))).toBe(2306);
    // a name under a TLD the registry does not serve is external even when it looks like ours
    expect(await refusal(createHost(ours, "ns1.mine.example.org", [V4]))).toBe(2306);
  });

  it("2303 from <host:info> for an unknown host", async () => {
    expect(await refusal(ours.command("host:info", hostInfoBody("nope.mine.example"), clTRID()))).toBe(2303);
  });

  it("<host:check> says which names are taken", async () => {
    const r = await ours.command(
      "host:check",
      { check: { "host:check": { "@_xmlns:host": NS.host, "host:name": ["NS1.mine.example", "free.mine.example"] } } },
      clTRID(),
    );
    const cd = children(child(r.resData, "chkData"), "cd").map((c) => [text(c, "name"), (child(c, "name")?.["@_avail"] as string) ?? ""]);
    expect(cd).toEqual([
      ["ns1.mine.example", "0"],
      ["free.mine.example", "1"],
    ]);
  });
});

describe("the host object service in the greeting and the login", () => {
  it("the simulator's greeting offers domain, contact and host, and the client logs in with all three", async () => {
    const logins: string[][] = [];
    const listener = (c: { name: string; objURIs?: string[] }) => c.name === "login" && logins.push(c.objURIs ?? []);
    sim.on("command", listener);
    try {
      const s = await open(TEST_CLID, PASSWORD);
      expect(s.greeting?.objURIs).toEqual([NS.domain, NS.contact, NS.host]);
      await s.logout(clTRID());
    } finally {
      sim.off("command", listener);
    }
    expect(logins).toEqual([[NS.domain, NS.contact, NS.host]]);
  });

  it("the client logs in only with the supported URIs the greeting offers", async () => {
    const offered = ["urn:example:unknown-1.0", NS.host, NS.domain];
    const logins: string[][] = [];
    const server = tls.createServer({ cert: sim.certificate!.cert, key: sim.certificate!.key }, (socket) => {
      const decoder = new FrameDecoder();
      socket.write(
        encodeFrame(buildEpp({ greeting: { svID: "fake", svDate: new Date().toISOString(), svcMenu: { version: "1.0", lang: "en", objURI: offered } } })),
      );
      socket.on("data", (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          const command = child(parseEpp(frame), "command");
          const login = child(command, "login");
          if (login) logins.push(children(child(login, "svcs"), "objURI").map((u) => text(u) ?? ""));
          socket.write(
            encodeFrame(
              buildEpp({ response: { result: { "@_code": login ? 1000 : 1500, msg: "ok" }, trID: { clTRID: text(command, "clTRID"), svTRID: "f-1" } } }),
            ),
          );
        }
      });
      socket.on("error", () => socket.destroy());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const s = await open(TEST_CLID, PASSWORD, (server.address() as { port: number }).port);
      await s.logout(clTRID());
    } finally {
      server.close();
    }
    // in the client's order (SUPPORTED_OBJ_URIS), without the URI it does not know, without contact (not offered)
    expect(logins).toEqual([[NS.domain, NS.host]]);
  });
});
