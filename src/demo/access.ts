/**
 * The access family's part of the demo (`npm start`, seed 002): three people of the demo tenant, two
 * roles, and the applications their entitlements live in —
 *  - "crm (SCIM)": the built-in SCIM simulator (src/simulators/scim/, strict mode), groups by displayName;
 *  - "wiki (SQL)": a database `provisio_demo_app` on the embedded PostgreSQL with the application's own
 *    user and role tables, provisioned through the sql connector's tables mode (parameterised statements);
 *  - "directory (LDAP)": a throw-away OpenLDAP slapd (./slapd.ts) when Debian's slapd is installed; the
 *    demo says so and goes on without it when it is not.
 * Written as the demo's owner connection, idempotently (a restarted demo reuses its rows; the SCIM
 * simulator and slapd start empty each time, so their first grants apply again). Secrets stay in this
 * process's environment: the configurations name the variables.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { ensureDatabase } from "../db/embedded.js";
import { logger } from "../logger.js";
import type { Service } from "../services.js";
import { ScimSimulator } from "../simulators/scim/server.js";
import { slapdInstalled, startSlapd, type Slapd } from "./slapd.js";

export const DEMO_SCIM_TOKEN_ENV = "PROVISIO_DEMO_SCIM_TOKEN";
export const DEMO_SQL_PASSWORD_ENV = "PROVISIO_DEMO_SQL_PASSWORD";
export const DEMO_LDAP_PASSWORD_ENV = "PROVISIO_DEMO_LDAP_PASSWORD";
/** the demo application's database on the embedded server */
export const DEMO_APP_DATABASE = "provisio_demo_app";

/** The demo's target systems, started before the worker and stopped after it. */
export class AccessDemoTargets implements Service {
  readonly name = "access demo targets (SCIM simulator, slapd)";
  scim: ScimSimulator | undefined;
  slapd: Slapd | undefined;
  /** why LDAP is not in the demo, when it is not */
  ldapMissing: string | undefined;

  async start(): Promise<void> {
    const token = (process.env[DEMO_SCIM_TOKEN_ENV] ??= randomBytes(16).toString("base64url"));
    this.scim = new ScimSimulator({ token });
    await this.scim.start();
    if (!slapdInstalled()) {
      this.ldapMissing = "slapd is not installed (apt-get install -y slapd ldap-utils adds an LDAP directory to the demo)";
      return;
    }
    try {
      this.slapd = await startSlapd({ groups: ["developers", "operators"] });
      process.env[DEMO_LDAP_PASSWORD_ENV] = this.slapd.adminPassword;
    } catch (err) {
      this.ldapMissing = `slapd did not start: ${(err as Error).message.split("\n")[0]}`;
      logger().warn({ err: (err as Error).message }, "the access demo goes on without LDAP");
    }
  }

  async stop(): Promise<void> {
    await this.slapd?.stop().catch(() => undefined);
    await this.scim?.stop().catch(() => undefined);
  }
}

export interface AccessDemoIds {
  identities: Record<"alice" | "bob" | "carol", string>;
  applications: string[];
  /** bob's entitlements of role "support": what the demo's revoke removes */
  supportEntitlements: string[];
}

/** The wiki's statements (sql connector, mode tables): named placeholders, bound by the adapter. */
const WIKI_STATEMENTS = {
  find_account: "SELECT id, active FROM wiki.users WHERE lower(login) = lower(:userIdInApp)",
  create_account: "INSERT INTO wiki.users (login, email, display_name) VALUES (:userIdInApp, :email, :displayName)",
  enable_account: "UPDATE wiki.users SET active = true WHERE id = CAST(:accountId AS integer)",
  disable_account: "UPDATE wiki.users SET active = false WHERE id = CAST(:accountId AS integer)",
  list_entitlements:
    "SELECT r.name AS entitlement FROM wiki.user_roles ur JOIN wiki.roles r ON r.id = ur.role_id WHERE ur.user_id = CAST(:accountId AS integer)",
  grant:
    "INSERT INTO wiki.user_roles (user_id, role_id) SELECT CAST(:accountId AS integer), id FROM wiki.roles WHERE name = :entitlement ON CONFLICT DO NOTHING",
  revoke: "DELETE FROM wiki.user_roles WHERE user_id = CAST(:accountId AS integer) AND role_id = (SELECT id FROM wiki.roles WHERE name = :entitlement)",
};

/** Create the wiki's database and tables on the server of `databaseUrl` (idempotent). Returns the sql connector configuration. */
async function prepareWiki(databaseUrl: string): Promise<Record<string, unknown>> {
  const u = new URL(databaseUrl);
  const serverUrl = new URL(databaseUrl);
  serverUrl.pathname = "/postgres";
  await ensureDatabase(serverUrl.toString(), DEMO_APP_DATABASE);
  u.pathname = `/${DEMO_APP_DATABASE}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA IF NOT EXISTS wiki;
      CREATE TABLE IF NOT EXISTS wiki.users (id serial PRIMARY KEY, login text NOT NULL, email text, display_name text, active boolean NOT NULL DEFAULT true);
      CREATE UNIQUE INDEX IF NOT EXISTS users_login_uidx ON wiki.users (lower(login));
      CREATE TABLE IF NOT EXISTS wiki.roles (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
      CREATE TABLE IF NOT EXISTS wiki.user_roles (user_id int REFERENCES wiki.users, role_id int REFERENCES wiki.roles, PRIMARY KEY (user_id, role_id));
      INSERT INTO wiki.roles (name) VALUES ('editor'), ('viewer') ON CONFLICT DO NOTHING;`);
  } finally {
    await c.end();
  }
  process.env[DEMO_SQL_PASSWORD_ENV] = decodeURIComponent(u.password);
  const listAccounts = "SELECT login AS user_id, id, active FROM wiki.users WHERE login > :after ORDER BY login LIMIT :pageSize";
  return {
    dialect: "postgresql",
    host: u.hostname,
    port: Number(u.port || 5432),
    database: DEMO_APP_DATABASE,
    user: decodeURIComponent(u.username),
    password_env: DEMO_SQL_PASSWORD_ENV,
    mode: "tables",
    statements: { ...WIKI_STATEMENTS, list_accounts: listAccounts },
  };
}

/**
 * Seed the access demo for tenant `tenantId`: applications (with their connector and mapping
 * configuration, updated to this run's ports), entitlements, roles "engineering" and "support",
 * identities alice (engineering), bob (engineering, support) and carol (support).
 */
export async function seedAccessDemo(pool: pg.Pool, tenantId: string, databaseUrl: string, targets: AccessDemoTargets): Promise<AccessDemoIds> {
  const one = async (sql: string, params: unknown[]) => (await pool.query<{ id: string }>(sql, params)).rows[0]!.id;
  const scim = targets.scim!;
  // the simulator starts empty on every run
  for (const g of ["engineering", "support"]) scim.store.createGroup({ displayName: g });
  // application name → [connector type, configuration, { role: native key }]
  const apps: [string, string, Record<string, unknown>, Record<string, string>][] = [
    [
      "crm (SCIM)",
      "scim",
      { baseUrl: scim.baseUrl, token_env: DEMO_SCIM_TOKEN_ENV, groupKey: "displayName" },
      { engineering: "engineering", support: "support" },
    ],
    ["wiki (SQL)", "sql", await prepareWiki(databaseUrl), { engineering: "editor", support: "viewer" }],
  ];
  const ldap = targets.slapd;
  if (ldap) {
    apps.push([
      "directory (LDAP)",
      "ldap",
      { url: ldap.url, bindDN: ldap.adminDN, password_env: DEMO_LDAP_PASSWORD_ENV, usersDN: ldap.peopleDN, groupsDN: ldap.groupsDN },
      { engineering: ldap.groups.find((g) => g.startsWith("cn=developers"))!, support: ldap.groups.find((g) => g.startsWith("cn=operators"))! },
    ]);
  }
  const roles: Record<string, string> = {};
  for (const r of ["engineering", "support"]) {
    roles[r] = await one(
      "INSERT INTO role (tenant_customer_id, name) VALUES ($1, $2) ON CONFLICT (tenant_customer_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
      [tenantId, r],
    );
  }
  const applications: string[] = [];
  const support: string[] = [];
  for (const [name, type, configuration, keys] of apps) {
    const appId = await one(
      "INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) ON CONFLICT (tenant_customer_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
      [tenantId, name],
    );
    applications.push(appId);
    await pool.query(
      `INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, $3, $4)
       ON CONFLICT (application_id) DO UPDATE SET connector_type = EXCLUDED.connector_type, configuration = EXCLUDED.configuration, updated_date = now()`,
      [appId, tenantId, type, configuration],
    );
    await pool.query("INSERT INTO mapping_config (application_id, tenant_customer_id) VALUES ($1, $2) ON CONFLICT (application_id) DO NOTHING", [
      appId,
      tenantId,
    ]);
    for (const [role, key] of Object.entries(keys)) {
      // an LDAP group's DN changes with nothing but the suffix; the key is re-pointed when it does
      const entId = await one(
        `INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, $3, $4)
         ON CONFLICT (application_id, native_key) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
        [tenantId, appId, `${role} in ${name}`, key],
      );
      await pool.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [
        roles[role],
        entId,
        tenantId,
      ]);
      if (role === "support") support.push(entId);
    }
  }
  const people: [keyof AccessDemoIds["identities"], string, string[]][] = [
    ["alice", "Alice Liddell", ["engineering"]],
    ["bob", "Bob Kahn", ["engineering", "support"]],
    ["carol", "Carol Shaw", ["support"]],
  ];
  const identities = {} as AccessDemoIds["identities"];
  for (const [username, displayName, rs] of people) {
    identities[username] = await one(
      `INSERT INTO identity (tenant_customer_id, username, email, display_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant_customer_id, lower(username)) DO UPDATE SET is_active = true RETURNING id`,
      [tenantId, username, `${username}@demo.example`, displayName],
    );
    for (const r of rs) {
      await pool.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [
        identities[username],
        roles[r],
        tenantId,
      ]);
    }
  }
  return { identities, applications, supportEntitlements: support };
}

/** INSERT a grant for each demo identity (one statement, as an order system would); returns their provision ids. */
export async function insertDemoGrants(pool: pg.Pool, tenantId: string, ids: AccessDemoIds): Promise<string[]> {
  const r = await pool.query<{ id: string }>(
    "INSERT INTO provision_access_grant (tenant_customer_id, identity_id) SELECT $1, unnest($2::uuid[]) RETURNING id",
    [tenantId, Object.values(ids.identities)],
  );
  return r.rows.map((x) => x.id);
}

/** INSERT the demo's revoke: bob loses the support role's entitlements everywhere. */
export async function insertDemoRevoke(pool: pg.Pool, tenantId: string, ids: AccessDemoIds): Promise<string> {
  return (
    await pool.query<{ id: string }>(
      "INSERT INTO provision_access_revoke (tenant_customer_id, identity_id, entitlement_ids) VALUES ($1, $2, $3) RETURNING id",
      [tenantId, ids.identities.bob, ids.supportEntitlements],
    )
  ).rows[0]!.id;
}
