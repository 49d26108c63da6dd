/**
 * Access-family test data (seed 002), written as the owner: an identity with a role whose entitlements
 * live in one application, that application's connector and mapping configuration.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";

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
