/**
 * A stored-procedures file that does not apply is reported with the line and column in that file
 * (src/db/migrate.ts sqlErrorLocation), from PostgreSQL's own error position: a syntax error in a
 * PL/pgSQL body, an unknown table in a view, an error in the third statement of a file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlErrorLocation } from "../../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.close();
});

async function locate(text: string): Promise<string> {
  const c = await t.pool.connect();
  try {
    await c.query("BEGIN");
    await c.query(text);
    throw new Error("the text applied");
  } catch (err) {
    return sqlErrorLocation(text, err);
  } finally {
    await c.query("ROLLBACK");
    c.release();
  }
}

describe("sqlErrorLocation", () => {
  it("points into a PL/pgSQL body with a syntax error", async () => {
    const text = ["-- a comment", "CREATE OR REPLACE FUNCTION pg_temp.f() RETURNS int", "LANGUAGE plpgsql AS $$", "BEGIN", "  RETURN 1 +;", "END", "$$;"].join(
      "\n",
    );
    expect(await locate(text)).toMatch(/^:5:\d+$/);
  });

  it("points at the unknown relation of a view in the third statement", async () => {
    const text = ["SELECT 1;", "SELECT 2;", "CREATE TEMP VIEW v AS", "  SELECT x.id FROM pg_class c", "  JOIN no_such_table x ON true;"].join("\n");
    expect(await locate(text)).toBe(":5:8");
  });

  it("says nothing when the error has no position", () => {
    expect(sqlErrorLocation("SELECT 1", new Error("connection lost"))).toBe("");
  });
});
