/**
 * Malformed input from the wire (issue 3): a registry that sends truncated frames, impossible RFC 5734
 * length headers, invalid XML, a document that is not EPP, unexpected result codes, a success without
 * its resData, or stops answering. Each job must end failed with the reason in result_message and
 * result_data.error_code (docs/errors.md), after at most max_attempts attempts, with no crash and no
 * hang past the command timeout; the worker then carries on with a well-behaved registry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import type { FaultAction } from "../../src/simulators/epp-registry/faults.js";
import type { TestDatabase } from "../helpers/db.js";
import { startEppFlow, type EppFlow } from "../helpers/flow.js";
import { provisionDomain, waitFor, type Account } from "../helpers/fixtures.js";

const COMMAND_TIMEOUT_MS = 800;
process.env.PROVISIO_EPP_COMMAND_TIMEOUT_MS = String(COMMAND_TIMEOUT_MS);
process.env.PROVISIO_EPP_CONNECT_TIMEOUT_MS = "2000";

let flow: EppFlow;
let t: TestDatabase;
let sim: EppRegistrySimulator;
let acc: Account;

beforeAll(async () => {
  flow = await startEppFlow({ maxSessions: 2, jobTypes: "max_attempts = 3, retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.1" });
  ({ t, sim, acc } = flow);
});
afterAll(async () => {
  await flow?.stop();
});

const header = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const frame = (xml: string) => Buffer.concat([header(Buffer.byteLength(xml) + 4), Buffer.from(xml)]);
const response = (code: number, clTRID: string | undefined, extra = "") =>
  `<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0"><response><result code="${code}"><msg>odd</msg></result>${extra}<trID><clTRID>${clTRID ?? ""}</clTRID><svTRID>SV-1</svTRID></trID></response></epp>`;

const cases: { name: string; action: FaultAction; code: RegExp; message: RegExp; attempts: number }[] = [
  {
    name: "truncated frame, then the connection closes",
    action: { kind: "raw", bytes: Buffer.concat([header(400), Buffer.from('<?xml version="1.0"?><epp')]), close: true },
    code: /^PV_EPP_CONNECTION$/,
    message: /connection/i,
    attempts: 3,
  },
  {
    name: "truncated frame, then silence",
    action: { kind: "raw", bytes: Buffer.concat([header(400), Buffer.from('<?xml version="1.0"?><epp')]) },
    code: /^PV_EPP_TIMEOUT$/,
    message: /no response|timeout|timed out/i,
    attempts: 3,
  },
  { name: "length header of 2 GiB", action: { kind: "raw", bytes: header(0x7fffffff) }, code: /^PV_EPP_FRAME$/, message: /frame length/i, attempts: 3 },
  { name: "length header below the 4 header bytes", action: { kind: "raw", bytes: header(2) }, code: /^PV_EPP_FRAME$/, message: /frame length/i, attempts: 3 },
  {
    name: "invalid XML",
    action: { kind: "raw", bytes: frame("<epp><response><result code='1000'>") },
    code: /^PV_EPP_XML$/,
    message: /xml|not an EPP/i,
    attempts: 1,
  },
  {
    name: "well-formed XML that is not EPP",
    action: { kind: "raw", bytes: frame('<?xml version="1.0"?><html><body>502 Bad Gateway</body></html>') },
    code: /^PV_EPP_XML$/,
    message: /EPP/i,
    attempts: 1,
  },
  {
    name: "a result code outside RFC 5730's range",
    action: { kind: "raw", bytes: (id) => frame(response(5000, id)) },
    code: /^PV_EPP_XML$/,
    message: /result code/i,
    attempts: 1,
  },
  { name: "an unassigned 2xxx result code", action: { kind: "respond", code: 2999 }, code: /^EPP2999$/, message: /2999/, attempts: 1 },
  {
    name: "success (1000) without the <domain:creData> a create returns",
    action: { kind: "raw", bytes: (id) => frame(response(1000, id)) },
    code: /^PV_EPP_XML$/,
    message: /missing domain:name/i,
    attempts: 1,
  },
  {
    name: "a response for another command (clTRID mismatch)",
    action: { kind: "raw", bytes: frame(response(1000, "someone-else-1")) },
    code: /^PV_EPP_PROTOCOL$/,
    message: /clTRID/i,
    attempts: 3,
  },
  { name: "a server that stops answering", action: { kind: "stall" }, code: /^PV_EPP_TIMEOUT$/, message: /no response|timeout|timed out/i, attempts: 3 },
];

describe("a registry sending malformed input", () => {
  for (const [i, c] of cases.entries()) {
    it(`${c.name}: the job fails with the reason`, async () => {
      sim.faults.clear();
      sim.faults.add({ action: c.action, count: 100, commands: ["domain:create", "domain:info"] });
      const started = Date.now();
      const id = await provisionDomain(t.pool, acc, `wire-${i}.example`);
      const p = await waitFor("final", async () => (await t.pool.query("SELECT * FROM v_provision WHERE id = $1 AND is_final", [id])).rows[0], 30_000, 50);
      sim.faults.clear();
      expect({ status: p.status, code: p.result_data?.error_code }).toEqual({ status: "failed", code: expect.stringMatching(c.code) });
      expect(p.result_message).toMatch(c.message);
      expect(p.attempts).toBe(c.attempts);
      // bounded: each attempt ends within the command timeout (plus backoff and scheduling)
      expect(Date.now() - started).toBeLessThan(c.attempts * (COMMAND_TIMEOUT_MS * 2 + 2_000));
    });
  }

  it("leaves the worker healthy: a create against the well-behaved registry completes", async () => {
    sim.faults.clear();
    const id = await provisionDomain(t.pool, acc, "after-the-storm.example");
    const p = await waitFor("final", async () => (await t.pool.query("SELECT * FROM v_provision WHERE id = $1 AND is_final", [id])).rows[0], 30_000, 50);
    expect(p.status).toBe("completed");
  });
});
