-- What every job function shares: the graphile-worker job spec of a provisio job, and the "job does not
-- exist" error (PV501, docs/errors.md).

-- The graphile-worker job that runs provisio job p_job_id: task p_task_identifier (job_type.task_identifier),
-- payload {"job_id"}, the default queue (none: jobs run in parallel), p_run_at (NULL: now), p_max_attempts
-- (job_type.max_attempts) and job_key = the job id, so that adding a job again replaces its queue entry
-- instead of duplicating it, and provisio_start_attempt (engine/job/start_in_get_job.sql) recognises it.
-- Every provisio job reaches graphile-worker as graphile_worker.add_jobs(<specs built here>): job_submit,
-- job_enqueue, job_retry and worker_recover. add_jobs with job_key_preserve_run_at false is what add_job
-- does in its default job_key_mode ('replace').
-- (SQL with no FROM clause: inlined into the statement that calls it.)
CREATE OR REPLACE FUNCTION job_spec(p_job_id uuid, p_task_identifier text, p_max_attempts integer, p_run_at timestamptz DEFAULT NULL)
RETURNS graphile_worker.job_spec
LANGUAGE sql STABLE AS $$
  SELECT ROW(p_task_identifier, json_build_object('job_id', p_job_id), NULL, p_run_at, p_max_attempts, p_job_id::text, NULL, NULL)::graphile_worker.job_spec
$$;
COMMENT ON FUNCTION job_spec(uuid, text, integer, timestamptz) IS
  'The graphile_worker.job_spec of provisio job p_job_id: task, payload {"job_id"}, run_at, max_attempts, job_key = job id. Raises nothing.';

-- Raises PV501 naming job p_job_id: the one "job does not exist" error of the job functions.
CREATE OR REPLACE FUNCTION job_raise_not_found(p_job_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
END
$$;
COMMENT ON FUNCTION job_raise_not_found(uuid) IS 'Raises PV501: job p_job_id does not exist.';

-- Raises PV501 when no job has this id.
CREATE OR REPLACE FUNCTION job_assert_exists(p_job_id uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM job WHERE id = p_job_id) THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
END
$$;
COMMENT ON FUNCTION job_assert_exists(uuid) IS 'Raises PV501 when job p_job_id does not exist.';

-- result_message of a job failed because its attempts ran out.
CREATE OR REPLACE FUNCTION job_exhausted_message(p_attempts integer, p_max_attempts integer, p_last_error text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('attempts exhausted (%s of %s); last error: %s', p_attempts, p_max_attempts, p_last_error)
$$;
COMMENT ON FUNCTION job_exhausted_message(integer, integer, text) IS 'The "attempts exhausted" result_message. Raises nothing.';
