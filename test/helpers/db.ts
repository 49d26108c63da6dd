/** Per-file databases cloned from the migrated template (see global-setup.ts). */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** CREATE DATABASE provisio_t_<random> TEMPLATE <template>; returns its URL and a pool. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("serverUrl");
  const name = `provisio_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject("templateDb")}`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on("error", () => undefined);
  return { url, pool, close: () => pool.end() };
}

/** Password of every login role the tests create. */
export const TEST_LOGIN_PASSWORD = "test-login-password";

/**
 * CREATE ROLE `login` LOGIN NOSUPERUSER (a member of `group` when given) through `adminUrl`, unless it
 * exists. Roles are cluster-wide, so test logins have fixed names and are created once per cluster.
 */
export async function ensureLogin(adminUrl: string, login: string, group?: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DO $$ BEGIN
        CREATE ROLE ${login} LOGIN NOSUPERUSER PASSWORD '${TEST_LOGIN_PASSWORD}'${group ? ` IN ROLE ${group}` : ""};
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
  } finally {
    await admin.end();
  }
}

/** `url` with the user and password of test login `login` (see {@link ensureLogin}). */
export function loginUrl(url: string, login: string): string {
  const u = new URL(url);
  u.username = login;
  u.password = TEST_LOGIN_PASSWORD;
  return u.toString();
}

/**
 * A login role that is a member of `group` (provisio_worker, provisio_order or provisio_reader), created
 * once per cluster, and the URL of the test database for it.
 */
export async function loginAs(t: TestDatabase, group: "provisio_worker" | "provisio_order" | "provisio_reader"): Promise<string> {
  const login = `${group}_test_login`;
  await ensureLogin(t.url, login, group);
  return loginUrl(t.url, login);
}

/**
 * Connections a test opens as its logins, each with `app.tenant_id` set when a tenant is given, ended
 * together by {@link TenantClients.endAll} (in afterAll).
 */
export interface TenantClients {
  connect: (url: string, tenant?: string) => Promise<pg.Client>;
  endAll: () => Promise<void>;
}

export function tenantClients(): TenantClients {
  const clients: pg.Client[] = [];
  return {
    async connect(url, tenant) {
      const c = new pg.Client({ connectionString: url });
      c.on("error", () => undefined);
      await c.connect();
      if (tenant) await c.query("SELECT set_config('app.tenant_id', $1, false)", [tenant]);
      clients.push(c);
      return c;
    },
    async endAll() {
      for (const c of clients.splice(0)) await c.end().catch(() => undefined);
    },
  };
}
