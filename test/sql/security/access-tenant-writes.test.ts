/**
 * Tenants' sessions write their own access definitions (migrations/0016,
 * stored-procedures/validation/access_definitions.sql): a provisio_order login with app.tenant_id set
 * builds identities, roles, applications, entitlements and their configuration, and a grant on them
 * completes through the worker — within the tenant, within the operator's connector policy:
 *  - rows of another tenant, links across tenants, audit columns: refused, nothing written;
 *  - a connector configuration naming a variable, file or host the policy does not allow, written in a
 *    form URL parsers disagree on, or holding a secret inline at any depth: refused with the key named;
 *  - a policy tightened after the write stops the worker from reading the secret or reaching the host.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScimSimulator } from "../../../src/simulators/scim/server.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createTestDatabase, loginAs, tenantClients, type TestDatabase } from "../../helpers/db.js";
import { createAccount, finalProvision, waitFor, writeCounts, type Account } from "../../helpers/fixtures.js";

const TOKEN_ENV = "TENANT_A_SCIM_TOKEN";
let t: TestDatabase;
let a: Account;
let b: Account;
let worker: WorkerHandle;
let scim: ScimSimulator;
let mine: pg.Client;
const clients = tenantClients();

beforeAll(async () => {
  process.env[TOKEN_ENV] = "tenant-a-token";
  process.env.PROVISIO_NOT_FOR_TENANTS = "the worker's own secret";
  scim = new ScimSimulator({ token: "tenant-a-token" });
  await scim.start();
  t = await createTestDatabase();
  a = await createAccount(t.pool, { name: "writer-a" });
  b = await createAccount(t.pool, { name: "writer-b" });
  await t.pool.query(
    "INSERT INTO tenant_connector_policy (tenant_customer_id, secret_env_prefix, secret_file_dir, allowed_hosts) VALUES ($1, 'TENANT_A_', '/run/secrets/tenant-a/', ARRAY['127.0.0.1', '*.tenant-a.example'])",
    [a.tenantId],
  );
  mine = await clients.connect(await loginAs(t, "provisio_order"), a.tenantId);
  // the worker as production runs it: a provisio_worker login (it re-checks tenant-written configurations)
  worker = await startWorker({ connectionString: await loginAs(t, "provisio_worker"), concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await clients.endAll();
  await worker?.stop();
  await t?.close();
  await scim?.stop();
});

const one = async (c: pg.ClientBase | pg.Pool, sql: string, params: unknown[]) => (await c.query<{ id: string }>(sql, params)).rows[0]!.id;
async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string; column?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string; column?: string };
  }
  throw new Error("expected the statement to fail");
}

let seq = 0;
/** A tenant-written application with its mapping; returns its id. */
async function application(): Promise<string> {
  const app = await one(mine, "INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [a.tenantId, `tenant-app-${++seq}`]);
  await mine.query("INSERT INTO mapping_config (application_id, tenant_customer_id) VALUES ($1, $2)", [app, a.tenantId]);
  return app;
}
const scimConfig = (extra: Record<string, unknown> = {}) => ({ baseUrl: scim.baseUrl, token_env: TOKEN_ENV, ...extra });
const writeConfig = (app: string, configuration: unknown, type = "scim") =>
  mine.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, $3, $4)", [
    app,
    a.tenantId,
    type,
    configuration,
  ]);

describe("a tenant's session writes its access definitions", () => {
  it("builds identity, role, application, entitlement and configuration, and a grant on them completes", async () => {
    const staff = scim.store.createGroup({ displayName: "staff" });
    const identity = await one(mine, "INSERT INTO identity (tenant_customer_id, username, email) VALUES ($1, 'Tenant.Writer', 'w@a.example') RETURNING id", [
      a.tenantId,
    ]);
    const role = await one(mine, "INSERT INTO role (tenant_customer_id, name) VALUES ($1, 'writers') RETURNING id", [a.tenantId]);
    const app = await application();
    await writeConfig(app, scimConfig());
    const ent = await one(mine, "INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'staff', $3) RETURNING id", [
      a.tenantId,
      app,
      staff.id,
    ]);
    await mine.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3)", [role, ent, a.tenantId]);
    await mine.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [identity, role, a.tenantId]);
    expect((await t.pool.query("SELECT tenant_written, created_by FROM connector_config WHERE application_id = $1", [app])).rows[0]).toEqual({
      tenant_written: true,
      created_by: "provisio_order_test_login",
    });
    const grant = await one(mine, "INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [a.tenantId, identity]);
    expect((await finalProvision(t.pool, grant)).status).toBe("completed");
    expect(scim.store.findUserByUserName("tenant.writer")).toBeDefined();
    // the tenant changes and removes its own rows
    await mine.query("UPDATE identity SET display_name = 'W' WHERE id = $1", [identity]);
    await mine.query("DELETE FROM identity_role WHERE identity_id = $1", [identity]);
  });

  it("refuses another tenant's rows, links across tenants and the audit columns, writing nothing", async () => {
    const theirRole = await one(t.pool, "INSERT INTO role (tenant_customer_id, name) VALUES ($1, 'theirs') RETURNING id", [b.tenantId]);
    const myIdentity = await one(mine, "INSERT INTO identity (tenant_customer_id, username) VALUES ($1, $2) RETURNING id", [a.tenantId, `x-${Date.now()}`]);
    const before = await writeCounts(t.pool);
    const counts = async () =>
      (await t.pool.query("SELECT (SELECT count(*) FROM identity) + (SELECT count(*) FROM identity_role) + (SELECT count(*) FROM role) AS n")).rows[0].n;
    const n = await counts();
    expect((await failure(mine.query("INSERT INTO identity (tenant_customer_id, username) VALUES ($1, 'intruder')", [b.tenantId]))).code).toBe("42501");
    expect(
      (
        await failure(
          mine.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [myIdentity, theirRole, a.tenantId]),
        )
      ).code,
    ).toBe("23503");
    expect((await failure(mine.query("INSERT INTO role (tenant_customer_id, name, created_by) VALUES ($1, 'r', 'someone-else')", [a.tenantId]))).code).toBe(
      "42501",
    );
    expect((await failure(mine.query("UPDATE connector_config SET tenant_written = false WHERE tenant_customer_id = $1", [a.tenantId]))).code).toBe("42501");
    // another tenant's rows are invisible to UPDATE and DELETE, and a row cannot be moved to another tenant
    expect((await mine.query("UPDATE role SET name = 'mine now' WHERE id = $1", [theirRole])).rowCount).toBe(0);
    expect((await mine.query("DELETE FROM role WHERE id = $1", [theirRole])).rowCount).toBe(0);
    expect((await failure(mine.query("UPDATE identity SET tenant_customer_id = $1 WHERE id = $2", [b.tenantId, myIdentity]))).code).toBe("42501");
    // accounts, discovery passes and the policy are not the tenant's to write
    for (const sql of [
      "UPDATE account SET link_state = 'linked'",
      "DELETE FROM access_discovery_run",
      "UPDATE tenant_connector_policy SET allowed_hosts = '{*}'",
      "INSERT INTO tenant_connector_policy (tenant_customer_id) VALUES ($1)",
    ]) {
      expect([sql, (await failure(mine.query(sql, sql.includes("$1") ? [a.tenantId] : []))).code]).toEqual([sql, "42501"]);
    }
    expect(await counts()).toBe(n);
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("refuses a configuration its policy does not allow, naming the key and the rule", async () => {
    const cases: [string, unknown, RegExp, string?][] = [
      [
        "env outside the prefix",
        scimConfig({ token_env: "PROVISIO_NOT_FOR_TENANTS" }),
        /"token_env" must name an environment variable starting with TENANT_A_/,
      ],
      ["the worker's database URL", scimConfig({ token_env: "DATABASE_URL" }), /"token_env" must name an environment variable starting with TENANT_A_/],
      ["file outside the directory", { baseUrl: scim.baseUrl, token_file: "/etc/shadow" }, /"token_file" must name a file under \/run\/secrets\/tenant-a\//],
      ["file escaping by ..", { baseUrl: scim.baseUrl, token_file: "/run/secrets/tenant-a/../tenant-b/token" }, /"token_file" must name a file under/],
      [
        "a nested file (the CA)",
        { dialect: "postgresql", host: "127.0.0.1", database: "d", user: "u", password_env: "TENANT_A_PW", tls: { ca_file: "/etc/ssl/private/key.pem" } },
        /"tls.ca_file" must name a file under/,
        "sql",
      ],
      ["a host not allowed", scimConfig({ baseUrl: "http://10.0.0.5/scim/v2" }), /host "10.0.0.5" is not one this tenant may reach/],
      ["a user part hiding the host", scimConfig({ baseUrl: "http://db.tenant-a.example@10.0.0.5/scim" }), /"baseUrl" must be written plainly/],
      ["a backslash", scimConfig({ baseUrl: "http://10.0.0.5\\@db.tenant-a.example/scim" }), /"baseUrl" must be written plainly/],
      ["a suffix that is not a subdomain", scimConfig({ baseUrl: "http://eviltenant-a.example/scim" }), /host "eviltenant-a.example" is not one/],
      [
        "an LDAP URL elsewhere",
        { url: "ldap://ldap.internal", bindDN: "cn=x", usersDN: "ou=p", password_env: "TENANT_A_LDAP" },
        /host "ldap.internal" is not one/,
        "ldap",
      ],
      [
        "a SQL host as a socket path",
        { dialect: "postgresql", host: "/var/run/postgresql", database: "d", user: "postgres", password_env: "TENANT_A_PW" },
        /"host" must be written plainly: a host name or IPv4 address/,
        "sql",
      ],
      ["a connector type of the engine", { host: "127.0.0.1" }, /connector_type "epp" is not one a tenant may configure/, "epp"],
    ];
    for (const [what, configuration, message, type] of cases) {
      const app = await application();
      const before = await writeCounts(t.pool);
      const err = await failure(writeConfig(app, configuration, type ?? "scim"));
      expect([what, err.code, err.message]).toEqual([what, "PV211", expect.stringMatching(message)]);
      expect(err.column).toBe("configuration");
      expect(await writeCounts(t.pool)).toEqual(before);
    }
    // a wildcard allows the names under it
    const ok = await application();
    await writeConfig(ok, scimConfig({ baseUrl: "https://scim.tenant-a.example:8443/scim/v2" }));
  });

  it("refuses an inline secret at any depth, from the tenant and from the owner alike", async () => {
    for (const [configuration, path] of [
      [scimConfig({ headers: { Authorization: "Bearer x" } }), "headers.Authorization"],
      [scimConfig({ tls: { Password: "x" } }), "tls.Password"],
      [scimConfig({ extra: [{ api_key: "x" }] }), "extra[0].api_key"],
      [scimConfig({ bearer_token: "x" }), "bearer_token"],
    ] as const) {
      for (const c of [mine, t.pool]) {
        const app = await one(t.pool, "INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [a.tenantId, `inline-${++seq}`]);
        const err = await failure(
          c.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, 'scim', $3)", [
            app,
            a.tenantId,
            configuration,
          ]),
        );
        expect([path, err.code, err.message]).toEqual([path, "23514", expect.stringContaining(`"${path}" holds a secret inline`)]);
      }
    }
  });

  it("a policy tightened after the write stops the worker before it reads the secret or reaches the host", async () => {
    const staff = scim.store.createGroup({ displayName: "staff-2" });
    const identity = await one(mine, "INSERT INTO identity (tenant_customer_id, username) VALUES ($1, 'Later.Refused') RETURNING id", [a.tenantId]);
    const role = await one(mine, "INSERT INTO role (tenant_customer_id, name) VALUES ($1, 'later') RETURNING id", [a.tenantId]);
    const app = await application();
    await writeConfig(app, scimConfig());
    const ent = await one(mine, "INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, 'staff', $3) RETURNING id", [
      a.tenantId,
      app,
      staff.id,
    ]);
    await mine.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3)", [role, ent, a.tenantId]);
    await mine.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [identity, role, a.tenantId]);
    await t.pool.query("UPDATE tenant_connector_policy SET allowed_hosts = ARRAY['*.tenant-a.example'] WHERE tenant_customer_id = $1", [a.tenantId]);
    const requests = scim.requests.length;
    try {
      const grant = await one(mine, "INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
        a.tenantId,
        identity,
      ]);
      const p = await finalProvision(t.pool, grant);
      expect(p.status).toBe("failed");
      expect(p.result_data.applications[0]).toMatchObject({ success: false, error_code: "PV_ACCESS_POLICY" });
      expect(p.result_data.applications[0].error).toMatch(/host "127.0.0.1" is not one this tenant may reach/);
      expect(scim.requests.length).toBe(requests);
      // an operator's other edit keeps the mark; clearing it is explicit (the operator vetted the configuration)
      await t.pool.query("UPDATE connector_config SET configuration = configuration WHERE application_id = $1", [app]);
      expect((await t.pool.query("SELECT tenant_written FROM connector_config WHERE application_id = $1", [app])).rows[0].tenant_written).toBe(true);
      await t.pool.query("UPDATE connector_config SET tenant_written = false WHERE application_id = $1", [app]);
      const again = await one(mine, "INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [
        a.tenantId,
        identity,
      ]);
      expect((await finalProvision(t.pool, again)).status).toBe("completed");
    } finally {
      await t.pool.query("UPDATE tenant_connector_policy SET allowed_hosts = ARRAY['127.0.0.1', '*.tenant-a.example'] WHERE tenant_customer_id = $1", [
        a.tenantId,
      ]);
    }
  });

  it("refuses a policy whose secret prefix or directory overlaps another tenant's", async () => {
    const c = await createAccount(t.pool, { name: "writer-c" });
    for (const [env, dir, column] of [
      ["TENANT_A_X_", null, "secret_env_prefix"],
      ["TENANT_", null, "secret_env_prefix"],
      [null, "/run/secrets/tenant-a/sub/", "secret_file_dir"],
      [null, "/run/secrets/", "secret_file_dir"],
    ] as const) {
      const err = await failure(
        t.pool.query("INSERT INTO tenant_connector_policy (tenant_customer_id, secret_env_prefix, secret_file_dir) VALUES ($1, $2, $3)", [
          c.tenantId,
          env,
          dir,
        ]),
      );
      expect([env, dir, err.code, err.column]).toEqual([env, dir, "PV212", column]);
    }
    await t.pool.query(
      "INSERT INTO tenant_connector_policy (tenant_customer_id, secret_env_prefix, secret_file_dir) VALUES ($1, 'TENANT_C_', '/run/secrets/tenant-c/')",
      [c.tenantId],
    );
  });

  it("a tenant may not have its applications listed more often than its policy allows", async () => {
    const app = await application();
    await writeConfig(app, scimConfig());
    // the default minimum is 15 minutes
    const err = await failure(mine.query("UPDATE application SET discovery_interval = '1 minute' WHERE id = $1", [app]));
    expect([err.code, err.column, err.message]).toEqual([
      "PV213",
      "discovery_interval",
      expect.stringContaining("is shorter than this tenant may use (00:15:00)"),
    ]);
    await mine.query("UPDATE application SET discovery_interval = '1 hour' WHERE id = $1", [app]);
    // by hand: one request, then none until the interval has passed; the operator is not limited
    const first = (await mine.query<{ id: string }>("SELECT access_discovery_request($1) AS id", [app])).rows[0]!.id;
    await waitFor(
      "the pass",
      async () => (await t.pool.query("SELECT 1 FROM access_discovery_run WHERE id = $1 AND status IN ('complete', 'failed')", [first])).rows[0],
    );
    const again = await failure(mine.query("SELECT access_discovery_request($1)", [app]));
    expect([again.code, again.message]).toEqual(["PV213", expect.stringMatching(/this tenant may request one every 00:15:00/)]);
    const operator = (await t.pool.query<{ id: string }>("SELECT access_discovery_request($1) AS id", [app])).rows[0]!.id;
    expect(operator).not.toBe(first);
    // the operator may lower a tenant's minimum
    await t.pool.query("UPDATE tenant_connector_policy SET min_discovery_interval = '1 minute' WHERE tenant_customer_id = $1", [a.tenantId]);
    await mine.query("UPDATE application SET discovery_interval = '2 minutes' WHERE id = $1", [app]);
    await t.pool.query("UPDATE tenant_connector_policy SET min_discovery_interval = DEFAULT WHERE tenant_customer_id = $1", [a.tenantId]);
  });

  it("a tenant without a policy may write no connector configuration", async () => {
    const theirs = await clients.connect(await loginAs(t, "provisio_order"), b.tenantId);
    const app = await one(theirs, "INSERT INTO application (tenant_customer_id, name) VALUES ($1, 'b-app') RETURNING id", [b.tenantId]);
    const err = await failure(
      theirs.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, 'scim', $3)", [
        app,
        b.tenantId,
        { baseUrl: "http://127.0.0.1/scim", token_env: "X_TOKEN" },
      ]),
    );
    expect([err.code, err.message]).toEqual(["PV211", expect.stringContaining("no connector policy is assigned to this tenant")]);
  });
});
