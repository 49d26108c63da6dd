-- Discovery and drift of the access family (seed 002 "Discovery pipeline"; tables in
-- migrations/0015_access-discovery.sql). A pass over one application:
--
--   access_discovery_request(application)   get-or-create a queued run and enqueue access__discover
--   access_discovery_start(run)             the worker marks it running (a retried attempt starts over)
--   access_discovery_record(run, page)      each page of accounts the adapter listed
--   access_discovery_finish(run)            complete: accounts seen are stamped, older observations
--                                           dropped, and in repair mode the repair is planned, then
--                                           queued or held (the mass-deletion guard)
--   access_discovery_fail(run, code, msg)   failed or partial: its observations are dropped, nothing marked
--
-- v_access_drift compares each application's last complete pass with what the identities' roles give.
-- A repair (access__repair) applies a planned difference; access_repair_approve releases a held one.
-- Codes PV208-PV210 (docs/errors.md). The functions are SECURITY DEFINER: the worker and a tenant's
-- session reach the run tables only through them; a tenant's session acts for its own tenant only.

-- seed 002 "derive the user's id in the app", as src/families/access/task.ts userIdInApp does it: the
-- template's {username} and {email} substituted in one pass (a username containing "{email}" stays as it
-- is), lower-cased when asked. NULL where the task refuses (PV_ACCESS_USER_ID): a needed value is empty,
-- or the id is blank.
CREATE OR REPLACE FUNCTION access_user_id_in_app(p_template text, p_username text, p_email text, p_lower boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_rest text := p_template;
  v_out text := '';
  v_m text[];
  v_value text;
BEGIN
  LOOP
    v_m := regexp_match(v_rest, '^(.*?)\{(username|email)\}(.*)$', 's');
    EXIT WHEN v_m IS NULL;
    v_value := CASE v_m[2] WHEN 'username' THEN p_username ELSE p_email END;
    IF coalesce(v_value, '') = '' THEN RETURN NULL; END IF;
    v_out := v_out || v_m[1] || v_value;
    v_rest := v_m[3];
  END LOOP;
  v_out := v_out || v_rest;
  IF btrim(v_out, E' \t\n\r') = '' THEN RETURN NULL; END IF;
  RETURN CASE WHEN p_lower THEN lower(v_out) ELSE v_out END;
END
$$;
COMMENT ON FUNCTION access_user_id_in_app(text, text, text, boolean) IS
  'An identity''s user id in an application from mapping_config.user_id_template and lower_case (as the access task derives it); NULL when a needed value is empty. Raises nothing.';

-- The application p_application_id as the session may see it, or PV208.
CREATE OR REPLACE FUNCTION access_application_assert(p_application_id uuid) RETURNS application
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v application;
BEGIN
  SELECT * INTO v FROM application WHERE id = p_application_id;
  IF NOT FOUND OR NOT (role_is_engine(session_user) OR v.tenant_customer_id IS NOT DISTINCT FROM current_tenant_id()) THEN
    RAISE EXCEPTION 'application % is not an application of this session''s tenant', p_application_id
      USING ERRCODE = 'PV208', HINT = 'SELECT id, name FROM application';
  END IF;
  RETURN v;
END
$$;
COMMENT ON FUNCTION access_application_assert(uuid) IS 'The application row. Raises PV208 when it does not exist or belongs to another tenant than the session''s.';

-- Whether graphile-worker still holds a job with key p_key that will run (or is running): not yet at its
-- last attempt, or locked by a worker now.
CREATE OR REPLACE FUNCTION access_job_alive(p_key text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs j WHERE j.key = p_key AND (j.attempts < j.max_attempts OR j.locked_at IS NOT NULL))
$$;
COMMENT ON FUNCTION access_job_alive(text) IS 'True when a graphile-worker job with this key will still run or is running. Raises nothing.';

-- The graphile-worker job of a discovery pass (task access__discover, job_key access_discover:<application>:
-- at most one queued per application) and of a repair (task access__repair, job_key access_repair:<pass>),
-- the one place their task, key and attempts are written. With p_only_if_gone, only when no job with that
-- key will still run (access_job_alive). Returns whether it added one.
CREATE OR REPLACE FUNCTION access_discover_enqueue(p_run_id uuid, p_application_id uuid, p_only_if_gone boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_only_if_gone AND access_job_alive('access_discover:' || p_application_id) THEN RETURN false; END IF;
  PERFORM graphile_worker.add_job('access__discover', json_build_object('run_id', p_run_id), max_attempts => 5, job_key => 'access_discover:' || p_application_id);
  RETURN true;
END
$$;
COMMENT ON FUNCTION access_discover_enqueue(uuid, uuid, boolean) IS 'Enqueues pass p_run_id of application p_application_id (task access__discover); returns whether it did. Raises nothing of its own.';

CREATE OR REPLACE FUNCTION access_repair_enqueue(p_run_id uuid, p_only_if_gone boolean DEFAULT false) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_only_if_gone AND access_job_alive('access_repair:' || p_run_id) THEN RETURN false; END IF;
  PERFORM graphile_worker.add_job('access__repair', json_build_object('run_id', p_run_id), max_attempts => 5, job_key => 'access_repair:' || p_run_id);
  RETURN true;
END
$$;
COMMENT ON FUNCTION access_repair_enqueue(uuid, boolean) IS 'Enqueues the repair of pass p_run_id (task access__repair); returns whether it did. Raises nothing of its own.';

-- Pass p_run_id's jobs, again when they are gone: a pass queued or running, or a repair queued or
-- running, whose graphile-worker job no longer exists or has used its attempts (a worker killed during
-- the last attempt, a failure that could not be recorded) is enqueued again, so that no pass or repair
-- stays in flight for ever. Returns how many jobs it added.
CREATE OR REPLACE FUNCTION access_discovery_jobs_ensure(p_run_id uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_run access_discovery_run;
  n integer := 0;
BEGIN
  SELECT * INTO v_run FROM access_discovery_run WHERE id = p_run_id;
  IF v_run.status IN ('queued', 'running') AND access_discover_enqueue(v_run.id, v_run.application_id, true) THEN n := n + 1; END IF;
  IF v_run.repair_status IN ('queued', 'running') AND access_repair_enqueue(v_run.id, true) THEN n := n + 1; END IF;
  RETURN n;
END
$$;
COMMENT ON FUNCTION access_discovery_jobs_ensure(uuid) IS 'Enqueues again the discovery or repair job of a pass in flight whose job is gone or exhausted; returns how many. Raises nothing.';

-- Get-or-create a discovery pass of application p_application_id and enqueue it (task access__discover,
-- job_key access_discover:<application>: at most one queued). A pass already queued or running is
-- returned instead of a second one. Raises PV208 (not the tenant's application), PV206 (no usable
-- connector_config or mapping_config), PV213 (a tenant's session asking again within its policy's
-- min_discovery_interval of the last request).
CREATE OR REPLACE FUNCTION access_discovery_request(p_application_id uuid, p_trigger text DEFAULT 'manual') RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_app application := access_application_assert(p_application_id);
  v_id uuid;
  v_last timestamptz;
  v_min interval;
BEGIN
  PERFORM access_applications_assert(ARRAY[v_app.id]);
  -- serialise requests of one application (the in-flight unique index is the backstop)
  PERFORM pg_advisory_xact_lock(hashtextextended('access_discover:' || v_app.id, 0));
  SELECT id INTO v_id FROM access_discovery_run WHERE application_id = v_app.id AND status IN ('queued', 'running');
  IF FOUND THEN
    PERFORM access_discovery_jobs_ensure(v_id);
    RETURN v_id;
  END IF;
  -- a tenant's session may not have the application listed more often than its policy allows
  IF NOT role_is_engine(session_user) THEN
    SELECT max(created_date) INTO v_last FROM access_discovery_run WHERE application_id = v_app.id;
    v_min := access_tenant_min_discovery_interval(v_app.tenant_customer_id);
    IF v_last > now() - v_min THEN
      RAISE EXCEPTION 'application %: a discovery pass was requested at %; this tenant may request one every %', v_app.name, v_last, v_min
        USING ERRCODE = 'PV213', HINT = 'SELECT * FROM v_access_discovery_run WHERE application_id = ' || quote_literal(v_app.id);
    END IF;
  END IF;
  INSERT INTO access_discovery_run (tenant_customer_id, application_id, trigger)
  VALUES (v_app.tenant_customer_id, v_app.id, p_trigger) RETURNING id INTO v_id;
  PERFORM access_discover_enqueue(v_id, v_app.id);
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION access_discovery_request(uuid, text) IS
  'Queues a discovery pass of the application (or returns the one queued or running): its access_discovery_run id. Raises PV208, PV206.';

-- The scheduler (graphile-worker cron, task access__discover_due): enqueue again the jobs of passes and
-- repairs in flight whose job is gone (access_discovery_jobs_ensure), delete passes finished over 30
-- days ago (never an application's last complete pass nor a held or running repair), and request a pass
-- of every application whose discovery_interval has elapsed since its last pass was requested. Returns
-- how many passes it requested. An application whose configuration cannot be used is skipped.
CREATE OR REPLACE FUNCTION access_discovery_schedule() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  -- passes and repairs in flight whose job is gone are enqueued again
  PERFORM access_discovery_jobs_ensure(d.id) FROM access_discovery_run d
  WHERE d.status IN ('queued', 'running') OR d.repair_status IN ('queued', 'running');
  -- retention: passes finished over 30 days ago, but never an application's last complete pass (the
  -- drift view's), nor one whose repair is held or in flight
  DELETE FROM access_discovery_run d
  WHERE d.finished_date < now() - interval '30 days'
    AND d.repair_status IS DISTINCT FROM 'held' AND d.repair_status IS DISTINCT FROM 'queued' AND d.repair_status IS DISTINCT FROM 'running'
    AND d.id <> (SELECT l.id FROM access_discovery_run l WHERE l.application_id = d.application_id AND l.status = 'complete'
                 ORDER BY l.finished_date DESC, l.id DESC LIMIT 1);
  FOR r IN
    SELECT a.id FROM application a
    WHERE a.discovery_interval IS NOT NULL
      AND EXISTS (SELECT 1 FROM connector_config c WHERE c.application_id = a.id)
      AND NOT EXISTS (SELECT 1 FROM access_discovery_run d WHERE d.application_id = a.id
                      AND (d.status IN ('queued', 'running') OR d.created_date > now() - a.discovery_interval))
  LOOP
    BEGIN
      PERFORM access_discovery_request(r.id, 'schedule');
      n := n + 1;
    EXCEPTION WHEN SQLSTATE 'PV206' THEN
      NULL;
    END;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION access_discovery_schedule() IS 'Queues the discovery passes that are due (application.discovery_interval); returns how many. Raises nothing of its own.';

-- The worker starts (or, on a retried attempt, restarts) pass p_run_id: running, attempts + 1, and what
-- an earlier attempt recorded is dropped (a pass is read whole in one attempt). Returns the run, or no
-- row when it is already final (a duplicate job: nothing to do).
CREATE OR REPLACE FUNCTION access_discovery_start(p_run_id uuid) RETURNS SETOF access_discovery_run
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DELETE FROM access_observation WHERE run_id = p_run_id;
  RETURN QUERY
  UPDATE access_discovery_run
  SET status = 'running', attempts = attempts + 1, pages = 0, accounts_seen = 0, error_code = NULL, error = NULL,
      started_date = now(), updated_date = now(), updated_by = session_user
  WHERE id = p_run_id AND status IN ('queued', 'running')
  RETURNING *;
END
$$;
COMMENT ON FUNCTION access_discovery_start(uuid) IS 'Marks the pass running and clears an earlier attempt''s observations; no row when the pass is final. Raises nothing.';

-- One page of pass p_run_id: p_accounts = [{ user_id_in_app, native_id, active, entitlements: [key] }].
-- An account listed twice (on this page or an earlier one: the same user id, spelled the same) is
-- merged: its entitlements are the union, active only if every listing says so. Returns the accounts recorded so far. Raises PV209 when the pass is not running.
CREATE OR REPLACE FUNCTION access_discovery_record(p_run_id uuid, p_accounts jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run access_discovery_run;
  v_seen integer;
BEGIN
  SELECT * INTO v_run FROM access_discovery_run WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status <> 'running' THEN
    RAISE EXCEPTION 'discovery pass % is not running', p_run_id USING ERRCODE = 'PV209';
  END IF;
  -- one row per user id of the page (a listing may repeat one), merged with what earlier pages recorded
  INSERT INTO access_observation AS o (run_id, tenant_customer_id, application_id, user_id_in_app, native_id, active, entitlements)
  SELECT p_run_id, v_run.tenant_customer_id, v_run.application_id, x.user_id_in_app, max(x.native_id), bool_and(x.active),
         coalesce(array_agg(DISTINCT x.ents ORDER BY x.ents) FILTER (WHERE x.ents IS NOT NULL), '{}')
  FROM (
    SELECT a ->> 'user_id_in_app' AS user_id_in_app, a ->> 'native_id' AS native_id, coalesce((a ->> 'active')::boolean, true) AS active, k AS ents
    FROM jsonb_array_elements(p_accounts) a
    LEFT JOIN LATERAL jsonb_array_elements_text(coalesce(a -> 'entitlements', '[]')) k ON true
    WHERE coalesce(a ->> 'user_id_in_app', '') <> ''
  ) x
  GROUP BY x.user_id_in_app
  ON CONFLICT (run_id, user_id_in_app) DO UPDATE
    SET entitlements = ARRAY(SELECT DISTINCT e FROM unnest(o.entitlements || EXCLUDED.entitlements) e ORDER BY e),
        native_id = coalesce(EXCLUDED.native_id, o.native_id), active = o.active AND EXCLUDED.active;
  SELECT count(*) INTO v_seen FROM access_observation WHERE run_id = p_run_id;
  UPDATE access_discovery_run SET pages = pages + 1, accounts_seen = v_seen, updated_date = now(), updated_by = session_user
  WHERE id = p_run_id;
  RETURN v_seen;
END
$$;
COMMENT ON FUNCTION access_discovery_record(uuid, jsonb) IS 'Records one page of a running pass; returns the accounts recorded so far. Raises PV209 (pass not running).';

-- Pass p_run_id failed or read only part of the application: failed, with the error; what it recorded is
-- dropped, so nothing is concluded from it (no account is marked gone). Idempotent on a final pass.
CREATE OR REPLACE FUNCTION access_discovery_fail(p_run_id uuid, p_code text, p_message text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE access_discovery_run
  SET status = 'failed', error_code = p_code, error = left(p_message, 2000), finished_date = now(), updated_date = now(), updated_by = session_user
  WHERE id = p_run_id AND status IN ('queued', 'running');
  DELETE FROM access_observation WHERE run_id = p_run_id;
END
$$;
COMMENT ON FUNCTION access_discovery_fail(uuid, text, text) IS 'Marks the pass failed and drops its observations. Raises nothing.';

-- Pass p_run_id read everything: complete. The accounts provisio recorded that it saw get last_seen_date
-- (and the native id it saw); the observations of the application's earlier passes are dropped. In repair
-- mode the repair is planned from v_access_drift (per identity: the keys to grant and to revoke) and then
-- queued (task access__repair) or, when the identities it would revoke from exceed the application's
-- repair_max_revoke_share of the accounts seen, or the recorded accounts it did not see ("gone") exceed
-- that share of the linked accounts, held for access_repair_approve. Returns the pass's
-- repair_status (NULL in report mode). Raises PV209 when the pass is not running.
CREATE OR REPLACE FUNCTION access_discovery_finish(p_run_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run access_discovery_run;
  v_app application;
  v_plan jsonb;
  v_revoking integer;
  v_repair text;
BEGIN
  SELECT * INTO v_run FROM access_discovery_run WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.status <> 'running' THEN
    RAISE EXCEPTION 'discovery pass % is not running', p_run_id USING ERRCODE = 'PV209';
  END IF;
  SELECT * INTO v_app FROM application WHERE id = v_run.application_id;
  UPDATE access_discovery_run SET status = 'complete', finished_date = now(), updated_date = now(), updated_by = session_user
  WHERE id = p_run_id;
  UPDATE account a SET last_seen_date = now(), native_id = coalesce(o.native_id, a.native_id)
  FROM access_observation o
  WHERE o.run_id = p_run_id AND a.application_id = v_run.application_id AND lower(a.user_id_in_app) = lower(o.user_id_in_app);
  DELETE FROM access_observation o USING access_discovery_run r
  WHERE r.id = o.run_id AND r.application_id = v_run.application_id AND r.id <> p_run_id AND r.status <> 'running';
  -- a plan of an earlier pass that is not applied yet is overtaken by this one
  UPDATE access_discovery_run SET repair_status = 'superseded', updated_date = now(), updated_by = session_user
  WHERE application_id = v_run.application_id AND id <> p_run_id AND repair_status IN ('held', 'queued');
  IF v_app.reconcile_mode <> 'repair' THEN RETURN NULL; END IF;

  SELECT coalesce(jsonb_agg(jsonb_build_object('identity_id', identity_id, 'user_id_in_app', user_id_in_app,
                                               'grant', grants, 'revoke', revokes) ORDER BY user_id_in_app), '[]'),
         count(*) FILTER (WHERE cardinality(revokes) > 0)
  INTO v_plan, v_revoking
  FROM (
    SELECT d.identity_id, min(d.user_id_in_app) AS user_id_in_app,
           coalesce(array_agg(DISTINCT d.native_key) FILTER (WHERE d.kind = 'missing' AND d.native_key IS NOT NULL), '{}') AS grants,
           coalesce(array_agg(DISTINCT d.native_key) FILTER (WHERE d.kind = 'excess'), '{}') AS revokes
    FROM v_access_drift d
    WHERE d.application_id = v_run.application_id AND d.run_id = p_run_id AND d.kind IN ('missing', 'excess') AND d.identity_id IS NOT NULL
      AND d.user_id_in_app IS NOT NULL
    GROUP BY d.identity_id
  ) p;
  -- the mass-change guard: held when the plan revokes from more than the share of the accounts seen, or
  -- when the pass did not see more than the share of the accounts provisio recorded as linked (a listing
  -- that reads too little, e.g. a wrong base or filter, would otherwise re-create them all)
  v_repair := CASE
    WHEN jsonb_array_length(v_plan) = 0 THEN 'none'
    WHEN v_revoking > v_app.repair_max_revoke_share * (SELECT count(*) FROM access_observation WHERE run_id = p_run_id) THEN 'held'
    WHEN (SELECT count(*) FROM v_access_drift d WHERE d.run_id = p_run_id AND d.kind = 'gone')
         > v_app.repair_max_revoke_share * (SELECT count(*) FROM account a WHERE a.application_id = v_run.application_id AND a.link_state = 'linked'
                                                AND a.created_date < v_run.started_date) THEN 'held'
    ELSE 'queued' END;
  UPDATE access_discovery_run SET repair_status = v_repair, repair_plan = v_plan WHERE id = p_run_id;
  IF v_repair = 'queued' THEN
    PERFORM access_repair_enqueue(p_run_id);
  END IF;
  RETURN v_repair;
END
$$;
COMMENT ON FUNCTION access_discovery_finish(uuid) IS
  'Completes the pass (accounts seen stamped, older observations dropped) and in repair mode plans the repair: queued, held (mass-deletion guard) or none. Returns repair_status. Raises PV209.';

-- An operator releases the held repair of pass p_run_id: queued (task access__repair), with who and when.
-- Idempotent: a repair already queued, running or applied is returned as it is. Raises PV208 (another
-- tenant's pass), PV209 (no such pass, or it has no repair to approve), PV210 (a newer complete pass of
-- the application superseded the plan: approve that one's).
CREATE OR REPLACE FUNCTION access_repair_approve(p_run_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run access_discovery_run;
BEGIN
  SELECT * INTO v_run FROM access_discovery_run WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'discovery pass % does not exist', p_run_id USING ERRCODE = 'PV209';
  END IF;
  PERFORM access_application_assert(v_run.application_id);
  IF v_run.repair_status IN ('queued', 'running', 'applied') THEN RETURN v_run.repair_status; END IF;
  IF v_run.repair_status = 'superseded' THEN
    RAISE EXCEPTION 'the repair of discovery pass % was superseded by a newer pass', p_run_id
      USING ERRCODE = 'PV210', HINT = 'SELECT * FROM v_access_discovery_run WHERE repair_status = ''held''';
  END IF;
  IF v_run.repair_status IS DISTINCT FROM 'held' THEN
    RAISE EXCEPTION 'discovery pass % has no held repair (repair_status %)', p_run_id, coalesce(v_run.repair_status, 'none: report mode')
      USING ERRCODE = 'PV209';
  END IF;
  UPDATE access_discovery_run SET repair_status = 'queued', repair_approved_by = session_user, repair_approved_date = now(),
         updated_date = now(), updated_by = session_user
  WHERE id = p_run_id;
  PERFORM access_repair_enqueue(p_run_id);
  RETURN 'queued';
END
$$;
COMMENT ON FUNCTION access_repair_approve(uuid) IS 'Releases a held repair (mass-deletion guard); returns repair_status. Raises PV208, PV209, PV210.';

-- The worker starts the repair of pass p_run_id: running; returns the pass, or no row when the repair is
-- not queued or running (superseded, applied: nothing to do).
CREATE OR REPLACE FUNCTION access_repair_start(p_run_id uuid) RETURNS SETOF access_discovery_run
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  RETURN QUERY
  UPDATE access_discovery_run SET repair_status = 'running', updated_date = now(), updated_by = session_user
  WHERE id = p_run_id AND repair_status IN ('queued', 'running')
  RETURNING *;
END
$$;
COMMENT ON FUNCTION access_repair_start(uuid) IS 'Marks the repair running; no row when there is none to run. Raises nothing.';

-- The repair of pass p_run_id ended: p_result = { accounts: [{ identity_id, user_id_in_app, native_id,
-- success, operations, error_code?, error? }] }; applied when every account succeeded, else failed. The
-- accounts it made consistent are recorded (table account), as a grant's are.
CREATE OR REPLACE FUNCTION access_repair_finish(p_run_id uuid, p_result jsonb) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run access_discovery_run;
  v_ok boolean;
  x jsonb;
BEGIN
  SELECT * INTO v_run FROM access_discovery_run WHERE id = p_run_id FOR UPDATE;
  IF NOT FOUND OR v_run.repair_status <> 'running' THEN RETURN v_run.repair_status; END IF;
  v_ok := NOT EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(p_result -> 'accounts', '[]')) a WHERE NOT (a ->> 'success')::boolean);
  FOR x IN SELECT a FROM jsonb_array_elements(coalesce(p_result -> 'accounts', '[]')) a WHERE (a ->> 'success')::boolean LOOP
    PERFORM access_record_accounts(v_run.tenant_customer_id, (x ->> 'identity_id')::uuid,
      jsonb_build_object('applications', jsonb_build_array(x || jsonb_build_object('application_id', v_run.application_id))));
  END LOOP;
  UPDATE access_discovery_run SET repair_status = CASE WHEN v_ok THEN 'applied' ELSE 'failed' END, repair_result = p_result,
         updated_date = now(), updated_by = session_user
  WHERE id = p_run_id;
  RETURN CASE WHEN v_ok THEN 'applied' ELSE 'failed' END;
END
$$;
COMMENT ON FUNCTION access_repair_finish(uuid, jsonb) IS 'Records the repair''s result (applied or failed) and the accounts it made consistent. Raises nothing.';

DROP VIEW IF EXISTS v_access_drift, v_access_discovery_run;

-- Drift of each application against its last complete discovery pass (public API). kind:
--   missing  an entitlement an active identity's roles give in the application that the pass did not see
--            the identity's account hold (native_key set); or, with native_key NULL, an account the
--            identity should have that the pass did not see and provisio never recorded
--   excess   an entitlement of the application (table entitlement) the identity's account holds that
--            its roles do not give (every one, for an inactive identity)
--   orphan   an account the pass saw that belongs to no identity of the tenant
--   gone     an account provisio recorded (linked) that the last complete pass did not see
-- An identity's account is matched by the user id provisio recorded for it, else by the id its mapping
-- derives: as spelled, and also whatever its case where the target compares user ids case-insensitively
-- (ldap, scim; SQL logins "Alice" and "alice" are two accounts). A missing entitlement's user id is the
-- account's as the application spells it when the pass saw one. Only a complete pass counts: a failed or partial one is ignored.
-- Security barrier with its own tenant filter, like the status views.
CREATE VIEW v_access_drift WITH (security_barrier) AS
WITH latest AS (
  SELECT DISTINCT ON (r.application_id) r.id AS run_id, r.application_id, r.tenant_customer_id, r.started_date, r.finished_date,
         coalesce(c.connector_type IN ('ldap', 'scim'), false) AS case_insensitive
  FROM access_discovery_run r
  LEFT JOIN connector_config c ON c.application_id = r.application_id
  WHERE r.status = 'complete'
    AND (r.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user)))
  ORDER BY r.application_id, r.finished_date DESC, r.id DESC
), ident AS (
  SELECT l.run_id, l.application_id, i.id AS identity_id, i.username, i.is_active, acc.link_state, acc.created_date AS account_created,
         coalesce(acc.user_id_in_app, access_user_id_in_app(m.user_id_template, i.username, i.email, m.lower_case)) AS user_id_in_app
  FROM latest l
  JOIN mapping_config m ON m.application_id = l.application_id
  JOIN identity i ON i.tenant_customer_id = l.tenant_customer_id
  LEFT JOIN account acc ON acc.identity_id = i.id AND acc.application_id = l.application_id
), desired AS (
  SELECT DISTINCT x.run_id, x.application_id, x.identity_id, e.id AS entitlement_id, e.native_key
  FROM ident x
  JOIN identity_role ir ON ir.identity_id = x.identity_id
  JOIN role_entitlement re ON re.role_id = ir.role_id
  JOIN entitlement e ON e.id = re.entitlement_id AND e.application_id = x.application_id
  WHERE x.is_active
), seen AS (
  SELECT o.*, x.identity_id, x.username
  FROM access_observation o
  JOIN latest l ON l.run_id = o.run_id
  LEFT JOIN ident x ON x.run_id = o.run_id
    AND (x.user_id_in_app = o.user_id_in_app OR (l.case_insensitive AND lower(x.user_id_in_app) = lower(o.user_id_in_app)))
)
SELECT d.application_id, d.run_id, 'missing'::text AS kind, d.identity_id, x.username, coalesce(s.user_id_in_app, x.user_id_in_app) AS user_id_in_app, s.native_id,
       d.entitlement_id, d.native_key
FROM desired d
JOIN ident x ON x.run_id = d.run_id AND x.identity_id = d.identity_id
LEFT JOIN seen s ON s.run_id = d.run_id AND s.identity_id = d.identity_id
WHERE s.run_id IS NULL OR NOT (d.native_key = ANY (s.entitlements))
UNION ALL
SELECT x.application_id, x.run_id, 'missing', x.identity_id, x.username, x.user_id_in_app, NULL, NULL, NULL
FROM ident x
WHERE x.account_created IS NULL
  AND EXISTS (SELECT 1 FROM desired d WHERE d.run_id = x.run_id AND d.identity_id = x.identity_id)
  AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.run_id = x.run_id AND s.identity_id = x.identity_id)
UNION ALL
SELECT s.application_id, s.run_id, 'excess', s.identity_id, s.username, s.user_id_in_app, s.native_id, e.id, e.native_key
FROM seen s
CROSS JOIN LATERAL unnest(s.entitlements) k(native_key)
JOIN entitlement e ON e.application_id = s.application_id AND e.native_key = k.native_key
WHERE s.identity_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.run_id = s.run_id AND d.identity_id = s.identity_id AND d.native_key = k.native_key)
UNION ALL
SELECT s.application_id, s.run_id, 'orphan', NULL, NULL, s.user_id_in_app, s.native_id, NULL, NULL
FROM seen s
WHERE s.identity_id IS NULL
UNION ALL
SELECT x.application_id, x.run_id, 'gone', x.identity_id, x.username, x.user_id_in_app, NULL, NULL, NULL
FROM ident x
JOIN latest l ON l.run_id = x.run_id
WHERE x.link_state = 'linked' AND x.account_created < l.started_date
  AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.run_id = x.run_id AND s.identity_id = x.identity_id);
COMMENT ON VIEW v_access_drift IS
  'Drift per application against its last complete discovery pass: kind missing | excess | orphan | gone, with identity, user id, native id and entitlement; tenant sessions see their own.';

-- Discovery passes with their application's name and settings (public API).
CREATE VIEW v_access_discovery_run WITH (security_barrier) AS
SELECT r.id, r.tenant_customer_id, r.application_id, a.name AS application, a.reconcile_mode, r.trigger, r.status,
       r.attempts, r.pages, r.accounts_seen, r.error_code, r.error, r.created_date, r.started_date, r.finished_date,
       r.finished_date - r.started_date AS duration,
       r.repair_status, jsonb_array_length(coalesce(r.repair_plan, '[]')) AS repair_accounts,
       (SELECT count(*) FROM jsonb_array_elements(coalesce(r.repair_plan, '[]')) p WHERE jsonb_array_length(p -> 'revoke') > 0) AS repair_revoking,
       a.repair_max_revoke_share, r.repair_plan, r.repair_result, r.repair_approved_by, r.repair_approved_date
FROM access_discovery_run r
JOIN application a ON a.id = r.application_id
WHERE r.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user));
COMMENT ON VIEW v_access_discovery_run IS
  'Discovery passes (status, pages, accounts seen, error) and their repairs (status, accounts in the plan, accounts it revokes from, who approved); tenant sessions see their own.';
