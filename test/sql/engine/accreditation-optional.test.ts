/**
 * class.provision.accreditation_id is nullable (migrations/0010): a family without accreditations (an
 * access grant spanning several applications) leaves the column nullable in its table, and its rows may
 * leave it out; every registry table keeps it NOT NULL. The common validation still refuses another
 * tenant's accreditation when one is given (PV107), and a NULL where the table requires one (23502).
 */
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";
import { registryTasks } from "../../../src/families/registry/index.js";
import { createAccount, type Account } from "../../helpers/fixtures.js";

let t: TestDatabase;
let acc: Account;
let other: Account;
beforeAll(async () => {
  t = await createTestDatabase();
  acc = await createAccount(t.pool);
  other = await createAccount(t.pool);
  const served = await t.pool.query<{ t: string }>("SELECT DISTINCT reference_table AS t FROM job_type WHERE task_identifier = ANY($1) ORDER BY 1", [
    registryTasks.map((x) => x.identifier),
  ]);
  REGISTRY_TABLES = served.rows.map((r) => r.t);
});
afterAll(async () => {
  await t?.close();
});

/** the registry family's provision tables: those its tasks serve (job_type.task_identifier), read in beforeAll */
let REGISTRY_TABLES: string[] = [];

/** The error a statement raises, run in a savepoint so that the transaction goes on. */
async function refused(client: pg.ClientBase, sql: string, params: unknown[]): Promise<{ code?: string; column?: string }> {
  await client.query("SAVEPOINT s");
  try {
    await client.query(sql, params);
  } catch (err) {
    await client.query("ROLLBACK TO SAVEPOINT s");
    return { code: (err as pg.DatabaseError).code, column: (err as pg.DatabaseError).column };
  }
  throw new Error(`not refused: ${sql}`);
}

describe("a provision without an accreditation", () => {
  it("is nullable on class.provision and NOT NULL on every registry table", async () => {
    const r = await t.pool.query<{ rel: string; notnull: boolean }>(
      `SELECT a.attrelid::regclass::text AS rel, a.attnotnull AS notnull FROM pg_attribute a
       WHERE a.attname = 'accreditation_id'
         AND (a.attrelid = 'class.provision'::regclass OR a.attrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'class.provision'::regclass))
       ORDER BY 1`,
    );
    const registry = r.rows.filter((x) => x.rel === "class.provision" || REGISTRY_TABLES.includes(x.rel));
    expect(registry).toEqual([{ rel: "class.provision", notnull: false }, ...REGISTRY_TABLES.map((rel) => ({ rel, notnull: true }))]);
    // the other families' tables (the access family's) leave it nullable
    expect(r.rows.filter((x) => !registry.includes(x)).every((x) => !x.notnull)).toBe(true);
  });

  it("a registry table refuses a NULL accreditation with 23502 naming the column, before any row or job is written", async () => {
    const client = await t.pool.connect();
    try {
      await client.query("BEGIN");
      const jobs = (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM job")).rows[0]!.n;
      expect(
        await refused(client, "INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, NULL, 'no-acc.example')", [acc.tenantId]),
      ).toEqual({
        code: "23502",
        column: "accreditation_id",
      });
      expect(
        await refused(
          client,
          "INSERT INTO provision_contact (tenant_customer_id, accreditation_id, contact_id, name, city, cc, email) VALUES ($1, NULL, 'no-acc-1', 'A', 'B', 'GB', 'a@example.com')",
          [acc.tenantId],
        ),
      ).toEqual({ code: "23502", column: "accreditation_id" });
      expect((await client.query<{ n: number }>("SELECT count(*)::int AS n FROM job")).rows[0]!.n).toBe(jobs);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });

  it("a family table that leaves the column nullable accepts NULL, still refuses another tenant's accreditation (PV107), and runs its job to the end", async () => {
    const client = await t.pool.connect();
    try {
      await client.query("BEGIN");
      // a family of the kind the column was opened for, made up for the test and rolled back
      await client.query(`INSERT INTO job_type (name, descr, reference_table, task_identifier)
                          VALUES ('probe_access_grant', 'grant access in several applications', 'provision_probe_access_grant', 'probe__access_grant')`);
      await client.query(`CREATE TABLE provision_probe_access_grant (
                            subject TEXT NOT NULL,
                            PRIMARY KEY (id),
                            FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
                            FOREIGN KEY (accreditation_id) REFERENCES accreditation ON DELETE RESTRICT,
                            FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
                            FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
                          ) INHERITS (class.audit_trail, class.provision)`);
      await client.query("SELECT provision_attach_triggers('provision_probe_access_grant', 'probe_access_grant')");

      const row = await client.query<{ id: string; accreditation_id: string | null; job_id: string | null }>(
        "INSERT INTO provision_probe_access_grant (tenant_customer_id, subject) VALUES ($1, 'alice') RETURNING id, accreditation_id, job_id",
        [acc.tenantId],
      );
      expect(row.rows[0]!.accreditation_id).toBeNull();
      expect(row.rows[0]!.job_id).toEqual(expect.any(String));
      const queued = await client.query("SELECT 1 FROM graphile_worker._private_jobs WHERE key = $1", [row.rows[0]!.job_id]);
      expect(queued.rowCount).toBe(1);

      expect(
        await refused(client, "INSERT INTO provision_probe_access_grant (tenant_customer_id, accreditation_id, subject) VALUES ($1, $2, 'bob')", [
          acc.tenantId,
          other.accreditationId,
        ]),
      ).toEqual({
        code: "PV107",
        column: "accreditation_id",
      });
      const own = await client.query(
        "INSERT INTO provision_probe_access_grant (tenant_customer_id, accreditation_id, subject) VALUES ($1, $2, 'carol') RETURNING id",
        [acc.tenantId, acc.accreditationId],
      );
      expect(own.rowCount).toBe(1);

      // the engine's lifecycle knows nothing of accreditations: start, complete, roll up
      const job = row.rows[0]!.job_id!;
      expect((await client.query("SELECT * FROM job_start($1)", [job])).rowCount).toBe(1);
      expect((await client.query("SELECT job_complete($1, '{}', 'granted') AS ok", [job])).rows[0].ok).toBe(true);
      const v = await client.query("SELECT provision_type, accreditation_id, status FROM v_provision WHERE id = $1", [row.rows[0]!.id]);
      expect(v.rows).toEqual([{ provision_type: "probe_access_grant", accreditation_id: null, status: "completed" }]);
      const events = await client.query("SELECT payload ->> 'status' AS s FROM event WHERE reference_id = $1 ORDER BY id", [row.rows[0]!.id]);
      expect(events.rows.map((e) => e.s)).toEqual(["pending", "completed"]);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});
