-- What an operator (or the order system) does to a run (docs/decisions/0008 §6; seed 004's "retry",
-- "manual recovery", "cancel", "cleanup"): each a SQL function and a CLI command (`provisio progress ...`),
-- each safe to call twice and against races. Each locks the run's row first, so operations and step
-- completions on one run serialise in call order: the loser sees the winner's state, and no-ops or
-- refuses. SECURITY DEFINER, with the tenant check first: a tenant's session acts on its own runs only.
-- Codes: PV330 (no such run for this session), PV331 (not in this status), PV332 (no such step).

-- Lock run p_run_id for an operation and return it. Raises PV330 when it does not exist or belongs to a
-- tenant the session may not act for (one answer for both: the answer tells nothing about other tenants).
CREATE OR REPLACE FUNCTION workflow_op_lock(p_run_id uuid) RETURNS provision_workflow
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_run provision_workflow;
  v_tenant uuid;
BEGIN
  SELECT tenant_customer_id INTO v_tenant FROM provision_workflow WHERE id = p_run_id;
  IF v_tenant IS NOT NULL AND NOT role_is_engine(session_user) AND v_tenant IS DISTINCT FROM current_tenant_id() THEN
    v_tenant := NULL;
  END IF;
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'workflow run % does not exist', p_run_id USING ERRCODE = 'PV330',
      HINT = 'SELECT id, template_name, status FROM v_workflow_run';
  END IF;
  v_run := workflow_run_lock(p_run_id);
  IF NOT role_is_engine(session_user)
     AND NOT (SELECT tenant_startable FROM workflow_template WHERE name = v_run.template_name AND version = v_run.template_version) THEN
    RAISE EXCEPTION 'workflow run %: template % is the operator''s; its runs are operated by the operator', p_run_id, v_run.template_name
      USING ERRCODE = 'PV327';
  END IF;
  RETURN v_run;
END
$$;
COMMENT ON FUNCTION workflow_op_lock(uuid) IS 'Locks and returns a run the session may act on. Raises PV330, PV327 (a tenant session on an operator''s run).';

-- Raises PV331: operation p_op is not possible while run p_run is in its status.
CREATE OR REPLACE FUNCTION workflow_op_refuse(p_run provision_workflow, p_op text, p_allowed text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RAISE EXCEPTION '%: run % is %; % applies to a run that is %', p_op, p_run.id, workflow_run_status_name(p_run.wf_status_id), p_op, p_allowed
    USING ERRCODE = 'PV331', HINT = 'SELECT status, error FROM v_workflow_run WHERE id = ''' || p_run.id || '''';
END
$$;
COMMENT ON FUNCTION workflow_op_refuse(provision_workflow, text, text) IS 'Raises PV331 naming the operation and the run''s status.';

-- Cancel the sub-runs in flight of cancelling run p_run_id (steps whose target is provision_workflow).
-- One whose row is locked right now (it is finishing, or starting) is left: it finishes and is recorded,
-- or the reconciler cancels it on a later pass. Returns how many were cancelled now.
CREATE OR REPLACE FUNCTION workflow_cancel_children(p_run_id uuid, p_compensate boolean) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_child uuid;
  v_n integer := 0;
BEGIN
  FOR v_child IN
    SELECT s.provision_id FROM workflow_step_run s JOIN provision_workflow c ON c.id = s.provision_id
    WHERE s.run_id = p_run_id AND s.status_id = wf_step_running() AND s.target = 'provision_workflow'
      AND c.wf_status_id NOT IN (wf_run_cancelling(), wf_run_compensating(), wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated())
  LOOP
    BEGIN
      PERFORM 1 FROM provision_workflow WHERE id = v_child FOR UPDATE NOWAIT;
      PERFORM workflow_cancel(v_child, p_compensate);
      v_n := v_n + 1;
    EXCEPTION WHEN lock_not_available THEN
      NULL;
    END;
  END LOOP;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION workflow_cancel_children(uuid, boolean) IS 'Cancels the sub-runs in flight of a cancelling run (skipping those locked now); returns how many. Raises nothing of its own.';

-- Cancel run p_run_id. p_compensate: undo the completed steps afterwards (their "compensate"); NULL =
-- the definition's on_cancel. A final, cancelling or compensating run (also one blocked by a failed
-- compensation) is returned as it is. Otherwise:
-- pending and ready steps are cancelled, queued step jobs removed and failed (PV_WF_CANCELLED), no new
-- step starts; a step in flight finishes and is recorded; then cancelled (final) or compensating. A run
-- not yet started has its job failed. Returns the run's status name.
CREATE OR REPLACE FUNCTION workflow_cancel(p_run_id uuid, p_compensate boolean DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow := workflow_op_lock(p_run_id);
BEGIN
  -- a run blocked by a failed compensation is compensating still: retry or skip the compensation
  IF v_run.wf_status_id IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated(),
                            wf_run_cancelling(), wf_run_compensating())
     OR (v_run.wf_status_id = wf_run_blocked() AND EXISTS (SELECT 1 FROM workflow_step_run WHERE run_id = p_run_id AND phase = 'compensate')) THEN
    RETURN workflow_run_status_name(v_run.wf_status_id);
  END IF;
  UPDATE provision_workflow SET wf_status_id = wf_run_cancelling(),
    wf_cancel_mode = CASE WHEN coalesce(p_compensate, wf_definition ->> 'on_cancel' = 'compensate') THEN 'compensate' ELSE 'stop' END
  WHERE id = p_run_id;
  IF v_run.wf_status_id = wf_run_pending() THEN
    -- not started: its job is queued (or being started right now, which then finds the run cancelling)
    UPDATE provision_workflow SET wf_status_id = wf_run_cancelled(), wf_ended_date = now() WHERE id = p_run_id;
    PERFORM graphile_worker.remove_job(v_run.job_id::text);
    PERFORM job_release(v_run.job_id, false, format('workflow %s v%s cancelled before it started', v_run.template_name, v_run.template_version),
                        jsonb_build_object('workflow_status', 'cancelled', 'error_code', 'PV_WF_CANCELLED'));
    RETURN 'cancelled';
  END IF;
  UPDATE workflow_step_run SET status_id = wf_step_cancelled(), skipped_reason = 'cancelled', ended_date = now()
  WHERE run_id = p_run_id AND phase = 'forward' AND status_id IN (wf_step_pending(), wf_step_ready());
  PERFORM workflow_cancel_children(p_run_id, p_compensate);
  RETURN workflow_settle(p_run_id);
END
$$;
COMMENT ON FUNCTION workflow_cancel(uuid, boolean) IS
  'Cancels a run (queued steps removed, steps in flight finish and are recorded), optionally compensating; returns its status. Idempotent. Raises PV330. SECURITY DEFINER.';

-- The live attempt of step p_step_key in phase p_phase of locked run p_run, for operation p_op (retry,
-- skip). Raises PV332 when the run has no such step, PV331 when the attempt is failed or cancelled but
-- the run is not blocked (a failed run is recovered, not retried).
CREATE OR REPLACE FUNCTION workflow_op_step(p_run provision_workflow, p_step_key text, p_phase text, p_op text) RETURNS workflow_step_run
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_live workflow_step_run := workflow_live_step(p_run.id, p_step_key, p_phase);
BEGIN
  IF v_live.id IS NULL THEN
    RAISE EXCEPTION 'run % has no % step "%"', p_run.id, p_phase, p_step_key USING ERRCODE = 'PV332',
      HINT = 'SELECT step_key, status FROM v_workflow_step WHERE run_id = ''' || p_run.id || '''';
  END IF;
  IF v_live.status_id IN (wf_step_failed(), wf_step_cancelled()) AND p_run.wf_status_id <> wf_run_blocked() THEN
    PERFORM workflow_op_refuse(p_run, p_op, 'blocked');
  END IF;
  RETURN v_live;
END
$$;
COMMENT ON FUNCTION workflow_op_step(provision_workflow, text, text, text) IS 'The live attempt of a step for retry or skip. Raises PV331, PV332.';

-- A new attempt of the step of live attempt p_live, ready to be dispatched (its dependencies were done
-- before it failed), with params override p_override (NULL keeps the last attempt's). The old attempt
-- stays as evidence. Returns the new row.
CREATE OR REPLACE FUNCTION workflow_step_reattempt(p_live workflow_step_run, p_override jsonb) RETURNS workflow_step_run
LANGUAGE sql VOLATILE AS $$
  INSERT INTO workflow_step_run (run_id, tenant_customer_id, phase, step_key, attempt, kind, target, status_id, remaining_deps,
                                 provision_table, params_override)
  VALUES (p_live.run_id, p_live.tenant_customer_id, p_live.phase, p_live.step_key, p_live.attempt + 1, p_live.kind, p_live.target,
          wf_step_ready(), 0, p_live.provision_table, coalesce(p_override, p_live.params_override))
  RETURNING *
$$;
COMMENT ON FUNCTION workflow_step_reattempt(workflow_step_run, jsonb) IS 'A new ready attempt of a failed step (retry, resume). Raises nothing of its own.';

-- A new attempt of step p_step_key of blocked run p_run_id (phase forward, or compensate for a failed
-- compensation), with a new provision row; the failed attempt is kept as evidence. p_params_override:
-- top-level params that replace the template's (NULL keeps the last attempt's override). When the live
-- attempt is not failed or cancelled (already retried, completed), it is returned as it is. Returns
-- the live attempt.
CREATE OR REPLACE FUNCTION workflow_retry_step(p_run_id uuid, p_step_key text, p_params_override jsonb DEFAULT NULL, p_phase text DEFAULT 'forward')
RETURNS workflow_step_run
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow := workflow_op_lock(p_run_id);
  v_live workflow_step_run := workflow_op_step(v_run, p_step_key, p_phase, 'retry');
  v_new workflow_step_run;
BEGIN
  IF v_live.status_id NOT IN (wf_step_failed(), wf_step_cancelled()) THEN
    RETURN v_live;
  END IF;
  IF p_params_override IS NOT NULL THEN
    IF jsonb_typeof(p_params_override) <> 'object' THEN
      RAISE EXCEPTION 'params_override must be a JSON object' USING ERRCODE = 'PV306';
    END IF;
    -- a task's or wait's params are the template's (a task runs a handler of the worker with them): only
    -- the operator overrides them; a provision step's override names columns its INSERT may be given,
    -- and the provision's own validation checks the values as for any INSERT
    IF v_live.kind <> 'provision' AND NOT role_is_engine(session_user) THEN
      RAISE EXCEPTION 'step "%": the params of a % step are overridden by the operator only', p_step_key, v_live.kind
        USING ERRCODE = 'PV333';
    END IF;
    IF v_live.kind = 'provision' THEN
      PERFORM workflow_target_assert('provision', to_jsonb(v_live.target), p_params_override, p_step_key, 'override of step');
    END IF;
  END IF;
  v_new := workflow_step_reattempt(v_live, p_params_override);
  PERFORM workflow_resume_if_clear(p_run_id);
  SELECT * INTO v_new FROM workflow_step_run WHERE id = v_new.id;
  RETURN v_new;
END
$$;
COMMENT ON FUNCTION workflow_retry_step(uuid, text, jsonb, text) IS
  'A new attempt of a failed step of a blocked run (optionally with overridden params); returns the live attempt. Idempotent. Raises PV330, PV331, PV332, PV306, PV327, PV333. SECURITY DEFINER.';

-- A blocked run whose failed steps were all retried or skipped goes on: running (or compensating when
-- its compensations failed), then dispatch and settle. Call with the run locked.
CREATE OR REPLACE FUNCTION workflow_resume_if_clear(p_run_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_compensating boolean := EXISTS (SELECT 1 FROM workflow_step_run WHERE run_id = p_run_id AND phase = 'compensate');
BEGIN
  -- the error code stays when a step whose on_failure is fail or compensate failed: the run is ending
  UPDATE provision_workflow w SET wf_status_id = CASE WHEN v_compensating THEN wf_run_compensating() ELSE wf_run_running() END,
    wf_error_code = CASE WHEN EXISTS (
      SELECT 1 FROM workflow_live_steps(p_run_id, 'forward') l
      WHERE l.status_id = wf_step_failed() AND workflow_step_def(w, l.step_key) ->> 'on_failure' IN ('fail', 'compensate')) THEN w.wf_error_code END
  WHERE id = p_run_id AND wf_status_id = wf_run_blocked();
  PERFORM workflow_dispatch(p_run_id);
  RETURN workflow_settle(p_run_id);
END
$$;
COMMENT ON FUNCTION workflow_resume_if_clear(uuid) IS 'Puts a blocked run back to running (or compensating), dispatches and settles it. Raises nothing of its own.';

-- Skip failed step p_step_key of blocked run p_run_id: a new attempt, skipped by the operator, with
-- output p_output (what its dependents' references read); its dependents go on. Returns the live attempt
-- (unchanged when the step is not failed).
CREATE OR REPLACE FUNCTION workflow_skip_step(p_run_id uuid, p_step_key text, p_output jsonb DEFAULT '{}', p_phase text DEFAULT 'forward')
RETURNS workflow_step_run
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow := workflow_op_lock(p_run_id);
  v_live workflow_step_run := workflow_op_step(v_run, p_step_key, p_phase, 'skip');
  v_new workflow_step_run;
BEGIN
  IF v_live.status_id NOT IN (wf_step_failed(), wf_step_cancelled()) THEN
    RETURN v_live;
  END IF;
  IF p_output IS NOT NULL AND jsonb_typeof(p_output) <> 'object' THEN
    RAISE EXCEPTION 'output must be a JSON object (what the step''s dependents reference)' USING ERRCODE = 'PV306';
  END IF;
  INSERT INTO workflow_step_run (run_id, tenant_customer_id, phase, step_key, attempt, kind, target, status_id, provision_table,
                                 skipped_reason, output, ended_date)
  VALUES (p_run_id, v_run.tenant_customer_id, p_phase, p_step_key, v_live.attempt + 1, v_live.kind, v_live.target, wf_step_skipped(),
          v_live.provision_table, 'operator', coalesce(p_output, '{}'), now())
  RETURNING * INTO v_new;
  PERFORM workflow_count_down(v_run, p_step_key, p_phase);
  PERFORM workflow_resume_if_clear(p_run_id);
  RETURN v_new;
END
$$;
COMMENT ON FUNCTION workflow_skip_step(uuid, text, jsonb, text) IS
  'Skips a failed step of a blocked run with the operator''s output; returns the live attempt. Idempotent. Raises PV330, PV331, PV332. SECURITY DEFINER.';

-- Retry every failed step of blocked run p_run_id, in topological order, in one transaction. Returns the
-- retried step keys (empty when none was failed).
CREATE OR REPLACE FUNCTION workflow_resume(p_run_id uuid) RETURNS text[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow := workflow_op_lock(p_run_id);
  v_keys text[];
  v_phase text := CASE WHEN EXISTS (SELECT 1 FROM workflow_step_run WHERE run_id = p_run_id AND phase = 'compensate') THEN 'compensate' ELSE 'forward' END;
  k text;
BEGIN
  v_keys := ARRAY(
    SELECT s.step_key FROM workflow_live_steps(p_run_id, v_phase) s
    JOIN jsonb_array_elements(v_run.wf_definition -> 'steps') WITH ORDINALITY d(def, n) ON d.def ->> 'key' = s.step_key
    WHERE s.status_id IN (wf_step_failed(), wf_step_cancelled()) ORDER BY d.n);
  IF cardinality(v_keys) = 0 THEN RETURN v_keys; END IF;
  IF v_run.wf_status_id <> wf_run_blocked() THEN
    PERFORM workflow_op_refuse(v_run, 'resume', 'blocked');
  END IF;
  -- every new attempt first, then one dispatch: a step retried later in the loop is not yet ready when
  -- the first dispatch runs otherwise
  FOREACH k IN ARRAY v_keys LOOP
    PERFORM workflow_step_reattempt(workflow_live_step(p_run_id, k, v_phase), NULL);
  END LOOP;
  PERFORM workflow_resume_if_clear(p_run_id);
  RETURN v_keys;
END
$$;
COMMENT ON FUNCTION workflow_resume(uuid) IS 'Retries every failed step of a blocked run; returns their keys. Raises PV330, PV331. SECURITY DEFINER.';

-- A new run of failed or cancelled run p_run_id (DBOS's fork): same tenant, template version and input,
-- linked by recovered_from_id; its completed and skipped steps are copied with their outputs when it
-- starts, not executed again. Returns the new run's id; a second call returns that run while it is not
-- failed, cancelled or compensated (once it failed in turn, recover that one).
CREATE OR REPLACE FUNCTION workflow_recover(p_run_id uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow := workflow_op_lock(p_run_id);
  v_id uuid;
BEGIN
  SELECT id INTO v_id FROM provision_workflow
  WHERE recovered_from_id = p_run_id AND wf_status_id NOT IN (wf_run_failed(), wf_run_cancelled(), wf_run_compensated())
  ORDER BY created_date DESC LIMIT 1;
  IF FOUND THEN RETURN v_id; END IF;
  IF v_run.wf_status_id NOT IN (wf_run_failed(), wf_run_cancelled()) THEN
    PERFORM workflow_op_refuse(v_run, 'recover', 'failed or cancelled');
  END IF;
  INSERT INTO provision_workflow (tenant_customer_id, template_name, template_version, input, recovered_from_id)
  VALUES (v_run.tenant_customer_id, v_run.template_name, v_run.template_version, v_run.input, p_run_id)
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION workflow_recover(uuid) IS
  'Starts a new run linked to a failed or cancelled one, copying its completed steps; returns its id (the same while it is in flight). Raises PV330, PV331. SECURITY DEFINER.';

-- Undo what failed or cancelled run p_run_id did (seed 004's "cleanup failed provisioning"): the
-- declared compensations of its completed steps run in reverse dependency order; a failed compensation
-- blocks the run (retry_step and skip_step with phase compensate). Returns the run's status name; a run
-- already compensating or compensated is returned as it is.
CREATE OR REPLACE FUNCTION workflow_compensate(p_run_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow := workflow_op_lock(p_run_id);
BEGIN
  IF v_run.wf_status_id IN (wf_run_compensating(), wf_run_compensated())
     OR (v_run.wf_status_id = wf_run_blocked() AND EXISTS (SELECT 1 FROM workflow_step_run WHERE run_id = p_run_id AND phase = 'compensate')) THEN
    RETURN workflow_run_status_name(v_run.wf_status_id);
  END IF;
  IF v_run.wf_status_id NOT IN (wf_run_failed(), wf_run_cancelled()) THEN
    PERFORM workflow_op_refuse(v_run, 'compensate', 'failed or cancelled (cancel it first, with compensation)');
  END IF;
  UPDATE provision_workflow SET wf_status_id = wf_run_compensating(), wf_ended_date = NULL WHERE id = p_run_id;
  SELECT * INTO v_run FROM provision_workflow WHERE id = p_run_id;
  PERFORM workflow_compensation_plan(v_run);
  PERFORM workflow_dispatch(p_run_id);
  RETURN workflow_settle(p_run_id);
END
$$;
COMMENT ON FUNCTION workflow_compensate(uuid) IS
  'Runs the compensations of a failed or cancelled run''s completed steps in reverse order; returns its status. Idempotent. Raises PV330, PV331. SECURITY DEFINER.';

-- The reconciler (called by the worker after worker_recover; one caller at a time): repairs what should
-- never be there, and counts it (the chaos run expects zeros):
--   ready_dispatched   ready steps of running or compensating runs older than p_after that nobody dispatched;
--   settled            runs left with nothing open whose status says otherwise;
--   cancelled_jobs     queued step jobs and sub-runs in flight of cancelling runs (a sub-run locked when its
--                      parent was cancelled is cancelled here; not a bug: counted, not expected to be 0);
--   released           waiting run jobs whose run is final;
--   start_failed       pending runs whose start job failed for good (the run fails with it).
CREATE OR REPLACE FUNCTION workflow_reconcile(p_after interval DEFAULT '5 seconds')
RETURNS TABLE (ready_dispatched integer, settled integer, cancelled_jobs integer, released integer, start_failed integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow;
  v_id uuid;
  v_before text;
  v_after text;
BEGIN
  ready_dispatched := 0; settled := 0; cancelled_jobs := 0; released := 0; start_failed := 0;
  IF NOT pg_try_advisory_xact_lock(7240019003) THEN
    RETURN NEXT;
    RETURN;
  END IF;
  FOR v_id IN
    -- only runs that show a symptom: a run whose steps are simply running (a wait of 72 hours) costs nothing here
    SELECT w.id FROM provision_workflow w
    WHERE w.wf_status_id IN (wf_run_running(), wf_run_cancelling(), wf_run_compensating(), wf_run_pending())
      AND coalesce(w.updated_date, w.created_date) < now() - p_after
      AND CASE WHEN w.wf_status_id = wf_run_pending() THEN EXISTS (SELECT 1 FROM job j WHERE j.id = w.job_id AND j.status_id = job_status_failed())
               WHEN w.wf_status_id = wf_run_cancelling() THEN true
               ELSE EXISTS (SELECT 1 FROM workflow_step_run s WHERE s.run_id = w.id AND s.status_id = wf_step_ready() AND s.created_date < now() - p_after)
                    OR NOT EXISTS (SELECT 1 FROM workflow_step_run s WHERE s.run_id = w.id
                                   AND s.status_id IN (wf_step_pending(), wf_step_ready(), wf_step_running())) END
    ORDER BY w.id
    FOR UPDATE SKIP LOCKED
  LOOP
    SELECT * INTO v_run FROM provision_workflow WHERE id = v_id;
    IF v_run.wf_status_id = wf_run_pending() THEN
      IF EXISTS (SELECT 1 FROM job WHERE id = v_run.job_id AND status_id = job_status_failed()) THEN
        UPDATE provision_workflow SET wf_status_id = wf_run_failed(), wf_ended_date = now(),
          wf_error_code = coalesce((SELECT result_data ->> 'error_code' FROM job WHERE id = v_run.job_id), 'PV_WF_START')
        WHERE id = v_id;
        start_failed := start_failed + 1;
      END IF;
      CONTINUE;
    END IF;
    IF EXISTS (SELECT 1 FROM workflow_step_run WHERE run_id = v_id AND status_id = wf_step_ready() AND created_date < now() - p_after) THEN
      ready_dispatched := ready_dispatched + workflow_dispatch(v_id);
    END IF;
    IF v_run.wf_status_id = wf_run_cancelling() THEN
      cancelled_jobs := cancelled_jobs + workflow_cancel_queued(v_run)
                        + workflow_cancel_children(v_id, v_run.wf_cancel_mode = 'compensate');
    END IF;
    v_before := workflow_run_status_name(v_run.wf_status_id);
    v_after := workflow_settle(v_id);
    IF v_after <> v_before THEN settled := settled + 1; END IF;
  END LOOP;
  FOR v_id IN
    -- through job_waiting_idx and the run's primary key: a handful of waiting jobs, however many runs there were
    SELECT j.id FROM job j JOIN provision_workflow w ON w.id = j.reference_id AND w.job_id = j.id
    WHERE j.status_id = job_status_waiting() AND j.reference_table = 'provision_workflow'
      AND w.wf_status_id IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated())
  LOOP
    SELECT w.* INTO v_run FROM job j JOIN provision_workflow w ON w.id = j.reference_id WHERE j.id = v_id;
    PERFORM job_release(v_id, v_run.wf_status_id = wf_run_completed(), format('workflow %s released by the reconciler', workflow_run_status_name(v_run.wf_status_id)),
                        jsonb_build_object('workflow_status', workflow_run_status_name(v_run.wf_status_id), 'output', workflow_outputs(v_run.id)));
    released := released + 1;
  END LOOP;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION workflow_reconcile(interval) IS
  'Repairs runs with undispatched ready steps, unsettled status, queued jobs of cancelling runs, unreleased jobs, failed starts; returns the counts. Raises nothing of its own. SECURITY DEFINER.';

-- Delete runs final for longer than p_older_than, at most p_max_rows (their step rows go with them);
-- never a run another run names as recovered_from_id (the foreign key keeps it: a chain of recoveries
-- is pruned from its newest end, over several passes), nor a sub-run of a run that is not final. The steps' provisions and jobs stay (evidence). A pruned run's idempotency key is free
-- again. Returns how many runs were deleted. Owner only.
CREATE OR REPLACE FUNCTION workflow_prune(p_older_than interval DEFAULT '90 days', p_max_rows integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_n integer;
BEGIN
  WITH victims AS (
    SELECT w.id FROM provision_workflow w
    WHERE w.wf_status_id IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated())
      AND w.wf_ended_date < now() - p_older_than
      AND NOT EXISTS (SELECT 1 FROM provision_workflow l WHERE l.recovered_from_id = w.id)
      AND NOT EXISTS (SELECT 1 FROM workflow_step_run s JOIN provision_workflow p ON p.id = s.run_id
                      WHERE s.provision_id = w.id AND p.wf_status_id NOT IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated()))
    ORDER BY w.wf_ended_date LIMIT p_max_rows
  )
  DELETE FROM provision_workflow w USING victims v WHERE w.id = v.id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION workflow_prune(interval, integer) IS
  'Deletes final runs older than p_older_than (at most p_max_rows) that no live run names; returns the count. Raises nothing of its own.';
