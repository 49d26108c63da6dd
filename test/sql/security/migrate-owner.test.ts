/**
 * `provisio migrate` as provisio_owner (issue 3, "Roles created by migration: an owner (migrations)"):
 * logins that are members of provisio_owner, and no superuser, migrate a database owned by that role;
 * every object ends up owned by provisio_owner, so any member can migrate again, and the SECURITY DEFINER
 * triggers run with that role's rights. A login that is not a member keeps the old behaviour (it owns
 * what it creates), and an object the login cannot hand over stops migrate with 42501 naming it.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrate } from "../../../src/db/migrate.js";
import { ensureLogin, loginUrl } from "../../helpers/db.js";
import { createAccount, provisionDomain } from "../../helpers/fixtures.js";

const serverUrl = inject("serverUrl");
const databases: string[] = [];

/** URL of database `db`, as test login `login` or (null) as the server's admin role. */
function urlFor(login: string | null, db: string): string {
  const u = new URL(login ? loginUrl(serverUrl, login) : serverUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, db?: string): Promise<T> {
  const c = new pg.Client({ connectionString: db ? urlFor(null, db) : serverUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A test login (created once per cluster), optionally a member of provisio_owner. */
async function login(name: string, inOwner: boolean): Promise<string> {
  await ensureLogin(serverUrl, name, inOwner ? "provisio_owner" : undefined);
  return name;
}

async function database(owner: string): Promise<string> {
  const name = `provisio_t_own_${randomBytes(5).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} OWNER ${owner}`));
  databases.push(name);
  return name;
}

/** Objects in provisio's schemas owned by anyone but `owner` (extension members excluded). */
async function notOwnedBy(db: string, owner: string): Promise<string[]> {
  return admin(async (c) => {
    const r = await c.query<{ what: string }>(
      `SELECT what FROM (
         SELECT 'schema ' || nspname AS what, nspowner AS o, 'pg_namespace'::regclass AS cl, oid FROM pg_namespace WHERE nspname IN ('class', 'graphile_worker')
         UNION ALL SELECT 'relation ' || c.oid::regclass, c.relowner, 'pg_class'::regclass, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('public', 'class', 'graphile_worker') AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i')
         UNION ALL SELECT 'function ' || p.oid::regprocedure, p.proowner, 'pg_proc'::regclass, p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname IN ('public', 'class', 'graphile_worker')
         UNION ALL SELECT 'type ' || t.oid::regtype, t.typowner, 'pg_type'::regclass, t.oid FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname IN ('public', 'class', 'graphile_worker')
       ) x
       WHERE o <> $1::regrole
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = x.cl AND d.objid = x.oid AND d.deptype = 'e')
       ORDER BY 1`,
      [owner],
    );
    return r.rows.map((x) => x.what);
  }, db);
}

/** Whether each runtime role may use the schema public. */
async function publicUsage(db: string): Promise<{ r: string; usage: boolean }[]> {
  return admin(
    async (c) =>
      (
        await c.query(
          "SELECT r, has_schema_privilege(r, 'public', 'USAGE') AS usage FROM unnest(ARRAY['provisio_worker', 'provisio_order', 'provisio_reader']) r",
        )
      ).rows,
    db,
  );
}
const ALL_USAGE = [
  { r: "provisio_worker", usage: true },
  { r: "provisio_order", usage: true },
  { r: "provisio_reader", usage: true },
];

let a: string;
let b: string;
let outsider: string;
beforeAll(async () => {
  a = await login("provisio_migrate_a_test", true);
  b = await login("provisio_migrate_b_test", true);
  outsider = await login("provisio_migrate_outsider_test", false);
});
afterAll(async () => {
  await admin(async (c) => {
    for (const db of databases) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  });
});

describe("provisio migrate as provisio_owner", () => {
  it("leaves every object owned by provisio_owner, so another member can migrate again, and the triggers work as that role", async () => {
    const db = await database("provisio_owner");
    // a database where PUBLIC may not use the public schema: the runtime roles get USAGE from migrate
    await admin((c) => c.query("REVOKE ALL ON SCHEMA public FROM PUBLIC"), db);
    await migrate(urlFor(a, db));
    expect(await notOwnedBy(db, "provisio_owner")).toEqual([]);
    expect(await publicUsage(db)).toEqual(ALL_USAGE);
    // a second member: without the hand-over this failed at once (it could not use the first login's
    // pgmigrations table: "relation \"pgmigrations\" already exists")
    const again = await migrate(urlFor(b, db));
    expect(again.applied).toEqual([]);
    expect(await notOwnedBy(db, "provisio_owner")).toEqual([]);

    // the SECURITY DEFINER triggers now run as provisio_owner (no superuser): a provision still gets its
    // job row and its graphile-worker job
    const pool = new pg.Pool({ connectionString: urlFor(null, db) });
    try {
      const acc = await createAccount(pool, { name: "owned" });
      const id = await provisionDomain(pool, acc, "owned-by-owner.example");
      const r = await pool.query(
        `SELECT j.id, (SELECT count(*)::int FROM graphile_worker.jobs g WHERE g.key = j.id::text) AS queued,
                (SELECT proowner::regrole::text FROM pg_proc WHERE proname = 'tg_provision__submit_job') AS runs_as
           FROM job j WHERE j.reference_id = $1`,
        [id],
      );
      expect(r.rows).toEqual([{ id: expect.any(String), queued: 1, runs_as: "provisio_owner" }]);
    } finally {
      await pool.end();
    }
  });

  it("run by a superuser on a database it owns, also hands over and grants the runtime roles USAGE on public", async () => {
    const who = await admin(async (c) => (await c.query<{ u: string }>("SELECT current_user AS u")).rows[0]!.u);
    const db = await database(who);
    await admin((c) => c.query("REVOKE ALL ON SCHEMA public FROM PUBLIC"), db);
    await migrate(urlFor(null, db));
    expect(await notOwnedBy(db, "provisio_owner")).toEqual([]);
    // provisio_owner, not owning public here, needs the grant option to pass USAGE on (security/roles.sql)
    expect(await publicUsage(db)).toEqual(ALL_USAGE);
  });

  it("stops with 42501 naming an object the login cannot hand over, and changes no owner", async () => {
    const db = await database("provisio_owner");
    await migrate(urlFor(a, db));
    await admin(async (c) => {
      await c.query("CREATE TABLE class.stray (id int)");
      await c.query(`ALTER TABLE class.stray OWNER TO ${outsider}`);
      // handed over before class.stray (relations go in name order), were the statement not all or nothing
      await c.query(`ALTER TABLE accreditation OWNER TO ${b}`);
    }, db);
    const err = await migrate(urlFor(b, db)).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; hint?: string },
    );
    expect(err?.code).toBe("42501");
    expect(err?.message).toBe(`cannot hand relation class.stray (owned by ${outsider}) to provisio_owner: ${b} is not a member of ${outsider}`);
    expect(err?.hint).toBe(`run provisio migrate once as ${outsider} or as a superuser`);
    const owners = await admin(
      async (c) =>
        (await c.query("SELECT relname, relowner::regrole::text AS owner FROM pg_class WHERE relname IN ('accreditation', 'stray') ORDER BY 1")).rows,
      db,
    );
    expect(owners).toEqual([
      { relname: "accreditation", owner: b },
      { relname: "stray", owner: outsider },
    ]);
  });

  it("leaves objects owned by a login that is not a member of provisio_owner (the behaviour before the hand-over)", async () => {
    const db = await database(outsider);
    await migrate(urlFor(outsider, db));
    expect(await notOwnedBy(db, outsider)).toEqual([]);
  });
});
