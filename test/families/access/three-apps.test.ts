/**
 * The access family end to end against three real targets at once: one identity whose role spans a SQL application (a database of the test server, tables mode), an
 * LDAP directory (a throw-away slapd) and a SCIM service (the built-in simulator, strict mode).
 *  - a grant makes all three match; the same grant again is all "already"; a revoke removes exactly the
 *    listed entitlements; the provisioning.task.status events reach RabbitMQ (the relay publishes them);
 *  - drift made by hand in each target (an LDAP modify, a SCIM PATCH over HTTP, SQL) shows in
 *    v_access_drift after a discovery pass; a repair pass fixes it; a repair that would revoke too much is
 *    held until approved.
 */
import amqp, { type ChannelModel } from "amqplib";
import { Attribute, Change } from "ldapts";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase } from "../../../src/db/embedded.js";
import { CLOUDEVENTS_TYPE_PREFIX } from "../../../src/events/cloud-event.js";
import { EventRelay } from "../../../src/events/relay.js";
import { ScimSimulator } from "../../../src/simulators/scim/server.js";
import { startWorker, type WorkerHandle } from "../../../src/worker/runner.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { APP_TABLES_STATEMENTS } from "../../helpers/access.js";
import { createAccount, finalProvision, waitFor, type Account } from "../../helpers/fixtures.js";
import { startSlapd, type Slapd } from "../../helpers/slapd.js";

const AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";
const TOKEN_ENV = "PROVISIO_TEST_THREE_SCIM_TOKEN";
const LDAP_PW_ENV = "PROVISIO_TEST_THREE_LDAP_PW";
const SQL_PW_ENV = "PROVISIO_TEST_THREE_SQL_PW";
const APP_DB = `provisio_three_${process.pid}`;

let t: TestDatabase;
let acc: Account;
let worker: WorkerHandle;
let relay: EventRelay;
let scim: ScimSimulator;
let ldap: Slapd;
let appDb: pg.Client;
let amqpConn: ChannelModel;
const published: { routingKey: string; event: Record<string, any> }[] = [];

const ids = {} as { identity: string; role: string; sql: string; ldap: string; scim: string; ent: Record<string, string> };
const username = "Ada.Lovelace";
const user = username.toLowerCase();
let groups: { staff: string; admins: string; extra: string };
let ldapGroups: { developers: string; operators: string; auditors: string };

beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  process.env[TOKEN_ENV] = "three-apps-token";
  scim = new ScimSimulator({ token: "three-apps-token" });
  await scim.start();
  ldap = await startSlapd({ groups: ["developers", "operators", "auditors"] });
  process.env[LDAP_PW_ENV] = ldap.adminPassword;
  const [developers, operators, auditors] = ldap.groups as [string, string, string];
  ldapGroups = { developers, operators, auditors };
  // the SQL application: its own tables in a database of the test server
  const server = new URL(t.url);
  server.pathname = "/postgres";
  await ensureDatabase(server.toString(), APP_DB);
  const appUrl = new URL(t.url);
  appUrl.pathname = `/${APP_DB}`;
  // a server with trust authentication (the local PostgreSQL) has no password in the URL; the connector still needs a reference
  process.env[SQL_PW_ENV] = decodeURIComponent(appUrl.password) || "unused-under-trust";
  appDb = new pg.Client({ connectionString: appUrl.toString() });
  await appDb.connect();
  await appDb.query(`DROP SCHEMA IF EXISTS app CASCADE; CREATE SCHEMA app;
    CREATE TABLE app.users (id serial PRIMARY KEY, login text NOT NULL, email text, display_name text, active boolean NOT NULL DEFAULT true);
    CREATE UNIQUE INDEX ON app.users (lower(login));
    CREATE TABLE app.roles (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE app.user_roles (user_id int REFERENCES app.users, role_id int REFERENCES app.roles, PRIMARY KEY (user_id, role_id));
    INSERT INTO app.roles (name) VALUES ('editor'), ('viewer'), ('owner');`);
  groups = {
    staff: scim.store.createGroup({ displayName: "staff" }).id,
    admins: scim.store.createGroup({ displayName: "admins" }).id,
    extra: scim.store.createGroup({ displayName: "extra" }).id,
  };

  const one = async (sql: string, params: unknown[]) => (await t.pool.query<{ id: string }>(sql, params)).rows[0]!.id;
  const tenant = acc.tenantId;
  ids.identity = await one("INSERT INTO identity (tenant_customer_id, username, email, display_name) VALUES ($1, $2, $3, $4) RETURNING id", [
    tenant,
    username,
    "ada@example.com",
    "Ada Lovelace",
  ]);
  ids.role = await one("INSERT INTO role (tenant_customer_id, name) VALUES ($1, 'analyst') RETURNING id", [tenant]);
  await t.pool.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [ids.identity, ids.role, tenant]);
  ids.ent = {};
  const apps: [keyof typeof ids & ("sql" | "ldap" | "scim"), string, Record<string, unknown>, string[], string][] = [
    [
      "sql",
      "sql",
      {
        dialect: "postgresql",
        host: appUrl.hostname,
        port: Number(appUrl.port),
        database: APP_DB,
        user: decodeURIComponent(appUrl.username),
        password_env: SQL_PW_ENV,
        mode: "tables",
        statements: {
          ...APP_TABLES_STATEMENTS,
          list_accounts: "SELECT login AS user_id, id, active FROM app.users WHERE login > :after ORDER BY login LIMIT :pageSize",
        },
      },
      ["editor", "viewer"],
      "owner",
    ],
    [
      "ldap",
      "ldap",
      { url: ldap.url, bindDN: ldap.adminDN, password_env: LDAP_PW_ENV, usersDN: ldap.peopleDN, groupsDN: ldap.groupsDN },
      [ldapGroups.developers, ldapGroups.operators],
      ldapGroups.auditors,
    ],
    ["scim", "scim", { baseUrl: scim.baseUrl, token_env: TOKEN_ENV }, [groups.staff, groups.admins], groups.extra],
  ];
  for (const [key, type, configuration, roleKeys, extraKey] of apps) {
    const app = await one("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [tenant, `three-${key}`]);
    ids[key] = app;
    await t.pool.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, $3, $4)", [
      app,
      tenant,
      type,
      configuration,
    ]);
    await t.pool.query("INSERT INTO mapping_config (application_id, tenant_customer_id) VALUES ($1, $2)", [app, tenant]);
    for (const k of [...roleKeys, extraKey]) {
      const e = await one("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, $3, $3) RETURNING id", [
        tenant,
        app,
        k,
      ]);
      ids.ent[k] = e;
      // the extra entitlement exists in the application but no role gives it
      if (k !== extraKey)
        await t.pool.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3)", [ids.role, e, tenant]);
    }
  }

  amqpConn = await amqp.connect(AMQP_URL);
  amqpConn.on("error", () => undefined);
  const ch = await amqpConn.createChannel();
  await ch.assertExchange("provisio.events", "topic", { durable: true });
  const q = await ch.assertQueue("", { exclusive: true, autoDelete: true });
  await ch.bindQueue(q.queue, "provisio.events", "task.*");
  await ch.consume(
    q.queue,
    (m) => {
      if (!m) return;
      const event = JSON.parse(m.content.toString("utf8")) as Record<string, any>;
      if (event.data?.tenant_customer_id === acc.tenantId) published.push({ routingKey: m.fields.routingKey, event });
    },
    { noAck: true },
  );
  // quick retries: the "one application down" test waits for a few
  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.2, retry_backoff_max_seconds = 0.5 WHERE name IN ('access_grant', 'access_revoke')");
  relay = new EventRelay({ connectionString: t.url, amqpUrl: AMQP_URL, pollIntervalMs: 100 });
  await relay.start();
  worker = await startWorker({ connectionString: t.url, concurrency: 3, pollInterval: 100 });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await relay?.stop();
  await amqpConn?.close().catch(() => undefined);
  await appDb?.end().catch(() => undefined);
  await scim?.stop();
  await ldap?.stop();
  await t?.close();
});

/** What each target holds for the user now, read from the target itself. */
async function targetState(): Promise<{ sql: string[]; ldap: string[]; scim: string[] }> {
  const sql = (
    await appDb.query<{ name: string }>(
      "SELECT r.name FROM app.user_roles ur JOIN app.users u ON u.id = ur.user_id JOIN app.roles r ON r.id = ur.role_id WHERE lower(u.login) = $1 ORDER BY 1",
      [user],
    )
  ).rows.map((r) => r.name);
  const client = await ldap.admin();
  const userDn = `uid=${user},${ldap.peopleDN}`.toLowerCase();
  const inLdap: string[] = [];
  try {
    for (const g of Object.values(ldapGroups)) {
      const { searchEntries } = await client.search(g, { scope: "base", attributes: ["member"] });
      const members = ([] as string[])
        .concat((searchEntries[0]?.member as string | string[] | undefined) ?? [])
        .map((m) => m.toLowerCase().replace(/\s+/g, ""));
      if (members.includes(userDn.replace(/\s+/g, ""))) inLdap.push(g);
    }
  } finally {
    await client.unbind();
  }
  const scimUser = scim.store.findUserByUserName(user);
  const inScim = Object.entries(groups)
    .filter(([, id]) => ((scim.store.groups.get(id)?.members as { value: string }[] | undefined) ?? []).some((m) => m.value === scimUser?.id))
    .map(([, id]) => id);
  return { sql, ldap: inLdap.sort(), scim: inScim.sort() };
}

const insert = async (sql: string, params: unknown[]) => (await t.pool.query<{ id: string }>(sql, params)).rows[0]!.id;
const grant = () => insert("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [acc.tenantId, ids.identity]);

async function discover(applicationId: string): Promise<Record<string, any>> {
  const id = (await t.pool.query<{ id: string }>("SELECT access_discovery_request($1) AS id", [applicationId])).rows[0]!.id;
  return waitFor(
    `discovery pass ${id}`,
    async () => (await t.pool.query("SELECT * FROM v_access_discovery_run WHERE id = $1 AND status IN ('complete', 'failed')", [id])).rows[0],
  );
}
async function drift(): Promise<string[]> {
  const r = await t.pool.query<{ app: string; kind: string; user_id_in_app: string; native_key: string | null }>(
    `SELECT a.name AS app, d.kind, d.user_id_in_app, d.native_key FROM v_access_drift d JOIN application a ON a.id = d.application_id
     WHERE a.tenant_customer_id = $1`,
    [acc.tenantId],
  );
  return r.rows.map((d) => `${d.app} ${d.kind} ${d.user_id_in_app} ${d.native_key ?? "-"}`).sort();
}

describe("access provisioning across SQL, LDAP and SCIM", () => {
  it("a grant makes all three match, again changes nothing, a revoke removes exactly the listed entitlements, events reach RabbitMQ", async () => {
    const first = await finalProvision(t.pool, await grant());
    expect(first.status).toBe("completed");
    expect(first.result_data.applications).toHaveLength(3);
    expect(await targetState()).toEqual({
      sql: ["editor", "viewer"],
      ldap: [ldapGroups.developers, ldapGroups.operators].sort(),
      scim: [groups.staff, groups.admins].sort(),
    });
    const again = await finalProvision(t.pool, await grant());
    expect(again.status).toBe("completed");
    const ops = (again.result_data.applications as { operations: { outcome: string }[] }[]).flatMap((a) => a.operations);
    expect(ops.length).toBeGreaterThanOrEqual(9);
    expect(ops.every((o) => o.outcome === "already")).toBe(true);

    const revoke = await insert("INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids) VALUES ($1, $2, $3) RETURNING id", [
      acc.tenantId,
      ids.identity,
      [ids.ent.viewer, ids.ent[ldapGroups.operators], ids.ent[groups.admins]],
    ]);
    expect((await finalProvision(t.pool, revoke)).status).toBe("completed");
    expect(await targetState()).toEqual({ sql: ["editor"], ldap: [ldapGroups.developers], scim: [groups.staff] });

    const done = await waitFor("three task.completed messages", async () => (published.length >= 3 ? published : undefined));
    expect(done.map((m) => m.routingKey)).toEqual(["task.completed", "task.completed", "task.completed"]);
    expect(done.map((m) => m.event.type)).toEqual(Array(3).fill(`${CLOUDEVENTS_TYPE_PREFIX}task.completed`));
    // the revoke's event carries every application's result
    const revoked = done.find((m) => m.event.data.provision_id === revoke)!;
    expect(revoked.event.data).toMatchObject({ status: "completed", identity_id: ids.identity, dry_run: false });
    expect((revoked.event.data.applications as unknown[]).length).toBe(3);

    // back to the role's full set for the discovery part
    expect((await finalProvision(t.pool, await grant())).status).toBe("completed");
  });

  it("drift made by hand in each target shows after a discovery pass; a repair fixes it; a repair that revokes too much is held", async () => {
    // SQL: a role row deleted; LDAP: added to a group no role gives (a modify); SCIM: removed from a group by a PATCH over HTTP
    await appDb.query("DELETE FROM app.user_roles WHERE role_id = (SELECT id FROM app.roles WHERE name = 'viewer')");
    const client = await ldap.admin();
    try {
      await client.modify(ldapGroups.auditors, [
        new Change({ operation: "add", modification: new Attribute({ type: "member", values: [`uid=${user},${ldap.peopleDN}`] }) }),
      ]);
    } finally {
      await client.unbind();
    }
    const scimUser = scim.store.findUserByUserName(user)!;
    const patch = await fetch(`${scim.baseUrl}/Groups/${groups.admins}`, {
      method: "PATCH",
      headers: { authorization: "Bearer three-apps-token", "content-type": "application/scim+json" },
      body: JSON.stringify({
        schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        Operations: [{ op: "remove", path: `members[value eq "${scimUser.id}"]` }],
      }),
    });
    expect(patch.status).toBeLessThan(300);

    for (const app of [ids.sql, ids.ldap, ids.scim]) expect((await discover(app)).status).toBe("complete");
    expect(await drift()).toEqual(
      [`three-sql missing ${user} viewer`, `three-ldap excess ${user} ${ldapGroups.auditors}`, `three-scim missing ${user} ${groups.admins}`].sort(),
    );

    // repair: the SQL and SCIM passes only grant; the LDAP one revokes from 1 of 1 accounts: held under a share of 0.5
    await t.pool.query("UPDATE application SET reconcile_mode = 'repair', repair_max_revoke_share = 0.5 WHERE id = ANY($1)", [[ids.sql, ids.ldap, ids.scim]]);
    const passes: Record<string, any>[] = [];
    for (const app of [ids.sql, ids.ldap, ids.scim]) passes.push(await discover(app));
    expect(passes.map((p) => p.repair_status === "held")).toEqual([false, true, false]);
    await waitFor("the SQL and SCIM repairs", async () => {
      const r = await t.pool.query("SELECT count(*)::int AS n FROM access_discovery_run WHERE id = ANY($1) AND repair_status = 'applied'", [
        [passes[0]!.id, passes[2]!.id],
      ]);
      return r.rows[0].n === 2;
    });
    let state = await targetState();
    expect(state.sql).toEqual(["editor", "viewer"]);
    expect(state.scim).toEqual([groups.staff, groups.admins].sort());
    expect(state.ldap).toContain(ldapGroups.auditors);

    expect((await t.pool.query("SELECT access_repair_approve($1) AS s", [passes[1]!.id])).rows[0].s).toBe("queued");
    await waitFor(
      "the LDAP repair",
      async () => (await t.pool.query("SELECT 1 FROM access_discovery_run WHERE id = $1 AND repair_status = 'applied'", [passes[1]!.id])).rows[0],
    );
    state = await targetState();
    expect(state).toEqual({
      sql: ["editor", "viewer"],
      ldap: [ldapGroups.developers, ldapGroups.operators].sort(),
      scim: [groups.staff, groups.admins].sort(),
    });
    for (const app of [ids.sql, ids.ldap, ids.scim]) expect((await discover(app)).repair_status).toBe("none");
    expect(await drift()).toEqual([]);
  });

  it("one application down is retried alone while the others stay applied; one that failed for good is completed by a later grant", async () => {
    // a second person with the same role
    const grace = await insert("INSERT INTO identity (tenant_customer_id, username, email) VALUES ($1, 'Grace.Hopper', 'grace@example.com') RETURNING id", [
      acc.tenantId,
    ]);
    await t.pool.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [grace, ids.role, acc.tenantId]);
    const grantFor = (identity: string) =>
      insert("INSERT INTO provision_access_grant (tenant_customer_id, identity_id) VALUES ($1, $2) RETURNING id", [acc.tenantId, identity]);
    const scimWrites = () => scim.requests.filter((r) => r.method !== "GET").length;

    // the directory is down: SQL and SCIM are applied once, LDAP is retried until the directory is back
    await ldap.kill();
    const id = await grantFor(grace);
    const firstAttempt = await waitFor("an attempt with LDAP failed and the others applied", async () => {
      const p = (await t.pool.query("SELECT attempts, result_data FROM v_provision WHERE id = $1", [id])).rows[0];
      const apps = (p?.result_data?.applications ?? []) as { application: string; success: boolean }[];
      return p && p.attempts >= 2 && apps.length === 3 ? apps : undefined;
    });
    expect(Object.fromEntries(firstAttempt.map((a) => [a.application, a.success]))).toEqual({ "three-ldap": false, "three-scim": true, "three-sql": true });
    const writes = scimWrites();
    await new Promise((r) => setTimeout(r, 1500));
    expect(scimWrites()).toBe(writes);
    await ldap.restart();
    const done = await finalProvision(t.pool, id);
    expect(done.status).toBe("completed");
    expect(scimWrites()).toBe(writes);

    // SCIM refuses the token (for good): the provision fails with SCIM's error, SQL and LDAP are applied and recorded
    const henry = await insert("INSERT INTO identity (tenant_customer_id, username) VALUES ($1, 'Henry.Ford') RETURNING id", [acc.tenantId]);
    await t.pool.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [henry, ids.role, acc.tenantId]);
    process.env[TOKEN_ENV] = "not-the-token";
    try {
      const failed = await finalProvision(t.pool, await grantFor(henry));
      expect(failed.status).toBe("failed");
      expect(failed.result_data.error_code).toBe("PV_SCIM_AUTH");
      const accounts = await t.pool.query("SELECT a.name FROM account x JOIN application a ON a.id = x.application_id WHERE x.identity_id = $1 ORDER BY 1", [
        henry,
      ]);
      expect(accounts.rows.map((r) => r.name)).toEqual(["three-ldap", "three-sql"]);
    } finally {
      process.env[TOKEN_ENV] = "three-apps-token";
    }
    // a later grant completes it: SCIM applied, the others already
    const later = await finalProvision(t.pool, await grantFor(henry));
    expect(later.status).toBe("completed");
    const outcomes = Object.fromEntries(
      (later.result_data.applications as { application: string; operations: { outcome: string }[] }[]).map((a) => [
        a.application,
        [...new Set(a.operations.map((o) => o.outcome))].sort(),
      ]),
    );
    expect(outcomes).toEqual({ "three-ldap": ["already"], "three-scim": ["applied"], "three-sql": ["already"] });
  });
});
