/**
 * `provisio access plan|discover|drift|approve` (src/cli/access.ts) as a person runs them: the CLI in a
 * child process against the test database, a worker in this process serving a SCIM application on the
 * built-in simulator. Exit codes and the lines a person reads are checked, and bad names fail with one
 * clear line.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScimSimulator } from "../../src/simulators/scim/server.js";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.js";
import { createAccessFixture, type AccessFixture } from "../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, finalProvision, type Account } from "../helpers/fixtures.js";
import { runCli } from "./run-cli.js";

const TOKEN_ENV = "PROVISIO_TEST_CLI_SCIM_TOKEN";
let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
let scim: ScimSimulator;
let f: AccessFixture;
let appName: string;
let env: Record<string, string>;

beforeAll(async () => {
  process.env[TOKEN_ENV] = "cli-token";
  scim = new ScimSimulator({ token: "cli-token" });
  await scim.start();
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  const staff = scim.store.createGroup({ displayName: "staff" });
  const admins = scim.store.createGroup({ displayName: "admins" });
  f = await createAccessFixture(t.pool, acc.tenantId, {
    connectorType: "scim",
    configuration: { baseUrl: scim.baseUrl, token_env: TOKEN_ENV },
    nativeKeys: [staff.id, admins.id],
    username: "Grace.Hopper",
  });
  appName = (await t.pool.query<{ name: string }>("SELECT name FROM application WHERE id = $1", [f.applicationId])).rows[0]!.name;
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
  env = { DATABASE_URL: t.url, PROVISIO_LOG_LEVEL: "silent" };
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await scim?.stop();
});

describe("provisio access", () => {
  it("plan shows what a grant would do, without doing it", async () => {
    const r = await runCli(["access", "plan", "grace.hopper"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/plan for Grace\.Hopper \(dry run [0-9a-f-]+, completed\): 3 change\(s\) in 1 application\(s\)/);
    expect(r.stdout).toMatch(/create_account\s*│?\s*grace\.hopper\s*│?\s*apply/);
    expect(scim.store.findUserByUserName("grace.hopper")).toBeUndefined();
  });

  it("discover reports the drift it found, drift lists it, and a held repair is released by approve", async () => {
    expect(
      (
        await finalProvision(
          t.pool,
          (
            await t.pool.query<{ id: string }>("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
              acc.tenantId,
              f.identityId,
            ])
          ).rows[0]!.id,
        )
      ).status,
    ).toBe("completed");
    const clean = await runCli(["access", "discover", appName], env);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/complete \(pass [0-9a-f-]+\): 1 account\(s\) in 1 page\(s\); drift: none/);
    expect(clean.stdout).toContain("reconcile mode report");

    // drift by hand: an orphan account appears; repair mode with a share of 0 holds any revoke
    scim.store.createUser({ userName: "intruder", active: true });
    const extra = scim.store.createGroup({ displayName: "extra" });
    await t.pool.query("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'extra', $3)", [
      acc.tenantId,
      f.applicationId,
      extra.id,
    ]);
    const user = scim.store.findUserByUserName("grace.hopper")!;
    scim.store.groups.set(extra.id, { ...scim.store.groups.get(extra.id)!, members: [{ value: user.id }] });
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 0 WHERE id = $1", [f.applicationId]);
    const held = await runCli(["access", "discover", f.applicationId], env);
    expect(held.code).toBe(0);
    expect(held.stdout).toMatch(/drift: excess 1, orphan 1/);
    const approve = /provisio access approve ([0-9a-f-]{36})/.exec(held.stdout)?.[1];
    expect(approve, held.stdout).toBeDefined();

    const drift = await runCli(["access", "drift", "--application", appName], env);
    expect(drift.code).toBe(0);
    expect(drift.stdout).toMatch(/excess\s*│?\s*Grace\.Hopper\s*│?\s*grace\.hopper/);
    expect(drift.stdout).toMatch(/orphan\s*│?\s*│?\s*intruder/);
    expect(drift.stdout).toContain(`${appName}: repair HELD`);

    const released = await runCli(["access", "approve", approve!], env);
    expect(released).toMatchObject({ code: 0, stdout: `repair of pass ${approve}: queued\n` });
  });

  it("names what is wrong in one line and exits 1", async () => {
    const unknown = await runCli(["access", "discover", "no-such-app"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('provisio: PV_CONFIG: no application "no-such-app"\n');
    const other = await createAccount(t.pool, { name: "cli-other" });
    await t.pool.query("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2)", [other.tenantId, appName]);
    const ambiguous = await runCli(["access", "drift", "--application", appName], env);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/2 tenants have an application named "app-[0-9a-f]+" \(.*\): give --tenant or the id/);
    const scoped = await runCli(["access", "drift", "--application", appName, "--tenant", acc.tenantId], env);
    expect(scoped.code).toBe(0);
    const bad = await runCli(["access", "approve", "yesterday"], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('<run> must be a discovery pass id (uuid), got "yesterday"');
  });
});
