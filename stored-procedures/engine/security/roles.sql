-- Privileges of the provisio_* roles (migrations/0004_roles.sql) and tenant isolation by row-level
-- security. Applied last, on every migrate, so functions and views re-created by earlier folders get
-- their privileges back. Everything here is idempotent.

-- Trigger functions run with the owner's rights and a fixed search_path: the order role's INSERT
-- creates jobs and reaches graphile_worker only through them (and job_submit), and validation sees
-- every tenant's inventory (a name registered by another tenant is still taken).
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.prorettype = 'trigger'::regtype
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = public, pg_temp', f);
  END LOOP;
END
$$;

-- Nothing by default: PostgreSQL grants EXECUTE on new functions to PUBLIC.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA class FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO provisio_worker, provisio_order, provisio_reader;
GRANT USAGE ON SCHEMA class TO provisio_worker, provisio_order;
GRANT CREATE ON SCHEMA public, class TO provisio_owner;

-- functions every role may call (used by the views and by CHECK-style validation)
GRANT EXECUTE ON FUNCTION current_tenant_id(), role_is_engine(name) TO provisio_worker, provisio_order, provisio_reader;
-- the named statuses (migrations/0009): the planner runs them, as the role whose statement it plans, when
-- it folds them in the views, in partial index predicates (an INSERT by the order role) and in the
-- functions and triggers the worker calls
GRANT EXECUTE ON FUNCTION status_pending(), status_processing(), status_completed(), status_failed(),
  job_status_submitted(), job_status_processing(), job_status_completed(), job_status_failed(), job_status_waiting(),
  wf_run_pending(), wf_run_running(), wf_run_blocked(), wf_run_cancelling(), wf_run_compensating(), wf_run_completed(),
  wf_run_failed(), wf_run_cancelled(), wf_run_compensated(),
  wf_step_pending(), wf_step_ready(), wf_step_running(), wf_step_completed(), wf_step_failed(), wf_step_skipped(),
  wf_step_cancelled(), wf_step_compensated()
  TO provisio_worker, provisio_order, provisio_reader;
-- column defaults of the tables the order role INSERTs into (migrations/0005)
GRANT EXECUTE ON FUNCTION uuid_generate_v7() TO provisio_worker, provisio_order;

-- provisio_reader: the status views, nothing else
GRANT SELECT ON v_provision, v_order TO provisio_reader;
-- the access family's discovery (stored-procedures/operations/access_discovery.sql): its views for
-- every role (each filters by tenant; the drift view derives user ids with access_user_id_in_app), its
-- requests for tenants' sessions and the worker, the pass's steps for the worker only. The run tables
-- are written only through these SECURITY DEFINER functions.
GRANT SELECT ON v_access_drift, v_access_discovery_run TO provisio_reader, provisio_order, provisio_worker;
GRANT EXECUTE ON FUNCTION access_user_id_in_app(text, text, text, boolean) TO provisio_reader, provisio_order, provisio_worker;
GRANT EXECUTE ON FUNCTION access_discovery_request(uuid, text), access_repair_approve(uuid) TO provisio_order, provisio_worker;
GRANT EXECUTE ON FUNCTION access_discovery_schedule(), access_discovery_start(uuid), access_discovery_record(uuid, jsonb),
  access_discovery_fail(uuid, text, text), access_discovery_finish(uuid), access_repair_start(uuid), access_repair_finish(uuid, jsonb)
  TO provisio_worker;

-- provisio_order: its tenant's provisions and orders
GRANT SELECT ON provision_status, order_status, order_item_status, order_item_plan_status, connector_type TO provisio_order;
GRANT SELECT ON tenant_customer, accreditation_tld, class.provision TO provisio_order;
-- inventory tables (contact, domain, host, ...): inventory_attach() in attach/tables.sql
GRANT SELECT (id, tenant_customer_id, name, provider, connector_type, max_sessions) ON accreditation TO provisio_order;
GRANT SELECT ON v_provision, v_order TO provisio_order;
-- INSERT with column lists: the order role may write the columns a caller gives, never the engine's
-- (statuses, job, results, the registry's ry_* values, updated_*). A column the list leaves out is
-- refused by privilege (42501) before any trigger runs; the validation triggers' PV115 stays for what a
-- privilege cannot say (created_by other than the login, created_date other than now) and for roles
-- with full rights. The lists are derived from the tables, so a new provision table or column is
-- covered without an edit here; REVOKE first, so that a table-wide INSERT granted by an earlier version
-- is gone. provision_writable_columns() names the rule.
CREATE OR REPLACE FUNCTION provision_writable_columns(p_table regclass) RETURNS text
LANGUAGE sql STABLE AS $f$
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
  FROM pg_attribute a
  WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attname NOT IN ('status_id', 'job_id', 'provisioned_date', 'result_data', 'result_message', 'roid',
                          'attempt_count', 'last_attempt_date', 'completed_date', 'updated_by', 'updated_date')
    AND a.attname NOT LIKE 'ry\_%'
    AND a.attname NOT LIKE 'wf\_%'
$f$;
COMMENT ON FUNCTION provision_writable_columns(regclass) IS
  'The columns of p_table (a provision or order table) the order role may INSERT, as a quoted list: all but the engine''s. Raises nothing.';
REVOKE EXECUTE ON FUNCTION provision_writable_columns(regclass) FROM PUBLIC;

DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT x::regclass FROM unnest(ARRAY['"order"', 'order_item', 'order_item_plan']) x
           UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'class.provision'::regclass LOOP
    EXECUTE format('REVOKE INSERT, UPDATE ON %s FROM provisio_order, provisio_worker', t);
    EXECUTE format('GRANT SELECT, INSERT (%s) ON %s TO provisio_order', provision_writable_columns(t), t);
  END LOOP;
END
$$;
-- a workflow's task and wait steps are inserted by its run's dispatch (stored-procedures/workflow/), never by a caller
REVOKE INSERT ON provision_workflow_task, provision_workflow_wait FROM provisio_order;

-- The access family's definitions (migrations/0012, 0016): a tenant's session writes its own (row-level
-- security's WITH CHECK keeps them in its tenant; composite foreign keys keep every link inside one
-- tenant), every column but the audit ones and connector_config.tenant_written, which the trigger sets.
-- What a connector configuration may name and reach is checked against the tenant's policy
-- (validation/access_definitions.sql). Accounts and discovery passes are written by the engine only.
CREATE OR REPLACE FUNCTION tenant_writable_columns(p_table regclass) RETURNS text
LANGUAGE sql STABLE AS $f$
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
  FROM pg_attribute a
  WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attname NOT IN ('created_date', 'created_by', 'updated_date', 'updated_by', 'tenant_written')
$f$;
COMMENT ON FUNCTION tenant_writable_columns(regclass) IS
  'The columns of p_table (an access definition table) a tenant''s session may INSERT and UPDATE, as a quoted list: all but the audit columns and tenant_written. Raises nothing.';
REVOKE EXECUTE ON FUNCTION tenant_writable_columns(regclass) FROM PUBLIC;
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT x::regclass FROM unnest(ARRAY['identity', 'role', 'identity_role', 'application', 'entitlement', 'role_entitlement',
                                                 'connector_config', 'mapping_config']) x LOOP
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON %s FROM provisio_order', t);
    EXECUTE format('GRANT INSERT (%1$s), UPDATE (%1$s), DELETE ON %2$s TO provisio_order', tenant_writable_columns(t), t);
  END LOOP;
END
$$;
-- the worker re-checks a tenant-written configuration (src/families/access/task.ts loadApplication)
GRANT EXECUTE ON FUNCTION access_connector_policy_error(uuid, text, jsonb), jsonb_walk(jsonb), access_connector_host(text, jsonb) TO provisio_worker;

-- workflow templates (global, no tenant): every runtime role reads them, the owner writes them
GRANT SELECT ON workflow_template, workflow_task_type TO provisio_order, provisio_reader;
-- workflow runs (stored-procedures/workflow/): a tenant starts runs by INSERT (the provision grants below)
-- or workflow_start, reads its runs and steps, and operates on them through the SECURITY DEFINER
-- functions, each tenant-checked; step attempts are written by those functions only. The task and wait
-- step tables take INSERTs from a run's dispatch only (PV325).
GRANT SELECT ON workflow_run_status, workflow_step_status, workflow_step_run TO provisio_order, provisio_reader;
GRANT SELECT ON v_workflow_run, v_workflow_step, v_workflow_stats TO provisio_order, provisio_reader, provisio_worker;
-- v_workflow_run calls it (a view's functions run with the caller's privileges; it reads the steps under row-level security)
GRANT EXECUTE ON FUNCTION workflow_outputs(uuid) TO provisio_reader;
GRANT EXECUTE ON FUNCTION workflow_start(uuid, text, jsonb, text, integer, timestamptz, uuid[]), workflow_cancel(uuid, boolean),
  workflow_retry_step(uuid, text, jsonb, text), workflow_skip_step(uuid, text, jsonb, text), workflow_resume(uuid),
  workflow_recover(uuid), workflow_compensate(uuid), workflow_outputs(uuid), workflow_plan(text, jsonb, integer, uuid)
  TO provisio_order, provisio_worker;
GRANT EXECUTE ON FUNCTION workflow_run_start(uuid), workflow_reconcile(interval), workflow_task_notify(uuid, text, text, jsonb),
  workflow_wait_defer(uuid), workflow_task_tenant_settings(uuid, text, text, jsonb, jsonb), workflow_task_tenant_state(uuid, text),
  workflow_task_identity_ensure(uuid, text, text, text, text), workflow_task_list_entitlements(uuid, uuid), workflow_task_audit_purge(uuid),
  workflow_task_sql_config(uuid, uuid) TO provisio_worker;
-- the tenant lifecycle (migrations/0020): categories for everyone, a tenant's own profile
GRANT SELECT ON tenant_category TO provisio_order, provisio_reader;
GRANT SELECT ON tenant_profile TO provisio_order, provisio_reader;

-- provisio_worker: the job lifecycle, accreditations, heartbeats and graphile_worker
GRANT SELECT ON ALL TABLES IN SCHEMA public TO provisio_worker;
GRANT SELECT ON ALL TABLES IN SCHEMA class TO provisio_worker;
-- the job_* functions run as the worker and update these columns of job; the provision, its plan, item
-- and order follow through triggers, which run as the owner: the worker writes no provision row itself
REVOKE UPDATE ON job, class.provision FROM provisio_worker;
GRANT UPDATE (status_id, attempts, start_date, retry_date, end_date, result_data, result_message) ON job TO provisio_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON worker TO provisio_worker;
-- the event relay (src/events/relay.ts, run by the worker or `provisio relay`): mark published, prune published
GRANT UPDATE (published_date), DELETE ON event TO provisio_worker;
GRANT EXECUTE ON FUNCTION job_start(uuid), job_complete(uuid, jsonb, text), job_fail(uuid, text, jsonb), job_retry(uuid, text, jsonb),
  job_start_many(uuid[]), job_complete_many(jsonb), job_assert_exists(uuid), job_raise_not_found(uuid),
  job_exhausted_message(integer, integer, text), job_spec(uuid, text, integer, timestamptz),
  worker_heartbeat(text, text, integer, integer), worker_stop(text), worker_recover(interval, interval), worker_release(text),
  worker_drop_detached(text[])
  TO provisio_worker;
GRANT USAGE ON SCHEMA graphile_worker TO provisio_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA graphile_worker TO provisio_worker;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA graphile_worker TO provisio_worker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA graphile_worker TO provisio_worker;
REVOKE ALL ON SCHEMA graphile_worker FROM PUBLIC;
-- graphile-worker enables row-level security on its tables with no policy (only their owner gets rows):
-- the worker role gets one that lets it use them.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'graphile_worker' AND c.relkind = 'r' AND c.relrowsecurity LOOP
    EXECUTE format('DROP POLICY IF EXISTS provisio_worker ON %s', t);
    EXECUTE format('CREATE POLICY provisio_worker ON %s TO provisio_worker USING (true) WITH CHECK (true)', t);
  END LOOP;
END
$$;

-- Row-level security: provisio_order and provisio_reader see and write their tenant's rows only;
-- provisio_worker sees every row. Owners (migrations, SECURITY DEFINER triggers) are not subject to it.
-- Every table carries its tenant (order_item and order_item_plan since migrations/0007, kept equal to the
-- order's by composite foreign keys), so each policy compares a column with the session's tenant, read
-- once per query: (SELECT current_tenant_id()). PostgreSQL applies a policy's USING before any condition
-- of the caller's query that is not leakproof, so a caller's function in WHERE sees no other tenant's row.
DO $$
DECLARE
  t regclass;
  v_using text;
BEGIN
  FOR t, v_using IN
    SELECT x.t::regclass, x.u FROM (VALUES
      ('tenant_customer', 'id = (SELECT current_tenant_id())'),
      ('accreditation',   'tenant_customer_id = (SELECT current_tenant_id())'),
      ('accreditation_tld', 'EXISTS (SELECT 1 FROM accreditation a WHERE a.id = accreditation_id AND a.tenant_customer_id = (SELECT current_tenant_id()))'),
      ('"order"',         'tenant_customer_id = (SELECT current_tenant_id())'),
      ('order_item',      'tenant_customer_id = (SELECT current_tenant_id())'),
      ('order_item_plan', 'tenant_customer_id = (SELECT current_tenant_id())'),
      ('event',           'tenant_customer_id = (SELECT current_tenant_id())'),
      ('job',             'tenant_customer_id = (SELECT current_tenant_id())'),
      ('class.provision', 'tenant_customer_id = (SELECT current_tenant_id())')
    ) AS x(t, u)
    UNION ALL
    SELECT inhrelid::regclass, 'tenant_customer_id = (SELECT current_tenant_id())' FROM pg_inherits WHERE inhparent = 'class.provision'::regclass
  LOOP
    PERFORM tenant_policies_attach(t, v_using);
  END LOOP;
END
$$;

-- Tables no runtime role reads: the login bindings (current_tenant_id() reads them as the owner) and
-- the object claims (validation writes them as the owner).
REVOKE ALL ON tenant_login, provision_claim FROM provisio_worker, provisio_order, provisio_reader;
