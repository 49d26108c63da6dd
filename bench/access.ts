/**
 * Access grant (a grant of 1,000 identities inserted in one statement): for each of two targets,
 *  (a) the SCIM 2.0 simulator (src/simulators/scim/, started in this process) and
 *  (b) a database on the same PostgreSQL server (sql connector, mode roles, as in
 *      test/families/access/sql-flow.test.ts: a LOGIN role per person, GRANTs of the role's roles),
 * a fresh tenant with BENCH_ACCESS (default 1,000) identities, each holding one role whose two
 * entitlements live in that target's application (two SCIM Groups; two NOLOGIN database roles), and:
 *  1. BENCH_ACCESS provision_access_grant rows in ONE INSERT ... SELECT, timed from sending it to its
 *     commit reply (validation, job and graphile-worker job per row): rows/s;
 *  2. from that commit to the moment every one of those grants is final (a poll every 10 ms of their
 *     status), with a worker started before the INSERT (the same options as the other end-to-end
 *     measurements) and warmed with a few grants of other identities to the same application (not
 *     counted): grants completed per second, i.e. every job started, the target called (plan and apply),
 *     the job completed and the accounts recorded.
 * Every counted grant must complete: a failed one (or one not final after BENCH_ACCESS_TIMEOUT_SECONDS)
 * stops the benchmark with an error that says how many and why; the target is then checked too (every
 * person's account exists and holds both entitlements; every account row written).
 * Beside them, graphile-worker's raw no-op rate (throughput.ts rawNoopRate) is measured in the same run,
 * just before each target's pass, so each end-to-end rate has the raw rate of its moment to be read against.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { ensureDatabase } from "../src/db/embedded.js";
import { ScimSimulator } from "../src/simulators/scim/server.js";
import { startWorker, type WorkerOptions } from "../src/worker/runner.js";
import { RUN } from "./fixtures.js";
import type { BenchOptions } from "./options.js";
import { rawNoopRate } from "./throughput.js";
import { progress, serverCpuSeconds, sleep } from "./util.js";

/** Warm-up grants per pass (identities of their own, same application): the worker's connections, caches and JIT warm. */
export const accessWarmGrants = (o: BenchOptions) => Math.min(100, Math.max(10, Math.floor(o.access / 10)));

/** One target's pass. */
export interface AccessPass {
  /** "SCIM simulator" or "SQL (PostgreSQL roles)" */
  target: string;
  /** counted grants (BENCH_ACCESS) */
  grants: number;
  /** the INSERT ... SELECT, rows per second */
  insertRate: number;
  /** grants final per second, from the INSERT's commit */
  rate: number;
  /** seconds from the INSERT's commit to the last grant final */
  secs: number;
  /** grants final per second over the first tenth of them, and over the last tenth (a rate that falls as the target fills shows here) */
  firstTenthRate: number;
  lastTenthRate: number;
  completed: number;
  failed: number;
  /** grants whose job took more than one attempt (retried after a transient failure) */
  retried: number;
  /** graphile-worker's raw no-op rate measured just before this pass */
  raw: number;
  /** CPU per grant, ms: this process (worker, and for SCIM the simulator too) and the benchmark's PostgreSQL server */
  cpuMs: { node: number; postgres: number };
  /** requests the SCIM simulator answered per counted grant (SCIM only) */
  requestsPerGrant?: number;
}

export interface AccessResults {
  scim: AccessPass;
  sql: AccessPass;
}

/** What one pass needs from its target. */
interface Target {
  name: string;
  connectorType: "scim" | "sql";
  configuration: Record<string, unknown>;
  /** the two entitlements' native keys */
  nativeKeys: [string, string];
  /** after the pass: throws unless every counted user exists at the target and holds both entitlements */
  verify(usernames: string[]): Promise<void>;
  /** requests answered so far (SCIM only) */
  requests?(): number;
}

/**
 * A tenant `bench-access-<label>-<random>` with one application (connector `t`, user id = lower-cased
 * username), one role giving its two entitlements, and `count` active identities holding that role,
 * usernames `<prefix><n>`; plus `warm` identities `<warmPrefix><n>` holding it too.
 */
async function accessTenant(pool: pg.Pool, label: string, t: Target, prefix: string, count: number, warmPrefix: string, warm: number): Promise<string> {
  const one = async (sql: string, params: unknown[]) => (await pool.query<{ id: string }>(sql, params)).rows[0]!.id;
  const tenant = await one("INSERT INTO tenant_customer (name) VALUES ($1) RETURNING id", [`bench-access-${label}-${randomUUID().slice(0, 8)}`]);
  const app = await one("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [tenant, `${label} application`]);
  await pool.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, $3, $4)", [
    app,
    tenant,
    t.connectorType,
    t.configuration,
  ]);
  await pool.query("INSERT INTO mapping_config (application_id, tenant_customer_id, user_id_template) VALUES ($1, $2, '{username}')", [app, tenant]);
  const role = await one("INSERT INTO role (tenant_customer_id, name) VALUES ($1, 'staff') RETURNING id", [tenant]);
  await pool.query(
    `WITH e AS (INSERT INTO entitlement (tenant_customer_id, application_id, name, native_key) SELECT $1, $2, k, k FROM unnest($3::text[]) k RETURNING id)
     INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) SELECT $4, id, $1 FROM e`,
    [tenant, app, t.nativeKeys, role],
  );
  await pool.query(
    `WITH i AS (
       INSERT INTO identity (tenant_customer_id, username, email, display_name)
       SELECT $1, u, u || '@example.com', 'Bench ' || u
       FROM (SELECT $2 || g AS u FROM generate_series(1, $3) g UNION ALL SELECT $4 || g FROM generate_series(1, $5) g) n
       RETURNING id)
     INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) SELECT id, $6, $1 FROM i`,
    [tenant, prefix, count, warmPrefix, warm, role],
  );
  return tenant;
}

/** Grants of the tenant whose username starts with `prefix` (LIKE pattern given whole), by outcome. */
const GRANT_STATUS = `
  SELECT count(*) FILTER (WHERE s.name = 'completed')::int AS completed,
         count(*) FILTER (WHERE s.is_final AND NOT s.is_success)::int AS failed,
         count(*) FILTER (WHERE NOT s.is_final)::int AS open,
         count(*)::int AS total
  FROM provision_access_grant g JOIN provision_status s ON s.id = g.status_id
  WHERE g.tenant_customer_id = $1 AND g.username LIKE $2`;

interface GrantCounts {
  completed: number;
  failed: number;
  open: number;
  total: number;
}

/**
 * Wait until all `n` grants matching `like` are final, counting from `t0` (performance.now()); polls every
 * 10 ms, notes when (seconds from `t0`) a tenth, nine tenths and all of them were seen final, and prints
 * the progress every 5 s.
 * @throws when they are not all final within `timeoutSecs`
 */
async function grantsFinal(
  pool: pg.Pool,
  tenant: string,
  like: string,
  n: number,
  label: string,
  timeoutSecs: number,
  t0 = performance.now(),
): Promise<GrantCounts & { tenthSecs: number; nineTenthsSecs: number; doneSecs: number }> {
  let lastReport = t0;
  let tenthSecs = Number.NaN;
  let nineTenthsSecs = Number.NaN;
  for (;;) {
    const c = (await pool.query<GrantCounts>(GRANT_STATUS, [tenant, like])).rows[0]!;
    const now = performance.now();
    const final = c.completed + c.failed;
    if (c.total !== n) throw new Error(`access ${label}: expected ${n} grants, found ${c.total}`);
    if (Number.isNaN(tenthSecs) && final >= n / 10) tenthSecs = (now - t0) / 1000;
    if (Number.isNaN(nineTenthsSecs) && final >= (n * 9) / 10) nineTenthsSecs = (now - t0) / 1000;
    if (c.open === 0) return { ...c, tenthSecs, nineTenthsSecs, doneSecs: (now - t0) / 1000 };
    if (now - t0 > timeoutSecs * 1000) {
      throw new Error(
        `access ${label}: ${c.open} of ${n} grants still not final after ${timeoutSecs} s (${c.completed} completed, ${c.failed} failed; BENCH_ACCESS_TIMEOUT_SECONDS)`,
      );
    }
    if (now - lastReport >= 5000) {
      lastReport = now;
      progress(`access ${label}: ${final} of ${n} final after ${((now - t0) / 1000).toFixed(0)} s (${c.failed} failed)`);
    }
    await sleep(10);
  }
}

/**
 * One target's pass (see the module doc): tenant and identities, a started and warmed worker, the timed
 * INSERT ... SELECT, the wait for every grant to be final, the failure check and the target check.
 */
async function accessPass(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool, t: Target, label: string, raw: number): Promise<AccessPass> {
  const N = o.access;
  const WARM = accessWarmGrants(o);
  // usernames are the accounts' names at the target (a PostgreSQL role for sql): short, lower case, unique
  // per run; counted ones b<run>-<label>-<n>, warm-up ones b<run>-<label>warm-<n> (no LIKE wildcard in either)
  const prefix = `b${RUN}-${label}-`;
  const warmPrefix = `b${RUN}-${label}warm-`;
  const counted = `${prefix}%`;
  const tenant = await accessTenant(pool, label, t, prefix, N, warmPrefix, WARM);
  const grantSql = `INSERT INTO provision_access_grant (tenant_customer_id, identity_id)
    SELECT $1, id FROM identity WHERE tenant_customer_id = $1 AND username LIKE $2`;
  const worker = await startWorker(opts);
  try {
    // warm-up: WARM grants of other identities to the same application, not counted
    await pool.query(grantSql, [tenant, `${warmPrefix}%`]);
    const w = await grantsFinal(pool, tenant, `${warmPrefix}%`, WARM, `${label} warm-up`, o.accessTimeoutSeconds);
    if (w.failed > 0) await failLoudly(pool, tenant, `${warmPrefix}%`, w, `${label} warm-up`);

    const requests0 = t.requests?.() ?? 0;
    const cpu0 = process.cpuUsage();
    const pg0 = await serverCpuSeconds(pool);
    const i0 = performance.now();
    const r = await pool.query(grantSql, [tenant, counted]);
    const i1 = performance.now();
    if (r.rowCount !== N) throw new Error(`access ${label}: the INSERT wrote ${r.rowCount} rows, expected ${N}`);
    const c = await grantsFinal(pool, tenant, counted, N, label, o.accessTimeoutSeconds, i1);
    const secs = c.doneSecs;
    const cpu = process.cpuUsage(cpu0);
    const pgCpu = (await serverCpuSeconds(pool)) - pg0;
    const requests = (t.requests?.() ?? 0) - requests0;
    const retried = (
      await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM provision_access_grant g JOIN job j ON j.id = g.job_id
         WHERE g.tenant_customer_id = $1 AND g.username LIKE $2 AND j.attempts > 1`,
        [tenant, counted],
      )
    ).rows[0]!.n;
    const pass: AccessPass = {
      target: t.name,
      grants: N,
      insertRate: N / ((i1 - i0) / 1000),
      rate: N / secs,
      secs,
      firstTenthRate: N / 10 / c.tenthSecs,
      // both tenths as the 10 ms poll saw them (a last tenth seen in one poll counts as 10 ms)
      lastTenthRate: N / 10 / Math.max(0.01, secs - c.nineTenthsSecs),
      completed: c.completed,
      failed: c.failed,
      retried,
      raw,
      cpuMs: { node: (cpu.user + cpu.system) / 1000 / N, postgres: (pgCpu * 1000) / N },
      ...(t.requests ? { requestsPerGrant: requests / N } : {}),
    };
    progress(
      `access ${label}: INSERT ${pass.insertRate.toFixed(0)} rows/s (${(i1 - i0).toFixed(0)} ms); ${N} grants final in ${secs.toFixed(1)} s: ${pass.rate.toFixed(1)}/s ` +
        `(first tenth ${pass.firstTenthRate.toFixed(1)}/s, last tenth ${pass.lastTenthRate.toFixed(1)}/s) ` +
        `(${pass.completed} completed, ${pass.failed} failed, ${retried} retried); raw ${raw.toFixed(0)}/s; CPU per grant: this process ${pass.cpuMs.node.toFixed(2)} ms, ` +
        `PostgreSQL ${pass.cpuMs.postgres.toFixed(2)} ms${pass.requestsPerGrant !== undefined ? `; ${pass.requestsPerGrant.toFixed(1)} SCIM requests per grant` : ""}`,
    );
    if (c.failed > 0) await failLoudly(pool, tenant, counted, c, label);
    if (c.completed !== N) throw new Error(`access ${label}: ${c.completed} of ${N} grants completed`);
    const users = (
      await pool.query<{ u: string }>("SELECT lower(username) AS u FROM identity WHERE tenant_customer_id = $1 AND username LIKE $2", [tenant, counted])
    ).rows.map((x) => x.u);
    await t.verify(users);
    const accounts = (
      await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM account a JOIN identity i ON i.id = a.identity_id
         WHERE a.tenant_customer_id = $1 AND i.username LIKE $2 AND a.link_state = 'linked'`,
        [tenant, counted],
      )
    ).rows[0]!.n;
    if (accounts !== N) throw new Error(`access ${label}: ${accounts} linked account rows for ${N} completed grants`);
    return pass;
  } finally {
    await worker.stop();
  }
}

/** Some grants failed: say how many and the commonest reasons, and stop the benchmark. */
async function failLoudly(pool: pg.Pool, tenant: string, like: string, c: GrantCounts, label: string): Promise<never> {
  const reasons = await pool.query<{ result_message: string | null; n: number }>(
    `SELECT g.result_message, count(*)::int AS n FROM provision_access_grant g JOIN provision_status s ON s.id = g.status_id
     WHERE g.tenant_customer_id = $1 AND g.username LIKE $2 AND s.is_final AND NOT s.is_success
     GROUP BY 1 ORDER BY 2 DESC LIMIT 3`,
    [tenant, like],
  );
  const why = reasons.rows.map((r) => `${r.n}× ${r.result_message ?? "(no message)"}`).join("; ");
  throw new Error(`access ${label}: ${c.failed} of ${c.total} grants FAILED (${c.completed} completed): ${why}`);
}

/** The SCIM simulator in this process, with two Groups (the entitlements). */
async function scimTarget(): Promise<Target & { stop(): Promise<void> }> {
  const token = randomUUID();
  process.env.PROVISIO_BENCH_SCIM_TOKEN = token;
  const scim = new ScimSimulator({ token });
  await scim.start();
  const staff = scim.store.createGroup({ displayName: "staff" });
  const engineering = scim.store.createGroup({ displayName: "engineering" });
  return {
    name: "SCIM simulator",
    connectorType: "scim",
    configuration: { baseUrl: scim.baseUrl, token_env: "PROVISIO_BENCH_SCIM_TOKEN" },
    nativeKeys: [staff.id, engineering.id],
    requests: () => scim.requests.length,
    async verify(usernames) {
      const byName = new Map([...scim.store.users.values()].map((u) => [String(u.userName).toLowerCase(), u.id]));
      const members = (gid: string) => new Set(((scim.store.groups.get(gid)?.members as { value: string }[] | undefined) ?? []).map((m) => m.value));
      const inStaff = members(staff.id);
      const inEng = members(engineering.id);
      const missing = usernames.filter((u) => {
        const id = byName.get(u);
        return !id || !inStaff.has(id) || !inEng.has(id);
      });
      if (missing.length) throw new Error(`access scim: ${missing.length} completed grants without their User and both Group memberships (e.g. ${missing[0]})`);
    },
    stop: () => scim.stop(),
  };
}

/**
 * A database `bench_access_<run>` on the benchmark's server, reached by the sql connector in mode roles as
 * the benchmark's own login (which must be allowed to create roles: the embedded server's superuser is);
 * two NOLOGIN roles are the entitlements. `cleanup` drops what it made when the server is not a
 * throw-away one (DATABASE_URL): the database, and every role whose name starts with `b<run>-` (roles are
 * the server's, not the database's).
 */
async function sqlTarget(o: BenchOptions, url: string): Promise<Target & { cleanup(): Promise<void> }> {
  const u = new URL(url);
  const database = `bench_access_${RUN}`;
  const server = new URL(url);
  server.pathname = "/postgres";
  await ensureDatabase(server.toString(), database);
  process.env.PROVISIO_BENCH_SQL_PASSWORD = decodeURIComponent(u.password) || "unused";
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const roles: [string, string] = [`b${RUN}-reader`, `b${RUN}-writer`];
  for (const r of roles) await admin.query(`CREATE ROLE ${pg.escapeIdentifier(r)} NOLOGIN`);
  return {
    name: "SQL (PostgreSQL roles)",
    connectorType: "sql",
    configuration: {
      dialect: "postgresql",
      host: u.hostname,
      port: Number(u.port || 5432),
      database,
      user: decodeURIComponent(u.username) || "postgres",
      password_env: "PROVISIO_BENCH_SQL_PASSWORD",
      mode: "roles",
      // one connection per job the worker runs at once, as the accreditations get max_sessions = concurrency
      pool_size: o.concurrency,
    },
    nativeKeys: roles,
    async verify(usernames) {
      const r = await admin.query<{ u: string; login: boolean; n: number }>(
        `SELECT u.rolname::text AS u, u.rolcanlogin AS login,
                (SELECT count(*)::int FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = u.oid AND g.rolname = ANY($2)) AS n
         FROM pg_roles u WHERE u.rolname = ANY($1)`,
        [usernames, roles],
      );
      const ok = new Set(r.rows.filter((x) => x.login && x.n === 2).map((x) => x.u));
      const missing = usernames.filter((x) => !ok.has(x));
      if (missing.length) throw new Error(`access sql: ${missing.length} completed grants without their LOGIN role holding both roles (e.g. ${missing[0]})`);
    },
    async cleanup() {
      if (o.databaseUrl) {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
        const made = await admin.query<{ r: string }>("SELECT rolname::text AS r FROM pg_roles WHERE rolname LIKE $1", [`b${RUN}-%`]);
        for (const { r } of made.rows) await admin.query(`DROP ROLE ${pg.escapeIdentifier(r)}`);
      }
      await admin.end();
    },
  };
}

/**
 * The access grant measurement: an uncounted raw measurement (warm-up), then (raw, SCIM pass), (raw, SQL
 * pass). `url`: the benchmark's database, whose server also holds the SQL target's database.
 */
export async function measureAccess(o: BenchOptions, opts: WorkerOptions, pool: pg.Pool, url: string): Promise<AccessResults> {
  const scim = await scimTarget();
  const sql = await sqlTarget(o, url);
  try {
    progress("access: raw graphile-worker no-op rate, warm-up (not counted)");
    await rawNoopRate(o, opts, pool);
    progress(`access: raw graphile-worker no-op rate (${o.jobs} jobs), then ${o.access} grants against the SCIM simulator`);
    const scimPass = await accessPass(o, opts, pool, scim, "scim", await rawNoopRate(o, opts, pool));
    progress(`access: raw graphile-worker no-op rate (${o.jobs} jobs), then ${o.access} grants against a PostgreSQL database (mode roles)`);
    const sqlPass = await accessPass(o, opts, pool, sql, "sql", await rawNoopRate(o, opts, pool));
    return { scim: scimPass, sql: sqlPass };
  } finally {
    await scim.stop();
    await sql.cleanup();
  }
}
