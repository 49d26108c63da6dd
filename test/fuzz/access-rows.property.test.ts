/**
 * Property-based tests over the access family's provision rows (seed 002: provision_access_grant and
 * provision_access_revoke), with fast-check, in the style of provision-rows.property.test.ts. Columns get
 * random and adversarial values: unknown, malformed and NULL uuids, the same uuid spelt otherwise (upper
 * case, braces, no hyphens), another tenant's identity, application, entitlement, accreditation or order
 * plan, entitlement arrays that are empty, nested, repeat an id, hold a NULL, mix applications or name an
 * entitlement the identity does not hold, inactive identities, applications whose connector configuration
 * fails the INSERT's checks (PV206) or parses only there and not in the adapter (PV_CONFIG when the job
 * runs), boolean spellings, engine-owned columns, and forged values of the derived columns (username,
 * entitlement_keys). Each row must either
 *   - be rejected with a documented SQLSTATE (docs/errors.md) and leave nothing written: no provision,
 *     job, graphile-worker job, event, audit row, order row or claim; or
 *   - be accepted and provisioned: a worker running against two SCIM simulators takes it to a final
 *     status, and leaves no graphile-worker job behind.
 * A model of the fixture decides which: the SQLSTATEs a row's values may be refused with (the answer must
 * be one of them), or none (the row must be accepted), and for an accepted row the status it ends in (a
 * failure only with the adapter's PV_CONFIG of an application whose configuration does not parse).
 * Unlike the domain fuzz, the worker runs during the INSERTs and each accepted row is waited for before
 * the next one: one grant or revoke per identity may be in flight (PV207), and a revoke's validity depends
 * on the accounts earlier grants recorded (PV204). "Nothing written" compares row counts taken while the
 * worker is idle. PROVISIO_FUZZ_RUNS sets the number of rows per table (default 100); PROVISIO_FUZZ_SEED
 * the seed (default fixed; "random" for a new one each run).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScimSimulator } from "../../src/simulators/scim/server.js";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.js";
import { createAccessFixture } from "../helpers/access.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { createAccount, createOrder, waitFor, writeCounts } from "../helpers/fixtures.js";

const ERRORS_PAGE = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
/**
 * SQLSTATEs a provision INSERT may answer with: the codes of docs/errors.md's section on validation, read
 * from the page itself (as the domain fuzz does). 42501 is left out: these INSERTs run as the owner.
 */
const DOCUMENTED = new Set(
  [...ERRORS_PAGE.split("## Raised by job functions")[0]!.matchAll(/^\| (\w{5}) \|/gm)]
    .map((m) => m[1]!)
    .filter((code) => code !== "42501" && code !== "PV108"),
);
/** Codes a failed job may carry: the first column of docs/errors.md's table of TypeScript errors. */
const JOB_CODES = new Set(
  ERRORS_PAGE.split("## Codes on TypeScript errors")[1]!
    .split("\n")
    .filter((l) => /^\| [A-Z0-9]/.test(l))
    .flatMap((l) => l.split("|")[1]!.split(","))
    .map((c) => c.trim())
    .filter((c) => /^\w+$/.test(c) && c !== "PV_INTERNAL"),
);
const RUNS = Number(process.env.PROVISIO_FUZZ_RUNS ?? 100);
const SEED = process.env.PROVISIO_FUZZ_SEED === "random" ? Date.now() ^ (Math.random() * 2 ** 31) : Number(process.env.PROVISIO_FUZZ_SEED ?? 20261121);
const TOKEN_ENV = "PROVISIO_FUZZ_SCIM_TOKEN";
const UNSET_ENV = "PROVISIO_FUZZ_UNSET_TOKEN";
/** A value that does not parse as its column's type (a NUL character: 22021). */
const MALFORMED = ["22P02", "22021"];

/** How an application behaves: provisioned; fails when the job runs (PV_CONFIG); refused at INSERT (PV206). */
type AppClass = "good" | "runFail" | "insertFail";
interface Ident {
  key: string;
  id: string;
  username: string;
  active: boolean;
  /** the entitlements its roles give */
  gives: string[];
}
interface App {
  key: string;
  id: string;
  cls: AppClass;
}
interface Ent {
  id: string;
  appId: string;
  nativeKey: string;
}
/** One tenant's access data, as the model knows it. */
interface World {
  tenantId: string;
  accreditationId: string;
  identities: Ident[];
  apps: App[];
  ents: Ent[];
}

let t: TestDatabase;
let worker: WorkerHandle;
let scim1: ScimSimulator;
let scim2: ScimSimulator;
let mine: World;
let other: World;
/** accepted rows by table (for an `id` already taken), plans their provision finished (PV119) */
const acceptedIds: Record<string, string[]> = { provision_access_grant: [], provision_access_revoke: [] };
const finalPlans: { tenantId: string; id: string }[] = [];
const stats = { rejected: {} as Record<string, number>, completed: 0, failed: {} as Record<string, number> };

/** each identity's role (createAccessFixture makes one per identity), to give it more */
const roles = new Map<Ident, string>();
/** An identity of `w` whose role gives entitlements in a new application (test/helpers/access.ts). */
async function addFixture(w: World, key: string, cls: AppClass, opts: Parameters<typeof createAccessFixture>[2]): Promise<Ident> {
  const f = await createAccessFixture(t.pool, w.tenantId, opts);
  w.apps.push({ key, id: f.applicationId, cls });
  for (const [nativeKey, id] of Object.entries(f.entitlements)) w.ents.push({ id, appId: f.applicationId, nativeKey });
  const ident = { key, id: f.identityId, username: f.username, active: opts?.active ?? true, gives: Object.values(f.entitlements) };
  w.identities.push(ident);
  roles.set(ident, f.roleId);
  return ident;
}
/** the identity's role also gives entitlements `ids` (of other applications) */
async function alsoGives(w: World, ident: Ident, ids: string[]) {
  for (const id of ids) {
    await t.pool.query("INSERT INTO role_entitlement (role_id, entitlement_id, tenant_customer_id) VALUES ($1, $2, $3)", [roles.get(ident), id, w.tenantId]);
    ident.gives.push(id);
  }
}
const entOf = (w: World, key: string, n = 0) => w.ents.filter((e) => e.appId === w.apps.find((a) => a.key === key)!.id)[n]!.id;
const group = (s: ScimSimulator, name: string) => s.store.createGroup({ displayName: `${name}-${randomUUID().slice(0, 6)}` }).id;
const scimConfig = (s: ScimSimulator, extra: Record<string, unknown> = {}) => ({ baseUrl: s.baseUrl, token_env: TOKEN_ENV, ...extra });

beforeAll(async () => {
  const token = `fuzz-token-${randomUUID()}`;
  process.env[TOKEN_ENV] = token;
  delete process.env[UNSET_ENV];
  scim1 = new ScimSimulator({ token });
  scim2 = new ScimSimulator({ token });
  await scim1.start();
  await scim2.start();
  t = await createTestDatabase();
  const a = await createAccount(t.pool);
  const b = await createAccount(t.pool);
  mine = { ...a, identities: [], apps: [], ents: [] };
  other = { ...b, identities: [], apps: [], ents: [] };
  const scim = (s: ScimSimulator, keys: string[], extra: Parameters<typeof createAccessFixture>[2] = {}) => ({
    connectorType: "scim",
    configuration: scimConfig(s),
    nativeKeys: keys.map((k) => group(s, k)),
    ...extra,
  });
  // provisioned at the SCIM simulators; s1's identity also holds an entitlement of s2 (two applications)
  const s1 = await addFixture(mine, "s1", "good", scim(scim1, ["s1-a", "s1-b"]));
  await addFixture(mine, "s2", "good", scim(scim2, ["s2-a", "s2-b"]));
  await alsoGives(mine, s1, [entOf(mine, "s2")]);
  // pass the INSERT's checks but not the adapter's: a sql config without "mode" (the helper's default), a
  // SCIM config with a key the strict schema does not know, an LDAP bindDN that is not a DN, a token
  // variable that is not set
  const sqlNoMode = await addFixture(mine, "sqlNoMode", "runFail", { nativeKeys: ["app_reader"] });
  await alsoGives(mine, sqlNoMode, [entOf(mine, "s1", 1)]);
  await addFixture(mine, "scimTypo", "runFail", { connectorType: "scim", configuration: scimConfig(scim1, { timeout_ms: 5 }), nativeKeys: ["grp-typo"] });
  await addFixture(mine, "ldapBadDn", "runFail", {
    connectorType: "ldap",
    configuration: { url: "ldap://127.0.0.1:1", bindDN: "not a DN", usersDN: "ou=people,dc=example", password_env: "APP_PW" },
    nativeKeys: ["cn=staff,ou=groups,dc=example"],
  });
  await addFixture(mine, "scimUnset", "runFail", {
    connectorType: "scim",
    configuration: { baseUrl: scim1.baseUrl, token_env: UNSET_ENV },
    nativeKeys: ["grp-unset"],
  });
  // refused at INSERT (PV206): a baseUrl that is not http(s), two token references, no connector_config,
  // no mapping_config, a sql dialect provisio does not know
  const bad206 = await addFixture(mine, "bad206", "insertFail", {
    connectorType: "scim",
    configuration: { baseUrl: "ftp://scim.example/v2", token_env: TOKEN_ENV },
    nativeKeys: ["grp-ftp"],
  });
  await alsoGives(mine, bad206, [entOf(mine, "s1")]);
  await addFixture(mine, "twoTokens", "insertFail", {
    connectorType: "scim",
    configuration: scimConfig(scim1, { token_file: "/nonexistent/token" }),
    nativeKeys: ["grp-two"],
  });
  await addFixture(mine, "noConfig", "insertFail", scim(scim1, ["noconfig"]));
  await t.pool.query("DELETE FROM connector_config WHERE application_id = $1", [mine.apps.at(-1)!.id]);
  await addFixture(mine, "noMapping", "insertFail", scim(scim1, ["nomapping"]));
  await t.pool.query("DELETE FROM mapping_config WHERE application_id = $1", [mine.apps.at(-1)!.id]);
  await addFixture(mine, "sqlOracle", "insertFail", {
    configuration: { dialect: "oracle", host: "127.0.0.1", database: "app", user: "app", password_env: "APP_PW", mode: "roles" },
    nativeKeys: ["ora_reader"],
  });
  await addFixture(mine, "inactive", "good", scim(scim1, ["inactive"], { active: false }));
  // a username with quotes, a backslash, a space and non-ASCII letters (the SCIM filter escapes them)
  await addFixture(mine, "weird", "good", scim(scim1, ["weird"], { username: `Zoë "Q" O'Brien\\${randomUUID().slice(0, 6)}` }));
  // an identity with no role, and an application with no entitlement (a grant naming it makes the account)
  const noRole = await t.pool.query("INSERT INTO identity (tenant_customer_id, username, email) VALUES ($1, $2, $3) RETURNING id, username", [
    mine.tenantId,
    `norole-${randomUUID().slice(0, 6)}`,
    "norole@example.com",
  ]);
  mine.identities.push({ key: "noRole", id: noRole.rows[0].id, username: noRole.rows[0].username, active: true, gives: [] });
  const empty = await t.pool.query("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [
    mine.tenantId,
    `app-empty-${randomUUID().slice(0, 6)}`,
  ]);
  await t.pool.query("INSERT INTO connector_config (application_id, tenant_customer_id, connector_type, configuration) VALUES ($1, $2, 'scim', $3)", [
    empty.rows[0].id,
    mine.tenantId,
    scimConfig(scim1),
  ]);
  await t.pool.query("INSERT INTO mapping_config (application_id, tenant_customer_id) VALUES ($1, $2)", [empty.rows[0].id, mine.tenantId]);
  mine.apps.push({ key: "empty", id: empty.rows[0].id, cls: "good" });
  // the other tenant: one identity, one application provisioned at scim1
  await addFixture(other, "other", "good", scim(scim1, ["other-a", "other-b"]));

  await t.pool.query("UPDATE job_type SET retry_backoff_seconds = 0.05, retry_backoff_max_seconds = 0.2");
  worker = await startWorker({ connectionString: t.url, concurrency: 2, pollInterval: 100 });
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await scim1?.stop();
  await scim2?.stop();
});

// ---- value generators: descriptors (printed by fast-check on failure), resolved against the fixture --
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "NULL", "null", "'; DROP TABLE job; --", "x'); DELETE FROM class.provision; --", "\u0000", "a\u0000b", "a".repeat(70_000)),
);
/** text that is never a uuid, a boolean or an array literal */
const malformed = fc.oneof(
  fc.constantFrom("", " ", "not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "'; DROP TABLE job; --", "\u0000", "{}x", "maybe"),
  fc.uuid().map((u) => `${u}x`),
  fc.uuid().map((u) => u.slice(1)),
);
const unknownUuid = fc.uuid();
/** a uuid spelt otherwise: upper case, in braces, without hyphens (uuid_in takes them all) */
const spell = (u: string, f: number) => [u, u.toUpperCase(), `{${u}}`, u.replace(/-/g, ""), u.replace(/-/g, "").toUpperCase()][f % 5]!;

type Ref =
  { k: "own"; i: number; f: number } | { k: "foreign"; i: number } | { k: "unknown"; u: string } | { k: "null" } | { k: "absent" } | { k: "bad"; s: string };
const ownRef = fc.record({ k: fc.constant("own" as const), i: fc.nat(), f: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.nat(4)) });
const refOf = (weights: { own: number; foreign: number; unknown: number; null: number; bad: number; absent?: number }): fc.Arbitrary<Ref> =>
  fc.oneof(
    { weight: weights.own, arbitrary: ownRef },
    { weight: weights.foreign, arbitrary: fc.record({ k: fc.constant("foreign" as const), i: fc.nat() }) },
    { weight: weights.unknown, arbitrary: unknownUuid.map((u) => ({ k: "unknown" as const, u })) },
    { weight: weights.null, arbitrary: fc.constant({ k: "null" as const }) },
    { weight: weights.bad, arbitrary: malformed.map((s) => ({ k: "bad" as const, s })) },
    { weight: weights.absent ?? 0, arbitrary: fc.constant({ k: "absent" as const }) },
  );
const tenantRef = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ k: "mine" as const }) },
  { weight: 5, arbitrary: fc.constant({ k: "other" as const }) },
  { weight: 1, arbitrary: unknownUuid.map((u) => ({ k: "unknown" as const, u })) },
  { weight: 1, arbitrary: fc.constant({ k: "null" as const }) },
  { weight: 1, arbitrary: malformed.map((s) => ({ k: "bad" as const, s })) },
);
type TenantRef = { k: "mine" | "other" | "null" } | { k: "unknown"; u: string } | { k: "bad"; s: string };
type Bool = { k: "absent" | "null" } | { k: "ok" | "bad"; s: string };
const bool: fc.Arbitrary<Bool> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ k: "absent" as const }) },
  { weight: 2, arbitrary: fc.constant({ k: "null" as const }) },
  {
    weight: 10,
    arbitrary: fc.constantFrom("true", "false", "t", "f", "TRUE", " yes ", "no", "on", "off", "1", "0", "Y").map((s) => ({ k: "ok" as const, s })),
  },
  { weight: 1, arbitrary: fc.constantFrom("maybe", "", "2", "-1", "truthy", "yess", "nope", "t\u0000").map((s) => ({ k: "bad" as const, s })) },
);
/** engine-owned columns (PV115), with their casts */
const ENGINE: [string, string, string][] = [
  ["status_id", "2", "smallint"],
  ["status_id", "4", "smallint"],
  ["job_id", randomUUID(), "uuid"],
  ["result_message", "forged", "text"],
  ["result_data", '{"forged": true}', "jsonb"],
  ["roid", "R-1", "text"],
  ["attempt_count", "3", "int"],
  ["provisioned_date", "2001-01-01T00:00:00Z", "timestamptz"],
  ["last_attempt_date", "2001-01-01T00:00:00Z", "timestamptz"],
  ["created_by", "mallory", "text"],
  ["created_date", "2001-01-01T00:00:00Z", "timestamptz"],
  ["updated_by", "mallory", "text"],
];
type Plan = { k: "fresh" | "twice" | "foreign" | "final" | "nullElem" | "empty" | "unknown" | "nested" | "sqlNull" } | { k: "bad"; s: string };
/** columns every provision table has, mostly left out */
const extras = fc.record({
  accreditation: fc.oneof(
    { weight: 30, arbitrary: fc.constant({ k: "absent" as const }) },
    fc.constantFrom({ k: "own" as const }, { k: "foreign" as const }, { k: "null" as const }),
    unknownUuid.map((u) => ({ k: "unknown" as const, u })),
  ),
  id: fc.oneof(
    { weight: 30, arbitrary: fc.constant({ k: "absent" as const }) },
    fc.constantFrom({ k: "fresh" as const }, { k: "same" as const }, { k: "cross" as const }),
  ),
  plans: fc.oneof(
    { weight: 12, arbitrary: fc.constant({ k: "absent" as const }) },
    fc.constantFrom<Plan>(
      { k: "fresh" },
      { k: "fresh" },
      { k: "twice" },
      { k: "foreign" },
      { k: "final" },
      { k: "nullElem" },
      { k: "empty" },
      { k: "unknown" },
      { k: "nested" },
      { k: "sqlNull" },
    ),
    malformed.filter((s) => s.trim() !== "").map((s) => ({ k: "bad" as const, s: `{${s}}` })),
  ),
  engine: fc.oneof({ weight: 30, arbitrary: fc.constant(-1) }, fc.nat(ENGINE.length - 1)),
  username: fc.oneof({ weight: 20, arbitrary: fc.constant(undefined) }, nasty),
});
type Extras = typeof extras extends fc.Arbitrary<infer T> ? T : never;

const grantRow = fc.record({
  tenant: tenantRef,
  identity: refOf({ own: 30, foreign: 2, unknown: 1, null: 1, bad: 2 }),
  // "own" applications: half of them one the identity holds an entitlement in (a scoped grant)
  application: fc.oneof(
    { weight: 5, arbitrary: refOf({ own: 6, foreign: 1, unknown: 1, null: 1, bad: 1, absent: 10 }) },
    { weight: 2, arbitrary: fc.nat().map((i) => ({ k: "held" as const, i })) },
  ),
  dryRun: bool,
  extras,
});
type Elem = Ref | { k: "held"; i: number; f: number } | { k: "dup" };
const elem: fc.Arbitrary<Elem> = fc.oneof(
  { weight: 14, arbitrary: fc.record({ k: fc.constant("held" as const), i: fc.nat(), f: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.nat(4)) }) },
  { weight: 3, arbitrary: ownRef },
  { weight: 2, arbitrary: fc.constant({ k: "dup" as const }) },
  { weight: 3, arbitrary: refOf({ own: 0, foreign: 2, unknown: 2, null: 2, bad: 1 }) },
);
type Ents = { k: "list"; items: Elem[] } | { k: "sqlNull" | "empty" | "nested" } | { k: "literal"; s: string };
const entitlementIds: fc.Arbitrary<Ents> = fc.oneof(
  { weight: 24, arbitrary: fc.array(elem, { minLength: 1, maxLength: 3 }).map((items) => ({ k: "list" as const, items })) },
  fc.constantFrom({ k: "sqlNull" as const }, { k: "empty" as const }, { k: "nested" as const }),
  fc.oneof(fc.constantFrom("{", "}", "{{}", "{a,b", "[1,2]", "{NULL,}"), malformed).map((s) => ({ k: "literal" as const, s })),
);
const revokeRow = fc.record({
  tenant: tenantRef,
  identity: refOf({ own: 30, foreign: 2, unknown: 1, null: 1, bad: 2 }),
  entitlementIds,
  deactivate: bool,
  dryRun: bool,
  extras,
  entitlementKeys: fc.oneof(
    { weight: 12, arbitrary: fc.constant(undefined) },
    fc.constantFrom("[]", '{"a": 1}', "null", '[{"entitlement_id": "00000000-0000-0000-0000-000000000000", "native_key": "forged"}]'),
    fc.constant("forged"), // a forged key of a real entitlement: built when resolved
    fc.constant("not json"),
  ),
});

// ---- the model ------------------------------------------------------------------------------------------
type Value = string | null | undefined;
interface Resolved {
  row: Record<string, Value>;
  casts: Record<string, string>;
  /** the SQLSTATEs the row may be refused with; empty: it must be accepted */
  codes: Set<string>;
  /** accepted: the applications the job touches, and whether it must complete, fail with PV_CONFIG, or may end either way */
  apps: App[];
  identity?: Ident;
  entitlementKeys?: { entitlement_id: string; application_id: string; native_key: string }[];
  plans: string[];
}

const otherThan = (w: World) => (w === mine ? other : mine);
const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
const allApps = () => [...mine.apps, ...other.apps];
const allEnts = () => [...mine.ents, ...other.ents];
const appOfEnt = (id: string) => allEnts().find((x) => x.id === id)!.appId;

async function freshPlan(w: World): Promise<string> {
  return (await createOrder(t.pool, w.tenantId)).planId;
}

/** Sets column `col` of the row to `value`, recording the SQLSTATEs it may be refused with. */
function put(r: Resolved, col: string, value: Value, ...codes: string[]) {
  r.row[col] = value;
  for (const c of codes) r.codes.add(c);
}

/** The tenant, identity and extras every row has. */
async function resolveCommon(d: { tenant: TenantRef; identity: Ref; extras: Extras }, table: string, r: Resolved) {
  Object.assign(r.casts, { tenant_customer_id: "uuid", identity_id: "uuid", accreditation_id: "uuid", id: "uuid", order_item_plan_ids: "uuid[]" });
  const tn = d.tenant;
  const w = tn.k === "mine" ? mine : tn.k === "other" ? other : undefined;
  if (w) put(r, "tenant_customer_id", w.tenantId);
  else if (tn.k === "unknown") put(r, "tenant_customer_id", tn.u, "PV112");
  else if (tn.k === "bad") put(r, "tenant_customer_id", tn.s, ...MALFORMED);
  else put(r, "tenant_customer_id", null, "23502");
  // refs that name "own" things resolve in the row's tenant (mine when it has none)
  const home = w ?? mine;
  const id = d.identity;
  let ident: Ident | undefined;
  if (id.k === "own") {
    ident = r.identity = pick(home.identities, id.i)!;
    put(r, "identity_id", spell(ident.id, id.f));
  } else if (id.k === "foreign") {
    ident = pick(otherThan(home).identities, id.i)!;
    put(r, "identity_id", ident.id, "PV201");
  } else if (id.k === "unknown") put(r, "identity_id", id.u, "PV201");
  else if (id.k === "bad") put(r, "identity_id", id.s, ...MALFORMED);
  else put(r, "identity_id", null, "23502");

  const x = d.extras;
  const acc = x.accreditation;
  if (acc.k === "own") put(r, "accreditation_id", home.accreditationId);
  else if (acc.k === "foreign") put(r, "accreditation_id", otherThan(home).accreditationId, "PV107");
  else if (acc.k === "unknown") put(r, "accreditation_id", acc.u, "PV107");
  else if (acc.k === "null") put(r, "accreditation_id", null);
  if (x.id.k === "fresh") put(r, "id", randomUUID());
  else if (x.id.k === "same") {
    const taken = acceptedIds[table]!.at(-1);
    put(r, "id", taken ?? randomUUID(), ...(taken ? ["23505"] : []));
  } else if (x.id.k === "cross") {
    // an id of the other access table: ids are unique per table, so it is accepted here (unless an
    // earlier row of this table took it already)
    const theirs = acceptedIds[table === "provision_access_grant" ? "provision_access_revoke" : "provision_access_grant"]!.at(-1) ?? randomUUID();
    put(r, "id", theirs, ...(acceptedIds[table]!.includes(theirs) ? ["23505"] : []));
  }
  const p = x.plans;
  if (p.k === "fresh" || p.k === "twice") {
    r.plans = [await freshPlan(home)];
    put(r, "order_item_plan_ids", `{${r.plans.join(",")}${p.k === "twice" ? `,${r.plans[0]}` : ""}}`);
  } else if (p.k === "final") {
    const done = finalPlans.filter((f) => f.tenantId === home.tenantId).at(-1);
    r.plans = [done?.id ?? (await freshPlan(home))];
    put(r, "order_item_plan_ids", `{${r.plans[0]}}`, ...(done ? ["PV119"] : []));
  } else if (p.k === "foreign") put(r, "order_item_plan_ids", `{${await freshPlan(otherThan(home))}}`, "PV113");
  else if (p.k === "nullElem") put(r, "order_item_plan_ids", "{NULL}", "PV113");
  else if (p.k === "empty") put(r, "order_item_plan_ids", "{}");
  else if (p.k === "unknown") put(r, "order_item_plan_ids", `{${randomUUID()}}`, "PV113");
  else if (p.k === "nested") put(r, "order_item_plan_ids", `{{${await freshPlan(home)}}}`, "PV113");
  else if (p.k === "sqlNull") put(r, "order_item_plan_ids", null);
  else if (p.k === "bad") put(r, "order_item_plan_ids", p.s, ...MALFORMED);
  if (x.engine >= 0) {
    const [col, value, cast] = ENGINE[x.engine]!;
    r.casts[col] = cast;
    put(r, col, value, "PV115");
  }
  // derived by validation: whatever is given is replaced (but text cannot hold NUL: 22021)
  if (x.username !== undefined) put(r, "username", x.username, ...(x.username.includes("\u0000") ? ["22021"] : []));
  // the identity is the row's tenant's (the rules after PV201 apply to it)
  const belongs = Boolean(ident && w?.identities.includes(ident));
  return { home, ident: belongs ? ident : undefined };
}

function resolveBool(b: Bool, col: string, r: Resolved) {
  r.casts[col] = "boolean";
  if (b.k === "null") put(r, col, null);
  else if (b.k === "ok") put(r, col, b.s);
  else if (b.k === "bad") put(r, col, b.s, ...MALFORMED);
}

async function resolveGrant(d: typeof grantRow extends fc.Arbitrary<infer T> ? T : never): Promise<Resolved> {
  const r: Resolved = { row: {}, casts: { application_id: "uuid" }, codes: new Set(), apps: [], plans: [] };
  const { home, ident } = await resolveCommon(d, "provision_access_grant", r);
  if (ident && !ident.active) r.codes.add("PV205");
  let app: App | undefined;
  const a = d.application;
  if (a.k === "held") {
    // an application the identity holds an entitlement in (any of the tenant's when it holds none)
    const held = [...new Set((r.identity?.gives ?? []).map(appOfEnt))];
    app = held.length ? allApps().find((x) => x.id === pick(held, a.i)) : pick(home.apps, a.i);
    put(r, "application_id", app!.id);
  } else if (a.k === "own") {
    app = pick(home.apps, a.i)!;
    put(r, "application_id", spell(app.id, a.f));
  } else if (a.k === "foreign") put(r, "application_id", pick(otherThan(home).apps, a.i)!.id, "PV202");
  else if (a.k === "unknown") put(r, "application_id", a.u, "PV202");
  else if (a.k === "bad") put(r, "application_id", a.s, ...MALFORMED);
  else if (a.k === "null") put(r, "application_id", null);
  if (app && !home.apps.includes(app)) r.codes.add("PV202");
  resolveBool(d.dryRun, "dry_run", r);
  if (ident) {
    // the applications of the entitlements its roles give (only the named one's), and the named one
    const ids = new Set(ident.gives.map(appOfEnt).filter((id) => !app || id === app.id));
    if (app) ids.add(app.id);
    r.apps = allApps().filter((x) => ids.has(x.id));
    if (r.apps.some((x) => x.cls === "insertFail")) r.codes.add("PV206");
  }
  return r;
}

async function resolveRevoke(d: typeof revokeRow extends fc.Arbitrary<infer T> ? T : never): Promise<Resolved> {
  const r: Resolved = { row: {}, casts: { entitlement_ids: "uuid[]", entitlement_keys: "jsonb" }, codes: new Set(), apps: [], plans: [] };
  const { home, ident } = await resolveCommon(d, "provision_access_revoke", r);
  resolveBool(d.deactivate, "deactivate", r);
  resolveBool(d.dryRun, "dry_run", r);
  // an entitlement the identity's roles give (any of the tenant's when it is not the tenant's identity or holds none)
  const heldOf = (i: number) => pick(r.identity?.gives ?? [], i) ?? pick(home.ents, i)!.id;
  const e = d.entitlementIds;
  const named: string[] = [];
  if (e.k === "sqlNull") put(r, "entitlement_ids", null, "23502");
  else if (e.k === "empty") put(r, "entitlement_ids", "{}", "PV203");
  else if (e.k === "nested") put(r, "entitlement_ids", `{{${heldOf(0)}},{${heldOf(1)}}}`, "PV203");
  else if (e.k === "literal") put(r, "entitlement_ids", e.s, ...MALFORMED);
  else if (e.k === "list") {
    const parts: string[] = [];
    for (const it of e.items) {
      if (it.k === "held" || it.k === "own" || it.k === "dup") {
        named.push(it.k === "held" ? heldOf(it.i) : it.k === "own" ? pick(home.ents, it.i)!.id : (named.at(-1) ?? heldOf(0)));
        parts.push(`"${it.k === "dup" ? named.at(-1)! : spell(named.at(-1)!, it.f)}"`);
      } else if (it.k === "foreign") parts.push(pick(otherThan(home).ents, it.i)!.id);
      else if (it.k === "unknown") parts.push(`"${it.u}"`);
      else if (it.k === "null") parts.push("NULL");
      else if (it.k === "bad") parts.push(`"${it.s.replace(/(["\\])/g, "\\$1")}"`);
      // another tenant's, unknown or NULL: PV203; not a uuid: 22P02 (22021 for NUL)
      if (it.k === "foreign" || it.k === "unknown" || it.k === "null") r.codes.add("PV203");
      if (it.k === "bad") MALFORMED.forEach((c) => r.codes.add(c));
    }
    put(r, "entitlement_ids", `{${parts.join(",")}}`);
  }
  const ents = [...new Set(named)].map((id) => home.ents.find((x) => x.id === id)!);
  if (ident) {
    // held: a role of the identity gives it, or the identity has an account in its application
    const accounts = (await t.pool.query("SELECT application_id FROM account WHERE identity_id = $1", [ident.id])).rows.map((x) => x.application_id as string);
    if (ents.some((x) => !ident.gives.includes(x.id) && !accounts.includes(x.appId))) r.codes.add("PV204");
  }
  r.apps = home.apps.filter((x) => ents.some((y) => y.appId === x.id));
  if (r.apps.some((x) => x.cls === "insertFail")) r.codes.add("PV206");
  r.entitlementKeys = ents.sort((x, y) => (x.id < y.id ? -1 : 1)).map((x) => ({ entitlement_id: x.id, application_id: x.appId, native_key: x.nativeKey }));
  const k = d.entitlementKeys;
  const forged = [{ entitlement_id: mine.ents[0]!.id, application_id: mine.ents[0]!.appId, native_key: "forged" }];
  if (k === "forged") put(r, "entitlement_keys", JSON.stringify(forged));
  else if (k === "not json") put(r, "entitlement_keys", k, ...MALFORMED);
  else if (k !== undefined) put(r, "entitlement_keys", k);
  return r;
}

// ---- the check -----------------------------------------------------------------------------------------
async function tryInsert(table: string, r: Resolved): Promise<{ code?: string; message?: string; id?: string }> {
  const cols = Object.keys(r.row).filter((k) => r.row[k] !== undefined);
  const sql = `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map((c, i) => `$${i + 1}::${r.casts[c] ?? "text"}`).join(", ")}) RETURNING id`;
  try {
    const res = await t.pool.query(
      sql,
      cols.map((c) => r.row[c]),
    );
    return { id: res.rows[0].id };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!code) throw err; // not a database answer: a bug in the test or a crash
    return { code, message: (err as Error).message };
  }
}

async function checkRow(table: "provision_access_grant" | "provision_access_revoke", r: Resolved) {
  const before = await writeCounts(t.pool);
  const out = await tryInsert(table, r);
  const expected = [...r.codes].sort();
  if (out.code) {
    stats.rejected[out.code] = (stats.rejected[out.code] ?? 0) + 1;
    expect([DOCUMENTED.has(out.code) ? out.code : `undocumented: ${out.code}`, r.row]).toEqual([out.code, r.row]);
    // refused only for a reason the row has
    const verdict = expected.includes(out.code)
      ? "ok"
      : `${expected.length ? `refused with a code the row does not call for (${expected.join(", ")})` : "a valid row was refused"}: ${out.code} ${out.message}`;
    expect({ verdict, code: out.code, allowed: expected, message: out.message, row: r.row }).toMatchObject({ verdict: "ok" });
    expect(await writeCounts(t.pool)).toEqual(before);
    return;
  }
  expect({ accepted: out.id, mayBeRefusedWith: expected, row: r.row }).toEqual({ accepted: out.id, mayBeRefusedWith: [], row: r.row });
  acceptedIds[table]!.push(out.id!);
  expect(await writeCounts(t.pool)).toMatchObject({ provisions: before.provisions! + 1, jobs: before.jobs! + 1 });
  // the derived columns are validation's, whatever the INSERT gave
  const stored = (await t.pool.query(`SELECT * FROM ${table} WHERE id = $1`, [out.id])).rows[0];
  expect(stored.username).toBe(r.identity!.username);
  if (table === "provision_access_revoke") expect(stored.entitlement_keys).toEqual(r.entitlementKeys);

  const p = await waitFor(
    `${table} ${out.id} final`,
    async () => (await t.pool.query("SELECT * FROM v_provision WHERE id = $1 AND provision_table = $2 AND is_final", [out.id, table])).rows[0],
    30_000,
    20,
  );
  const failed = r.apps.some((a) => a.cls === "runFail");
  const code = p.result_data?.error_code as string | undefined;
  if (p.status === "completed") stats.completed++;
  else stats.failed[code ?? "?"] = (stats.failed[code ?? "?"] ?? 0) + 1;
  const outcome = { status: p.status, code, message: p.result_message, row: r.row };
  expect(outcome).toMatchObject(failed ? { status: "failed", code: "PV_CONFIG" } : { status: "completed" });
  if (code !== undefined) expect([code, JOB_CODES.has(code)]).toEqual([code, true]);
  // every application the job touched has its result, and only those: the ones whose configuration
  // parses succeeded (kept when another failed), the others failed with PV_CONFIG
  const results = (p.result_data?.applications ?? []) as { application_id: string; success: boolean; error_code?: string }[];
  const byId = (x: { id: string }, y: { id: string }) => (x.id < y.id ? -1 : 1);
  expect(results.map((a) => ({ id: a.application_id, success: a.success, code: a.error_code ?? null })).sort(byId)).toEqual(
    r.apps.map((a) => ({ id: a.id, success: a.cls === "good", code: a.cls === "good" ? null : "PV_CONFIG" })).sort(byId),
  );
  // one provisioning.task.status event with the final status; the plans the row served are final
  const ev = await t.pool.query("SELECT payload FROM event WHERE reference_table = $1 AND reference_id = $2 AND event_type = 'provisioning.task.status'", [
    table,
    out.id,
  ]);
  expect(ev.rows.map((e) => e.payload.status)).toEqual([p.status]);
  if (r.plans.length) {
    const plans = await t.pool.query("SELECT s.is_final FROM order_item_plan p JOIN order_item_plan_status s ON s.id = p.status_id WHERE p.id = ANY($1)", [
      r.plans,
    ]);
    expect(plans.rows.map((x) => x.is_final)).toEqual(r.plans.map(() => true));
    for (const id of r.plans) finalPlans.push({ tenantId: r.row.tenant_customer_id!, id });
  }
  // the worker is idle again before the next row's counts are taken
  await waitFor(
    "graphile-worker job gone",
    async () => (await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key = $1", [p.job_id])).rows[0].n === 0,
    10_000,
    20,
  );
}

describe("access provision rows: rejected cleanly or provisioned (fast-check)", () => {
  it("provision_access_grant", async () => {
    await fc.assert(
      fc.asyncProperty(grantRow, async (d) => checkRow("provision_access_grant", await resolveGrant(d))),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("provision_access_revoke", async () => {
    await fc.assert(
      fc.asyncProperty(revokeRow, async (d) => checkRow("provision_access_revoke", await resolveRevoke(d))),
      { numRuns: RUNS, seed: SEED + 1 },
    );
  });

  it("rows were accepted and refused, and no job is left open", async () => {
    const accepted = acceptedIds.provision_access_grant!.length + acceptedIds.provision_access_revoke!.length;
    console.log(
      `[fuzz] access, seed ${SEED}: ${2 * RUNS} rows, ${accepted} accepted (${acceptedIds.provision_access_grant!.length} grants, ${acceptedIds.provision_access_revoke!.length} revokes): ` +
        `${stats.completed} completed, failed ${JSON.stringify(stats.failed)}; refused ${JSON.stringify(stats.rejected)}`,
    );
    expect(acceptedIds.provision_access_grant!.length).toBeGreaterThan(RUNS / 10);
    expect(acceptedIds.provision_access_revoke!.length).toBeGreaterThan(RUNS / 10);
    expect(stats.completed).toBeGreaterThan(0);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs")).rows[0].n).toBe(0);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM job WHERE status_id IN (1, 2)")).rows[0].n).toBe(0);
    expect((await t.pool.query("SELECT count(*)::int AS n FROM v_provision WHERE NOT is_final")).rows[0].n).toBe(0);
  });
});
