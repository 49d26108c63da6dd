/**
 * The sql connector's pieces that need no server: the named-placeholder compiler (statements.ts), the
 * config schema (config.ts), the error classification (errors.ts) and tables mode's `active` reading.
 */
import { describe, expect, it } from "vitest";
import { PermanentError, TransientError, ValidationError } from "../../../src/errors.js";
import { compileStatements, connectionFingerprint, parseSqlConfig, sqlConnectorConfigSchema } from "../../../src/connectors/sql/config.js";
import { heldAmong } from "../../../src/connectors/sql/discovery.js";
import { mariadbFailure, nativeCodeOf, pgFailure } from "../../../src/connectors/sql/errors.js";
import { bindValues, compileStatement, StatementError } from "../../../src/connectors/sql/statements.js";
import { truthy } from "../../../src/connectors/sql/tables.js";

describe("compileStatement", () => {
  it("numbers PostgreSQL parameters per distinct name and MariaDB ones per occurrence", () => {
    const sql = "SELECT :userIdInApp, :email, :userIdInApp";
    expect(compileStatement(sql, "postgresql")).toEqual({ text: "SELECT $1, $2, $1", params: ["userIdInApp", "email"] });
    expect(compileStatement(sql, "mariadb")).toEqual({ text: "SELECT ?, ?, ?", params: ["userIdInApp", "email", "userIdInApp"] });
  });

  it("leaves PostgreSQL strings, identifiers, dollar quotes, comments and casts alone", () => {
    const sql = [
      "SELECT 'it''s :userName', E'\\' :userName', \"col:userName\", $$ :userName $$, $t$ :email $t$,",
      "x::text, /* outer /* :userName */ still :userName */ :email -- :userName",
      ", :userName",
    ].join("\n");
    const c = compileStatement(sql, "postgresql");
    expect(c.params).toEqual(["email", "userName"]);
    expect(c.text).toContain("'it''s :userName'");
    expect(c.text).toContain("E'\\' :userName'");
    expect(c.text).toContain("x::text");
    expect(c.text).toMatch(/\*\/ \$1 -- :userName\n, \$2$/);
  });

  it("leaves MariaDB strings (backslash escapes), identifiers and comments alone", () => {
    const sql = "SELECT 'a\\' :userName', \"b\\\" :email\", `c:userName`, 1--1, :email # :userName\n/* :userName */ :userName -- :email";
    const c = compileStatement(sql, "mariadb");
    expect(c.params).toEqual(["email", "userName"]);
    expect(c.text).toBe("SELECT 'a\\' :userName', \"b\\\" :email\", `c:userName`, 1--1, ? # :userName\n/* :userName */ ? -- :email");
  });

  it("refuses unknown or disallowed names, positional parameters and unterminated quotes", () => {
    expect(() => compileStatement("SELECT :nope", "postgresql")).toThrow(StatementError);
    expect(() => compileStatement("SELECT :nope", "postgresql")).toThrow(/unknown placeholder :nope/);
    expect(() => compileStatement("SELECT :entitlement", "postgresql", ["userIdInApp"])).toThrow(/cannot be used here/);
    expect(() => compileStatement("SELECT $1", "postgresql")).toThrow(/positional parameter \$1/);
    expect(() => compileStatement("SELECT ?", "mariadb")).toThrow(/positional parameter \?/);
    expect(() => compileStatement("SELECT 'open", "postgresql")).toThrow(/unterminated string/);
    expect(() => compileStatement('SELECT "open', "postgresql")).toThrow(/unterminated quoted identifier/);
    expect(() => compileStatement("SELECT $x$ open", "postgresql")).toThrow(/unterminated dollar-quoted/);
    expect(() => compileStatement("SELECT /* open", "mariadb")).toThrow(/unterminated comment/);
    // a ? or $1 inside a string is text
    expect(compileStatement("SELECT '?', :email", "mariadb").params).toEqual(["email"]);
    expect(compileStatement("SELECT '$1', :email", "postgresql").text).toBe("SELECT '$1', $1");
  });

  it("binds values in order, a missing one as NULL", () => {
    const c = compileStatement("SELECT :userIdInApp, :email, :userIdInApp", "mariadb");
    expect(bindValues(c, { userIdInApp: "u", email: undefined })).toEqual(["u", null, "u"]);
  });
});

describe("sqlConnectorConfigSchema", () => {
  const base = { host: "db", database: "app", user: "provisio", password_env: "PW", mode: "roles" };

  it("fills defaults per dialect", () => {
    expect(parseSqlConfig({ ...base, dialect: "postgresql" })).toMatchObject({
      port: 5432,
      pool_size: 4,
      connect_timeout_ms: 10_000,
      statement_timeout_ms: 30_000,
    });
    expect(parseSqlConfig({ ...base, dialect: "mariadb" })).toMatchObject({ port: 3306, user_host: "%" });
  });

  it("refuses an unknown dialect, a missing or doubled secret reference, and tls.servername for mariadb", () => {
    expect(sqlConnectorConfigSchema.safeParse({ ...base, dialect: "oracle" }).success).toBe(false);
    expect(() => parseSqlConfig({ ...base, dialect: "postgresql", password_env: undefined })).toThrow(/exactly one of password_env or password_file/);
    expect(() => parseSqlConfig({ ...base, dialect: "postgresql", password_file: "/x" })).toThrow(/exactly one/);
    expect(() => parseSqlConfig({ ...base, dialect: "mariadb", tls: { servername: "x" } })).toThrow(/servername/);
    expect(parseSqlConfig({ ...base, dialect: "postgresql", tls: {} }).tls).toEqual({ reject_unauthorized: true });
  });

  it("list_accounts is optional, takes :after and :pageSize only, and compiles per dialect", () => {
    const statements = { find_account: "SELECT 1", list_entitlements: "SELECT 1", grant: "SELECT 1", revoke: "SELECT 1" };
    const list = "SELECT login AS user_id, id FROM users WHERE login > :after ORDER BY login LIMIT :pageSize";
    const tables = (dialect: string, extra: Record<string, string> = {}) =>
      parseSqlConfig({ ...base, dialect, mode: "tables", statements: { ...statements, ...extra } });
    expect(compileStatements(tables("postgresql")).list_accounts).toBeUndefined();
    expect(compileStatements(tables("postgresql", { list_accounts: list })).list_accounts).toEqual({
      text: "SELECT login AS user_id, id FROM users WHERE login > $1 ORDER BY login LIMIT $2",
      params: ["after", "pageSize"],
    });
    expect(compileStatements(tables("mariadb", { list_accounts: list })).list_accounts).toEqual({
      text: "SELECT login AS user_id, id FROM users WHERE login > ? ORDER BY login LIMIT ?",
      params: ["after", "pageSize"],
    });
    expect(() => tables("postgresql", { list_accounts: "SELECT id FROM users WHERE login = :userIdInApp" })).toThrow(
      /statements\.list_accounts: placeholder :userIdInApp cannot be used here \(allowed: :after, :pageSize\)/,
    );
    expect(() => tables("postgresql", { find_account: "SELECT id FROM users WHERE login > :after" })).toThrow(/placeholder :after cannot be used here/);
    expect(() => tables("mariadb", { list_accounts: "" })).toThrow(/list_accounts/);
  });

  it("fingerprints the connection settings only: not the mode or the statements", () => {
    const roles = parseSqlConfig({ ...base, dialect: "postgresql" });
    const tables = parseSqlConfig({
      ...base,
      dialect: "postgresql",
      mode: "tables",
      statements: { find_account: "SELECT 1", list_entitlements: "SELECT 1", grant: "SELECT 1", revoke: "SELECT 1" },
    });
    expect(connectionFingerprint(roles)).toBe(connectionFingerprint(tables));
    expect(connectionFingerprint(roles)).not.toBe(connectionFingerprint(parseSqlConfig({ ...base, dialect: "postgresql", host: "other" })));
  });
});

describe("error classification", () => {
  const where = "postgresql db:5432/app";
  it("PostgreSQL: login refusals are permanent and configSuspect, lost connections and races transient, the rest permanent", () => {
    for (const code of ["28P01", "28000", "3D000"]) {
      const e = pgFailure({ code, message: "no" }, where, true);
      expect(e).toBeInstanceOf(PermanentError);
      expect(e.configSuspect).toBe(true);
    }
    for (const code of ["08006", "53300", "57P01", "57P03", "57014", "40001", "40P01", "55P03"]) {
      expect(pgFailure({ code, message: "x" }, where, false), code).toBeInstanceOf(TransientError);
    }
    expect(pgFailure({ code: "ECONNREFUSED", message: "connect ECONNREFUSED" }, where, true)).toMatchObject({
      code: "ECONNREFUSED",
      configSuspect: true,
      retryable: true,
    });
    expect(pgFailure(new AggregateError([Object.assign(new Error("connect ECONNREFUSED ::1"), { code: "ECONNREFUSED" })]), where, true)).toBeInstanceOf(
      TransientError,
    );
    expect(pgFailure(new Error("Connection terminated unexpectedly"), where, false)).toBeInstanceOf(TransientError);
    expect(pgFailure(new Error("timeout exceeded when trying to connect"), where, true)).toMatchObject({ retryable: true, configSuspect: true });
    const unknownRole = pgFailure({ code: "42704", message: 'role "x" does not exist' }, where, false);
    expect(unknownRole).toBeInstanceOf(PermanentError);
    expect(unknownRole).toMatchObject({ code: "42704", configSuspect: false, message: `${where}: role "x" does not exist` });
    expect(pgFailure({ code: "23505", message: "dup" }, where, false)).toBeInstanceOf(ValidationError);
    expect(nativeCodeOf("postgresql", { code: "42704" })).toBe("42704");
    expect(nativeCodeOf("postgresql", { code: "ECONNREFUSED" })).toBeUndefined();
  });

  it("MariaDB: access denied is permanent and configSuspect; too many connections, deadlock, lock wait, lost connection transient", () => {
    const where2 = "mariadb db:3306/app";
    expect(mariadbFailure({ errno: 1045, code: "ER_ACCESS_DENIED_ERROR", message: "denied" }, where2, true)).toMatchObject({
      code: "ER_ACCESS_DENIED_ERROR",
      configSuspect: true,
      retryable: false,
    });
    for (const [errno, code] of [
      [1040, "ER_CON_COUNT_ERROR"],
      [1213, "ER_LOCK_DEADLOCK"],
      [1205, "ER_LOCK_WAIT_TIMEOUT"],
      [1969, "ER_STATEMENT_TIMEOUT"],
      [1053, "ER_SERVER_SHUTDOWN"],
    ] as const) {
      expect(mariadbFailure({ errno, code, message: "x" }, where2, false), code).toBeInstanceOf(TransientError);
    }
    expect(mariadbFailure({ code: "PROTOCOL_CONNECTION_LOST", fatal: true, message: "lost" }, where2, false)).toBeInstanceOf(TransientError);
    expect(mariadbFailure({ code: "ECONNREFUSED", message: "refused" }, where2, true)).toMatchObject({ retryable: true, configSuspect: true });
    const invalidRole = mariadbFailure({ errno: 1959, code: "ER_INVALID_ROLE", message: "Invalid role specification" }, where2, false);
    expect(invalidRole).toBeInstanceOf(PermanentError);
    expect(invalidRole.configSuspect).toBe(false);
    expect(nativeCodeOf("mariadb", { errno: 1959 })).toBe(1959);
  });
});

describe("discovery: held keys", () => {
  it("reports the request's keys that are held, in the request's order and spelling, compared exactly", () => {
    expect(heldAmong(["b", "a", "C", "d"], new Set(["a", "b", "c", "x"]))).toEqual(["b", "a"]);
    expect(heldAmong(["a"], [])).toEqual([]);
  });
});

describe("tables mode: active", () => {
  it("reads booleans, numbers, strings and BIT(1) buffers", () => {
    for (const v of [true, 1, 1n, "t", "TRUE", "y", "yes", "1", Buffer.from([1])]) expect(truthy(v), String(v)).toBe(true);
    for (const v of [false, 0, 0n, "f", "false", "n", "0", "", null, undefined, Buffer.from([0])]) expect(truthy(v), String(v)).toBe(false);
  });
});
