-- The worker's write-back path. Each function locks the job row, does nothing when the job is already
-- final (delivery is at-least-once; the outcome must be effectively-once), and updates it. The job's
-- status is mirrored onto its provision row by tg_job__sync_provision, whose own triggers then complete
-- the provision (post/<table>.sql) and roll up the order (order/).

-- Raises PV501 when no job has this id.
CREATE OR REPLACE FUNCTION job_assert_exists(p_job_id uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM job WHERE id = p_job_id) THEN
    RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
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

-- Start an attempt: returns the job row marked processing with attempts + 1, or NULL when there is
-- nothing to do (job already final, or its attempts were exhausted by crashed runs: then it is failed).
CREATE OR REPLACE FUNCTION job_start(p_job_id uuid) RETURNS SETOF job
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_job job;
BEGIN
  -- the usual case in one statement (the UPDATE locks the row and re-checks the condition)
  RETURN QUERY
  UPDATE job SET status_id = 2, attempts = attempts + 1, start_date = now(), retry_date = NULL
  WHERE id = p_job_id AND status_id IN (1, 2) AND attempts < max_attempts RETURNING *;
  IF FOUND THEN RETURN; END IF;

  SELECT * INTO v_job FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job % does not exist', p_job_id USING ERRCODE = 'PV501';
  END IF;
  IF v_job.status_id NOT IN (3, 4) THEN
    -- attempts exhausted by runs that never wrote an outcome (crashed workers)
    UPDATE job SET status_id = 4, end_date = now(),
      result_message = job_exhausted_message(v_job.attempts, v_job.max_attempts,
                                             coalesce(v_job.result_message, 'the worker stopped during the attempt'))
    WHERE id = p_job_id;
  END IF;
END
$$;
COMMENT ON FUNCTION job_start(uuid) IS
  'Locks the job, marks it processing and counts the attempt; returns no row when the job is final or exhausted. Raises PV501.';

-- Complete a job with the outcome (result_data: the connector's result as JSON). Returns false when the
-- job was already final (nothing changed).
CREATE OR REPLACE FUNCTION job_complete(p_job_id uuid, p_result_data jsonb, p_result_message text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE job SET status_id = 3, end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id AND status_id NOT IN (3, 4);
  IF FOUND THEN RETURN true; END IF;
  PERFORM job_assert_exists(p_job_id);
  RETURN false;
END
$$;
COMMENT ON FUNCTION job_complete(uuid, jsonb, text) IS 'Marks the job (and so its provision) completed. Returns false if already final. Raises PV501.';

-- Fail a job for good. Returns false when the job was already final.
CREATE OR REPLACE FUNCTION job_fail(p_job_id uuid, p_result_message text, p_result_data jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE job SET status_id = 4, end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id AND status_id NOT IN (3, 4);
  IF FOUND THEN RETURN true; END IF;
  PERFORM job_assert_exists(p_job_id);
  RETURN false;
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
      result_message = job_exhausted_message(v_job.attempts, v_job.max_attempts, p_result_message)
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

-- Mirror the job's state onto its provision row. The function is generated from the catalog on every
-- migrate: one static UPDATE per table that inherits class.provision, chosen by job.reference_table (the
-- provision's TG_TABLE_NAME, set by job_submit), so a completion opens, locks and plans only its own
-- table. An UPDATE through class.provision opens and locks every child table and its indexes in each
-- transaction; the direct one cut a completion's PostgreSQL CPU by 5-15%
-- (docs/decisions/0004-start-in-get-job.md). A reference_table it does not know (a provision table added
-- since the last migrate) still goes through class.provision, which reaches every child and fires that
-- child's triggers.
DO $gen$
DECLARE
  v_set text := $set$
    status_id         = CASE NEW.status_id WHEN 1 THEN CASE WHEN NEW.attempts > 0 THEN 2 ELSE 1 END ELSE NEW.status_id END,
    attempt_count     = NEW.attempts,
    last_attempt_date = NEW.start_date,
    result_message    = NEW.result_message,
    result_data       = NEW.result_data,
    roid              = coalesce(NEW.result_data ->> 'roid', p.roid),
    provisioned_date  = CASE WHEN NEW.status_id = 3 THEN NEW.end_date ELSE p.provisioned_date END
  WHERE p.id = NEW.reference_id;$set$;
  v_cases text := '';
  r record;
BEGIN
  FOR r IN SELECT n.nspname, c.relname FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE i.inhparent = 'class.provision'::regclass ORDER BY c.relname LOOP
    v_cases := v_cases || format(E'\n  WHEN %L THEN\n    UPDATE ONLY %I.%I p SET%s', r.relname, r.nspname, r.relname, v_set);
  END LOOP;
  EXECUTE format($fn$
CREATE OR REPLACE FUNCTION tg_job__sync_provision() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $body$
BEGIN
  CASE NEW.reference_table%s
  ELSE
    UPDATE class.provision p SET%s
  END CASE;
  RETURN NULL;
END
$body$$fn$, v_cases, v_set);
END
$gen$;
COMMENT ON FUNCTION tg_job__sync_provision() IS
  'AFTER UPDATE on job: mirrors status, attempts and result onto the provision row (generated: one UPDATE per '
  'class.provision child, by job.reference_table). Raises nothing of its own.';

-- Not when a job only starts an attempt (status 2, processing): job_start then touches the job row alone,
-- which cut PostgreSQL's CPU per job by about 30% (docs/decisions/0002-recovery-roles-hot-path.md).
-- While an attempt runs, v_provision takes status and attempts from the job; the provision row (and the
-- order above it) changes when the job completes, fails or is scheduled for a retry (status 1 with
-- attempts > 0: shown as processing, with the last error in result_message).
CREATE OR REPLACE TRIGGER _500_sync_provision AFTER UPDATE ON job
  FOR EACH ROW
  WHEN (NEW.status_id <> 2
        AND (OLD.status_id IS DISTINCT FROM NEW.status_id OR OLD.attempts IS DISTINCT FROM NEW.attempts
             OR OLD.result_message IS DISTINCT FROM NEW.result_message))
  EXECUTE FUNCTION tg_job__sync_provision();

-- Batched forms used by the worker (src/tasks/batcher.ts): one statement and one transaction for the
-- attempts of several jobs. Semantics per job are those of job_start and job_complete. The startable or
-- completable jobs are changed by one UPDATE, reached through the primary key in id order (so concurrent
-- batches lock them in the same order); only the rest goes through job_start one by one. "NOT IN (3, 4)"
-- rather than "IN (1, 2)": the latter matches job_open_idx, which a plan made while few jobs were open
-- would scan whole. Generic plans: planning these per call cost more than running them.
CREATE OR REPLACE FUNCTION job_start_many(p_job_ids uuid[]) RETURNS SETOF job
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_ids uuid[] := ARRAY(SELECT DISTINCT unnest(p_job_ids) ORDER BY 1);
  v_started uuid[] := '{}';
  v_job job;
  v_id uuid;
BEGIN
  FOR v_job IN
    UPDATE job SET status_id = 2, attempts = attempts + 1, start_date = now(), retry_date = NULL
    WHERE id = ANY (v_ids) AND status_id NOT IN (3, 4) AND attempts < max_attempts
    RETURNING *
  LOOP
    v_started := v_started || v_job.id;
    RETURN NEXT v_job;
  END LOOP;
  -- the rest (final, exhausted by crashed runs, or unknown)
  IF cardinality(v_started) < cardinality(v_ids) THEN
    FOR v_id IN SELECT u FROM unnest(v_ids) u WHERE u <> ALL (v_started) ORDER BY 1 LOOP
      RETURN QUERY SELECT * FROM job_start(v_id);
    END LOOP;
  END IF;
END
$$;
COMMENT ON FUNCTION job_start_many(uuid[]) IS 'job_start for each id, the startable ones in one UPDATE; returns the started jobs. Raises PV501.';

-- p_items: [{"job_id": uuid, "result_data": {...}, "result_message": text}, ...]
CREATE OR REPLACE FUNCTION job_complete_many(p_items jsonb) RETURNS TABLE (job_id uuid, completed boolean)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
  v_ids uuid[] := ARRAY(SELECT DISTINCT x.job_id FROM jsonb_to_recordset(p_items) AS x(job_id uuid) ORDER BY 1);
  v_done uuid[];
  v_missing uuid;
BEGIN
  SELECT u INTO v_missing FROM unnest(v_ids) u WHERE NOT EXISTS (SELECT 1 FROM job WHERE id = u) ORDER BY 1 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'job % does not exist', v_missing USING ERRCODE = 'PV501';
  END IF;
  WITH i AS (SELECT DISTINCT ON (x.job_id) x.job_id, x.result_data, x.result_message
             FROM jsonb_to_recordset(p_items) AS x(job_id uuid, result_data jsonb, result_message text)
             ORDER BY x.job_id),
       u AS (UPDATE job j SET status_id = 3, end_date = now(), result_data = i.result_data, result_message = i.result_message
             FROM i WHERE j.id = i.job_id AND j.status_id NOT IN (3, 4)
             RETURNING j.id)
  SELECT coalesce(array_agg(u.id), '{}') INTO v_done FROM u;

  RETURN QUERY SELECT u, u = ANY (v_done) FROM unnest(v_ids) u ORDER BY 1;
END
$$;
COMMENT ON FUNCTION job_complete_many(jsonb) IS
  'job_complete for each item, the completable ones in one UPDATE; returns (job_id, completed) in job id order. Raises PV501.';

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
