/**
 * loadConfig (src/config.ts) on hand-made environments (issue 10): an empty variable takes its default,
 * DATABASE_URL must be a postgres:// or postgresql:// URL. No database needed.
 */
import { describe, expect, it } from "vitest";
import { configSchema, loadConfig } from "../src/config.js";
import { ConfigurationError } from "../src/errors.js";

const VARIABLES = Object.keys(configSchema.shape) as (keyof typeof configSchema.shape)[];

function configError(env: NodeJS.ProcessEnv): ConfigurationError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return err as ConfigurationError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig: empty means default", () => {
  const defaults = loadConfig({});

  it("has a default for every variable but DATABASE_URL (unset: embedded PostgreSQL)", () => {
    for (const v of VARIABLES) {
      if (v === "DATABASE_URL") expect(defaults[v]).toBeUndefined();
      else expect(defaults[v], v).toBeDefined();
    }
    expect(defaults.PROVISIO_WORKER_CONCURRENCY).toBe(10);
    expect(defaults.PROVISIO_LOCAL_QUEUE_SIZE).toBe(-1);
    expect(defaults.PROVISIO_HOME).toBe(".provisio");
    expect(defaults.PROVISIO_LOG_LEVEL).toBe("info");
  });

  it.each(VARIABLES)("%s='' or blanks takes the default", (v) => {
    for (const empty of ["", "  ", "\t"]) {
      const cfg = loadConfig({ [v]: empty });
      expect(cfg[v], JSON.stringify(empty)).toEqual(defaults[v]);
    }
  });

  it("every variable empty at once is the default configuration", () => {
    expect(loadConfig(Object.fromEntries(VARIABLES.map((v) => [v, ""])))).toEqual(loadConfig({}));
  });

  it("a set value still wins, and a bad one still fails naming the variable", () => {
    expect(loadConfig({ PROVISIO_WORKER_CONCURRENCY: "3", PROVISIO_LOCAL_QUEUE_SIZE: "0", PROVISIO_HOME: "/tmp/p" })).toMatchObject({
      PROVISIO_WORKER_CONCURRENCY: 3,
      PROVISIO_LOCAL_QUEUE_SIZE: 0,
      PROVISIO_HOME: "/tmp/p",
    });
    const err = configError({ PROVISIO_WORKER_CONCURRENCY: "0" });
    expect(err.code).toBe("PV_CONFIG");
    expect(err.message).toMatch(/^invalid environment: PROVISIO_WORKER_CONCURRENCY: /);
  });
});

describe("loadConfig: DATABASE_URL", () => {
  it.each([
    "postgres://user:pw@db.internal:5432/provisio",
    "postgresql://user@127.0.0.1/provisio?sslmode=require",
    "postgres:///provisio?host=/var/run/postgresql",
  ])("accepts %s", (url) => {
    expect(loadConfig({ DATABASE_URL: url }).DATABASE_URL).toBe(url);
  });

  it.each([
    ["http://user:s3cret@db.internal/provisio", "scheme http:"],
    ["mysql://user:s3cret@db.internal/provisio", "scheme mysql:"],
    ["db.internal:5432/provisio", "scheme db.internal:"],
    ["user:s3cret@db.internal", "scheme user:"],
    ["s3cret not a url", "something that is not a URL"],
  ])("refuses %s with PV_CONFIG naming DATABASE_URL and the rule, not the value", (url, got) => {
    const err = configError({ DATABASE_URL: url });
    expect(err.code).toBe("PV_CONFIG");
    expect(err.message).toBe(
      `invalid environment: DATABASE_URL: must be a postgres:// or postgresql:// URL (postgres://user:password@host:5432/database), got ${got}`,
    );
    expect(err.message).not.toContain("s3cret");
  });
});
