-- Status views: the order system's read interface (column names are public API: docs/design.md,
-- "Contracts people rely on").
-- Dropped and recreated on every apply so that a column change here is one edit.
-- The views run with their owner's rights (row-level security does not apply inside them), so each
-- filters by tenant itself: the provisio_order and provisio_reader roles see their app.tenant_id only
-- (stored-procedures/engine/common/tenant.sql). They are security barriers: PostgreSQL evaluates the view's own
-- WHERE before any condition of the caller's query that is not leakproof, so a caller's function (however
-- cheap its declared COST) or a failing cast in WHERE only ever sees rows of the caller's tenant.
-- The tenant and the engine test are scalar subqueries: evaluated once per query, not once per row.
DROP VIEW IF EXISTS v_provision, v_job, v_order;
-- the per-row test the views used before they became security barriers (dropped after them, which depended on it)
DROP FUNCTION IF EXISTS tenant_visible(uuid);

CREATE VIEW v_provision WITH (security_barrier) AS
SELECT
  p.id,
  replace(p.tableoid::regclass::text, 'provision_', '') AS provision_type,
  p.tableoid::regclass::text                            AS provision_table,
  -- the object's identifier at the provider: the job data's field its job type names (job_type.object_column:
  -- a domain's or host's name, a contact's contact_id)
  j.data ->> jt.object_column                           AS object_name,
  p.tenant_customer_id,
  p.accreditation_id,
  -- an attempt in flight is recorded on the job only (engine/job/lifecycle.sql _500_sync_provision)
  CASE WHEN j.status_id = job_status_processing() AND NOT ps.is_final THEN 'processing' ELSE ps.name END AS status,
  ps.is_final,
  ps.is_success,
  p.job_id,
  greatest(p.attempt_count, j.attempts)                 AS attempts,
  j.max_attempts,
  p.roid,
  p.result_message,
  p.result_data,
  p.order_item_plan_ids,
  j.created_date,
  coalesce(j.start_date, p.last_attempt_date)           AS last_attempt_date,
  j.retry_date,
  p.provisioned_date,
  j.end_date
FROM class.provision p
JOIN provision_status ps ON ps.id = p.status_id
LEFT JOIN job j ON j.id = p.job_id
LEFT JOIN job_type jt ON jt.id = j.type_id
WHERE p.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user));
COMMENT ON VIEW v_provision IS 'Every provision of every type (class.provision + tableoid) with its status name and job; order and reader roles see their app.tenant_id only.';

CREATE VIEW v_job WITH (security_barrier) AS
SELECT
  j.id,
  jt.name          AS job_type,
  js.name          AS status,
  js.is_final,
  j.attempts,
  j.max_attempts,
  j.tenant_customer_id,
  j.reference_table,
  j.reference_id,
  j.parent_id,
  j.result_message,
  j.result_data,
  j.created_date,
  j.start_date,
  j.retry_date,
  j.end_date,
  j.end_date - j.created_date AS duration
FROM job j
JOIN job_type jt ON jt.id = j.type_id
JOIN job_status js ON js.id = j.status_id
WHERE j.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user));
COMMENT ON VIEW v_job IS 'Every job with its type and status names (granted to provisio_worker only).';

CREATE VIEW v_order WITH (security_barrier) AS
SELECT
  o.id,
  o.tenant_customer_id,
  o.reference,
  os.name AS status,
  os.is_final,
  o.created_date,
  o.completed_date,
  coalesce(i.item_count, 0)        AS item_count,
  coalesce(i.items_pending, 0)     AS items_pending,
  coalesce(i.items_processing, 0)  AS items_processing,
  coalesce(i.items_completed, 0)   AS items_completed,
  coalesce(i.items_failed, 0)      AS items_failed,
  coalesce(pl.plan_count, 0)       AS plan_count,
  coalesce(pl.plans_completed, 0)  AS plans_completed,
  coalesce(pl.plans_failed, 0)     AS plans_failed
FROM "order" o
JOIN order_status os ON os.id = o.status_id
LEFT JOIN LATERAL (
  SELECT count(*) AS item_count,
         count(*) FILTER (WHERE status_id = status_pending()) AS items_pending,
         count(*) FILTER (WHERE status_id = status_processing()) AS items_processing,
         count(*) FILTER (WHERE status_id = status_completed()) AS items_completed,
         count(*) FILTER (WHERE status_id = status_failed()) AS items_failed
  FROM order_item WHERE order_id = o.id) i ON true
LEFT JOIN LATERAL (
  SELECT count(*) AS plan_count,
         count(*) FILTER (WHERE p.status_id = status_completed()) AS plans_completed,
         count(*) FILTER (WHERE p.status_id = status_failed()) AS plans_failed
  FROM order_item oi JOIN order_item_plan p ON p.order_item_id = oi.id
  WHERE oi.order_id = o.id) pl ON true
WHERE o.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user));
COMMENT ON VIEW v_order IS 'Orders with item and plan counts by status; order and reader roles see their app.tenant_id only.';
