/**
 * `provisio migrate` run by a login without the rights it needs (issue 10): one line on stderr naming
 * the cause and its SQLSTATE, exit code 1, no stack trace (node-pg-migrate's or ours).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrate } from "../../src/db/migrate.js";
import { fromPgError } from "../../src/errors.js";
import { ensureLogin, loginUrl } from "../helpers/db.js";
import { runCli } from "./run-cli.js";

const serverUrl = inject("serverUrl");
const LOGIN = "provisio_no_rights_test";
let db: string;
let db2: string;

function urlOf(database: string, login?: string): string {
  const u = new URL(login ? loginUrl(serverUrl, login) : serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin(sql: string, database?: string): Promise<void> {
  const c = new pg.Client({ connectionString: database ? urlOf(database) : serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await ensureLogin(serverUrl, LOGIN);
  db = `provisio_t_norights_${randomBytes(5).toString("hex")}`;
  await admin(`CREATE DATABASE ${db}`);
  // PostgreSQL 15+ gives PUBLIC no CREATE on public already; revoke it for older servers too
  await admin("REVOKE CREATE ON SCHEMA public FROM PUBLIC", db);
  // a second database where the login may create in public but not create schemas (CREATE on the database)
  db2 = `provisio_t_norights_${randomBytes(5).toString("hex")}`;
  await admin(`CREATE DATABASE ${db2}`);
  await admin(`REVOKE CREATE ON DATABASE ${db2} FROM PUBLIC`);
  await admin(`GRANT CREATE ON SCHEMA public TO ${LOGIN}`, db2);
});
afterAll(async () => {
  for (const d of [db, db2]) if (d) await admin(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
});

/** stderr of a failed command: exactly one line, no stack frame */
function oneLine(stderr: string): string {
  expect(stderr).not.toMatch(/^\s+at /m);
  const lines = stderr.trimEnd().split("\n");
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

describe("provisio migrate without the rights", () => {
  it("prints one line with the cause and SQLSTATE 42501 and exits 1", async () => {
    // PROVISIO_LOG_LEVEL unset: the default level, as a user runs it
    const r = await runCli(["migrate"], { DATABASE_URL: urlOf(db, LOGIN), PROVISIO_LOG_LEVEL: undefined });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toBe("provisio: migrations/: Unable to ensure migrations table: permission denied for schema public (SQLSTATE 42501)");
  });

  it("migrate() itself throws a one-line error whose cause keeps the SQLSTATE", async () => {
    const err = await migrate(urlOf(db, LOGIN)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe("migrations/: Unable to ensure migrations table: permission denied for schema public");
    expect(fromPgError(err).code).toBe("42501");
  });

  it("a migration's own statement failing (CREATE SCHEMA without CREATE on the database) is one line too", async () => {
    const r = await runCli(["migrate"], { DATABASE_URL: urlOf(db2, LOGIN), PROVISIO_LOG_LEVEL: undefined });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/^provisio: permission denied for database provisio_t_norights_\w+ \(SQLSTATE 42501\)$/);
  });
});
