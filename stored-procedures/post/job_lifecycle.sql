-- The worker's write-back path. Each function locks the job row, does nothing when the job is already
-- final (delivery is at-least-once; the outcome must be effectively-once), and updates it. The job's
-- status is mirrored onto its provision row by tg_job__sync_provision, whose own triggers then complete
-- the provision (post/<table>.sql) and roll up the order (order/).

-- Start an attempt: returns the job row marked processing with attempts + 1, or NULL when there is
-- nothing to do (job already final, or its attempts were exhausted by crashed runs: then it is failed).
CREATE OR REPLACE FUNCTION job_start(p_job_id uuid) RETURNS SETOF job
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_job job;
BEGIN
  SELECT * INTO v_job FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
  END IF;
  IF v_job.status_id IN (3, 4) THEN
    RETURN;
  END IF;
  IF v_job.attempts >= v_job.max_attempts THEN
    UPDATE job SET status_id = 4, end_date = now(),
      result_message = format('attempts exhausted (%s of %s); last error: %s', v_job.attempts, v_job.max_attempts,
                              coalesce(v_job.result_message, 'the worker stopped during the attempt'))
    WHERE id = p_job_id;
    RETURN;
  END IF;
  RETURN QUERY
  UPDATE job SET status_id = 2, attempts = attempts + 1, start_date = now(), retry_date = NULL
  WHERE id = p_job_id RETURNING *;
END
$$;
COMMENT ON FUNCTION job_start(uuid) IS
  'Locks the job, marks it processing and counts the attempt; returns no row when the job is final or exhausted. Raises PV501.';

-- Complete a job with the outcome (result_data: the connector's result as JSON). Returns false when the
-- job was already final (nothing changed).
CREATE OR REPLACE FUNCTION job_complete(p_job_id uuid, p_result_data jsonb, p_result_message text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status smallint;
BEGIN
  SELECT status_id INTO v_status FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
  END IF;
  IF v_status IN (3, 4) THEN RETURN false; END IF;
  UPDATE job SET status_id = 3, end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION job_complete(uuid, jsonb, text) IS 'Marks the job (and so its provision) completed. Returns false if already final. Raises PV501.';

-- Fail a job for good. Returns false when the job was already final.
CREATE OR REPLACE FUNCTION job_fail(p_job_id uuid, p_result_message text, p_result_data jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status smallint;
BEGIN
  SELECT status_id INTO v_status FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
  END IF;
  IF v_status IN (3, 4) THEN RETURN false; END IF;
  UPDATE job SET status_id = 4, end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION job_fail(uuid, text, jsonb) IS 'Marks the job (and so its provision) failed. Returns false if already final. Raises PV501.';

-- A transient failure: schedule the next attempt with the job type's backoff
-- (retry_backoff_seconds * 2^(attempts-1), capped at retry_backoff_max_seconds) by re-adding the job to
-- graphile-worker under the same job_key, or fail the job when max_attempts is reached.
-- Returns the time of the next attempt, or NULL when the job was failed (or was already final).
CREATE OR REPLACE FUNCTION job_retry(p_job_id uuid, p_result_message text, p_result_data jsonb DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_job job;
  v_type job_type;
  v_run_at timestamptz;
BEGIN
  SELECT * INTO v_job FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
  END IF;
  IF v_job.status_id IN (3, 4) THEN RETURN NULL; END IF;
  IF v_job.attempts >= v_job.max_attempts THEN
    UPDATE job SET status_id = 4, end_date = now(), result_data = p_result_data,
      result_message = format('attempts exhausted (%s of %s); last error: %s', v_job.attempts, v_job.max_attempts, p_result_message)
    WHERE id = p_job_id;
    RETURN NULL;
  END IF;
  SELECT * INTO v_type FROM job_type WHERE id = v_job.type_id;
  v_run_at := now() + make_interval(secs => least(v_type.retry_backoff_max_seconds,
                                                 v_type.retry_backoff_seconds * power(2, greatest(v_job.attempts - 1, 0)))::double precision);
  UPDATE job SET status_id = 1, retry_date = v_run_at, result_message = p_result_message, result_data = p_result_data
  WHERE id = p_job_id;
  PERFORM graphile_worker.add_job(
    identifier   => v_type.task_identifier,
    payload      => json_build_object('job_id', p_job_id),
    run_at       => v_run_at,
    max_attempts => v_type.max_attempts,
    job_key      => p_job_id::text);
  RETURN v_run_at;
END
$$;
COMMENT ON FUNCTION job_retry(uuid, text, jsonb) IS
  'Schedules the next attempt after a transient failure (backoff in seconds from job_type) or fails the job when '
  'attempts are exhausted. Returns the next run time or NULL. Raises PV501.';

-- Mirror the job's state onto its provision row (UPDATE through class.provision reaches every child table
-- and fires that child's triggers).
CREATE OR REPLACE FUNCTION tg_job__sync_provision() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE class.provision p SET
    status_id         = CASE NEW.status_id WHEN 1 THEN CASE WHEN NEW.attempts > 0 THEN 2 ELSE 1 END ELSE NEW.status_id END,
    attempt_count     = NEW.attempts,
    last_attempt_date = NEW.start_date,
    result_message    = NEW.result_message,
    result_data       = NEW.result_data,
    roid              = coalesce(NEW.result_data ->> 'roid', p.roid),
    provisioned_date  = CASE WHEN NEW.status_id = 3 THEN NEW.end_date ELSE p.provisioned_date END
  WHERE p.id = NEW.reference_id;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_job__sync_provision() IS 'AFTER UPDATE on job: mirrors status, attempts and result onto the provision row. Raises nothing of its own.';

CREATE OR REPLACE TRIGGER _500_sync_provision AFTER UPDATE ON job
  FOR EACH ROW
  WHEN (OLD.status_id IS DISTINCT FROM NEW.status_id OR OLD.attempts IS DISTINCT FROM NEW.attempts
        OR OLD.result_message IS DISTINCT FROM NEW.result_message)
  EXECUTE FUNCTION tg_job__sync_provision();
