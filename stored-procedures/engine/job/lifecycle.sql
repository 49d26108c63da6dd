-- The worker's write-back path. Each function locks the job row, does nothing when the job is already
-- final (delivery is at-least-once; the outcome must be effectively-once) or waiting (a parent job the
-- database holds open for its children: engine/job/parent.sql), and updates it. The job's
-- status is mirrored onto its provision row by tg_job__sync_provision, whose own triggers then complete
-- the provision (the family's post/<table>.sql) and roll up the order (engine/order/). Statuses are named
-- by job_status_*() and status_*() (migrations/0009); PV501 is job_raise_not_found (engine/job/helpers.sql).

-- Start an attempt: returns the job row marked processing with attempts + 1, or NULL when there is
-- nothing to do (job already final, or its attempts were exhausted by crashed runs: then it is failed).
CREATE OR REPLACE FUNCTION job_start(p_job_id uuid) RETURNS SETOF job
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_job job;
BEGIN
  -- the usual case in one statement (the UPDATE locks the row and re-checks the condition)
  RETURN QUERY
  UPDATE job SET status_id = job_status_processing(), attempts = attempts + 1, start_date = now(), retry_date = NULL
  WHERE id = p_job_id AND status_id IN (job_status_submitted(), job_status_processing()) AND attempts < max_attempts RETURNING *;
  IF FOUND THEN RETURN; END IF;

  SELECT * INTO v_job FROM job WHERE id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_job.status_id IN (job_status_submitted(), job_status_processing()) THEN
    -- attempts exhausted by runs that never wrote an outcome (crashed workers); a waiting job (a workflow
    -- run's, engine/job/parent.sql) is left to the database that holds it
    UPDATE job SET status_id = job_status_failed(), end_date = now(),
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
  UPDATE job SET status_id = job_status_completed(), end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id AND status_id NOT IN (job_status_completed(), job_status_failed(), job_status_waiting());
  IF FOUND THEN RETURN true; END IF;
  PERFORM job_assert_exists(p_job_id);
  RETURN false;
END
$$;
COMMENT ON FUNCTION job_complete(uuid, jsonb, text) IS 'Marks the job (and so its provision) completed. Returns false if already final or waiting (held by the database: engine/job/parent.sql). Raises PV501.';

-- Fail a job for good. Returns false when the job was already final (or is waiting: engine/job/parent.sql).
CREATE OR REPLACE FUNCTION job_fail(p_job_id uuid, p_result_message text, p_result_data jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE job SET status_id = job_status_failed(), end_date = now(), result_data = p_result_data, result_message = p_result_message
  WHERE id = p_job_id AND status_id NOT IN (job_status_completed(), job_status_failed(), job_status_waiting());
  IF FOUND THEN RETURN true; END IF;
  PERFORM job_assert_exists(p_job_id);
  RETURN false;
END
$$;
COMMENT ON FUNCTION job_fail(uuid, text, jsonb) IS 'Marks the job (and so its provision) failed. Returns false if already final or waiting (held by the database: engine/job/parent.sql). Raises PV501.';

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
    PERFORM job_raise_not_found(p_job_id);
  END IF;
  IF v_job.status_id IN (job_status_completed(), job_status_failed(), job_status_waiting()) THEN RETURN NULL; END IF;
  IF v_job.attempts >= v_job.max_attempts THEN
    UPDATE job SET status_id = job_status_failed(), end_date = now(), result_data = p_result_data,
      result_message = job_exhausted_message(v_job.attempts, v_job.max_attempts, p_result_message)
    WHERE id = p_job_id;
    RETURN NULL;
  END IF;
  SELECT * INTO v_type FROM job_type WHERE id = v_job.type_id;
  v_run_at := now() + make_interval(secs => least(v_type.retry_backoff_max_seconds,
                                                 v_type.retry_backoff_seconds * power(2, greatest(v_job.attempts - 1, 0)))::double precision);
  UPDATE job SET status_id = job_status_submitted(), retry_date = v_run_at, result_message = p_result_message, result_data = p_result_data
  WHERE id = p_job_id;
  PERFORM graphile_worker.add_jobs(ARRAY[job_spec(p_job_id, v_type.task_identifier, v_type.max_attempts, v_run_at)]);
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
    status_id         = CASE NEW.status_id
                          WHEN job_status_submitted() THEN CASE WHEN NEW.attempts > 0 THEN status_processing() ELSE status_pending() END
                          WHEN job_status_processing() THEN status_processing()
                          WHEN job_status_waiting() THEN status_processing()
                          WHEN job_status_completed() THEN status_completed()
                          WHEN job_status_failed() THEN status_failed()
                        END,
    attempt_count     = NEW.attempts,
    last_attempt_date = NEW.start_date,
    result_message    = NEW.result_message,
    result_data       = NEW.result_data,
    roid              = coalesce(NEW.result_data ->> 'roid', p.roid),
    provisioned_date  = CASE WHEN NEW.status_id = job_status_completed() THEN NEW.end_date ELSE p.provisioned_date END
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
  -- not when a job only starts an attempt, nor when nothing the provision shows changed (below)
  IF NEW.status_id = job_status_processing()
     OR (OLD.status_id IS NOT DISTINCT FROM NEW.status_id AND OLD.attempts IS NOT DISTINCT FROM NEW.attempts
         AND OLD.result_message IS NOT DISTINCT FROM NEW.result_message) THEN
    RETURN NULL;
  END IF;
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
  'class.provision child, by job.reference_table), unless the job is processing or none of them changed. Raises nothing of its own.';

-- Not when a job only starts an attempt (status processing): job_start then touches the job row alone,
-- which cut PostgreSQL's CPU per job by about 30% (docs/decisions/0002-recovery-roles-hot-path.md).
-- While an attempt runs, v_provision takes status and attempts from the job; the provision row (and the
-- order above it) changes when the job completes, fails or is scheduled for a retry (status submitted
-- with attempts > 0: shown as processing, with the last error in result_message).
-- That test is the function's first statement rather than the trigger's WHEN: PostgreSQL compiles a WHEN
-- at every statement, and folding job_status_processing() in it would run that function each time too;
-- the function's statement is planned once per session. A start costs 41 k instructions less this way,
-- a completion 6 k (docs/decisions/0006-named-statuses-optional-accreditation.md).
CREATE OR REPLACE TRIGGER _500_sync_provision AFTER UPDATE ON job
  FOR EACH ROW EXECUTE FUNCTION tg_job__sync_provision();

-- Batched forms used by the worker (its write-back batcher): one statement and one transaction for the
-- attempts of several jobs. Semantics per job are those of job_start and job_complete. The startable or
-- completable jobs are changed by one UPDATE, reached through the primary key in id order (so concurrent
-- batches lock them in the same order); only the rest goes through job_start one by one. "NOT IN
-- (completed, failed)" rather than "IN (submitted, processing)": the latter matches job_open_idx, which a
-- plan made while few jobs were open would scan whole. Generic plans: planning these per call cost more
-- than running them.
CREATE OR REPLACE FUNCTION job_start_many(p_job_ids uuid[]) RETURNS SETOF job
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_ids uuid[] := ARRAY(SELECT DISTINCT unnest(p_job_ids) ORDER BY 1);
  v_started uuid[] := '{}';
  v_job job;
  v_id uuid;
BEGIN
  FOR v_job IN
    UPDATE job SET status_id = job_status_processing(), attempts = attempts + 1, start_date = now(), retry_date = NULL
    WHERE id = ANY (v_ids) AND status_id NOT IN (job_status_completed(), job_status_failed(), job_status_waiting()) AND attempts < max_attempts
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
    PERFORM job_raise_not_found(v_missing);
  END IF;
  WITH i AS (SELECT DISTINCT ON (x.job_id) x.job_id, x.result_data, x.result_message
             FROM jsonb_to_recordset(p_items) AS x(job_id uuid, result_data jsonb, result_message text)
             ORDER BY x.job_id),
       u AS (UPDATE job j SET status_id = job_status_completed(), end_date = now(), result_data = i.result_data, result_message = i.result_message
             FROM i WHERE j.id = i.job_id AND j.status_id NOT IN (job_status_completed(), job_status_failed(), job_status_waiting())
             RETURNING j.id)
  SELECT coalesce(array_agg(u.id), '{}') INTO v_done FROM u;

  RETURN QUERY SELECT u, u = ANY (v_done) FROM unnest(v_ids) u ORDER BY 1;
END
$$;
COMMENT ON FUNCTION job_complete_many(jsonb) IS
  'job_complete for each item, the completable ones in one UPDATE; returns (job_id, completed) in job id order. Raises PV501.';
