-- Start the attempt inside graphile-worker's get_job (docs/decisions/0004-start-in-get-job.md). When
-- graphile-worker locks one of provisio's jobs (payload {"job_id"} with job_key = that job id; see
-- job_submit), this BEFORE UPDATE trigger on its job table runs job_start() in the same statement and
-- hands the result to the task in the payload get_job returns:
--   {"job_id", "started": true, "job": <the job row, processing, attempts counted>}
--   {"job_id", "started": false}   the job is final, or its attempts ran out (job_start failed it)
-- so the worker makes no job_start round trip of its own. Any error is caught (the payload is left as it
-- was, and job_start's changes are rolled back with the block's subtransaction): the task then calls
-- job_start() itself, where the error surfaces and graphile-worker retries that one job (not every get_job fails).
-- graphile-worker 0.17's _private_jobs is not its public API; migrate fails loudly if it changes.
CREATE OR REPLACE FUNCTION tg_graphile_job__start_attempt() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_job job;
BEGIN
  IF (NEW.payload ->> 'job_id') IS DISTINCT FROM NEW.key THEN RETURN NEW; END IF;
  BEGIN
    SELECT * INTO v_job FROM job_start(NEW.key::uuid);
    NEW.payload := json_build_object('job_id', NEW.key, 'started', v_job.id IS NOT NULL,
                                     'job', CASE WHEN v_job.id IS NOT NULL THEN to_json(v_job) END);
  EXCEPTION WHEN OTHERS THEN
    NULL;  -- payload unchanged: the worker runs job_start() and reports the error there
  END;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_graphile_job__start_attempt() IS
  'BEFORE UPDATE OF locked_by on graphile_worker._private_jobs (provisio_start_attempt): runs job_start() for a '
  'provisio job that get_job is locking and puts the outcome in its payload. Raises nothing.';

-- only when a job is being locked (get_job), and only jobs with a job_key (every provisio job has one)
CREATE OR REPLACE TRIGGER provisio_start_attempt BEFORE UPDATE OF locked_by ON graphile_worker._private_jobs
  FOR EACH ROW WHEN (OLD.locked_by IS NULL AND NEW.locked_by IS NOT NULL AND NEW.key IS NOT NULL)
  EXECUTE FUNCTION tg_graphile_job__start_attempt();
