/**
 * `provisio deprovision tenant <id>` (src/cli/deprovision.ts): what it reads from the tenant's last
 * completed onboarding, the options it maps onto tenant.deprovision's input, get-or-create by
 * --idempotency-key, --at as the run's scheduled_at, and its refusals (exit 1 naming what is missing, a
 * usage error for a bad option) with nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, type Account } from "../helpers/fixtures.js";
import { runCli } from "./run-cli.js";

let t: TestDatabase;
let acc: Account;
let app: string;
let admin: string;

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  app = (await t.pool.query<{ id: string }>("INSERT INTO application (tenant_customer_id, name) VALUES ($1, 'app') RETURNING id", [acc.tenantId])).rows[0]!.id;
  admin = (await t.pool.query<{ id: string }>("INSERT INTO identity (tenant_customer_id, username) VALUES ($1, 'boss') RETURNING id", [acc.tenantId])).rows[0]!
    .id;
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const cli = (args: string[]) => runCli(["deprovision", "tenant", ...args], { DATABASE_URL: t.url, PROVISIO_LOG_LEVEL: "silent" });
const runs = async () =>
  Number((await t.pool.query<{ n: string }>("SELECT count(*) AS n FROM provision_workflow WHERE template_name = 'tenant.deprovision'")).rows[0]!.n);

describe("provisio deprovision tenant", () => {
  it("without an onboarding to read from, names the options it needs; nothing is written", async () => {
    const r = await cli([acc.tenantId]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no completed tenant\.onboard run .*give --slug, --application, --admin/);
    expect(await runs()).toBe(0);
  });

  it("usage errors: a bad tenant id, grace period or time", async () => {
    for (const args of [["not-a-uuid"], [acc.tenantId, "--grace-period", "721"], [acc.tenantId, "--application", "x"]]) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr.length).toBeGreaterThan(0);
    }
    const r = await cli([acc.tenantId, "--slug", "acme", "--application", app, "--admin", admin, "--at", "someday"]);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/--at someday: not a date-time/)]);
    expect(await runs()).toBe(0);
  });

  it("starts the run with the options as its input, once per idempotency key, at --at", async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const args = [acc.tenantId, "--slug", "acme", "--application", app, "--admin", admin, "--grace-period", "1", "--no-preserve-backups", "--no-notify-users"];
    const r = await cli([...args, "--idempotency-key", "dep-1", "--at", at]);
    expect(r.code, r.stderr).toBe(0);
    const id = /run ([0-9a-f-]{36})/.exec(r.stdout)![1]!;
    expect(r.stdout).toMatch(/^started: tenant\.deprovision run/);
    const row = (await t.pool.query("SELECT input, scheduled_at, wf_status_id FROM provision_workflow WHERE id = $1", [id])).rows[0];
    expect(row.input).toEqual({
      tenant_slug: "acme",
      application_id: app,
      admin_identity_id: admin,
      grace_period_hours: 1,
      preserve_backups: false,
      notify_users: false,
      preserve_audit_logs: true,
    });
    expect(new Date(row.scheduled_at).toISOString()).toBe(at);
    const again = await cli([...args, "--idempotency-key", "dep-1", "--at", at]);
    expect(again.stdout).toMatch(new RegExp(`^already started: tenant\\.deprovision run ${id}`));
    expect(await runs()).toBe(1);
  });
});
