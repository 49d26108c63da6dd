-- Advancing a workflow run (docs/decisions/0008 §4-§5): the database does it in the transaction that
-- finishes a step, so a run can never be left between "step N done" and "step N+1 started".
--
--  * workflow_run_start(job)  the run's job, started by the worker (task workflow__start): creates the
--                             attempt-1 row of every step, holds the run's job open (job status
--                             waiting) and dispatches the steps without dependencies.
--  * _600_workflow_advance    AFTER UPDATE on job: a step's job became final -> workflow_step_finished.
--  * workflow_step_finished   records the outcome and output, counts down the dependents, applies
--                             on_failure, dispatches what became ready and settles the run.
--  * workflow_dispatch        INSERTs each ready step's provision (its own validation and job in the same
--                             transaction, inside a subtransaction: a refused INSERT fails that step
--                             with the code, not the transaction).
--  * workflow_settle          decides the run's status and releases its job when the run is done.
-- Lock order: step job -> run row (FOR UPDATE) -> run job. Everything that changes a run locks its row
-- first (workflow_run_lock), so two steps finishing at once serialise there and exactly one of them
-- sees a dependent's last dependency go (pgflow's rule).

-- The name of run status p_id.
CREATE OR REPLACE FUNCTION workflow_run_status_name(p_id smallint) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT name FROM workflow_run_status WHERE id = p_id $$;
COMMENT ON FUNCTION workflow_run_status_name(smallint) IS 'The name of workflow_run_status p_id. Raises nothing.';

-- The live (highest) attempt of every step of run p_run_id in phase p_phase (forward or compensate): what
-- the run's state is read from. (SQL, inlined into the statements that use it.)
CREATE OR REPLACE FUNCTION workflow_live_steps(p_run_id uuid, p_phase text) RETURNS SETOF workflow_step_run
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT ON (step_key) * FROM workflow_step_run WHERE run_id = p_run_id AND phase = p_phase ORDER BY step_key, attempt DESC
$$;
COMMENT ON FUNCTION workflow_live_steps(uuid, text) IS 'The live attempt of each step of a run in one phase. Raises nothing.';

-- The provision table of a step of kind p_kind with target p_target: the target itself for a provision
-- step, provision_workflow_task for a task, provision_workflow_wait for a wait.
CREATE OR REPLACE FUNCTION workflow_step_table(p_kind text, p_target text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_kind WHEN 'task' THEN 'provision_workflow_task' WHEN 'wait' THEN 'provision_workflow_wait' ELSE p_target END
$$;
COMMENT ON FUNCTION workflow_step_table(text, text) IS 'The provision table a step of this kind and target inserts into. Raises nothing.';

-- Whether SQLSTATE p_state, raised by a step's INSERT, says nothing about the step and must abort the
-- transaction (to be retried whole): serialization failure, deadlock, lock not available, query
-- cancelled, operator intervention, insufficient resources, system error, internal error. Anything else
-- (a validation code, a constraint, a privilege) is the step's failure.
CREATE OR REPLACE FUNCTION workflow_error_aborts(p_state text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_state IN ('40001', '40P01', '57014', '55P03', 'XX000') OR left(p_state, 2) IN ('53', '57', '58')
$$;
COMMENT ON FUNCTION workflow_error_aborts(text) IS 'True when SQLSTATE p_state aborts a dispatch instead of failing the step. Raises nothing.';

-- The value at reference path p_path ("input.a.b", "steps.k.output.x", "run.id") of context p_ctx, or NULL
-- when the path leads nowhere. Array elements are numbered from 0 ("input.list.0").
CREATE OR REPLACE FUNCTION workflow_ref_value(p_ctx jsonb, p_path text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_ctx #> string_to_array(p_path, '.')
$$;
COMMENT ON FUNCTION workflow_ref_value(jsonb, text) IS 'The value at reference path p_path of context p_ctx, NULL when absent. Raises nothing.';

-- p with every reference resolved against p_ctx ({"input", "steps": {key: {"output", "provision_id"}},
-- "run": {"id", "tenant_customer_id"}}): {"$ref": path} -> the value there, or its "default" when the
-- path leads nowhere or to null; {"$literal": v} -> v. unresolved lists the paths with no value and no
-- default (the step cannot be dispatched: PV340).
CREATE OR REPLACE FUNCTION workflow_resolve(p jsonb, p_ctx jsonb, OUT value jsonb, OUT unresolved text[])
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k text;
  v jsonb;
  r record;
BEGIN
  unresolved := '{}';
  IF jsonb_typeof(p) = 'object' THEN
    IF p ? '$literal' THEN
      value := p -> '$literal';
      RETURN;
    END IF;
    IF p ? '$ref' THEN
      value := workflow_ref_value(p_ctx, p ->> '$ref');
      IF (value IS NULL OR value = 'null') AND p ? 'default' THEN
        SELECT * INTO r FROM workflow_resolve(p -> 'default', p_ctx);
        value := r.value;
        unresolved := r.unresolved;
      ELSIF value IS NULL THEN
        unresolved := ARRAY[p ->> '$ref'];
      END IF;
      RETURN;
    END IF;
    value := '{}';
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(p) e LOOP
      SELECT * INTO r FROM workflow_resolve(v, p_ctx);
      value := value || jsonb_build_object(k, r.value);
      unresolved := unresolved || r.unresolved;
    END LOOP;
  ELSIF jsonb_typeof(p) = 'array' THEN
    value := '[]';
    FOR v IN SELECT e.value FROM jsonb_array_elements(p) e LOOP
      SELECT * INTO r FROM workflow_resolve(v, p_ctx);
      value := value || jsonb_build_array(r.value);
      unresolved := unresolved || r.unresolved;
    END LOOP;
  ELSE
    value := p;
  END IF;
END
$$;
COMMENT ON FUNCTION workflow_resolve(jsonb, jsonb) IS
  'Resolves the $ref and $literal objects of p against a run context; returns (value, unresolved paths). Raises nothing.';

-- Whether condition p_cond (a step's "when"; grammar in operations/workflow_template.sql) holds in p_ctx.
-- {"ref": p} alone is truthy: not absent, null, false, 0, "", [] or {}.
CREATE OR REPLACE FUNCTION workflow_when(p_cond jsonb, p_ctx jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v jsonb;
  c jsonb;
BEGIN
  IF p_cond ? 'all' THEN
    FOR c IN SELECT value FROM jsonb_array_elements(p_cond -> 'all') LOOP
      IF NOT workflow_when(c, p_ctx) THEN RETURN false; END IF;
    END LOOP;
    RETURN true;
  ELSIF p_cond ? 'any' THEN
    FOR c IN SELECT value FROM jsonb_array_elements(p_cond -> 'any') LOOP
      IF workflow_when(c, p_ctx) THEN RETURN true; END IF;
    END LOOP;
    RETURN false;
  ELSIF p_cond ? 'not' THEN
    RETURN NOT workflow_when(p_cond -> 'not', p_ctx);
  END IF;
  v := workflow_ref_value(p_ctx, p_cond ->> 'ref');
  IF p_cond ? 'exists' THEN
    RETURN (v IS NOT NULL AND v <> 'null') = (p_cond -> 'exists')::boolean;
  ELSIF p_cond ? 'eq' THEN
    RETURN coalesce(v = p_cond -> 'eq', false);
  ELSIF p_cond ? 'ne' THEN
    RETURN NOT coalesce(v = p_cond -> 'ne', false);
  ELSIF p_cond ? 'in' THEN
    RETURN v IS NOT NULL AND p_cond -> 'in' @> jsonb_build_array(v) AND EXISTS (SELECT 1 FROM jsonb_array_elements(p_cond -> 'in') e WHERE e.value = v);
  END IF;
  RETURN v IS NOT NULL AND v NOT IN ('null', 'false', '0', '""', '[]', '{}');
END
$$;
COMMENT ON FUNCTION workflow_when(jsonb, jsonb) IS 'Evaluates a step''s when condition against a run context. Raises nothing.';

-- The context references resolve against: the run's input, id and tenant, and the live attempt of every
-- forward step that completed or was skipped (its output and provision id).
CREATE OR REPLACE FUNCTION workflow_ctx(p_run provision_workflow) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'input', p_run.input,
    'run', jsonb_build_object('id', p_run.id, 'tenant_customer_id', p_run.tenant_customer_id),
    'steps', coalesce((
      SELECT jsonb_object_agg(s.step_key, jsonb_build_object('output', s.output, 'provision_id',
               CASE WHEN s.status_id = wf_step_completed() AND s.kind = 'provision' THEN to_jsonb(s.provision_id) END))
      FROM workflow_live_steps(p_run.id, 'forward') s
      WHERE s.status_id IN (wf_step_completed(), wf_step_skipped(), wf_step_compensated())), '{}'))
$$;
COMMENT ON FUNCTION workflow_ctx(provision_workflow) IS 'The reference context of run p_run: input, run, steps (completed or skipped). Raises nothing.';

-- The accumulated output of run p_run_id: {"<step key>": <output>} of every forward step whose live attempt
-- completed or was skipped (null for a skipped one, unless the operator gave one). Stored in wf_output
-- when the run's status changes; v_workflow_run shows it live.
CREATE OR REPLACE FUNCTION workflow_outputs(p_run_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_object_agg(s.step_key, s.output), '{}')
  FROM workflow_live_steps(p_run_id, 'forward') s
  WHERE s.status_id IN (wf_step_completed(), wf_step_skipped(), wf_step_compensated())
$$;
COMMENT ON FUNCTION workflow_outputs(uuid) IS 'The accumulated output of a run: {step key: output} of its done steps. Raises nothing.';

-- The compiled definition of step p_key of run p_run (its "compensate" object for the compensate phase).
CREATE OR REPLACE FUNCTION workflow_step_def(p_run provision_workflow, p_key text, p_phase text DEFAULT 'forward') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_phase = 'forward' THEN s ELSE s -> 'compensate' END
  FROM jsonb_array_elements(p_run.wf_definition -> 'steps') s WHERE s ->> 'key' = p_key
$$;
COMMENT ON FUNCTION workflow_step_def(provision_workflow, text, text) IS 'Step p_key of the run''s copied definition (or its compensation). Raises nothing.';

-- The live (highest) attempt of step p_key in phase p_phase of run p_run_id.
CREATE OR REPLACE FUNCTION workflow_live_step(p_run_id uuid, p_key text, p_phase text DEFAULT 'forward') RETURNS workflow_step_run
LANGUAGE sql STABLE AS $$
  SELECT * FROM workflow_step_run WHERE run_id = p_run_id AND phase = p_phase AND step_key = p_key ORDER BY attempt DESC LIMIT 1
$$;
COMMENT ON FUNCTION workflow_live_step(uuid, text, text) IS 'The live (highest) attempt of step p_key in phase p_phase of a run, NULL when none. Raises nothing.';

-- Lock run p_run_id (FOR UPDATE) and return it; NULL when it does not exist.
CREATE OR REPLACE FUNCTION workflow_run_lock(p_run_id uuid) RETURNS provision_workflow
LANGUAGE sql VOLATILE AS $$
  SELECT * FROM provision_workflow WHERE id = p_run_id FOR UPDATE
$$;
COMMENT ON FUNCTION workflow_run_lock(uuid) IS 'Locks and returns run p_run_id (NULL when absent). Raises nothing.';

-- A step that completed or was skipped counts as done for its dependents: each pending live row of a
-- step that depends on p_key loses one remaining dependency and becomes ready at 0 (forward phase). In the
-- compensate phase the order is reversed: a compensation done counts down the compensations of the
-- step's ancestors.
CREATE OR REPLACE FUNCTION workflow_count_down(p_run provision_workflow, p_key text, p_phase text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_next text[] := ARRAY(SELECT jsonb_array_elements_text(workflow_step_def(p_run, p_key) ->
                                                         CASE WHEN p_phase = 'forward' THEN 'dependents' ELSE 'ancestors' END));
BEGIN
  IF cardinality(v_next) = 0 THEN RETURN; END IF;
  UPDATE workflow_step_run SET remaining_deps = remaining_deps - 1,
    status_id = CASE WHEN remaining_deps = 1 THEN wf_step_ready() ELSE wf_step_pending() END
  WHERE run_id = p_run.id AND phase = p_phase AND step_key = ANY (v_next) AND status_id = wf_step_pending() AND remaining_deps > 0;
END
$$;
COMMENT ON FUNCTION workflow_count_down(provision_workflow, text, text) IS 'Counts down the dependents of a finished step (ancestors in the compensate phase). Raises nothing.';

-- Record a failed live step attempt and apply its on_failure (forward phase; a failed compensation
-- blocks the run): block -> the run waits for an operator; fail / compensate -> nothing more is
-- dispatched, the pending and ready steps are cancelled, and the run fails (or compensates) once
-- nothing runs; skip -> a new attempt, skipped, counts as done.
CREATE OR REPLACE FUNCTION workflow_step_fail(p_run provision_workflow, p_step workflow_step_run, p_code text, p_message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_on_failure text := CASE WHEN p_step.phase = 'forward' THEN workflow_step_def(p_run, p_step.step_key) ->> 'on_failure' ELSE 'block' END;
BEGIN
  UPDATE workflow_step_run SET status_id = wf_step_failed(), error_code = p_code, error_message = p_message, ended_date = now()
  WHERE id = p_step.id;
  IF p_run.wf_status_id NOT IN (wf_run_running(), wf_run_blocked(), wf_run_compensating()) THEN
    RETURN;  -- cancelling: recorded, nothing more
  END IF;
  IF v_on_failure = 'skip' THEN
    INSERT INTO workflow_step_run (run_id, tenant_customer_id, phase, step_key, attempt, kind, target, status_id, provision_table,
                                   skipped_reason, output, ended_date)
    VALUES (p_run.id, p_run.tenant_customer_id, p_step.phase, p_step.step_key, p_step.attempt + 1, p_step.kind, p_step.target,
            wf_step_skipped(), p_step.provision_table, 'on_failure', NULL, now());
    PERFORM workflow_count_down(p_run, p_step.step_key, p_step.phase);
  ELSIF v_on_failure IN ('fail', 'compensate') THEN
    UPDATE provision_workflow SET wf_error_code = coalesce(wf_error_code, p_code) WHERE id = p_run.id;
    UPDATE workflow_step_run SET status_id = wf_step_cancelled(), skipped_reason = 'on_failure', ended_date = now()
    WHERE run_id = p_run.id AND phase = 'forward' AND status_id IN (wf_step_pending(), wf_step_ready());
  ELSE
    UPDATE provision_workflow SET wf_status_id = wf_run_blocked(), wf_error_code = coalesce(wf_error_code, p_code)
    WHERE id = p_run.id AND wf_status_id <> wf_run_blocked();
  END IF;
END
$$;
COMMENT ON FUNCTION workflow_step_fail(provision_workflow, workflow_step_run, text, text) IS
  'Marks a live step attempt failed and applies its on_failure (block, fail, skip, compensate). Raises nothing of its own.';

-- INSERT the provision of step attempt p_step with params p_params (resolved); returns its job id. A
-- provision step INSERTs into its target table the keys of p_params (the columns not given keep their
-- defaults); a task step a provision_workflow_task, a wait step a provision_workflow_wait. The
-- provision's own triggers validate, claim and enqueue it. The job becomes the run job's child.
CREATE OR REPLACE FUNCTION workflow_step_insert(p_run provision_workflow, p_step workflow_step_run, p_params jsonb, p_max_attempts integer)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_cols text;
  v_job uuid;
  v_until timestamptz;
BEGIN
  IF p_step.kind = 'provision' THEN
    SELECT string_agg(quote_ident(k), ', ' ORDER BY k) INTO v_cols FROM jsonb_object_keys(p_params) k;
    EXECUTE format('INSERT INTO %1$I (id, tenant_customer_id%2$s) SELECT $1, $2%3$s FROM jsonb_populate_record(NULL::%1$I, $3) r',
                   p_step.target, CASE WHEN v_cols IS NULL THEN '' ELSE ', ' || v_cols END,
                   CASE WHEN v_cols IS NULL THEN '' ELSE ', ' || (SELECT string_agg('r.' || quote_ident(k), ', ' ORDER BY k) FROM jsonb_object_keys(p_params) k) END)
      USING p_step.provision_id, p_run.tenant_customer_id, p_params;
    EXECUTE format('SELECT job_id FROM %I WHERE id = $1', p_step.target) INTO v_job USING p_step.provision_id;
  ELSIF p_step.kind = 'task' THEN
    INSERT INTO provision_workflow_task (id, tenant_customer_id, task_name, params)
    VALUES (p_step.provision_id, p_run.tenant_customer_id, p_step.target, p_params)
    RETURNING job_id INTO v_job;
  ELSE
    -- a reference may have brought anything: a duration is a number >= 0 (hours at most 10 years), until a date-time
    IF (p_params ? 'seconds' AND NOT (jsonb_typeof(p_params -> 'seconds') = 'number' AND (p_params ->> 'seconds')::numeric BETWEEN 0 AND 315360000))
       OR (p_params ? 'hours' AND NOT (jsonb_typeof(p_params -> 'hours') = 'number' AND (p_params ->> 'hours')::numeric BETWEEN 0 AND 87600))
       OR (p_params ? 'until' AND NOT (jsonb_typeof(p_params -> 'until') = 'string' AND json_schema_format_ok('date-time', p_params ->> 'until'))) THEN
      RAISE EXCEPTION 'step "%": a wait takes seconds (0..315360000) or hours (0..87600) as a number, or until as a date-time (RFC 3339); got %',
        p_step.step_key, p_params USING ERRCODE = 'PV341';
    END IF;
    v_until := CASE
      WHEN p_params ? 'seconds' THEN now() + make_interval(secs => (p_params ->> 'seconds')::double precision)
      WHEN p_params ? 'hours' THEN now() + make_interval(secs => (p_params ->> 'hours')::double precision * 3600)
      ELSE (p_params ->> 'until')::timestamptz END;
    INSERT INTO provision_workflow_wait (id, tenant_customer_id, until)
    VALUES (p_step.provision_id, p_run.tenant_customer_id, v_until)
    RETURNING job_id INTO v_job;
  END IF;
  UPDATE job SET parent_id = p_run.job_id, max_attempts = coalesce(p_max_attempts, max_attempts) WHERE id = v_job;
  RETURN v_job;
END
$$;
COMMENT ON FUNCTION workflow_step_insert(provision_workflow, workflow_step_run, jsonb, integer) IS
  'INSERTs a step attempt''s provision and makes its job a child of the run''s job; returns the job id. Raises PV341 (a wait''s time), what the INSERT raises.';

-- Dispatch every ready step of run p_run_id in the current phase (forward while running, compensate while
-- compensating), in topological order, until none is left: a "when" that does not hold skips the step;
-- params are resolved (unresolved references fail the step, PV340); the provision is INSERTed in a
-- subtransaction. A refused INSERT (a validation code, a constraint, a privilege) fails the step with its
-- SQLSTATE and message; errors that say nothing about the step (serialization, deadlock, cancel,
-- resources, internal) abort the transaction, which is retried whole. Call with the run locked.
CREATE OR REPLACE FUNCTION workflow_dispatch(p_run_id uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_run provision_workflow;
  v_step workflow_step_run;
  v_phase text;
  v_def jsonb;
  v_ctx jsonb;
  r record;
  v_params jsonb;
  v_job uuid;
  v_state text;
  v_msg text;
  v_n integer := 0;
BEGIN
  LOOP
    SELECT * INTO v_run FROM provision_workflow WHERE id = p_run_id;
    IF v_run.wf_status_id = wf_run_running() AND v_run.wf_error_code IS NULL THEN
      v_phase := 'forward';
    ELSIF v_run.wf_status_id = wf_run_compensating() THEN
      v_phase := 'compensate';
    ELSE
      RETURN v_n;
    END IF;
    SELECT s.* INTO v_step FROM workflow_step_run s
    JOIN jsonb_array_elements(v_run.wf_definition -> 'steps') WITH ORDINALITY d(def, n) ON d.def ->> 'key' = s.step_key
    WHERE s.run_id = p_run_id AND s.phase = v_phase AND s.status_id = wf_step_ready()
    ORDER BY CASE WHEN v_phase = 'forward' THEN d.n ELSE -d.n END, s.attempt
    LIMIT 1;
    IF NOT FOUND THEN RETURN v_n; END IF;
    v_n := v_n + 1;
    v_def := workflow_step_def(v_run, v_step.step_key, v_phase);
    v_ctx := workflow_ctx(v_run);
    IF v_phase = 'forward' AND v_def ? 'when' AND NOT workflow_when(v_def -> 'when', v_ctx) THEN
      UPDATE workflow_step_run SET status_id = wf_step_skipped(), skipped_reason = 'when', ended_date = now() WHERE id = v_step.id;
      PERFORM workflow_count_down(v_run, v_step.step_key, v_phase);
      CONTINUE;
    END IF;
    -- an operator's override replaces top-level params, also those whose references have no value
    SELECT * INTO r FROM workflow_resolve(coalesce(v_def -> 'params', '{}') - ARRAY(SELECT jsonb_object_keys(coalesce(v_step.params_override, '{}'))), v_ctx);
    v_params := r.value || coalesce(v_step.params_override, '{}');
    IF cardinality(r.unresolved) > 0 THEN
      UPDATE workflow_step_run SET params = v_params WHERE id = v_step.id;
      PERFORM workflow_step_fail(v_run, v_step, 'PV340',
        format('step "%s": no value for %s (and no default)', v_step.step_key, array_to_string(ARRAY(SELECT DISTINCT u FROM unnest(r.unresolved) u ORDER BY 1), ', ')));
      CONTINUE;
    END IF;
    BEGIN
      v_job := workflow_step_insert(v_run, v_step, v_params, (v_def -> 'retry' ->> 'max_attempts')::integer);
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
      IF workflow_error_aborts(v_state) THEN
        RAISE;
      END IF;
      UPDATE workflow_step_run SET params = v_params WHERE id = v_step.id;
      PERFORM workflow_step_fail(v_run, v_step, v_state, v_msg);
      CONTINUE;
    END;
    UPDATE workflow_step_run SET status_id = wf_step_running(), params = v_params, job_id = v_job, started_date = now()
    WHERE id = v_step.id;
  END LOOP;
END
$$;
COMMENT ON FUNCTION workflow_dispatch(uuid) IS
  'INSERTs the provisions of the ready steps of a locked run (skipping those whose when is false); returns how many steps it handled. '
  'Raises only what aborts the transaction (40001, 40P01, 55P03, 57xxx, 53xxx, 58xxx, XX000).';

-- Cancel the queued step jobs of run p_run (cancelling): each submitted job (waiting for a worker, a
-- retry or a wait's time) that nobody holds is removed from graphile-worker and failed with
-- PV_WF_CANCELLED, its step recorded cancelled. A job being started or finished right now is skipped: it
-- finishes and is recorded. Returns how many were cancelled.
CREATE OR REPLACE FUNCTION workflow_cancel_queued(p_run provision_workflow) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_job uuid;
  v_n integer := 0;
BEGIN
  FOR v_job IN
    SELECT j.id FROM job j JOIN workflow_step_run s ON s.job_id = j.id
    WHERE s.run_id = p_run.id AND s.status_id = wf_step_running() AND j.status_id = job_status_submitted()
      -- a sub-run's job is its run's: workflow_cancel_children cancels it, locking the child run first
      AND s.target IS DISTINCT FROM 'provision_workflow'
    ORDER BY j.id FOR UPDATE OF j SKIP LOCKED
  LOOP
    UPDATE workflow_step_run SET status_id = wf_step_cancelled(), skipped_reason = 'cancelled', ended_date = now() WHERE job_id = v_job;
    PERFORM graphile_worker.remove_job(v_job::text);
    PERFORM job_fail(v_job, 'cancelled with its workflow run', jsonb_build_object('error_code', 'PV_WF_CANCELLED', 'error', 'cancelled with its workflow run'));
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION workflow_cancel_queued(provision_workflow) IS 'Removes and fails the queued step jobs of a cancelling run; returns the count. Raises nothing of its own.';

-- Create the compensation rows of run p_run: one per forward step whose live attempt completed and
-- that declares a "compensate", each waiting for the compensations of the step's descendants (reverse
-- dependency order). Returns how many.
CREATE OR REPLACE FUNCTION workflow_compensation_plan(p_run provision_workflow) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_n integer;
BEGIN
  WITH done AS (
    SELECT s.step_key, d.def FROM workflow_live_steps(p_run.id, 'forward') s
    JOIN jsonb_array_elements(p_run.wf_definition -> 'steps') d(def) ON d.def ->> 'key' = s.step_key
    WHERE s.status_id = wf_step_completed() AND d.def ? 'compensate'
  )
  INSERT INTO workflow_step_run (run_id, tenant_customer_id, phase, step_key, attempt, kind, target, status_id, remaining_deps, provision_table)
  SELECT p_run.id, p_run.tenant_customer_id, 'compensate', a.step_key, 1, a.def -> 'compensate' ->> 'kind', a.def -> 'compensate' ->> 'target',
         CASE WHEN n.c = 0 THEN wf_step_ready() ELSE wf_step_pending() END, n.c,
         workflow_step_table(a.def -> 'compensate' ->> 'kind', a.def -> 'compensate' ->> 'target')
  FROM done a
  CROSS JOIN LATERAL (SELECT count(*)::integer AS c FROM done b WHERE b.def -> 'ancestors' ? a.step_key) n
  ON CONFLICT (run_id, phase, step_key, attempt) DO NOTHING;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION workflow_compensation_plan(provision_workflow) IS 'Creates the compensation rows of a run''s completed steps; returns how many. Raises nothing of its own.';

-- Decide run p_run_id's status from its steps (call with the run locked) and release its job when the
-- run is done:
--   running:      a failed step that blocks -> blocked; a failed step that fails the run, once nothing
--                 runs -> failed (or compensating when its on_failure is compensate); every step
--                 completed or skipped -> completed (job completed, output = the definition's output);
--   cancelling:   queued step jobs cancelled; once nothing runs -> cancelled (final) or compensating;
--   compensating: once no compensation is open -> blocked when one failed, else compensated (final).
-- Returns the run's status name.
CREATE OR REPLACE FUNCTION workflow_settle(p_run_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_run provision_workflow;
  v_open integer;
  v_running integer;
  v_failed integer;
  v_failed_mode text;
  v_cancelled integer;
  v_new smallint;
  v_output jsonb;
  r record;
BEGIN
  SELECT * INTO v_run FROM provision_workflow WHERE id = p_run_id;
  IF v_run.wf_status_id = wf_run_cancelling() THEN
    PERFORM workflow_cancel_queued(v_run);
  END IF;
  WITH live AS (SELECT DISTINCT ON (phase, step_key) * FROM workflow_step_run WHERE run_id = p_run_id ORDER BY phase, step_key, attempt DESC)
  SELECT count(*) FILTER (WHERE status_id IN (wf_step_pending(), wf_step_ready(), wf_step_running())
                            AND phase = CASE WHEN v_run.wf_status_id = wf_run_compensating() THEN 'compensate' ELSE 'forward' END),
         count(*) FILTER (WHERE status_id = wf_step_running()),
         count(*) FILTER (WHERE status_id = wf_step_failed()
                            AND phase = CASE WHEN v_run.wf_status_id = wf_run_compensating() THEN 'compensate' ELSE 'forward' END),
         count(*) FILTER (WHERE status_id = wf_step_cancelled() AND phase = 'forward')
    INTO v_open, v_running, v_failed, v_cancelled FROM live;

  IF v_run.wf_status_id = wf_run_running() THEN
    IF v_failed > 0 THEN
      SELECT workflow_step_def(v_run, s.step_key) ->> 'on_failure' INTO v_failed_mode
      FROM workflow_live_steps(p_run_id, 'forward') s
      WHERE s.status_id = wf_step_failed()
      ORDER BY (workflow_step_def(v_run, s.step_key) ->> 'on_failure') = 'block' DESC, s.ended_date LIMIT 1;
      IF v_failed_mode = 'block' THEN
        v_new := wf_run_blocked();
      ELSIF v_running = 0 THEN
        v_new := CASE WHEN v_failed_mode = 'compensate' THEN wf_run_compensating() ELSE wf_run_failed() END;
      END IF;
    ELSIF v_open = 0 AND v_cancelled = 0 THEN
      v_new := wf_run_completed();
    ELSIF v_open = 0 THEN
      -- a step's job was cancelled from outside the run (its job failed with PV_WF_CANCELLED): not completed
      UPDATE provision_workflow SET wf_error_code = coalesce(wf_error_code, 'PV_WF_CANCELLED') WHERE id = p_run_id;
      v_new := wf_run_failed();
    END IF;
  ELSIF v_run.wf_status_id = wf_run_cancelling() AND v_running = 0 THEN
    v_new := CASE WHEN v_run.wf_cancel_mode = 'compensate' THEN wf_run_compensating() ELSE wf_run_cancelled() END;
  ELSIF v_run.wf_status_id = wf_run_compensating() AND v_open = 0 THEN
    v_new := CASE WHEN v_failed > 0 THEN wf_run_blocked() ELSE wf_run_compensated() END;
  END IF;
  IF v_new IS NULL OR v_new = v_run.wf_status_id THEN
    RETURN workflow_run_status_name(v_run.wf_status_id);
  END IF;

  UPDATE provision_workflow SET wf_status_id = v_new, wf_output = workflow_outputs(p_run_id),
    wf_ended_date = CASE WHEN v_new IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated()) THEN now() END
  WHERE id = p_run_id
  RETURNING * INTO v_run;
  IF v_new IN (wf_run_failed(), wf_run_cancelled(), wf_run_compensated()) THEN
    -- what will never run now (a retried step of a run that fails anyway) is cancelled, not left ready
    UPDATE workflow_step_run SET status_id = wf_step_cancelled(), skipped_reason = 'cancelled', ended_date = now()
    WHERE run_id = p_run_id AND status_id IN (wf_step_pending(), wf_step_ready());
  END IF;
  IF v_new = wf_run_completed() THEN
    v_output := v_run.wf_output;
    IF v_run.wf_definition -> 'output' <> '{}' THEN
      SELECT * INTO r FROM workflow_resolve(v_run.wf_definition -> 'output', workflow_ctx(v_run));
      v_output := r.value;
    END IF;
    PERFORM job_release(v_run.job_id, true, format('workflow %s v%s completed', v_run.template_name, v_run.template_version),
                        jsonb_build_object('workflow_status', 'completed', 'output', v_output));
  ELSIF v_new IN (wf_run_failed(), wf_run_cancelled(), wf_run_compensated()) THEN
    PERFORM job_release(v_run.job_id, false,
      format('workflow %s v%s %s%s', v_run.template_name, v_run.template_version, workflow_run_status_name(v_new),
             CASE WHEN v_run.wf_error_code IS NOT NULL THEN ' (' || v_run.wf_error_code || ')' ELSE '' END),
      jsonb_build_object('workflow_status', workflow_run_status_name(v_new),
                         'error_code', coalesce(v_run.wf_error_code, CASE WHEN v_new = wf_run_cancelled() THEN 'PV_WF_CANCELLED' END)));
  ELSIF v_new = wf_run_compensating() THEN
    PERFORM workflow_compensation_plan(v_run);
    PERFORM workflow_dispatch(p_run_id);
    RETURN workflow_settle(p_run_id);
  END IF;
  RETURN workflow_run_status_name(v_new);
END
$$;
COMMENT ON FUNCTION workflow_settle(uuid) IS
  'Sets a locked run''s status from its steps (blocked, failed, completed, cancelled, compensating, compensated) and releases its job when done; returns the status. Raises nothing of its own.';

-- Start run of job p_job_id (the worker's workflow__start, at least once): create the step rows (a
-- recovered run's completed and skipped steps are copied with their outputs, not run again), hold the
-- job open, dispatch the first steps. Returns the run's status name; a run that is not pending (a
-- repeated delivery, a cancelled run) is returned as it is. SECURITY DEFINER: the worker inserts the
-- steps' provisions through it.
CREATE OR REPLACE FUNCTION workflow_run_start(p_job_id uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_run provision_workflow;
  v_depth integer;
  v_parent uuid;
BEGIN
  v_run := workflow_run_lock((SELECT reference_id FROM job WHERE id = p_job_id AND reference_table = 'provision_workflow'));
  IF v_run.id IS NULL THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_run.wf_status_id <> wf_run_pending() OR v_run.job_id <> p_job_id THEN
    RETURN workflow_run_status_name(v_run.wf_status_id);
  END IF;
  IF NOT job_hold(p_job_id) THEN
    RETURN workflow_run_status_name(v_run.wf_status_id);
  END IF;
  UPDATE provision_workflow SET wf_status_id = wf_run_running(), wf_started_date = now() WHERE id = v_run.id;
  v_run.wf_status_id := wf_run_running();

  -- a run started by another run's step (a sub-run) counts its ancestors: a template that starts itself
  -- would otherwise run for ever
  v_depth := 0;
  v_parent := (SELECT parent_id FROM job WHERE id = p_job_id);
  WHILE v_parent IS NOT NULL AND v_depth <= 5 LOOP
    v_depth := v_depth + 1;
    v_parent := (SELECT parent_id FROM job WHERE id = v_parent);
  END LOOP;
  IF v_depth > 4 THEN
    UPDATE provision_workflow SET wf_error_code = 'PV326' WHERE id = v_run.id;
    UPDATE provision_workflow SET wf_status_id = wf_run_failed(), wf_ended_date = now() WHERE id = v_run.id;
    PERFORM job_release(p_job_id, false, 'workflow runs are nested more than 4 deep (a template that starts itself?)',
                        jsonb_build_object('workflow_status', 'failed', 'error_code', 'PV326'));
    RETURN 'failed';
  END IF;

  INSERT INTO workflow_step_run (run_id, tenant_customer_id, phase, step_key, attempt, kind, target, status_id, remaining_deps, provision_table)
  SELECT v_run.id, v_run.tenant_customer_id, 'forward', s ->> 'key', 1, s ->> 'kind', s ->> 'target',
         CASE WHEN jsonb_array_length(s -> 'deps') = 0 THEN wf_step_ready() ELSE wf_step_pending() END,
         jsonb_array_length(s -> 'deps'),
         workflow_step_table(s ->> 'kind', s ->> 'target')
  FROM jsonb_array_elements(v_run.wf_definition -> 'steps') s
  ON CONFLICT (run_id, phase, step_key, attempt) DO NOTHING;

  IF v_run.recovered_from_id IS NOT NULL THEN
    -- the recovered run's completed and skipped steps: their outputs copied, counted as done
    UPDATE workflow_step_run n SET status_id = o.status_id, output = o.output, params = o.params, provision_id = o.provision_id,
      job_id = NULL, skipped_reason = o.skipped_reason, copied_from_id = o.id, remaining_deps = 0, ended_date = now()
    FROM workflow_live_steps(v_run.recovered_from_id, 'forward') o
    WHERE n.run_id = v_run.id AND n.phase = 'forward' AND n.step_key = o.step_key AND o.status_id IN (wf_step_completed(), wf_step_skipped());
    UPDATE workflow_step_run n SET remaining_deps = c.left_deps,
      status_id = CASE WHEN c.left_deps = 0 THEN wf_step_ready() ELSE wf_step_pending() END
    FROM (SELECT s ->> 'key' AS k, (SELECT count(*)::integer FROM jsonb_array_elements_text(s -> 'deps') d
                                     WHERE NOT EXISTS (SELECT 1 FROM workflow_step_run x WHERE x.run_id = v_run.id AND x.phase = 'forward'
                                                       AND x.step_key = d AND x.copied_from_id IS NOT NULL)) AS left_deps
          FROM jsonb_array_elements(v_run.wf_definition -> 'steps') s) c
    WHERE n.run_id = v_run.id AND n.phase = 'forward' AND n.step_key = c.k AND n.copied_from_id IS NULL;
  END IF;

  PERFORM workflow_dispatch(v_run.id);
  RETURN workflow_settle(v_run.id);
END
$$;
COMMENT ON FUNCTION workflow_run_start(uuid) IS
  'Starts the run of job p_job_id: step rows, job held (waiting), first steps dispatched; returns the run status. Idempotent. Raises PV501. SECURITY DEFINER.';

-- Record the end of step attempt p_step_id (its job became final) and advance its run: see the file
-- head. A run already final records the outcome and nothing else (a late completion never revives or
-- completes a cancelled run).
CREATE OR REPLACE FUNCTION workflow_step_finished(p_step_id uuid, p_success boolean, p_result_data jsonb, p_message text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_run provision_workflow;
  v_step workflow_step_run;
  v_out jsonb;
  v_code text;
BEGIN
  v_run := workflow_run_lock((SELECT run_id FROM workflow_step_run WHERE id = p_step_id));
  SELECT * INTO v_step FROM workflow_step_run WHERE id = p_step_id FOR UPDATE;
  IF v_step.status_id <> wf_step_running() THEN
    RETURN;  -- recorded already (cancelled by workflow_cancel_queued)
  END IF;
  IF p_success THEN
    v_out := CASE WHEN v_step.target = 'provision_workflow' THEN p_result_data -> 'output' ELSE p_result_data END;
    v_out := coalesce(v_out, '{}');
    UPDATE workflow_step_run SET status_id = wf_step_completed(), output = v_out, ended_date = now() WHERE id = v_step.id;
    IF v_step.phase = 'compensate' THEN
      -- the step it undid
      UPDATE workflow_step_run SET status_id = wf_step_compensated()
      WHERE id = (workflow_live_step(v_run.id, v_step.step_key, 'forward')).id AND status_id = wf_step_completed();
    END IF;
    IF v_run.wf_status_id IN (wf_run_running(), wf_run_blocked(), wf_run_compensating(), wf_run_cancelling()) THEN
      PERFORM workflow_count_down(v_run, v_step.step_key, v_step.phase);
    END IF;
  ELSE
    v_code := coalesce(p_result_data ->> 'error_code', 'PV_WF_STEP_FAILED');
    -- cancelled with its run: recorded cancelled. A step job cancelled from outside a run that goes on (an
    -- operator cancelling a sub-run by itself) is a failure of the step: its on_failure applies
    IF v_code = 'PV_WF_CANCELLED' AND v_run.wf_status_id NOT IN (wf_run_running(), wf_run_blocked(), wf_run_compensating()) THEN
      UPDATE workflow_step_run SET status_id = wf_step_cancelled(), error_code = v_code, error_message = p_message, ended_date = now()
      WHERE id = v_step.id;
    ELSE
      PERFORM workflow_step_fail(v_run, v_step, v_code, coalesce(p_result_data ->> 'error', p_message));
    END IF;
  END IF;
  IF v_run.wf_status_id IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated()) THEN
    RETURN;
  END IF;
  PERFORM workflow_dispatch(v_run.id);
  PERFORM workflow_settle(v_run.id);
END
$$;
COMMENT ON FUNCTION workflow_step_finished(uuid, boolean, jsonb, text) IS
  'Records a step attempt''s outcome and advances its run (count down, on_failure, dispatch, settle). Raises only what aborts the transaction.';

-- _600_workflow_advance: AFTER UPDATE OF status_id ON job, for child jobs only (the WHEN holds no
-- function call: a job without a parent never calls this function). Fires after _500_sync_provision
-- (name order), so the step's provision and its family's side effects (inventory) are written when the
-- next step's validation runs.
CREATE OR REPLACE FUNCTION tg_job__workflow_advance() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_step uuid;
BEGIN
  IF NEW.status_id NOT IN (job_status_completed(), job_status_failed()) THEN
    RETURN NULL;
  END IF;
  SELECT id INTO v_step FROM workflow_step_run WHERE job_id = NEW.id;
  IF FOUND THEN
    PERFORM workflow_step_finished(v_step, NEW.status_id = job_status_completed(), NEW.result_data, NEW.result_message);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_job__workflow_advance() IS
  'AFTER UPDATE OF status_id on a child job (_600_workflow_advance): a final step job advances its workflow run. Raises only what aborts the transaction.';
CREATE OR REPLACE TRIGGER _600_workflow_advance AFTER UPDATE OF status_id ON job
  FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL AND OLD.status_id IS DISTINCT FROM NEW.status_id)
  EXECUTE FUNCTION tg_job__workflow_advance();

-- _905_workflow_status: AFTER UPDATE OF wf_status_id on provision_workflow: the event workflow.status
-- through the outbox (while the run's row is locked: events of one run stay in order) and a NOTIFY on
-- channel provisio_workflow_status with the run id (`provisio progress show --follow` listens).
CREATE OR REPLACE FUNCTION tg_provision_workflow__status() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_event bigint;
  v_status text;
BEGIN
  IF OLD.wf_status_id IS NOT DISTINCT FROM NEW.wf_status_id THEN RETURN NULL; END IF;
  v_status := workflow_run_status_name(NEW.wf_status_id);
  v_event := event_emit(NEW.tenant_customer_id, 'workflow.status', 'provision_workflow', NEW.id,
    jsonb_build_object('run_id', NEW.id, 'template_name', NEW.template_name, 'template_version', NEW.template_version,
                       'status', v_status, 'previous_status', workflow_run_status_name(OLD.wf_status_id),
                       'error_code', NEW.wf_error_code));
  PERFORM pg_notify('provisio_workflow_status', NEW.id::text);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_provision_workflow__status() IS
  'AFTER UPDATE OF wf_status_id on provision_workflow (_905_workflow_status): event workflow.status and NOTIFY provisio_workflow_status. Raises nothing of its own.';
CREATE OR REPLACE TRIGGER _905_workflow_status AFTER UPDATE OF wf_status_id ON provision_workflow
  FOR EACH ROW EXECUTE FUNCTION tg_provision_workflow__status();
