/**
 * `provisio status` (src/cli/status.ts, issue 10): with --tenant, the orders, the provisions and the
 * count of provisions by status are that tenant's only; --tenant must be a uuid (a usage error, exit 1,
 * before any database is contacted).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderStatus } from "../../src/cli/status.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, createOrder, jobOf, provisionDomain, type Account } from "../helpers/fixtures.js";
import { runCli } from "./run-cli.js";

let t: TestDatabase;
let a: Account;
let b: Account;

/** the summary after "Provisions (latest N) — " */
const summary = (text: string) => /^Provisions \(latest \d+\) — (.*)$/m.exec(text)?.[1];

beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool, { name: "status-a" });
  b = await createAccount(t.pool, { name: "status-b" });
  // tenant A: one order, two provisions, one failed; tenant B: three pending provisions
  const o = await createOrder(t.pool, a.tenantId);
  await provisionDomain(t.pool, a, "a-one.example", { planId: o.planId });
  await t.pool.query("SELECT job_fail($1, 'EPP2306: policy')", [await jobOf(t.pool, await provisionDomain(t.pool, a, "a-two.example"))]);
  for (const n of ["b-one", "b-two", "b-three"]) await provisionDomain(t.pool, b, `${n}.example`);
  await createOrder(t.pool, b.tenantId);
});
afterAll(() => t?.close());

describe("provisio status", () => {
  it("--tenant counts only that tenant's provisions in the summary, and lists only its rows", async () => {
    const all = await renderStatus(t.pool, { limit: 20 });
    expect(summary(all)).toBe("failed: 1, pending: 4");

    const onlyA = await renderStatus(t.pool, { limit: 20, tenant: a.tenantId });
    expect(summary(onlyA)).toBe("failed: 1, pending: 1");
    expect(onlyA).toContain("a-one.example");
    expect(onlyA).not.toContain("b-one.example");

    const onlyB = await renderStatus(t.pool, { limit: 20, tenant: b.tenantId });
    expect(summary(onlyB)).toBe("pending: 3");
    expect(onlyB).not.toContain("a-one.example");

    const none = await renderStatus(t.pool, { limit: 20, tenant: "00000000-0000-4000-8000-000000000000" });
    expect(summary(none)).toBe("no provisions yet");
  });

  it("the command prints the same for --tenant", async () => {
    const r = await runCli(["status", "--tenant", a.tenantId.toUpperCase()], { DATABASE_URL: t.url });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(summary(r.stdout)).toBe("failed: 1, pending: 1");
  });

  it.each(["nope", "' OR true --", "1234", `${"0".repeat(32)}`])("refuses --tenant %j as a usage error, before contacting the database", async (bad) => {
    // a database that does not answer: the error must come from the argument, not from PostgreSQL
    const r = await runCli(["status", "--tenant", bad], { DATABASE_URL: "postgres://nobody@127.0.0.1:1/nothing" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      `error: option '-t, --tenant <uuid>' argument '${bad}' is invalid. --tenant must be a uuid (8-4-4-4-12 hex digits), got "${bad}"`,
    );
    expect(r.stderr).not.toContain("ECONNREFUSED");
  });
});
