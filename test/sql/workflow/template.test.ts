/**
 * Workflow templates (migrations/0017, stored-procedures/operations/workflow_template.sql;
 * docs/decisions/0008 §2): publishing compiles a definition — keys, the DAG, targets, params, references
 * to upstream steps only, conditions, compensations, the input schema's subset — and refuses what is
 * wrong with a documented code naming the step and field, writing nothing; a published version never
 * changes; tenants read templates and write none.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, loginAs, tenantClients, type TestDatabase } from "../../helpers/db.js";
import { createAccount } from "../../helpers/fixtures.js";

let t: TestDatabase;
const clients = tenantClients();
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await clients.endAll();
  await t?.close();
});

/** domain.register: two contacts in parallel, then the domain (fan-in), with references to both. */
const diamond = {
  steps: [
    {
      key: "domain",
      kind: "provision",
      target: "provision_domain",
      depends_on: ["registrant", "admin"],
      params: {
        accreditation_id: { $ref: "input.accreditation_id" },
        name: { $ref: "input.name" },
        registrant: { $ref: "steps.registrant.output.contact_id" },
        admin_contact: { $ref: "steps.admin.output.contact_id", default: null },
      },
      when: { all: [{ ref: "input.register", eq: true }, { not: { ref: "input.dry", exists: true } }] },
      compensate: { kind: "provision", target: "provision_domain_delete", params: { name: { $ref: "steps.domain.output.name" } } },
    },
    {
      key: "registrant",
      kind: "provision",
      target: "provision_contact",
      params: { accreditation_id: { $ref: "input.accreditation_id" }, contact_id: { $ref: "input.registrant_id" }, name: { $literal: { $ref: "kept as is" } } },
    },
    { key: "admin", kind: "provision", target: "provision_contact", params: { contact_id: { $ref: "input.admin_id" } }, on_failure: "skip" },
    { key: "settle", kind: "wait", depends_on: ["domain"], params: { seconds: 5 } },
  ],
  output: { roid: { $ref: "steps.domain.output.roid" } },
};
const schema = { type: "object", required: ["name"], properties: { name: { type: "string", minLength: 3 }, register: { type: "boolean", default: true } } };

let seq = 0;
async function publish(definition: unknown, inputSchema: unknown = { type: "object" }) {
  const name = `t${++seq}.test`;
  const r = await t.pool.query(
    "INSERT INTO workflow_template (name, status, input_schema, definition) VALUES ($1, 'published', $2, $3) RETURNING name, version, compiled",
    [name, inputSchema, definition],
  );
  return r.rows[0] as { name: string; version: number; compiled: { steps: Record<string, unknown>[]; output: unknown; on_cancel: string } };
}
async function refused(definition: unknown, inputSchema: unknown = { type: "object" }): Promise<{ code: string; message: string; column: string }> {
  const before = (await t.pool.query("SELECT count(*)::int AS n FROM workflow_template")).rows[0].n;
  try {
    await publish(definition, inputSchema);
  } catch (err) {
    expect((await t.pool.query("SELECT count(*)::int AS n FROM workflow_template")).rows[0].n).toBe(before);
    return err as { code: string; message: string; column: string };
  }
  throw new Error(`published: ${JSON.stringify(definition)}`);
}
const step = (over: Record<string, unknown> = {}) => ({ key: "a", kind: "wait", params: { seconds: 1 }, ...over });

describe("workflow templates", () => {
  it("publishes a diamond: compiled in topological order with dependencies, dependents and ancestors", async () => {
    const p = await publish(diamond, schema);
    expect(p.version).toBe(1);
    expect(p.compiled.steps.map((s) => s.key)).toEqual(["registrant", "admin", "domain", "settle"]);
    const byKey = Object.fromEntries(p.compiled.steps.map((s) => [s.key, s]));
    expect(byKey.domain).toMatchObject({ index: 2, on_failure: "block", dependents: ["settle"] });
    expect((byKey.domain!.deps as string[]).sort()).toEqual(["admin", "registrant"]);
    expect((byKey.settle!.ancestors as string[]).sort()).toEqual(["admin", "domain", "registrant"]);
    expect(byKey.registrant).toMatchObject({ deps: [], ancestors: [], dependents: ["domain"], on_failure: "block" });
    expect(byKey.admin!.on_failure).toBe("skip");
    expect(p.compiled).toMatchObject({ on_cancel: "stop", output: diamond.output });
    // a second version of the same name gets the next number; drafts are not compiled
    const v2 = await t.pool.query("INSERT INTO workflow_template (name, definition) VALUES ($1, $2) RETURNING version, compiled, status", [p.name, diamond]);
    expect(v2.rows[0]).toEqual({ version: 2, compiled: null, status: "draft" });
    const compiled = await t.pool.query("SELECT workflow_template_publish($1, 2) AS c", [p.name]);
    expect(compiled.rows[0].c.steps).toHaveLength(4);
    // publishing again returns the same, changing nothing
    expect((await t.pool.query("SELECT workflow_template_publish($1, 2) AS c", [p.name])).rows[0].c).toEqual(compiled.rows[0].c);
    const audit = await t.pool.query("SELECT operation FROM audit_trail_log WHERE table_name = 'workflow_template' AND new_value ->> 'name' = $1 ORDER BY id", [
      p.name,
    ]);
    expect(audit.rows.map((r) => r.operation)).toEqual(["INSERT", "INSERT", "UPDATE"]);
  });

  it("refuses what is wrong with a documented code naming the step and field, writing nothing", async () => {
    const cases: [string, unknown, string, RegExp][] = [
      ["no steps", { steps: [] }, "PV301", /non-empty "steps" array/],
      ["a step without a key", { steps: [{ kind: "wait" }] }, "PV301", /step 1 has no "key"/],
      ["a bad key", { steps: [step({ key: "Bad-Key" })] }, "PV301", /step "Bad-Key": key must match/],
      ["an unknown kind", { steps: [step({ kind: "shell" })] }, "PV301", /step "a": kind must be provision, task or wait/],
      ["an unknown field", { steps: [step({ timeout: 5 })] }, "PV301", /step "a" has an unknown field "timeout"/],
      ["a bad retry", { steps: [step({ retry: { max_attempts: 99 } })] }, "PV301", /step "a": retry must be/],
      ["a bad on_failure", { steps: [step({ on_failure: "ignore" })] }, "PV301", /on_failure must be block, fail, skip or compensate/],
      ["two steps with one key", { steps: [step(), step()] }, "PV302", /step "a" is defined twice/],
      [
        "a cycle",
        { steps: [step({ depends_on: ["b"] }), step({ key: "b", depends_on: ["c"] }), step({ key: "c", depends_on: ["a"] }), step({ key: "d" })] },
        "PV303",
        /the steps a, b, c depend on each other in a cycle/,
      ],
      ["a self-dependency", { steps: [step({ depends_on: ["a"] })] }, "PV303", /step "a" depends on itself/],
      ["an unknown dependency", { steps: [step({ depends_on: ["ghost"] })] }, "PV304", /step "a": depends_on names "ghost"/],
      [
        "no such provision table",
        { steps: [{ key: "a", kind: "provision", target: "provision_spaceship" }] },
        "PV305",
        /target "provision_spaceship" is not a provision table/,
      ],
      ["a table that is no provision", { steps: [{ key: "a", kind: "provision", target: "job" }] }, "PV305", /target "job" is not a provision table/],
      ["no such task type", { steps: [{ key: "a", kind: "task", target: "launch_rockets" }] }, "PV305", /target "launch_rockets" is not a task type/],
      [
        "a wait with two durations",
        { steps: [step({ params: { seconds: 1, hours: 1 } })] },
        "PV305",
        /a wait takes exactly one of params seconds, hours, until/,
      ],
      [
        "an unknown column",
        { steps: [{ key: "a", kind: "provision", target: "provision_domain", params: { colour: "red" } }] },
        "PV306",
        /params\.colour is not a column of provision_domain/,
      ],
      [
        "an engine column",
        { steps: [{ key: "a", kind: "provision", target: "provision_domain", params: { roid: "X" } }] },
        "PV306",
        /params\.roid is not a column/,
      ],
      [
        "the tenant",
        { steps: [{ key: "a", kind: "provision", target: "provision_domain", params: { tenant_customer_id: "x" } }] },
        "PV306",
        /params\.tenant_customer_id is set by the run/,
      ],
      [
        "a reference to a sibling",
        { steps: [step(), { key: "b", kind: "provision", target: "provision_contact", params: { name: { $ref: "steps.a.output.x" } } }] },
        "PV307",
        /step "b" params: reference "steps.a.output.x" names step "a", which does not run before it/,
      ],
      [
        "a reference to a downstream step",
        {
          steps: [
            { key: "a", kind: "provision", target: "provision_contact", params: { name: { $ref: "steps.b.output.x" } } },
            step({ key: "b", depends_on: ["a"] }),
          ],
        },
        "PV307",
        /names step "b", which does not run before it/,
      ],
      [
        "a malformed path",
        { steps: [{ key: "a", kind: "provision", target: "provision_contact", params: { name: { $ref: "env.HOME" } } }] },
        "PV307",
        /reference "env.HOME" is not input/,
      ],
      [
        "a when on a later step",
        { steps: [step({ when: { ref: "steps.b.output" } }), step({ key: "b" })] },
        "PV307",
        /step "a" when: reference "steps.b.output"/,
      ],
      ["a malformed when", { steps: [step({ when: { ref: "input.x", gt: 3 } })] }, "PV309", /step "a" when: \{"ref": path\} takes at most one of/],
      [
        "a reference hidden in a default",
        {
          steps: [
            step(),
            { key: "b", kind: "provision", target: "provision_contact", params: { name: { $ref: "input.n", default: { $ref: "steps.a.output.x" } } } },
          ],
        },
        "PV307",
        /names step "a", which does not run before it/,
      ],
      [
        "a $ref with other keys",
        { steps: [{ key: "a", kind: "provision", target: "provision_contact", params: { name: { $ref: "input.n", junk: 1 } } }] },
        "PV307",
        /a reference is \{"\$ref": "<path>"\}/,
      ],
      [
        "a $literal with other keys",
        { steps: [{ key: "a", kind: "provision", target: "provision_contact", params: { name: { $literal: 1, y: 2 } } }] },
        "PV307",
        /\{"\$literal": v\} takes nothing else/,
      ],
      ["a negative wait", { steps: [step({ params: { seconds: -5 } })] }, "PV305", /a wait's seconds or hours is a positive number/],
      ["a wait until no date", { steps: [step({ params: { until: "not a date" } })] }, "PV305", /its until a date-time/],
      [
        "the provision_id of a wait",
        {
          steps: [step(), { key: "b", kind: "provision", target: "provision_contact", depends_on: ["a"], params: { name: { $ref: "steps.a.provision_id" } } }],
        },
        "PV307",
        /reference "steps.a.provision_id": only a provision step has a provision_id/,
      ],
      ["an output that is no reference", { steps: [step()], output: { x: "plain" } }, "PV301", /output must be an object whose values are references/],
      ["an empty all", { steps: [step({ when: { all: [] } })] }, "PV309", /"all"\/"any" takes a non-empty array/],
      [
        "a compensation of kind wait",
        { steps: [step({ compensate: { kind: "wait", params: { seconds: 1 } } })] },
        "PV310",
        /step "a" compensate: \{"kind": "provision" \| "task"/,
      ],
      [
        "a compensation with a bad target",
        { steps: [step({ compensate: { kind: "provision", target: "provision_nothing" } })] },
        "PV310",
        /target "provision_nothing" is not a provision table/,
      ],
      ["on_failure compensate without one", { steps: [step({ on_failure: "compensate" })] }, "PV310", /on_failure compensate needs a "compensate" step/],
    ];
    for (const [what, definition, code, message] of cases) {
      const err = await refused(definition);
      expect([what, err.code, err.message]).toEqual([what, code, expect.stringMatching(message)]);
      expect(err.column).toBe("definition");
    }
  });

  it("takes a params value that merely has a key named ref (only conditions have refs)", async () => {
    const p = await publish({ steps: [{ key: "a", kind: "provision", target: "provision_contact", params: { name: { ref: "main" } } }] });
    expect(p.compiled.steps).toHaveLength(1);
  });

  it("refuses an input schema whose root is not an object", async () => {
    const err = await refused({ steps: [step()] }, { type: "string" });
    expect([err.code, err.column, err.message]).toEqual(["PV308", "input_schema", expect.stringContaining('the root must be {"type": "object"')]);
  });

  it("refuses an input schema outside the subset, naming the pointer", async () => {
    const err = await refused({ steps: [step()] }, { type: "object", properties: { a: { anyOf: [{ type: "string" }] } } });
    expect([err.code, err.column]).toEqual(["PV308", "input_schema"]);
    expect(err.message).toMatch(/^input_schema: .*\/properties\/a.*anyOf/);
  });

  it("never changes a published version: only published -> retired; drafts change freely", async () => {
    const p = await publish({ steps: [step()] });
    const change = async (sql: string) => {
      try {
        await t.pool.query(sql, [p.name]);
      } catch (err) {
        return (err as { code: string }).code;
      }
      return "ok";
    };
    expect(await change("UPDATE workflow_template SET definition = '{\"steps\": []}' WHERE name = $1")).toBe("PV311");
    expect(await change("UPDATE workflow_template SET description = 'new words' WHERE name = $1")).toBe("PV311");
    expect(await change("UPDATE workflow_template SET status = 'draft' WHERE name = $1")).toBe("PV311");
    expect(await change("DELETE FROM workflow_template WHERE name = $1")).toBe("PV311");
    expect(await change("UPDATE workflow_template SET status = 'retired', created_by = 'mallory' WHERE name = $1")).toBe("PV311");
    expect(await change("UPDATE workflow_template SET status = 'retired', id = uuid_generate_v7() WHERE name = $1")).toBe("PV311");
    expect(await change("UPDATE workflow_template SET status = 'retired' WHERE name = $1")).toBe("ok");
    const row = (await t.pool.query("SELECT status, retired_date, compiled FROM workflow_template WHERE name = $1", [p.name])).rows[0];
    expect(row.status).toBe("retired");
    expect(row.retired_date).toBeInstanceOf(Date);
    expect(row.compiled).toEqual(p.compiled);
    expect(await change("UPDATE workflow_template SET status = 'published' WHERE name = $1")).toBe("PV311");
    // a draft is edited and deleted freely, but not retired without being published
    const d = await t.pool.query("INSERT INTO workflow_template (name, definition) VALUES ('draft.only', '{}') RETURNING version");
    expect(d.rows[0].version).toBe(1);
    await t.pool.query("UPDATE workflow_template SET definition = $1 WHERE name = 'draft.only'", [{ steps: [step()] }]);
    await expect(t.pool.query("UPDATE workflow_template SET status = 'retired' WHERE name = 'draft.only'")).rejects.toMatchObject({ code: "PV311" });
    await t.pool.query("DELETE FROM workflow_template WHERE name = 'draft.only'");
    await expect(t.pool.query("SELECT workflow_template_publish('draft.only', 1)")).rejects.toMatchObject({ code: "PV312" });
  });

  it("tenants read templates and write none", async () => {
    const p = await publish({ steps: [step()] });
    const acc = await createAccount(t.pool);
    const c = await clients.connect(await loginAs(t, "provisio_order"), acc.tenantId);
    expect((await c.query("SELECT version FROM workflow_template WHERE name = $1", [p.name])).rows).toEqual([{ version: 1 }]);
    await expect(c.query("INSERT INTO workflow_template (name, definition) VALUES ('mine', '{}')")).rejects.toMatchObject({ code: "42501" });
    await expect(c.query("UPDATE workflow_template SET status = 'retired' WHERE name = $1", [p.name])).rejects.toMatchObject({ code: "42501" });
    await expect(c.query("INSERT INTO workflow_task_type VALUES ('x', 'y')")).rejects.toMatchObject({ code: "42501" });
  });
});
