import pg from "pg";
const url = process.argv[2]!;
const pool = new pg.Pool({ connectionString: url, max: 4 });
const t = (await pool.query(`INSERT INTO tenant_customer (name) VALUES ('prof-'||gen_random_uuid()) RETURNING id`)).rows[0].id;
const a = (await pool.query(`INSERT INTO accreditation (tenant_customer_id, name, provider, connector_type, config, max_sessions) VALUES ($1,'p','p','noop','{}',4) RETURNING id`, [t])).rows[0].id;
await pool.query(`INSERT INTO accreditation_tld (accreditation_id, tld) VALUES ($1,'test')`, [a]);
const N = 1000;
const label = process.argv[3] ?? "x";
let t0 = performance.now();
await pool.query(`WITH o AS (INSERT INTO "order" (tenant_customer_id) SELECT $1 FROM generate_series(1,$2) RETURNING id),
  i AS (INSERT INTO order_item (order_id, object_type) SELECT id,'domain' FROM o RETURNING id),
  p AS (INSERT INTO order_item_plan (order_item_id, action) SELECT id,'create' FROM i RETURNING id)
  INSERT INTO provision_domain (tenant_customer_id, accreditation_id, name, order_item_plan_ids) SELECT $1,$3,$4||'-'||row_number() over ()||'.test', ARRAY[p.id] FROM p`, [t, N, a, label]);
console.log("insert", ((performance.now()-t0)/N).toFixed(3), "ms/row");
const jobs = (await pool.query(`SELECT job_id FROM provision_domain WHERE tenant_customer_id=$1`, [t])).rows.map(r=>r.job_id);
const c = await pool.connect(); if (process.env.ASYNC) await c.query("SET synchronous_commit = off");
t0 = performance.now();
for (const j of jobs) await c.query("SELECT * FROM job_start($1)", [j]);
console.log("job_start", ((performance.now()-t0)/N).toFixed(3), "ms/job");
t0 = performance.now();
for (const j of jobs) await c.query("SELECT id, tenant_customer_id, name, provider, connector_type, config, max_sessions FROM accreditation WHERE id = $1", [a]);
console.log("accreditation", ((performance.now()-t0)/N).toFixed(3), "ms/job");
t0 = performance.now();
for (const j of jobs) await c.query("SELECT job_complete($1,$2,$3)", [j, {code:1000,roid:'R-'+j,crDate:new Date().toISOString(),exDate:new Date(Date.now()+3e10).toISOString()}, 'ok']);
console.log("job_complete", ((performance.now()-t0)/N).toFixed(3), "ms/job");
t0 = performance.now();
for (const j of jobs) await c.query("SELECT 1");
console.log("SELECT 1", ((performance.now()-t0)/N).toFixed(3), "ms");
c.release(); await pool.end();
