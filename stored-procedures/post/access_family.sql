-- Success side effects of the access family: the accounts each application reported are recorded
-- (table account) from result_data.applications[] = { application_id, user_id_in_app, native_id,
-- disabled, success, operations } written by src/families/access/task.ts. A dry run records nothing.

CREATE OR REPLACE FUNCTION access_record_accounts(p_tenant uuid, p_identity_id uuid, p_result jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- an application's result records its account only when the account exists there (the adapter gives
  -- its native id exactly then); link_state changes only when the run disabled or enabled it
  INSERT INTO account AS a (tenant_customer_id, identity_id, application_id, user_id_in_app, native_id, link_state, last_seen_date)
  SELECT p_tenant, p_identity_id, (x ->> 'application_id')::uuid, x ->> 'user_id_in_app', x ->> 'native_id',
         CASE WHEN (x ->> 'disabled')::boolean THEN 'disabled' ELSE 'linked' END, now()
  FROM jsonb_array_elements(coalesce(p_result -> 'applications', '[]')) x
  WHERE (x ->> 'success')::boolean AND x ->> 'user_id_in_app' IS NOT NULL AND x ->> 'native_id' IS NOT NULL
    AND EXISTS (SELECT 1 FROM application ap WHERE ap.id = (x ->> 'application_id')::uuid AND ap.tenant_customer_id = p_tenant)
  ON CONFLICT (identity_id, application_id) DO UPDATE
    SET user_id_in_app = EXCLUDED.user_id_in_app, native_id = EXCLUDED.native_id,
        link_state = CASE (SELECT (y ->> 'disabled')::boolean FROM jsonb_array_elements(p_result -> 'applications') y
                           WHERE (y ->> 'application_id')::uuid = a.application_id LIMIT 1)
                       WHEN true THEN 'disabled' WHEN false THEN 'linked' ELSE a.link_state END,
        last_seen_date = now(), updated_date = now(), updated_by = session_user;
END
$$;
COMMENT ON FUNCTION access_record_accounts(uuid, uuid, jsonb) IS
  'Upserts the account rows a grant or revoke reported as consistent (result_data.applications[]). Raises nothing of its own.';

-- What a finished grant or revoke does, completed or failed: record the accounts that its result reports
-- as consistent (a failed one: those of the applications that succeeded; a dry run: none), and write seed
-- 002's provisioning.task.status outbox event with every application's result (the relay publishes it as
-- task.completed / task.failed). p_row is the provision row as jsonb.
CREATE OR REPLACE FUNCTION access_provision_finished(p_table regclass, p_row jsonb, p_status text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_id bigint;
BEGIN
  IF NOT (p_row ->> 'dry_run')::boolean THEN
    PERFORM access_record_accounts((p_row ->> 'tenant_customer_id')::uuid, (p_row ->> 'identity_id')::uuid, p_row -> 'result_data');
  END IF;
  v_id := event_emit((p_row ->> 'tenant_customer_id')::uuid, 'provisioning.task.status', p_table::text, (p_row ->> 'id')::uuid,
    jsonb_build_object('status', p_status, 'provision_id', p_row -> 'id', 'identity_id', p_row -> 'identity_id',
                       'username', p_row -> 'username', 'dry_run', p_row -> 'dry_run',
                       'applications', coalesce(p_row -> 'result_data' -> 'applications', '[]')));
END
$$;
COMMENT ON FUNCTION access_provision_finished(regclass, jsonb, text) IS
  'Records the accounts a finished access provision reports (not for a dry run) and writes its provisioning.task.status event (p_status completed or failed). Raises nothing of its own.';
DROP FUNCTION IF EXISTS access_emit_task_status(regclass, jsonb, text);

-- The engine runs tg_<table>__complete / tg_<table>__fail by name (engine/provision/attach_triggers.sql).
CREATE OR REPLACE FUNCTION tg_provision_access_grant__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM access_provision_finished(TG_RELID::regclass, to_jsonb(NEW), 'completed');
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_access_grant__complete() IS 'BEFORE UPDATE to completed on provision_access_grant: access_provision_finished. Raises nothing.';

CREATE OR REPLACE FUNCTION tg_provision_access_grant__fail() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM access_provision_finished(TG_RELID::regclass, to_jsonb(NEW), 'failed');
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_access_grant__fail() IS 'BEFORE UPDATE to failed on provision_access_grant: access_provision_finished. Raises nothing.';

CREATE OR REPLACE FUNCTION tg_provision_access_revoke__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM access_provision_finished(TG_RELID::regclass, to_jsonb(NEW), 'completed');
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_access_revoke__complete() IS 'BEFORE UPDATE to completed on provision_access_revoke: access_provision_finished. Raises nothing.';

CREATE OR REPLACE FUNCTION tg_provision_access_revoke__fail() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM access_provision_finished(TG_RELID::regclass, to_jsonb(NEW), 'failed');
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_access_revoke__fail() IS 'BEFORE UPDATE to failed on provision_access_revoke: access_provision_finished. Raises nothing.';
