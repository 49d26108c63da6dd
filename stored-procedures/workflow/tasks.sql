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
