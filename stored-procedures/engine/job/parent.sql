-- A job whose work is done by child jobs (job.parent_id): a workflow run's (docs/decisions/0008 §4).
-- The worker that started it holds it open in status "waiting" (not final; its provision shows
-- processing) instead of writing an outcome back; the database releases it when the children are done.
-- job_complete, job_fail, job_retry and job_start leave a waiting job alone (engine/job/lifecycle.sql),
-- so a stray or repeated write-back of the worker can never close it, and worker_recover never re-adds it
-- (job_open_idx holds submitted and processing jobs only).

-- Hold job p_job_id open for its children: processing -> waiting. Returns true when it is waiting now
-- (also when it already was), false when it is final.
CREATE OR REPLACE FUNCTION job_hold(p_job_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status smallint;
BEGIN
  SELECT status_id INTO v_status FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_status IN (job_status_completed(), job_status_failed()) THEN RETURN false; END IF;
  IF v_status <> job_status_waiting() THEN
    UPDATE job SET status_id = job_status_waiting(), retry_date = NULL WHERE id = p_job_id;
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION job_hold(uuid) IS
  'Marks job p_job_id waiting (held open for its child jobs); true when waiting, false when already final. Raises PV501.';

-- Release a held job: completed (p_completed) or failed, with p_result_message and p_result_data; the
-- provision, its order plan, item and order follow as for any job (engine/job/lifecycle.sql's
-- tg_job__sync_provision). A job that is not waiting (submitted or processing: its start was never
-- recorded) is released too. Returns false when the job was already final.
CREATE OR REPLACE FUNCTION job_release(p_job_id uuid, p_completed boolean, p_result_message text, p_result_data jsonb)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE job SET status_id = CASE WHEN p_completed THEN job_status_completed() ELSE job_status_failed() END,
    end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id AND status_id NOT IN (job_status_completed(), job_status_failed());
  IF FOUND THEN RETURN true; END IF;
  PERFORM job_assert_exists(p_job_id);
  RETURN false;
END
$$;
COMMENT ON FUNCTION job_release(uuid, boolean, text, jsonb) IS
  'Completes or fails a held (waiting) job with its result; false when already final. Raises PV501.';
