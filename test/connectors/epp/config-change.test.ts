/**
 * A running EPP connector follows accreditation changes (issue 10, item 9): a moved registry, a rotated
 * password (file or environment variable), a new CA, a new max_sessions — each used by the next session
 * opened, with no new EppConnector and no process restart. Sessions of the old settings finish their
 * command and are then logged out; a refused login or a TLS failure is retried (transient) and marked
 * `configSuspect` (the caller re-reads the accreditation). Real simulators over TLS.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EppConnector } from "../../../src/connectors/epp/connector.js";
import { EppCommandError, EppTransportError, rejectsSettings } from "../../../src/connectors/epp/errors.js";
import type { Accreditation } from "../../../src/connectors/capabilities/registry.js";
import type { CommandContext } from "../../../src/connectors/types.js";
import { logger } from "../../../src/logger.js";
import { makeCertificate, type SimulatorCertificate } from "../../../src/simulators/epp-registry/certificate.js";
import { EppRegistrySimulator } from "../../../src/simulators/epp-registry/server.js";
import { waitFor } from "../../helpers/fixtures.js";

const CLID = "moving-registrar";
const PW_ENV = "PROVISIO_TEST_CONFIG_CHANGE_PW";

let dir: string;
let connector: EppConnector;
const sims = new Set<EppRegistrySimulator>();
let seq = 0;
const ctx = (): CommandContext => ({ correlationId: `cc-${++seq}`, attempt: 1, log: logger() });
const create = (acc: Accreditation, name: string) => connector.domainCreate(acc, { name, period: 1, authInfo: "a-pw", contacts: [], nameservers: [] }, ctx());

interface Registry {
  sim: EppRegistrySimulator;
  /** the simulator's accounts (clID -> password); changing it changes what the next login must send */
  registrars: Record<string, string>;
  certificate: SimulatorCertificate;
  port: number;
}

/** Start a simulator (on `port` when given, e.g. to restart a registry in place). */
async function startRegistry(password: string, opts: { port?: number; certificate?: SimulatorCertificate } = {}): Promise<Registry> {
  const registrars = { [CLID]: password };
  const certificate = opts.certificate ?? (await makeCertificate());
  const sim = new EppRegistrySimulator({ registrars, tlds: ["example"], port: opts.port, certificate });
  const port = await sim.start();
  sims.add(sim);
  return { sim, registrars, certificate, port };
}

async function stopRegistry(r: Registry): Promise<void> {
  await r.sim.stop();
  sims.delete(r.sim);
}

/** Write `content` to `name` in the test's directory; returns the path. */
async function file(name: string, content: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
}

/** EPP accreditation config pointing at `r`, trusting the CA in `caFile`. */
function configFor(r: Registry, caFile: string, secret: Record<string, string> = { password_env: PW_ENV }, host = "127.0.0.1"): Record<string, unknown> {
  return { host, port: r.port, clID: CLID, ...secret, tls: { ca_file: caFile, servername: "localhost" } };
}

function account(id: string, config: Record<string, unknown>, maxSessions = 2): Accreditation {
  return { id, tenantCustomerId: "t", name: "moving", provider: "sim", connectorType: "epp", config, maxSessions };
}

/** The names of the commands the simulator executes, in order (login, logout, domain:create, ...). */
function record(sim: EppRegistrySimulator): string[] {
  const seen: string[] = [];
  sim.on("command", (c: { name: string }) => seen.push(c.name));
  return seen;
}

/**
 * The outcome of `fn` once it is not the failure of a session the stopped registry cut (the client may
 * not have seen the connection close yet; that attempt fails as an ambiguous PV_EPP_CONNECTION).
 */
async function afterCut<T>(fn: () => Promise<T>): Promise<unknown> {
  for (let i = 0; ; i++) {
    const r = await fn().then(
      (v) => ({ v }),
      (e: unknown) => ({ e }),
    );
    if ("v" in r) return r.v;
    if (i < 2 && r.e instanceof EppTransportError && r.e.code === "PV_EPP_CONNECTION" && r.e.ambiguous) continue;
    return r.e;
  }
}

const count = (sim: EppRegistrySimulator, name: string) => sim.commandCounts.get(name) ?? 0;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "provisio-config-change-"));
  connector = new EppConnector({ commandTimeoutMs: 3000, connectTimeoutMs: 3000 });
});
afterEach(async () => {
  await connector.close();
  await Promise.all([...sims].map((s) => s.stop()));
  sims.clear();
  delete process.env[PW_ENV];
  await rm(dir, { recursive: true, force: true });
});

describe("a running EPP connector follows accreditation changes", () => {
  it("uses the new host and port once the registry has moved (the old one stopped)", async () => {
    process.env[PW_ENV] = "pw-1";
    const a = await startRegistry("pw-1");
    const b = await startRegistry("pw-1");
    const acc = account("acc-move", configFor(a, await file("a.pem", a.certificate.cert)));
    await create(acc, "before-move.example");
    expect(a.sim.store.domains.has("before-move.example")).toBe(true);

    await stopRegistry(a);
    const moved = { ...acc, config: configFor(b, await file("b.pem", b.certificate.cert)) };
    const r = await afterCut(() => create(moved, "after-move.example"));
    expect(r).toMatchObject({ result: { code: 1000 } });
    expect(b.sim.store.domains.has("after-move.example")).toBe(true);
    expect(count(b.sim, "login")).toBe(1);
  });

  const secretKinds: [kind: string, ref: (pw: string) => Promise<Record<string, string>>, rotate: (pw: string) => Promise<unknown>][] = [
    ["password_file", async (pw) => ({ password_file: await file("epp-password", `${pw}\n`) }), (pw) => file("epp-password", `${pw}\n`)],
    ["password_env", async (pw) => ((process.env[PW_ENV] = pw), { password_env: PW_ENV }), async (pw) => (process.env[PW_ENV] = pw)],
  ];
  it.each(secretKinds)(
    "logs in with a rotated secret (%s): the refusal of the old one is transient and the next attempt succeeds",
    async (_kind, secretRef, rotate) => {
      const first = await startRegistry("pw-old");
      const ca = await file("ca.pem", first.certificate.cert);
      const acc = account("acc-rotate", configFor(first, ca, await secretRef("pw-old")));
      await create(acc, "old-pw.example");

      // the registry changes the password and restarts (its sessions are cut); the secret is not updated yet
      await stopRegistry(first);
      const second = await startRegistry("pw-new", { port: first.port, certificate: first.certificate });
      const refused = await afterCut(() => create(acc, "refused.example"));
      expect(refused).toBeInstanceOf(EppCommandError);
      expect(refused).toMatchObject({ code: "EPP2200", retryable: true, configSuspect: true });

      // the operator updates the secret: the same accreditation, the same connector, the next attempt logs in
      await rotate("pw-new");
      await expect(create(acc, "new-pw.example")).resolves.toMatchObject({ result: { code: 1000 } });
      expect(second.sim.store.domains.has("new-pw.example")).toBe(true);
      expect(count(second.sim, "login")).toBe(2); // the refused one and the new one
    },
  );

  it("verifies the registry against a rewritten CA file after the registry's certificate changed", async () => {
    process.env[PW_ENV] = "pw";
    const first = await startRegistry("pw");
    const caFile = await file("ca.pem", first.certificate.cert);
    const acc = account("acc-ca", configFor(first, caFile));
    await create(acc, "old-cert.example");

    await stopRegistry(first);
    const second = await startRegistry("pw", { port: first.port }); // a new self-signed certificate
    const untrusted = await afterCut(() => create(acc, "untrusted.example"));
    expect(untrusted).toBeInstanceOf(EppTransportError);
    expect(untrusted).toMatchObject({ retryable: true, configSuspect: true, ambiguous: false });
    expect(count(second.sim, "login")).toBe(0);

    await writeFile(caFile, second.certificate.cert);
    await expect(create(acc, "new-cert.example")).resolves.toMatchObject({ result: { code: 1000 } });
    expect(second.sim.store.domains.has("new-cert.example")).toBe(true);
  });

  it("lets a command in flight on the old settings finish, then logs its session out; max_sessions spans old and new", async () => {
    process.env[PW_ENV] = "pw";
    const r = await startRegistry("pw");
    const ca = await file("ca.pem", r.certificate.cert);
    const acc = account("acc-drain", configFor(r, ca), 1);
    await create(acc, "warm.example");
    const seen = record(r.sim);
    r.sim.faults.latencyMs = 150;

    // the old settings' only session is borrowed when the settings change (another host name for the
    // same registry); with max_sessions 1 the new pool may log in only once that session is logged out
    const inFlight = create(acc, "in-flight.example");
    const changed = { ...acc, config: configFor(r, ca, { password_env: PW_ENV }, "localhost") };
    const next = create(changed, "next.example");
    await expect(inFlight).resolves.toMatchObject({ result: { code: 1000 } });
    await expect(next).resolves.toMatchObject({ result: { code: 1000 } });
    expect(seen).toEqual(["domain:create", "logout", "login", "domain:create"]);
    expect(r.sim.connectionCount).toBe(1);

    // a job still holding the old Accreditation object is served by the new pool (no flip back)
    await expect(create(acc, "stale-object.example")).resolves.toMatchObject({ result: { code: 1000 } });
    expect(seen.slice(4)).toEqual(["domain:create"]);
    expect(r.sim.connectionCount).toBe(1);

    await connector.close();
    await waitFor("every session logged out", async () => r.sim.connectionCount === 0, 5000, 20);
    expect(count(r.sim, "logout")).toBe(2);
  });

  it("uses a raised max_sessions for the next sessions", async () => {
    process.env[PW_ENV] = "pw";
    const r = await startRegistry("pw");
    const acc = account("acc-max", configFor(r, await file("ca.pem", r.certificate.cert)), 1);
    await create(acc, "one.example");
    r.sim.faults.latencyMs = 100;
    const logins = count(r.sim, "login");
    const raised = { ...acc, maxSessions: 3 };
    await Promise.all([0, 1, 2].map((i) => create(raised, `three-${i}.example`)));
    expect(count(r.sim, "login") - logins).toBe(3);
    expect(count(r.sim, "logout")).toBe(1); // the old pool's idle session
  });

  it("logs out the idle sessions when a new session's login is refused", async () => {
    process.env[PW_ENV] = "pw-1";
    const r = await startRegistry("pw-1");
    const acc = account("acc-refused", configFor(r, await file("ca.pem", r.certificate.cert)), 2);
    await create(acc, "idle.example"); // one idle session, logged in with pw-1

    r.registrars[CLID] = "pw-2"; // the registry rotated; logged-in sessions stay
    // once the registry has the first command, it answers every later frame after 300 ms: the second
    // command's login is refused after the first command's session went back to the pool
    r.sim.once("command", () => (r.sim.faults.latencyMs = 300));
    const first = create(acc, "on-idle.example"); // borrows the idle session
    const second = create(acc, "new-session.example").catch((e: unknown) => e); // opens a session: refused
    await expect(first).resolves.toMatchObject({ result: { code: 1000 } });
    expect(await second).toMatchObject({ code: "EPP2200", configSuspect: true });
    await waitFor("the idle session logged out", async () => count(r.sim, "logout") === 1 && r.sim.connectionCount === 0, 5000, 20);
  });
});

/** The result codes of the logins the simulator answers, in order (2200: refused). */
function logins(sim: EppRegistrySimulator): number[] {
  const codes: number[] = [];
  sim.on("command", (c: { name: string; code: number }) => c.name === "login" && codes.push(c.code));
  return codes;
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (v) => ({ v }),
    (e: unknown) => ({ e }),
  );

describe("a refused login is not repeated at the registry while nothing changed", () => {
  it("with a wrong password file and 8 commands queued (3 sessions allowed), the registry sees one login; after the file is fixed the next command logs in", async () => {
    const r = await startRegistry("pw-right");
    const pwFile = await file("epp-password", "pw-wrong\n");
    const acc = account("acc-storm", configFor(r, await file("ca.pem", r.certificate.cert), { password_file: pwFile }), 3);
    const seen = logins(r.sim);

    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => settle(create(acc, `storm-${i}.example`))));
    for (const o of outcomes) {
      expect("e" in o && o.e).toBeInstanceOf(EppCommandError);
      expect("e" in o && o.e).toMatchObject({ code: "EPP2200", retryable: true, configSuspect: true, result: { code: 2200 } });
    }
    expect(seen).toEqual([2200]);

    // each job's next attempts, with the same settings and the same (wrong) secret: refused here
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(create(acc, `storm-retry-${attempt}.example`)).rejects.toMatchObject({ code: "EPP2200", configSuspect: true });
    }
    expect(seen).toEqual([2200]);
    await waitFor("the refused session closed", async () => r.sim.connectionCount === 0, 5000, 20);

    // the operator fixes the file: the next command logs in at once and succeeds
    await writeFile(pwFile, "pw-right\n");
    await expect(create(acc, "storm-fixed.example")).resolves.toMatchObject({ result: { code: 1000 } });
    expect(seen).toEqual([2200, 1000]);
    expect(r.sim.store.domains.has("storm-fixed.example")).toBe(true);
  });

  it("tries a real login at once when the settings change, and one login again once the cool-down is over", async () => {
    await connector.close();
    connector = new EppConnector({ commandTimeoutMs: 3000, connectTimeoutMs: 3000, loginRefusalCooldownMs: 300 });
    const r = await startRegistry("pw-right");
    process.env[PW_ENV] = "pw-wrong";
    const ca = await file("ca.pem", r.certificate.cert);
    const acc = account("acc-cooldown", configFor(r, ca), 2);
    const seen = logins(r.sim);

    await expect(create(acc, "cool-1.example")).rejects.toMatchObject({ code: "EPP2200" });
    await expect(create(acc, "cool-2.example")).rejects.toMatchObject({ code: "EPP2200" });
    expect(seen).toEqual([2200]);

    // the cool-down is over and the secret is still wrong: one login asks the registry again, not one per command
    await new Promise((resolve) => setTimeout(resolve, 400));
    const again = await Promise.all([0, 1, 2, 3].map((i) => settle(create(acc, `cool-again-${i}.example`))));
    expect(again.every((o) => "e" in o && (o.e as EppCommandError).code === "EPP2200")).toBe(true);
    expect(seen).toEqual([2200, 2200]);

    // an UPDATEd accreditation (another variable, holding the right password): a new login at once
    process.env.PROVISIO_TEST_CONFIG_CHANGE_PW_2 = "pw-right";
    try {
      const updated = { ...acc, config: configFor(r, ca, { password_env: "PROVISIO_TEST_CONFIG_CHANGE_PW_2" }) };
      await expect(create(updated, "cool-updated.example")).resolves.toMatchObject({ result: { code: 1000 } });
      expect(seen).toEqual([2200, 2200, 1000]);
    } finally {
      delete process.env.PROVISIO_TEST_CONFIG_CHANGE_PW_2;
    }
  });

  it("remembers nothing of the secret itself: the refusal is kept as a keyed hash, the error names no secret", async () => {
    const r = await startRegistry("pw-right");
    process.env[PW_ENV] = "pw-wrong-a1b2c3";
    const acc = account("acc-nosecret", configFor(r, await file("ca.pem", r.certificate.cert)), 1);
    await expect(create(acc, "ns-1.example")).rejects.toMatchObject({ code: "EPP2200" });
    const remembered = await create(acc, "ns-2.example").catch((e: unknown) => e);
    expect(remembered).toMatchObject({ code: "EPP2200" });
    expect(String((remembered as Error).message)).not.toContain("pw-wrong-a1b2c3");
    expect(JSON.stringify(remembered)).not.toContain("pw-wrong-a1b2c3");
  });
});

describe("idle sessions are dropped only when the failure can be about their settings", () => {
  it("keeps a healthy idle session when a new session's connect times out (a slow registry)", async () => {
    await connector.close();
    connector = new EppConnector({ commandTimeoutMs: 3000, connectTimeoutMs: 300 });
    process.env[PW_ENV] = "pw";
    const r = await startRegistry("pw");
    const acc = account("acc-slow", configFor(r, await file("ca.pem", r.certificate.cert)), 2);
    await create(acc, "warm.example"); // one idle session

    r.sim.faults.greetingDelayMs = 1500; // new connections get their greeting after the connect timeout
    const first = create(acc, "on-idle.example"); // borrows the idle session and gives it back at once
    const second = create(acc, "slow-open.example").catch((e: unknown) => e); // opens a session: times out
    await expect(first).resolves.toMatchObject({ result: { code: 1000 } });
    expect(await second).toMatchObject({ code: "PV_EPP_TIMEOUT", retryable: true, ambiguous: false });
    r.sim.faults.greetingDelayMs = 0;

    // the idle session was kept: the next command runs on it, without a new login
    await expect(create(acc, "still-idle.example")).resolves.toMatchObject({ result: { code: 1000 } });
    expect(count(r.sim, "logout")).toBe(0);
    expect(count(r.sim, "login")).toBe(1);
  });

  it("counts a failed certificate verification and a refused login as about the settings, a refused or slow connection not", async () => {
    process.env[PW_ENV] = "pw";
    const r = await startRegistry("pw");
    const ca = await file("ca.pem", r.certificate.cert);
    const fail = (acc: Accreditation) =>
      create(acc, "never.example").then(
        () => undefined,
        (e: unknown) => e,
      );

    const otherCa = await fail(account("acc-other-ca", configFor(r, await file("other.pem", (await makeCertificate()).cert))));
    expect(otherCa).toBeInstanceOf(EppTransportError);
    expect(otherCa).toMatchObject({ configSuspect: true, certificateRejected: true });
    expect(rejectsSettings(otherCa)).toBe(true);

    const wrongName = await fail(account("acc-wrong-name", { ...configFor(r, ca), tls: { ca_file: ca, servername: "not-the-registry.example" } }));
    expect(wrongName).toMatchObject({ configSuspect: true, certificateRejected: true });
    expect(rejectsSettings(wrongName)).toBe(true);

    r.registrars[CLID] = "pw-2";
    const refused = await fail(account("acc-refused-login", configFor(r, ca)));
    expect(refused).toMatchObject({ code: "EPP2200", loginRefused: true });
    expect(rejectsSettings(refused)).toBe(true);

    r.sim.faults.greetingDelayMs = 1500;
    await connector.close();
    connector = new EppConnector({ commandTimeoutMs: 3000, connectTimeoutMs: 300 });
    const slow = await fail(account("acc-slow-greeting", configFor(r, ca)));
    expect(slow).toMatchObject({ code: "PV_EPP_TIMEOUT", configSuspect: true, certificateRejected: false });
    expect(rejectsSettings(slow)).toBe(false);

    await stopRegistry(r);
    const down = await fail(account("acc-down", configFor(r, ca)));
    expect(down).toMatchObject({ code: "ECONNREFUSED", configSuspect: true, certificateRejected: false });
    expect(rejectsSettings(down)).toBe(false);
  });
});

describe("the settings read last win, in whatever order the connector sees them", () => {
  it("serves an object read before the current pool's with the current pool; a later read of the old settings switches back", async () => {
    process.env[PW_ENV] = "pw";
    const r = await startRegistry("pw");
    const ca = await file("ca.pem", r.certificate.cert);
    const seen = record(r.sim);
    const base = account("acc-read-order", configFor(r, ca), 1);
    // a job read the row (old settings), then another read it after an UPDATE (another host name for the
    // same registry); the second job reaches the connector first
    const readBefore: Accreditation = { ...base, readAt: 1_000 };
    const readAfter: Accreditation = { ...base, config: configFor(r, ca, { password_env: PW_ENV }, "localhost"), readAt: 2_000 };
    await create(readAfter, "read-after.example");
    await create(readBefore, "read-before.example");
    expect(seen).toEqual(["login", "domain:create", "domain:create"]); // one pool: no logout, no second login

    const readAgain: Accreditation = { ...base, readAt: 3_000 }; // the row holds the old settings again
    await create(readAgain, "read-again.example");
    expect(seen.slice(3)).toEqual(["logout", "login", "domain:create"]);
    await create(readAfter, "read-after-again.example"); // older than the current pool's: no flip
    expect(seen.slice(6)).toEqual(["domain:create"]);
  });
});
