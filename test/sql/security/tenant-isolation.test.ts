/**
 * One tenant learns nothing of another (issue 10, items 1-5 and the CTE of item 12), tried as a hostile
 * tenant would: logins of provisio_order and provisio_reader with app.tenant_id set to tenant A, while
 * tenant B holds rows whose values carry a marker. Every class is enumerated from the catalog where it
 * can be (every relation the tenant roles may read, every column the order role may INSERT), so a new
 * view, table or column is covered without editing this file.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccessFixture } from "../../helpers/access.js";
import { createTestDatabase, ensureLogin, loginAs, loginUrl, tenantClients, type TestDatabase } from "../../helpers/db.js";
import { createAccount, createOrder, writeCounts, type Account } from "../../helpers/fixtures.js";

let t: TestDatabase;
let a: Account;
let b: Account;
let orderUrl: string;
let readerUrl: string;
const clients = tenantClients();
const connect = clients.connect;

/** Every value of tenant B that tenant A must never see carries this marker. */
const SECRET = "SECRETB";
let bOrderId: string;

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string; detail?: string; column?: string } | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err as { code?: string; message: string };
  }
}

beforeAll(async () => {
  t = await createTestDatabase();
  a = await createAccount(t.pool, { name: "tenant-a" });
  b = await createAccount(t.pool, { name: "tenant-b" });
  orderUrl = await loginAs(t, "provisio_order");
  readerUrl = await loginAs(t, "provisio_reader");
  // tenant B: an order whose provision completed (roid, result_data, reference all carry the marker), a
  // domain in its inventory, a contact
  const o = await t.pool.query<{ id: string }>(`INSERT INTO "order" (tenant_customer_id, reference) VALUES ($1, $2) RETURNING id`, [
    b.tenantId,
    `${SECRET}-order-ref`,
  ]);
  bOrderId = o.rows[0]!.id;
  const i = await t.pool.query<{ id: string }>(`INSERT INTO order_item (order_id, object_type, descr) VALUES ($1, 'domain', $2) RETURNING id`, [
    bOrderId,
    `${SECRET}-item`,
  ]);
  const pl = await t.pool.query<{ id: string }>(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [i.rows[0]!.id]);
  const p = await t.pool.query<{ job_id: string }>(
    `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, $3, $4) RETURNING job_id`,
    [b.tenantId, b.accreditationId, `${SECRET.toLowerCase()}-plans.example`, [pl.rows[0]!.id]],
  );
  await t.pool.query("SELECT job_start($1)", [p.rows[0]!.job_id]);
  await t.pool.query("SELECT job_complete($1, $2, $3)", [
    p.rows[0]!.job_id,
    { roid: `${SECRET}-ROID`, crDate: "2026-01-01T00:00:00Z", exDate: "2031-07-09T00:00:00Z", note: `${SECRET}-result` },
    `${SECRET}-message`,
  ]);
  await t.pool.query(
    `INSERT INTO contact (tenant_customer_id, accreditation_id, contact_id, roid, email, pw) VALUES ($1, $2, 'b-contact', $3, 'b@b.example', $4)`,
    [b.tenantId, b.accreditationId, `${SECRET}-C-ROID`, `${SECRET}-pw`],
  );
  await t.pool.query(
    `INSERT INTO host (tenant_customer_id, accreditation_id, name, roid, addrs_v4) VALUES ($1, $2, 'ns1.b-held.example', $3, '{192.0.2.66}')`,
    [b.tenantId, b.accreditationId, `${SECRET}-H-ROID`],
  );
  // tenant A: an order and a pending provision whose roid and reference are NULL / numeric, so that a
  // cast in WHERE can fail only on another tenant's value
  const ao = await t.pool.query<{ id: string }>(`INSERT INTO "order" (tenant_customer_id, reference) VALUES ($1, '42') RETURNING id`, [a.tenantId]);
  const ai = await t.pool.query<{ id: string }>(`INSERT INTO order_item (order_id, object_type) VALUES ($1, 'domain') RETURNING id`, [ao.rows[0]!.id]);
  const ap = await t.pool.query<{ id: string }>(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create') RETURNING id`, [ai.rows[0]!.id]);
  await t.pool.query(
    `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'a-pending.example', $3)`,
    [a.tenantId, a.accreditationId, [ap.rows[0]!.id]],
  );
});
afterAll(async () => {
  await clients.endAll();
  await t?.close();
});

/** Relations (tables and views) a role may SELECT in schemas public and class, with their columns. */
async function readable(role: string): Promise<{ rel: string; columns: string[] }[]> {
  const r = await t.pool.query<{ rel: string; columns: string[] }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS rel, array_agg(quote_ident(att.attname) ORDER BY att.attnum) AS columns
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
     WHERE n.nspname IN ('public', 'class') AND c.relkind IN ('r', 'v', 'p')
       AND has_table_privilege($1, c.oid, 'SELECT') AND has_column_privilege($1, c.oid, att.attnum, 'SELECT')
     GROUP BY 1 ORDER BY 1`,
    [role],
  );
  return r.rows;
}

describe("item 1: no caller's WHERE sees another tenant's row", () => {
  for (const role of ["provisio_reader", "provisio_order"] as const) {
    it(`${role}: a cheap leaky function on every column of every readable relation reports nothing of tenant B`, async () => {
      const c = await connect(role === "provisio_reader" ? readerUrl : orderUrl, a.tenantId);
      const notices: string[] = [];
      c.on("notice", (n) => notices.push(n.message ?? ""));
      await c.query(`CREATE OR REPLACE FUNCTION pg_temp.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
        BEGIN RAISE NOTICE 'leak: %', v; RETURN true; END $$`);
      const relations = await readable(role);
      expect(relations.map((r) => r.rel)).toEqual(
        expect.arrayContaining(
          role === "provisio_reader"
            ? ["public.v_order", "public.v_provision"]
            : ["public.v_order", "public.v_provision", "public.provision_domain", "public.domain", "public.host", "public.provision_host"],
        ),
      );
      for (const { rel, columns } of relations) {
        for (const col of columns) {
          await c.query(`SELECT 1 FROM ${rel} WHERE pg_temp.leak(${col}::text)`);
        }
      }
      expect(notices.length, "the function ran on tenant A's rows").toBeGreaterThan(0);
      expect(notices.filter((n) => n.includes(SECRET) || n.includes(b.tenantId) || n.includes(bOrderId))).toEqual([]);
    });

    it(`${role}: a failing cast in WHERE fails on no value of tenant B`, async () => {
      const c = await connect(role === "provisio_reader" ? readerUrl : orderUrl, a.tenantId);
      for (const sql of [
        "SELECT id FROM v_provision WHERE roid::int = 1",
        "SELECT id FROM v_provision WHERE result_message::int = 1",
        "SELECT id FROM v_provision WHERE (result_data ->> 'note')::int = 1",
        "SELECT id FROM v_order WHERE reference::int = 1",
      ]) {
        const err = await failure(c.query(sql));
        expect([sql, `${err?.message ?? ""} ${err?.detail ?? ""}`]).not.toEqual([sql, expect.stringContaining(SECRET)]);
        expect(err, sql).toBeUndefined();
      }
    });
  }
});

describe("item 2: a row for another tenant is refused with 42501 before any rule answers", () => {
  it("on every provision table, whatever else is wrong with the row", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const before = await writeCounts(t.pool);
    const tables = (
      await t.pool.query<{ t: string }>("SELECT inhrelid::regclass::text AS t FROM pg_inherits WHERE inhparent = 'class.provision'::regclass ORDER BY 1")
    ).rows.map((r) => r.t);
    expect(tables.length).toBeGreaterThanOrEqual(4);
    for (const table of tables) {
      // tenant B's ids and nothing else: every table-specific rule would fail too, and must not be reached
      const err = await failure(c.query(`INSERT INTO ${table} (tenant_customer_id, accreditation_id) VALUES ($1, $2)`, [b.tenantId, b.accreditationId]));
      // a table the order role may not INSERT into at all (a workflow's task and wait steps) is refused by privilege
      const insertable = (
        await t.pool.query("SELECT has_table_privilege('provisio_order', $1, 'INSERT') OR has_any_column_privilege('provisio_order', $1, 'INSERT') AS ok", [
          table,
        ])
      ).rows[0].ok;
      expect([table, err?.code, err?.column]).toEqual([table, "42501", insertable ? "tenant_customer_id" : undefined]);
    }
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("a renew of tenant B's domain with a wrong expiry is not told B's expiry, in any combination of ids", async () => {
    await t.pool.query(
      `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
       SELECT $1, $2, id, 'b-held.example', 'B-ROID', 'b-authinfo', now(), '2031-07-09T00:00:00Z' FROM accreditation_tld WHERE accreditation_id = $2 AND tld = 'example'`,
      [b.tenantId, b.accreditationId],
    );
    const c = await connect(orderUrl, a.tenantId);
    const before = await writeCounts(t.pool);
    const renew = `INSERT INTO provision_domain_renew (tenant_customer_id, accreditation_id, name, period, current_expiry_date) VALUES ($1, $2, 'b-held.example', 1, '2020-01-01')`;
    const del = `INSERT INTO provision_domain_delete (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'b-held.example')`;
    const cases: [string, string, string, string][] = [
      [renew, b.tenantId, b.accreditationId, "42501"],
      [renew, a.tenantId, b.accreditationId, "PV107"],
      [renew, a.tenantId, a.accreditationId, "PV106"],
      [del, b.tenantId, b.accreditationId, "42501"],
      [del, a.tenantId, b.accreditationId, "PV107"],
      [del, a.tenantId, a.accreditationId, "PV106"],
    ];
    for (const [sql, tenant, accreditation, code] of cases) {
      const err = await failure(c.query(sql, [tenant, accreditation]));
      expect(err?.code).toBe(code);
      const said = `${err?.message} ${err?.detail ?? ""}`;
      // (the ids the caller gave may be echoed: they are its own input)
      for (const secret of ["2031", "B-ROID", "b-authinfo"]) expect(said).not.toContain(secret);
    }
    expect(await writeCounts(t.pool)).toEqual(before);
  });

  it("an order, item or plan of another tenant, and a plan of another tenant's order, are refused", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const before = await writeCounts(t.pool);
    const bItem = (await t.pool.query("SELECT id FROM order_item WHERE order_id = $1", [bOrderId])).rows[0].id;
    const bPlan = (await t.pool.query("SELECT id FROM order_item_plan WHERE order_item_id = $1", [bItem])).rows[0].id;
    expect((await failure(c.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1)`, [b.tenantId])))?.code).toBe("42501");
    expect(
      (await failure(c.query(`INSERT INTO order_item (order_id, object_type, tenant_customer_id) VALUES ($1, 'domain', $2)`, [bOrderId, b.tenantId])))?.code,
    ).toBe("42501");
    // without a tenant (omitted or NULL) the item is the session's, and the composite key refuses B's order
    // without naming B's tenant
    for (const sql of [
      `INSERT INTO order_item (order_id, object_type) VALUES ($1, 'domain')`,
      `INSERT INTO order_item (order_id, object_type, tenant_customer_id) VALUES ($1, 'domain', NULL)`,
    ]) {
      const item = await failure(c.query(sql, [bOrderId]));
      expect([sql, item?.code]).toEqual([sql, "23503"]);
      expect(`${item?.message} ${item?.detail}`).not.toContain(b.tenantId);
    }
    const nullPlan = await failure(c.query(`INSERT INTO order_item_plan (order_item_id, action, tenant_customer_id) VALUES ($1, 'create', NULL)`, [bItem]));
    expect(nullPlan?.code).toBe("23503");
    expect(`${nullPlan?.message} ${nullPlan?.detail}`).not.toContain(b.tenantId);
    expect((await failure(c.query(`INSERT INTO order_item_plan (order_item_id, action) VALUES ($1, 'create')`, [bItem])))?.code).toBe("23503");
    const plan = await failure(
      c.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'p.example', $3)`, [
        a.tenantId,
        a.accreditationId,
        [bPlan],
      ]),
    );
    expect(plan?.code).toBe("PV113");
    expect(await writeCounts(t.pool)).toEqual(before);
  });
});

describe("item 3: order notifications carry nothing a tenant may not see", () => {
  it("a reader of tenant A listening gets only an opaque id when tenant B's order changes, and reads nothing of it back", async () => {
    const listener = await connect(readerUrl, a.tenantId);
    const payloads: string[] = [];
    listener.on("notification", (n) => payloads.push(n.payload ?? ""));
    await listener.query("LISTEN provisio_order_status");
    const o = await createOrder(t.pool, b.tenantId);
    const p = await t.pool.query<{ job_id: string }>(
      `INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) VALUES ($1, $2, 'b-notify.example', $3) RETURNING job_id`,
      [b.tenantId, b.accreditationId, [o.planId]],
    );
    await t.pool.query("SELECT job_fail($1, $2)", [p.rows[0]!.job_id, `${SECRET} registry said no`]);
    await listener.query("SELECT 1"); // notifications are delivered before the next reply
    await new Promise((r) => setTimeout(r, 100));
    expect(payloads).toEqual([o.orderId]);
    expect((await listener.query("SELECT * FROM v_order WHERE id = $1", [o.orderId])).rowCount).toBe(0);
  });
});

/** The INSERT of a valid row per table the order role may write; `$1` tenant, `$2` accreditation. */
const CALLER_COLUMNS: Record<string, string[]> = {
  order: ["id", "tenant_customer_id", "reference"],
  order_item: ["id", "order_id", "tenant_customer_id", "object_type", "descr"],
  order_item_plan: ["id", "order_item_id", "tenant_customer_id", "action"],
  provision_domain: ["name", "registration_period", "pw", "registrant", "admin_contact", "tech_contact", "billing_contact", "nameservers"],
  provision_domain_renew: ["name", "period", "current_expiry_date"],
  provision_domain_delete: ["name"],
  provision_contact: ["contact_id", "name", "org", "street", "city", "sp", "pc", "cc", "voice", "fax", "email", "pw"],
  provision_host: ["name", "addrs_v4", "addrs_v6"],
  provision_access_grant: ["identity_id", "application_id", "dry_run"],
  provision_access_revoke: ["identity_id", "entitlement_ids", "deactivate", "dry_run"],
  // a workflow run (migrations/0019): its wf_* columns are the engine's
  provision_workflow: ["template_name", "template_version", "input", "idempotency_key", "scheduled_at", "recovered_from_id"],
  // the access definitions a tenant's session writes (migrations/0016): all but the audit columns
  identity: ["id", "tenant_customer_id", "username", "email", "display_name", "is_active"],
  role: ["id", "tenant_customer_id", "name", "descr"],
  identity_role: ["identity_id", "role_id", "tenant_customer_id"],
  application: ["id", "tenant_customer_id", "name", "descr", "discovery_interval", "reconcile_mode", "repair_max_revoke_share", "discovery_page_size"],
  entitlement: ["id", "tenant_customer_id", "application_id", "name", "native_key"],
  role_entitlement: ["role_id", "entitlement_id", "tenant_customer_id"],
  connector_config: ["application_id", "tenant_customer_id", "connector_type", "configuration"],
  mapping_config: ["application_id", "tenant_customer_id", "user_id_template", "lower_case"],
};
const PROVISION_CALLER_COLUMNS = ["id", "tenant_customer_id", "accreditation_id", "order_item_plan_ids"];
/** Columns provisio derives in validation from the row (whatever the caller gave is replaced). */
const DERIVED: Record<string, string[]> = {
  provision_domain: ["accreditation_tld_id"],
  provision_domain_renew: ["domain_id"],
  provision_domain_delete: ["domain_id"],
  provision_access_grant: ["username"],
  provision_access_revoke: ["username", "entitlement_keys"],
};

describe("item 4: the engine's columns are not the order role's to set", () => {
  let held = 0;
  async function validRow(table: string, c: pg.Client): Promise<{ columns: string[]; values: unknown[] }> {
    const id = randomUUID().slice(0, 8);
    switch (table) {
      case "order":
        return { columns: ["tenant_customer_id"], values: [a.tenantId] };
      case "order_item": {
        const o = await c.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1) RETURNING id`, [a.tenantId]);
        return { columns: ["order_id", "object_type"], values: [o.rows[0].id, "domain"] };
      }
      case "order_item_plan": {
        const o = await createOrder(t.pool, a.tenantId);
        return { columns: ["order_item_id", "action"], values: [o.itemId, "create"] };
      }
      case "provision_domain":
        return { columns: ["tenant_customer_id", "accreditation_id", "name"], values: [a.tenantId, a.accreditationId, `eng-${id}.example`] };
      case "provision_contact":
        return {
          columns: ["tenant_customer_id", "accreditation_id", "contact_id", "name", "city", "cc", "email"],
          values: [a.tenantId, a.accreditationId, `c-${id}`, "Ada", "London", "GB", "ada@example.com"],
        };
      case "provision_domain_renew":
      case "provision_domain_delete": {
        const name = `held-${id}-${++held}.example`;
        await t.pool.query(
          `INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, pw, ry_created_date, ry_expiry_date)
           SELECT $1, $2, id, $3, 'R', 'pw-held', now(), '2030-05-05T00:00:00Z' FROM accreditation_tld WHERE accreditation_id = $2 AND tld = 'example'`,
          [a.tenantId, a.accreditationId, name],
        );
        return table === "provision_domain_renew"
          ? { columns: ["tenant_customer_id", "accreditation_id", "name", "current_expiry_date"], values: [a.tenantId, a.accreditationId, name, "2030-05-05"] }
          : { columns: ["tenant_customer_id", "accreditation_id", "name"], values: [a.tenantId, a.accreditationId, name] };
      }
      case "provision_access_grant": {
        const f = await createAccessFixture(t.pool, a.tenantId);
        return { columns: ["tenant_customer_id", "identity_id"], values: [a.tenantId, f.identityId] };
      }
      case "provision_access_revoke": {
        const f = await createAccessFixture(t.pool, a.tenantId);
        return { columns: ["tenant_customer_id", "identity_id", "entitlement_ids"], values: [a.tenantId, f.identityId, Object.values(f.entitlements)] };
      }
      case "provision_host":
        return { columns: ["tenant_customer_id", "accreditation_id", "name"], values: [a.tenantId, a.accreditationId, `ns-${id}.external.net`] };
      case "provision_workflow":
        await t.pool.query(
          `INSERT INTO workflow_template (name, version, status, definition) VALUES ('iso.wf', 1, 'published', '{"steps": [{"key": "a", "kind": "task", "target": "noop"}]}')
           ON CONFLICT DO NOTHING`,
        );
        return { columns: ["tenant_customer_id", "template_name"], values: [a.tenantId, "iso.wf"] };
      case "identity":
        return { columns: ["tenant_customer_id", "username"], values: [a.tenantId, `u-${id}`] };
      case "role":
      case "application":
        return { columns: ["tenant_customer_id", "name"], values: [a.tenantId, `${table}-${id}`] };
      case "identity_role":
      case "role_entitlement": {
        const f = await createAccessFixture(t.pool, a.tenantId);
        const role = (await t.pool.query<{ id: string }>("INSERT INTO role (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [a.tenantId, `r-${id}`]))
          .rows[0]!.id;
        return table === "identity_role"
          ? { columns: ["identity_id", "role_id", "tenant_customer_id"], values: [f.identityId, role, a.tenantId] }
          : { columns: ["role_id", "entitlement_id", "tenant_customer_id"], values: [role, Object.values(f.entitlements)[0], a.tenantId] };
      }
      case "entitlement":
      case "connector_config":
      case "mapping_config": {
        const app = (
          await t.pool.query<{ id: string }>("INSERT INTO application (tenant_customer_id, name) VALUES ($1, $2) RETURNING id", [a.tenantId, `app-${id}`])
        ).rows[0]!.id;
        if (table === "entitlement")
          return { columns: ["tenant_customer_id", "application_id", "name", "native_key"], values: [a.tenantId, app, "e", `k-${id}`] };
        if (table === "mapping_config") return { columns: ["tenant_customer_id", "application_id"], values: [a.tenantId, app] };
        return {
          columns: ["tenant_customer_id", "application_id", "connector_type", "configuration"],
          values: [a.tenantId, app, "scim", { baseUrl: "http://127.0.0.1/scim", token_env: "T_TOKEN" }],
        };
      }
      default:
        throw new Error(`no valid row for ${table}: add one to this test`);
    }
  }
  const sample: Record<string, unknown> = {
    text: "spoofed",
    uuid: "00000000-0000-4000-8000-000000000000",
    "timestamp with time zone": "2001-02-03T04:05:06Z",
    integer: 99,
    smallint: 3,
    jsonb: { spoofed: true },
    date: "2001-02-03",
    numeric: 7,
    boolean: false,
  };

  it("every column of every table the order role may INSERT into is the caller's, derived, or refused (42501/PV115) leaving nothing", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const tables = (
      await t.pool.query<{ t: string }>(
        `SELECT c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind = 'r' AND has_any_column_privilege('provisio_order', c.oid, 'INSERT') ORDER BY 1`,
      )
    ).rows.map((r) => r.t);
    expect(tables.sort()).toEqual(Object.keys(CALLER_COLUMNS).sort());
    const checked: string[] = [];
    for (const table of tables) {
      const cols = (
        await t.pool.query<{ name: string; type: string }>(
          `SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
          [`"${table}"`],
        )
      ).rows;
      const callers = [...CALLER_COLUMNS[table]!, ...(table.startsWith("provision_") ? PROVISION_CALLER_COLUMNS : [])];
      for (const col of cols) {
        if (callers.includes(col.name)) continue;
        const row = await validRow(table, c);
        const value = sample[col.type];
        expect(value, `a sample value for type ${col.type}`).toBeDefined();
        const sql = `INSERT INTO "${table}" (${[...row.columns, col.name].join(", ")}) VALUES (${[...row.columns, col.name].map((_, i) => `$${i + 1}`).join(", ")}) RETURNING ${col.name} AS v`;
        const before = await writeCounts(t.pool);
        if (DERIVED[table]?.includes(col.name)) {
          const r = await c.query(sql, [...row.values, value]);
          expect([table, col.name, r.rows[0].v]).not.toEqual([table, col.name, value]);
        } else {
          const err = await failure(c.query(sql, [...row.values, value]));
          expect([table, col.name, err?.code]).toEqual([table, col.name, expect.stringMatching(/^(42501|PV115)$/)]);
          if (err?.code === "PV115") expect(err.column).toBe(col.name);
          expect(await writeCounts(t.pool)).toEqual(before);
        }
        checked.push(`${table}.${col.name}`);
      }
    }
    // the columns the issue names are among those checked
    expect(checked).toEqual(
      expect.arrayContaining([
        "order.created_by",
        "order.created_date",
        "order.status_id",
        "order.completed_date",
        "order_item.status_id",
        "order_item.created_by",
        "order_item_plan.status_id",
        "order_item_plan.result_message",
        "provision_domain.roid",
        "provision_domain.attempt_count",
        "provision_domain.status_id",
        "provision_domain.result_data",
        "provision_domain.result_message",
        "provision_domain.job_id",
        "provision_domain.provisioned_date",
        "provision_domain.ry_expiry_date",
        "provision_contact.roid",
        "provision_domain_renew.attempt_count",
        "provision_domain_delete.created_by",
        "provision_workflow.wf_status_id",
        "provision_workflow.wf_output",
        "provision_workflow.wf_definition",
      ]),
    );
  });
});

describe("item 5: a login may be bound to its tenants", () => {
  it("a bound login is refused (42501) any tenant but its own, in reads and writes; an unbound login is not", async () => {
    const login = "provisio_order_bound_test_login";
    await ensureLogin(t.url, login, "provisio_order");
    await t.pool.query("INSERT INTO tenant_login (login, tenant_customer_id) VALUES ($1, $2)", [login, a.tenantId]);
    const url = loginUrl(t.url, login);
    const own = await connect(url, a.tenantId);
    const seen = (await own.query<{ object_name: string; tenant_customer_id: string }>("SELECT object_name, tenant_customer_id FROM v_provision")).rows;
    expect(seen.map((r) => r.object_name)).toContain("a-pending.example");
    expect(new Set(seen.map((r) => r.tenant_customer_id))).toEqual(new Set([a.tenantId]));
    const o = await own.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1) RETURNING id`, [a.tenantId]);
    expect(o.rowCount).toBe(1);
    const before = await writeCounts(t.pool);
    const other = await connect(url, b.tenantId);
    for (const sql of ["SELECT * FROM v_provision", "SELECT * FROM v_order", "SELECT * FROM provision_domain", "SELECT * FROM tenant_customer"]) {
      expect([sql, (await failure(other.query(sql)))?.code]).toEqual([sql, "42501"]);
    }
    expect((await failure(other.query(`INSERT INTO "order" (tenant_customer_id) VALUES ($1)`, [b.tenantId])))?.code).toBe("42501");
    expect(
      (
        await failure(
          other.query(`INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name) VALUES ($1, $2, 'bound.example')`, [
            b.tenantId,
            b.accreditationId,
          ]),
        )
      )?.code,
    ).toBe("42501");
    expect(await writeCounts(t.pool)).toEqual(before);
    // a binding names a role that exists (regrole): a typo is refused instead of leaving the login unbound
    expect((await failure(t.pool.query("INSERT INTO tenant_login (login, tenant_customer_id) VALUES ('no_such_login_x', $1)", [a.tenantId])))?.code).toBe(
      "42704",
    );
    // the login cannot read or change its bindings
    expect((await failure(own.query("SELECT * FROM tenant_login")))?.code).toBe("42501");
    expect((await failure(own.query("INSERT INTO tenant_login (login, tenant_customer_id) VALUES ($1, $2)", [login, b.tenantId])))?.code).toBe("42501");
    // an unbound login serves many tenants, as before
    const unbound = await connect(orderUrl, b.tenantId);
    expect((await unbound.query("SELECT count(*)::int AS n FROM v_order")).rows[0].n).toBeGreaterThan(0);
  });
});

describe("item 12: an order, its item, its plan and the provision in one statement", () => {
  it("is accepted for the session's tenant (row-level security sees the tenant on every row)", async () => {
    const c = await connect(orderUrl, a.tenantId);
    const r = await c.query(
      `WITH o AS (INSERT INTO "order" (tenant_customer_id, reference) VALUES ($1, 'cte') RETURNING id),
            i AS (INSERT INTO order_item (order_id, object_type) SELECT id, 'domain' FROM o RETURNING id),
            p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id, 'create' FROM i RETURNING id)
       INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids)
       SELECT $1, $2, 'one-statement.example', ARRAY[p.id] FROM p RETURNING job_id`,
      [a.tenantId, a.accreditationId],
    );
    expect(r.rows[0].job_id).toBeTruthy();
    expect((await c.query("SELECT status, plan_count FROM v_order WHERE reference = 'cte'")).rows).toEqual([{ status: "pending", plan_count: "1" }]);
  });
});
