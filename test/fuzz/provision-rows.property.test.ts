/**
 * Property-based tests over provision rows (issue 3, "A fault and fuzz suite"), with fast-check.
 * Every column gets random and adversarial values: overlong names, Unicode, NULLs, SQL and XML
 * metacharacters, control characters, negative and huge periods, malformed and unknown uuids, another
 * tenant's accreditation or order plan — and the classes that used to get through (issue 10, item 10):
 * A-labels that are not valid Punycode, nested arrays, names and fields of only (Unicode) white space or
 * with characters XML 1.0 forbids (U+FFFE, U+FFFF, controls), e-mail addresses with empty dot-atoms,
 * nameservers that repeat after normalising (case, trailing dot), fractional periods. Each row must either
 *   - be rejected with a documented SQLSTATE (docs/errors.md) and leave nothing written: no provision,
 *     job, graphile-worker job, event or audit row; or
 *   - be accepted and provisioned: a worker running against the EPP simulator takes it to a final
 *     status; a failure carries the registry's EPP result code, never an internal error; nothing stuck.
 * Values reach PostgreSQL as text parameters cast in SQL, as an order system's driver would send them.
 * The worker starts after the INSERTs, so "nothing written" is an exact comparison of row counts.
 * PROVISIO_FUZZ_RUNS sets the number of rows per table (default 150); PROVISIO_FUZZ_SEED the seed
 * (default fixed; "random" for a new one each run).
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EppRegistrySimulator } from "../../src/simulators/epp-registry/server.js";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, createOrder, waitFor, writeCounts, type Account } from "../helpers/fixtures.js";
import { startSimulator, stopSimulator } from "../helpers/simulator.js";

/**
 * SQLSTATEs a provision INSERT may answer with: the codes of docs/errors.md's section on validation, read
 * from the page itself so that a new code is documented before the fuzz test accepts it. 42501 (another
 * tenant) is left out: these INSERTs run as the owner, for whom that check does not apply.
 */
const DOCUMENTED = new Set(
  [
    ...readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8")
      .split("## Raised by job functions")[0]!
      .matchAll(/^\| (\w{5}) \|/gm),
  ]
    .map((m) => m[1]!)
    .filter((code) => code !== "42501" && code !== "PV108"),
);
const RUNS = Number(process.env.PROVISIO_FUZZ_RUNS ?? 150);
/**
 * Fixed by default so that CI is repeatable (a failure prints its seed and path for fast-check to replay);
 * PROVISIO_FUZZ_SEED=random explores new inputs, or give a number.
 */
const SEED = process.env.PROVISIO_FUZZ_SEED === "random" ? Date.now() ^ (Math.random() * 2 ** 31) : Number(process.env.PROVISIO_FUZZ_SEED ?? 20261121);

let t: TestDatabase;
let sim: EppRegistrySimulator;
let worker: WorkerHandle;
let mine: Account;
let other: Account;
let myPlan: string;
let otherPlan: string;
const accepted: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  const s = await startSimulator();
  sim = s.sim;
  mine = await createAccount(t.pool, { connectorType: "epp", config: s.config, maxSessions: 4 });
  other = await createAccount(t.pool, { connectorType: "epp", config: s.config, maxSessions: 4 });
  myPlan = (await createOrder(t.pool, mine.tenantId)).planId;
  otherPlan = (await createOrder(t.pool, other.tenantId)).planId;
  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2");
});
afterAll(async () => {
  await worker?.stop();
  await stopSimulator(sim);
  await t?.close();
});

// ---- value generators -----------------------------------------------------------------------------
const metachars = fc.constantFrom(
  "'",
  "''",
  '"',
  ";",
  "--",
  "/*",
  "*/",
  "\\",
  "%",
  "_",
  "$1",
  "$$",
  "<",
  ">",
  "&",
  "]]>",
  "<![CDATA[",
  "\u0000",
  "\u0001",
  "\t",
  "\n",
  " ",
  "\u00a0",
  "\u200b",
  "\ud83d\ude00",
  "ü",
  "ß",
  "İ",
  "Ω",
  "\u3000",
  "\u2003",
  "\u0085",
  "\ufffe",
  "\uffff",
  "\ufeff",
);
/**
 * Values of the classes that used to get through (issue 10, item 10). Whichever column such a value
 * lands in, the row must be rejected: the generator records it, and {@link checkRejectedOrAccepted}
 * fails a row that holds one and was accepted.
 */
const MUST_REJECT = new Set<string>();
const refused = (...values: string[]) => {
  for (const v of values) MUST_REJECT.add(v);
  return fc.constantFrom(...values);
};
/** Only white space, Unicode's included, or characters XML 1.0 cannot carry. */
const blankOrUnXml = refused("\u3000", "\u3000\u3000", " \u00a0 ", "\u2003\u200b", "\ufeff", "\t", "Ada\ufffe", "\uffffLovelace", "x\u0085y", "a\u0001b");
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.array(metachars, { maxLength: 6 }).map((a) => a.join("")),
  fc.constantFrom("", " ", "NULL", "null", "'; DROP TABLE job; --", "x'); DELETE FROM class.provision; --", "a".repeat(300), "a".repeat(70_000)),
);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const validName = fc.tuple(label, fc.constantFrom("example", "test", "EXAMPLE", "test.")).map(([l, tld]) => `fz-${l}.${tld}`);
const domainName = fc.oneof(
  { weight: 4, arbitrary: validName },
  fc.constant(null),
  nasty,
  fc.tuple(label, nasty).map(([l, n]) => `${l}${n}.example`),
  fc.constantFrom(
    "bücher.example",
    "xn--bcher-kva.example",
    `${"a".repeat(64)}.example`,
    `${"a.".repeat(130)}example`,
    "-lead.example",
    "trail-.example",
    "nope.invalidtld",
    "example",
    "a..example",
    "123.456",
  ),
  // A-labels: invalid Punycode, ASCII-only or mixed-direction ones, and random ones (some valid)
  refused("xn--zz.example", "xn--a.example", "xn--abc-def.example", "xn--123.example", "xn--99.example", "name..", "name.example.."),
  fc.constantFrom("xn--mnchen-3ya.example", "xn--mgbh0fb.test", "FZ-Upper.Example."),
  label.map((l) => `xn--${l}.example`),
);
const uuidBad = fc.oneof(fc.uuid(), fc.constant(null), nasty);
const period = fc.oneof(
  fc.constantFrom(null, "0", "-1", "11", "99", "2147483647", "2147483648", "-2147483649", "99999999999999999999", "1e0", "one", "", " 1"),
  refused("1.5", "2.5", "0.5", "9.99", "NaN", "Infinity"),
);
const contactIdOk = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{2,15}$/);
const pgArray = (items: fc.Arbitrary<string[]>) => items.map((a) => `{${a.map((x) => `"${x.replace(/(["\\])/g, "\\$1")}"`).join(",")}}`);
const authInfoOk = fc.stringMatching(/^[A-Za-z0-9!#%+=-]{6,32}$/);
const statusBad = fc.constantFrom("2", "3", "4", "99", "-1", null);
type Row = Record<string, string | null | undefined>;

/**
 * A valid row with up to three columns replaced by adversarial values, so that every column's rules
 * are reached often and many rows are still accepted. `tenants` picks the tenant/accreditation pair:
 * mine, the other tenant's, or mismatched.
 */
function mutated(valid: fc.Arbitrary<Row>, bad: Record<string, fc.Arbitrary<string | null>>): fc.Arbitrary<Row> {
  const keys = Object.keys(bad);
  return fc.tuple(valid, fc.subarray(keys, { maxLength: 3 }), fc.constantFrom("mine", "other", "mismatched")).chain(([row, cols, tenants]) =>
    fc.tuple(...cols.map((c) => bad[c]!)).map((vals) => {
      const out: Row = {
        ...row,
        tenant_customer_id: tenants === "other" ? other.tenantId : mine.tenantId,
        accreditation_id: tenants === "mine" ? mine.accreditationId : other.accreditationId,
      };
      cols.forEach((c, i) => (out[c] = vals[i]));
      return out;
    }),
  );
}

const domainRow = () =>
  mutated(
    fc.record({
      name: validName,
      registration_period: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 10 }).map(String)),
      pw: fc.oneof(fc.constant(undefined), authInfoOk),
      registrant: fc.constant(undefined),
      admin_contact: fc.oneof(fc.constant(undefined), contactIdOk),
      nameservers: fc.oneof(
        fc.constant(undefined),
        pgArray(
          fc.array(
            label.map((l) => `ns-${l}.example.net`),
            { maxLength: 4 },
          ),
        ),
      ),
      order_item_plan_ids: fc.oneof(fc.constant(undefined), fc.constant(`{${myPlan}}`)),
    }),
    {
      tenant_customer_id: uuidBad,
      accreditation_id: uuidBad,
      name: domainName,
      registration_period: period,
      pw: fc.oneof(nasty, fc.constant(null)),
      registrant: nasty,
      admin_contact: nasty,
      tech_contact: nasty,
      billing_contact: nasty,
      nameservers: fc.oneof(
        fc.constant(null),
        nasty,
        pgArray(
          fc.array(
            fc.oneof(
              label.map((l) => `ns-${l}.example.net`),
              nasty,
            ),
            { minLength: 1, maxLength: 15 },
          ),
        ),
        // the same host twice after normalising (case, a trailing dot), and a nested array
        label
          .chain((l) => pgArray(fc.constantFrom([`ns-${l}.example.net`, `NS-${l}.Example.NET.`], [`ns-${l}.example.net.`, `ns-${l}.example.net`])))
          .map((v) => {
            MUST_REJECT.add(v);
            return v;
          }),
        refused('{{"ns1.example.net"},{"ns2.example.net"}}', '{"ns1.xn--zz.example"}'),
      ),
      order_item_plan_ids: fc.oneof(
        fc.constantFrom(`{${otherPlan}}`, "{}", "{NULL}", `{${myPlan},${myPlan}}`, null),
        fc.uuid().map((u) => `{${u}}`),
        nasty,
      ),
      status_id: statusBad,
      job_id: fc.oneof(fc.uuid(), nasty),
      result_message: nasty,
    },
  );

const contactRow = () =>
  mutated(
    fc.record({
      contact_id: fc.stringMatching(/^fz[A-Za-z0-9-]{1,14}$/),
      name: fc.constantFrom("Ada Lovelace", "Zoë Ñúñez", "O'Brien & Sons"),
      org: fc.constantFrom(undefined, "Analytical Engines Ltd"),
      street: fc.constantFrom(undefined, '{"1 Main St"}', '{"1 Main St","Floor 2"}'),
      city: fc.constantFrom("London", "Köln"),
      cc: fc.constantFrom("GB", "de", "US"),
      voice: fc.constantFrom(undefined, "+44.2071234567"),
      email: fc.constantFrom("ada@example.net", "o'brien@example.org"),
      pw: fc.oneof(fc.constant(undefined), authInfoOk),
    }),
    {
      tenant_customer_id: uuidBad,
      accreditation_id: uuidBad,
      contact_id: fc.oneof(nasty, fc.constant(null)),
      name: fc.oneof(nasty, blankOrUnXml, fc.constant(null)),
      org: fc.oneof(nasty, blankOrUnXml),
      street: fc.oneof(
        pgArray(fc.array(fc.oneof(nasty, blankOrUnXml), { maxLength: 5 })),
        nasty,
        fc.constant(null),
        refused('{{"1 Main St"},{"Floor 2"}}', '{{"a","b"}}', '{{{"deep"}}}'),
      ),
      city: fc.oneof(nasty, blankOrUnXml, fc.constant(null)),
      sp: fc.oneof(nasty, blankOrUnXml),
      pc: fc.oneof(nasty, blankOrUnXml),
      cc: fc.oneof(nasty, fc.constant(null)),
      voice: fc.oneof(nasty, fc.constantFrom("+1.5555555555x", "12345", "+999999999999999999")),
      fax: nasty,
      email: fc.oneof(
        fc.emailAddress(),
        nasty,
        fc.constant(null),
        refused(".a..b.@example.com", "a..b@example.com", "a.@example.com", ".a@example.com", "..@example.net", "a.b@example.com."),
      ),
      pw: fc.oneof(nasty, blankOrUnXml, fc.constant(null)),
      status_id: statusBad,
    },
  );

interface Outcome {
  code?: string;
  id?: string;
}

async function tryInsert(table: string, row: Record<string, string | null | undefined>, casts: Record<string, string>): Promise<Outcome> {
  const cols = Object.keys(row).filter((k) => row[k] !== undefined);
  const sql = `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map((c, i) => `$${i + 1}::${casts[c] ?? "text"}`).join(", ")}) RETURNING id`;
  try {
    const r = await t.pool.query(
      sql,
      cols.map((c) => row[c]),
    );
    return { id: r.rows[0].id };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!code) throw err; // not a database answer: a bug in the test or a crash
    return { code };
  }
}

async function checkRejectedOrAccepted(table: string, row: Record<string, string | null | undefined>, casts: Record<string, string>) {
  const before = await writeCounts(t.pool);
  const out = await tryInsert(table, row, casts);
  if (out.code) {
    expect([DOCUMENTED.has(out.code) ? out.code : `undocumented: ${out.code}`, row]).toEqual([out.code, row]);
    expect(await writeCounts(t.pool)).toEqual(before);
    return;
  }
  const mustReject = Object.entries(row).filter(([, v]) => typeof v === "string" && MUST_REJECT.has(v));
  expect(mustReject, "a value of a class that must be refused was accepted").toEqual([]);
  accepted.push(out.id!);
  const after = await writeCounts(t.pool);
  const job = (
    await t.pool.query(
      "SELECT j.status_id, (SELECT count(*)::int FROM graphile_worker.jobs g WHERE g.key = j.id::text) AS gw FROM job j JOIN class.provision p ON p.job_id = j.id WHERE p.id = $1",
      [out.id],
    )
  ).rows[0];
  expect(job, "an accepted row has a job").toBeDefined();
  expect([job.status_id, job.gw]).toEqual([1, 1]); // pending, queued in graphile-worker
  expect(after).toMatchObject({ provisions: before.provisions! + 1, jobs: before.jobs! + 1, graphileJobs: before.graphileJobs! + 1 });
}

describe("provision rows: rejected cleanly or provisioned (fast-check)", () => {
  it("provision_domain", async () => {
    // registration_period as numeric: a fractional period reaches the trigger (the column is NUMERIC)
    const casts = {
      tenant_customer_id: "uuid",
      accreditation_id: "uuid",
      registration_period: "numeric",
      nameservers: "text[]",
      order_item_plan_ids: "uuid[]",
      status_id: "smallint",
      job_id: "uuid",
    };
    await fc.assert(
      fc.asyncProperty(domainRow(), (row) => checkRejectedOrAccepted("provision_domain", row, casts)),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("provision_contact", async () => {
    const casts = { tenant_customer_id: "uuid", accreditation_id: "uuid", street: "text[]", status_id: "smallint" };
    await fc.assert(
      fc.asyncProperty(contactRow(), (row) => checkRejectedOrAccepted("provision_contact", row, casts)),
      { numRuns: RUNS, seed: SEED + 1 },
    );
  });

  it("every accepted row reached a final status; failures carry the registry's EPP result, nothing is stuck", async () => {
    expect(accepted.length).toBeGreaterThan(10);
    worker = await startWorker({ connectionString: t.url, concurrency: 4, pollInterval: 100 });
    await waitFor(
      `${accepted.length} accepted provisions final`,
      async () => (await t.pool.query("SELECT count(*)::int AS n FROM v_provision WHERE id = ANY($1) AND is_final", [accepted])).rows[0].n === accepted.length,
      60_000,
      200,
    );
    const failed = (
      await t.pool.query(
        "SELECT v.id, v.result_message, v.result_data, j.data FROM v_provision v JOIN job j ON j.id = v.job_id WHERE v.id = ANY($1) AND v.status = 'failed'",
        [accepted],
      )
    ).rows;
    for (const f of failed)
      expect([f.data, f.result_message, f.result_data?.error_code]).toEqual([f.data, f.result_message, expect.stringMatching(/^EPP2\d{3}$/)]);
    const completed = accepted.length - failed.length;
    const byCode = failed.reduce<Record<string, number>>((m, f) => ({ ...m, [f.result_data.error_code]: (m[f.result_data.error_code] ?? 0) + 1 }), {});
    console.log(
      `[fuzz] seed ${SEED}: ${accepted.length} rows accepted: ${completed} completed, ${failed.length} failed at the registry ${JSON.stringify(byCode)}`,
    );
    expect(completed).toBeGreaterThan(0);
    await waitFor(
      "graphile-worker queue empty",
      async () => (await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs")).rows[0].n === 0,
      30_000,
    );
    expect((await t.pool.query("SELECT count(*)::int AS n FROM job WHERE status_id IN (1, 2)")).rows[0].n).toBe(0);
  });
});
