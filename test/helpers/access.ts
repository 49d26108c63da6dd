/**
 * Access-family test data (seed 002), written as the owner: an identity with a role whose entitlements
 * live in one application, that application's connector and mapping configuration.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";

/**
 * The sql connector's tables-mode statements (src/connectors/sql/config.ts) for an application whose
 * accounts are rows of `app.users (id serial, login, email, display_name, active)`, with roles in
 * `app.roles (id, name)` and `app.user_roles (user_id, role_id)`, as the flow tests create them.
 */
export const APP_TABLES_STATEMENTS = {
  find_account: "SELECT id, active FROM app.users WHERE lower(login) = lower(:userIdInApp)",
  create_account: "INSERT INTO app.users (login, email, display_name) VALUES (:userIdInApp, :email, :displayName)",
  enable_account: "UPDATE app.users SET active = true WHERE id = CAST(:accountId AS integer)",
  disable_account: "UPDATE app.users SET active = false WHERE id = CAST(:accountId AS integer)",
  list_entitlements: "SELECT r.name AS entitlement FROM app.user_roles ur JOIN app.roles r ON r.id = ur.role_id WHERE ur.user_id = CAST(:accountId AS integer)",
  grant: "INSERT INTO app.user_roles (user_id, role_id) SELECT CAST(:accountId AS integer), id FROM app.roles WHERE name = :entitlement ON CONFLICT DO NOTHING",
  revoke: "DELETE FROM app.user_roles WHERE user_id = CAST(:accountId AS integer) AND role_id = (SELECT id FROM app.roles WHERE name = :entitlement)",
};

export interface AccessFixture {
  identityId: string;
  username: string;
  roleId: string;
  applicationId: string;
  /** the entitlements the role gives, by native key */
  entitlements: Record<string, string>;
}

/**
 * @param opts.connectorType and `configuration`: the application's connector_config (default a sql
 *   config that passes the SQL-side checks); `nativeKeys` the role's entitlements (default two);
 *   `username` (default a fresh one); `active` the identity's is_active (default true)
 */
export async function createAccessFixture(
  db: pg.Pool,
  tenantId: string,
  opts: {
    connectorType?: string;
    configuration?: Record<string, unknown>;
    nativeKeys?: string[];
    username?: string;
    active?: boolean;
    userIdTemplate?: string;
  } = {},
): Promise<AccessFixture> {
  const tag = randomUUID().slice(0, 8);
  const username = opts.username ?? `user-${tag}`;
  const one = async <T extends pg.QueryResultRow>(sql: string, params: unknown[]) => (await db.query<T>(sql, params)).rows[0]!;
  const identity = await one<{ id: string }>(
    "INSERT INTO identity (tenant_customer_id, username, email, display_name, is_active) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    [tenantId, username, `${username}@example.com`, `User ${tag}`, opts.active ?? true],
  );
  const role = await one<{ id: string }>("INSERT INTO role (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [tenantId, `role-${tag}`]);
  const app = await one<{ id: string }>("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [tenantId, `app-${tag}`]);
  await db.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, $3, $4)", [
    app.id,
    tenantId,
    opts.connectorType ?? "sql",
    opts.configuration ?? { dialect: "postgresql", host: "127.0.0.1", database: "app", user: "app", password_env: "APP_PW" },
  ]);
  await db.query("INSERT INTO mapping_config (application_id, tenant_customer_id, user_id_template) VALUES ($1, $2, $3)", [
    app.id,
    tenantId,
    opts.userIdTemplate ?? "{username}",
  ]);
  const entitlements: Record<string, string> = {};
  for (const key of opts.nativeKeys ?? [`reader_${tag}`, `writer_${tag}`]) {
    const e = await one<{ id: string }>("INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) VALUES ($1, $2, $3, $4) RETURNING id", [
      tenantId,
      app.id,
      key,
      key,
    ]);
    entitlements[key] = e.id;
    await db.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3)", [role.id, e.id, tenantId]);
  }
  await db.query("INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES ($1, $2, $3)", [identity.id, role.id, tenantId]);
  return { identityId: identity.id, username, roleId: role.id, applicationId: app.id, entitlements };
}
