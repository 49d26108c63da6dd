-- The SQL side of the built-in task steps (src/families/workflow/tasks.ts). A task whose effect is in
-- this database does it and completes its job in one transaction, so a repeated attempt finds the job
-- final and does nothing twice.

-- Task "notify": the event workflow.notification (payload: the run, topic, message, data) through the
-- outbox, and the task's job completed with {"event_id"}, in one transaction. Returns the event id, or
-- NULL when the job was already final (a repeated delivery).
CREATE OR REPLACE FUNCTION workflow_task_notify(p_job_id uuid, p_topic text, p_message text, p_data jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_job job;
  v_run uuid;
  v_event bigint;
BEGIN
  SELECT * INTO v_job FROM job WHERE id = p_job_id AND reference_table = 'provision_workflow_task' FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_job.status_id IN (job_status_completed(), job_status_failed()) THEN RETURN NULL; END IF;
  SELECT run_id INTO v_run FROM workflow_step_run WHERE job_id = p_job_id;
  v_event := event_emit(v_job.tenant_customer_id, 'workflow.notification', 'provision_workflow', v_run,
    jsonb_build_object('run_id', v_run, 'topic', p_topic, 'message', p_message, 'data', coalesce(p_data, '{}')));
  PERFORM job_complete(p_job_id, jsonb_build_object('event_id', v_event, 'topic', p_topic), 'notification emitted');
  RETURN v_event;
END
$$;
COMMENT ON FUNCTION workflow_task_notify(uuid, text, text, jsonb) IS
  'Task notify: emits workflow.notification for the task''s run and completes job p_job_id, in one transaction; NULL when already final. Raises PV501. SECURITY DEFINER.';

-- A wait step's job run before its time (graphile-worker runs it at "until"; recovery may re-add it
-- without that run_at): put back to submitted, the attempt not counted, and queued again for "until".
-- Returns the time it is queued for, or NULL when the job is final or not processing.
CREATE OR REPLACE FUNCTION workflow_wait_defer(p_job_id uuid) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_job job;
  v_until timestamptz;
BEGIN
  SELECT * INTO v_job FROM job WHERE id = p_job_id AND reference_table = 'provision_workflow_wait' FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_job.status_id <> job_status_processing() THEN RETURN NULL; END IF;
  SELECT until INTO v_until FROM provision_workflow_wait WHERE id = v_job.reference_id;
  UPDATE job SET status_id = job_status_submitted(), attempts = greatest(attempts - 1, 0), retry_date = v_until WHERE id = p_job_id;
  PERFORM graphile_worker.add_jobs(ARRAY[job_spec(p_job_id, 'workflow__wait', v_job.max_attempts, v_until)]);
  RETURN v_until;
END
$$;
COMMENT ON FUNCTION workflow_wait_defer(uuid) IS
  'Queues a wait step''s job again for its until, without counting the attempt; NULL when it is not processing. Raises PV501. SECURITY DEFINER.';

-- The tenant of task job p_job_id when it is open (an attempt running), locked; NULL when it is final
-- (a repeated delivery: the caller does nothing). Raises PV501 when it is no task step's job.
CREATE OR REPLACE FUNCTION workflow_task_open(p_job_id uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_job job;
BEGIN
  SELECT * INTO v_job FROM job WHERE id = p_job_id AND reference_table = 'provision_workflow_task' FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_job.status_id IN (job_status_completed(), job_status_failed()) THEN RETURN NULL; END IF;
  RETURN v_job.tenant_customer_id;
END
$$;
COMMENT ON FUNCTION workflow_task_open(uuid) IS 'Locks task job p_job_id; its tenant when open, NULL when final. Raises PV501.';

-- Task "tenant.settings" (seed 004 "apply settings and limits"): the tenant's profile upserted with
-- slug, category, the category's settings and limits merged with p_settings and p_limits (top-level keys
-- replace), state active. Output {slug, category, settings, limits}. Raises PV350 (unknown category),
-- 23505 (slug taken by another tenant).
CREATE OR REPLACE FUNCTION workflow_task_tenant_settings(p_job_id uuid, p_slug text, p_category text, p_settings jsonb, p_limits jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := workflow_task_open(p_job_id);
  v_cat tenant_category;
  v_out jsonb;
BEGIN
  IF v_tenant IS NULL THEN RETURN NULL; END IF;
  SELECT * INTO v_cat FROM tenant_category WHERE name = p_category;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'category %: no such tenant category', p_category USING ERRCODE = 'PV350', HINT = 'SELECT name FROM tenant_category';
  END IF;
  INSERT INTO tenant_profile AS p (tenant_customer_id, slug, category, settings, limits, state, onboarded_date)
  VALUES (v_tenant, p_slug, p_category, v_cat.settings || coalesce(p_settings, '{}'), v_cat.limits || coalesce(p_limits, '{}'), 'active', now())
  ON CONFLICT (tenant_customer_id) DO UPDATE SET slug = EXCLUDED.slug, category = EXCLUDED.category, settings = EXCLUDED.settings,
    limits = EXCLUDED.limits, state = 'active', onboarded_date = coalesce(p.onboarded_date, now()), deprovisioned_date = NULL
  RETURNING jsonb_build_object('slug', slug, 'category', category, 'settings', settings, 'limits', limits) INTO v_out;
  PERFORM job_complete(p_job_id, v_out, format('tenant %s: %s', p_slug, p_category));
  RETURN v_out;
END
$$;
COMMENT ON FUNCTION workflow_task_tenant_settings(uuid, text, text, jsonb, jsonb) IS
  'Task tenant.settings: upserts the tenant''s profile and completes the job; NULL when already final. Raises PV350, 23505, PV501. SECURITY DEFINER.';

-- Task "tenant.state": the tenant's profile state (active, disabled, deprovisioned). Output {state, previous}.
-- Raises PV351 when the tenant has no profile.
CREATE OR REPLACE FUNCTION workflow_task_tenant_state(p_job_id uuid, p_state text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := workflow_task_open(p_job_id);
  v_prev text;
  v_out jsonb;
BEGIN
  IF v_tenant IS NULL THEN RETURN NULL; END IF;
  SELECT state INTO v_prev FROM tenant_profile WHERE tenant_customer_id = v_tenant FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'tenant % has no profile (tenant.settings makes one)', v_tenant USING ERRCODE = 'PV351';
  END IF;
  UPDATE tenant_profile SET state = p_state, deprovisioned_date = CASE WHEN p_state = 'deprovisioned' THEN now() END
  WHERE tenant_customer_id = v_tenant;
  v_out := jsonb_build_object('state', p_state, 'previous', v_prev);
  PERFORM job_complete(p_job_id, v_out, format('tenant state %s -> %s', v_prev, p_state));
  RETURN v_out;
END
$$;
COMMENT ON FUNCTION workflow_task_tenant_state(uuid, text) IS
  'Task tenant.state: sets the tenant profile''s state and completes the job; NULL when already final. Raises PV351, 23514, PV501. SECURITY DEFINER.';

-- Task "identity.ensure": the tenant's identity p_username created or updated (email, display name,
-- active), given role p_role (which must exist). Output {identity_id, role_id, entitlement_ids (what the
-- role gives), created}. Raises PV352 (no such role).
CREATE OR REPLACE FUNCTION workflow_task_identity_ensure(p_job_id uuid, p_username text, p_email text, p_display_name text, p_role text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := workflow_task_open(p_job_id);
  v_identity uuid;
  v_role uuid;
  v_created boolean := false;
  v_out jsonb;
BEGIN
  IF v_tenant IS NULL THEN RETURN NULL; END IF;
  SELECT id INTO v_role FROM role WHERE tenant_customer_id = v_tenant AND name = p_role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role %: the tenant has no such role', p_role USING ERRCODE = 'PV352', HINT = 'INSERT INTO role (tenant_customer_id, name) first';
  END IF;
  SELECT id INTO v_identity FROM identity WHERE tenant_customer_id = v_tenant AND lower(username) = lower(p_username) FOR UPDATE;
  IF FOUND THEN
    UPDATE identity SET email = coalesce(p_email, email), display_name = coalesce(p_display_name, display_name), is_active = true WHERE id = v_identity;
  ELSE
    INSERT INTO identity (tenant_customer_id, username, email, display_name) VALUES (v_tenant, p_username, p_email, p_display_name) RETURNING id INTO v_identity;
    v_created := true;
  END IF;
  INSERT INTO identity_role (identity_id, role_id, tenant_customer_id) VALUES (v_identity, v_role, v_tenant) ON CONFLICT DO NOTHING;
  v_out := jsonb_build_object('identity_id', v_identity, 'role_id', v_role, 'created', v_created,
    'entitlement_ids', coalesce((SELECT jsonb_agg(entitlement_id ORDER BY entitlement_id) FROM role_entitlement WHERE role_id = v_role), '[]'));
  PERFORM job_complete(p_job_id, v_out, format('identity %s %s with role %s', p_username, CASE WHEN v_created THEN 'created' ELSE 'updated' END, p_role));
  RETURN v_out;
END
$$;
COMMENT ON FUNCTION workflow_task_identity_ensure(uuid, text, text, text, text) IS
  'Task identity.ensure: upserts an identity with a role and completes the job; NULL when already final. Raises PV352, PV501. SECURITY DEFINER.';

-- Task "access.list_entitlements": the entitlement ids identity p_identity (of the task's tenant) has
-- through its roles. Output {identity_id, ids}. Raises PV353 when the tenant has no such identity.
CREATE OR REPLACE FUNCTION workflow_task_list_entitlements(p_job_id uuid, p_identity uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := workflow_task_open(p_job_id);
  v_out jsonb;
BEGIN
  IF v_tenant IS NULL THEN RETURN NULL; END IF;
  IF NOT EXISTS (SELECT 1 FROM identity WHERE id = p_identity AND tenant_customer_id = v_tenant) THEN
    RAISE EXCEPTION 'identity %: the tenant has no such identity', p_identity USING ERRCODE = 'PV353';
  END IF;
  v_out := jsonb_build_object('identity_id', p_identity, 'ids', coalesce((
    SELECT jsonb_agg(DISTINCT re.entitlement_id) FROM identity_role ir JOIN role_entitlement re ON re.role_id = ir.role_id
    WHERE ir.identity_id = p_identity AND ir.tenant_customer_id = v_tenant), '[]'));
  PERFORM job_complete(p_job_id, v_out, format('%s entitlements', jsonb_array_length(v_out -> 'ids')));
  RETURN v_out;
END
$$;
COMMENT ON FUNCTION workflow_task_list_entitlements(uuid, uuid) IS
  'Task access.list_entitlements: the entitlement ids an identity''s roles give; completes the job; NULL when already final. Raises PV353, PV501. SECURITY DEFINER.';

-- Task "audit.purge": deletes the audit_trail_log rows of the task's tenant's rows (those whose logged
-- row names the tenant). Output {deleted}.
CREATE OR REPLACE FUNCTION workflow_task_audit_purge(p_job_id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := workflow_task_open(p_job_id);
  v_n integer;
  v_out jsonb;
BEGIN
  IF v_tenant IS NULL THEN RETURN NULL; END IF;
  DELETE FROM audit_trail_log WHERE coalesce(new_value, old_value) ->> 'tenant_customer_id' = v_tenant::text;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  v_out := jsonb_build_object('deleted', v_n);
  PERFORM job_complete(p_job_id, v_out, format('%s audit rows deleted', v_n));
  RETURN v_out;
END
$$;
COMMENT ON FUNCTION workflow_task_audit_purge(uuid) IS
  'Task audit.purge: deletes the tenant''s audit_trail_log rows and completes the job; NULL when already final. Raises PV501. SECURITY DEFINER.';

-- The SQL connector configuration of application p_application of the task's tenant (for the schema
-- tasks), with the tenant policy's verdict when the tenant wrote it, and the tenant's slug (its
-- tenant_profile's: the only schema those tasks may touch). Raises PV354 when the tenant has no such
-- application with a sql connector.
DROP FUNCTION IF EXISTS workflow_task_sql_config(uuid, uuid);
CREATE OR REPLACE FUNCTION workflow_task_sql_config(p_job_id uuid, p_application uuid, OUT configuration jsonb, OUT policy_error text, OUT slug text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := (SELECT tenant_customer_id FROM job WHERE id = p_job_id);
BEGIN
  slug := (SELECT p.slug FROM tenant_profile p WHERE p.tenant_customer_id = v_tenant);
  SELECT c.configuration, CASE WHEN c.tenant_written THEN access_connector_policy_error(c.tenant_customer_id, c.connector_type, c.configuration) END
    INTO configuration, policy_error
  FROM connector_config c WHERE c.application_id = p_application AND c.tenant_customer_id = v_tenant AND c.connector_type = 'sql';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'application %: the tenant has no application with a sql connector of this id', p_application USING ERRCODE = 'PV354';
  END IF;
END
$$;
COMMENT ON FUNCTION workflow_task_sql_config(uuid, uuid) IS
  'The sql connector configuration of a tenant''s application for a schema task, the policy error of a tenant-written one, the tenant''s slug. Raises PV354. SECURITY DEFINER.';
