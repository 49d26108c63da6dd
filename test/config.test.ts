/**
 * loadConfig (src/config.ts) on hand-made environments (issue 10): an empty variable takes its default,
 * DATABASE_URL must be a postgres:// or postgresql:// URL. resolveSecret reads a password file exactly,
 * but for one trailing line ending. No database needed.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema, loadConfig, resolveSecret } from "../src/config.js";
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

  it("has a default for every variable but DATABASE_URL (unset: embedded PostgreSQL), AMQP_URL (unset: events are not published) and PROVISIO_BACKUP_DIR (unset: PROVISIO_HOME/backups)", () => {
    for (const v of VARIABLES) {
      if (v === "DATABASE_URL" || v === "AMQP_URL" || v === "PROVISIO_BACKUP_DIR") expect(defaults[v]).toBeUndefined();
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

describe("resolveSecret: password_file", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "provisio-secret-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const secretIn = async (name: string, content: string) => {
    const file = path.join(dir, name);
    await writeFile(file, content);
    return resolveSecret({ password_file: file });
  };

  it("strips one trailing line ending (LF or CRLF), as editors and `echo` leave it", async () => {
    expect(await secretIn("lf", "s3cret\n")).toBe("s3cret");
    expect(await secretIn("crlf", "s3cret\r\n")).toBe("s3cret");
    expect(await secretIn("none", "s3cret")).toBe("s3cret");
  });

  it("keeps everything else: U+00A0 and U+FEFF, surrounding spaces and tabs, a second line ending", async () => {
    expect(await secretIn("nbsp", "s3cret\u00a0")).toBe("s3cret\u00a0");
    expect(await secretIn("nbsp-lf", "s3cret\u00a0\n")).toBe("s3cret\u00a0");
    expect(await secretIn("bom", "\ufeffs3cret\ufeff\n")).toBe("\ufeffs3cret\ufeff");
    expect(await secretIn("spaces", "  s3cret\t \n")).toBe("  s3cret\t ");
    expect(await secretIn("two-lf", "s3cret\n\n")).toBe("s3cret\n");
    expect(await secretIn("lone-cr", "s3cret\r")).toBe("s3cret\r");
  });

  it("refuses an empty file (or one holding only a line ending) with PV_CONFIG, like an empty variable", async () => {
    for (const content of ["", "\n", "\r\n"]) {
      const err = await secretIn("empty", content).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(content)).toBeInstanceOf(ConfigurationError);
      expect((err as ConfigurationError).code).toBe("PV_CONFIG");
    }
  });
});

describe("loadConfig: AMQP_URL and the event relay", () => {
  it("accepts amqp:// and amqps:// URLs; the relay's numbers have defaults", () => {
    expect(loadConfig({ AMQP_URL: "amqp://guest:guest@127.0.0.1:5672" }).AMQP_URL).toBe("amqp://guest:guest@127.0.0.1:5672");
    expect(loadConfig({ AMQP_URL: "amqps://u:p@mq.internal/vhost" }).AMQP_URL).toBe("amqps://u:p@mq.internal/vhost");
    expect(loadConfig({})).toMatchObject({ PROVISIO_EVENT_BATCH_SIZE: 200, PROVISIO_EVENT_POLL_INTERVAL_MS: 500, PROVISIO_EVENT_RETENTION_HOURS: 168 });
    expect(loadConfig({ PROVISIO_EVENT_RETENTION_HOURS: "0" }).PROVISIO_EVENT_RETENTION_HOURS).toBe(0);
  });

  it("refuses another scheme naming AMQP_URL, not the value", () => {
    const err = configError({ AMQP_URL: "http://guest:s3cret@127.0.0.1:5672" });
    expect(err.code).toBe("PV_CONFIG");
    expect(err.message).toMatch(/^invalid environment: AMQP_URL: must be an amqp:\/\/ or amqps:\/\/ URL .*got scheme http:$/);
    expect(err.message).not.toMatch(/s3cret/);
    expect(configError({ PROVISIO_EVENT_BATCH_SIZE: "0" }).message).toMatch(/PROVISIO_EVENT_BATCH_SIZE/);
  });
});
