-- Worker heartbeats and crash recovery (docs/decisions/0002). A worker process calls worker_heartbeat() every few
-- seconds and worker_recover() after it; worker_stop() on a graceful shutdown. See migrations/0003.
-- (worker.status is the worker row's own text status, 'alive', 'stopped' or 'dead', not a lookup id.)

-- Register or refresh this worker's heartbeat. Returns the status the row had before: 'new' on the first
-- call, 'alive' normally, 'dead' when another worker had declared this one dead (its jobs were unlocked
-- and may be running elsewhere; the row is alive again from now on).
CREATE OR REPLACE FUNCTION worker_heartbeat(p_id text, p_host text, p_pid integer, p_concurrency integer)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_prev text;
BEGIN
  SELECT status INTO v_prev FROM worker WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO worker (id, host, pid, concurrency) VALUES (p_id, p_host, p_pid, p_concurrency);
    RETURN 'new';
  END IF;
  UPDATE worker SET last_seen_date = now(), status = 'alive', stopped_date = NULL WHERE id = p_id;
  RETURN v_prev;
END
$$;
COMMENT ON FUNCTION worker_heartbeat(text, text, integer, integer) IS
  'Upserts the worker row (id = graphile-worker pool id) with last_seen_date = now(); returns the previous status or ''new''. Raises nothing of its own.';

-- A graceful stop: the row stays for the record; its jobs were released by graphile-worker itself.
CREATE OR REPLACE FUNCTION worker_stop(p_id text) RETURNS void
LANGUAGE sql VOLATILE AS $$
  UPDATE worker SET status = 'stopped', stopped_date = now() WHERE id = p_id AND status = 'alive';
$$;
COMMENT ON FUNCTION worker_stop(text) IS 'Marks the worker stopped (graceful shutdown). Raises nothing.';

-- The graphile-worker rows locked by the pools p_dead that a re-add has detached: job_retry (and a wait
-- step's workflow_wait_defer) re-adds a job under its job_key while its worker still holds the row, and
-- graphile-worker's add_jobs then detaches the held row (key NULL, attempts = max_attempts) and inserts a
-- new one. The worker deletes the detached row when its attempt ends; a worker that died first leaves it,
-- and unlocked it would stay for ever (it can never run). provisio's rows always carry a job_key, so a
-- locked row with a job_id payload and no key is such a row: deleted before the unlock. Returns how many.
CREATE OR REPLACE FUNCTION worker_drop_detached(p_dead text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_n integer;
BEGIN
  DELETE FROM graphile_worker._private_jobs g
  WHERE g.locked_by = ANY (p_dead) AND g.key IS NULL AND g.payload::jsonb ? 'job_id';
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION worker_drop_detached(text[]) IS
  'Deletes the graphile-worker rows of dead pools p_dead that a job_key re-add detached (key NULL, provisio payload); returns how many. Raises nothing of its own.';

-- Recover from crashed workers and lost jobs. Only one caller at a time does the work (advisory lock);
-- the others return empty results at once.
--  1. Workers whose last_seen_date is older than p_timeout are marked dead, and so is any graphile-worker
--     locked_by value holding a lock older than p_timeout that is no alive worker (a process that died
--     before its first heartbeat). Rows a re-add detached are deleted (worker_drop_detached), then
--     graphile_worker.force_unlock_workers() releases their jobs, which any worker then picks up (a
--     killed attempt is counted; handlers reconcile with the registry).
--  2. Jobs still pending or processing in the job table, untouched for p_stuck_after, with no
--     graphile-worker job that is locked or can still run (job_key = job id) are re-added.
--  3. Rows of workers stopped or dead for over a day are deleted, so the table stays small.
-- Returns the ids declared dead, how many graphile-worker jobs were unlocked and which jobs were re-added.
CREATE OR REPLACE FUNCTION worker_recover(p_timeout interval, p_stuck_after interval)
RETURNS TABLE (dead_workers text[], unlocked_jobs integer, redriven_jobs uuid[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_dead text[];
  v_orphans text[];
  v_unlocked integer := 0;
  v_redriven uuid[];
BEGIN
  IF NOT pg_try_advisory_xact_lock(7240019002) THEN
    RETURN QUERY SELECT ARRAY[]::text[], 0, ARRAY[]::uuid[];
    RETURN;
  END IF;

  WITH d AS (
    UPDATE worker SET status = 'dead', stopped_date = now()
    WHERE status = 'alive' AND last_seen_date < now() - p_timeout
    RETURNING id
  )
  SELECT coalesce(array_agg(id), '{}') INTO v_dead FROM d;

  SELECT coalesce(array_agg(DISTINCT g.locked_by), '{}') INTO v_orphans
  FROM graphile_worker._private_jobs g
  WHERE g.locked_by IS NOT NULL AND g.locked_at < now() - p_timeout
    AND g.locked_by <> ALL (v_dead)
    AND NOT EXISTS (SELECT 1 FROM worker w WHERE w.id = g.locked_by AND w.status = 'alive');
  v_dead := v_dead || v_orphans;

  IF cardinality(v_dead) > 0 THEN
    PERFORM worker_drop_detached(v_dead);
    UPDATE worker w SET unlocked_jobs = (SELECT count(*) FROM graphile_worker._private_jobs g WHERE g.locked_by = w.id)
    WHERE w.id = ANY (v_dead);
    SELECT count(*) INTO v_unlocked FROM graphile_worker._private_jobs g WHERE g.locked_by = ANY (v_dead);
    PERFORM graphile_worker.force_unlock_workers(v_dead);
  END IF;

  WITH stuck AS (
    SELECT j.id, t.task_identifier, t.max_attempts
    FROM job j JOIN job_type t ON t.id = j.type_id
    WHERE j.status_id IN (job_status_submitted(), job_status_processing())
      AND j.created_date < now() - p_stuck_after   -- implied by the next line; lets job_open_idx skip young jobs
      AND greatest(j.created_date, j.start_date, j.retry_date) < now() - p_stuck_after
      AND NOT EXISTS (
        SELECT 1 FROM graphile_worker._private_jobs g
        WHERE g.key = j.id::text AND (g.locked_at IS NOT NULL OR g.attempts < g.max_attempts))
    FOR UPDATE OF j SKIP LOCKED
  ), added AS (
    -- one add_jobs call per stuck job, as many rows as stuck jobs
    SELECT s.id, (SELECT count(*) FROM graphile_worker.add_jobs(ARRAY[job_spec(s.id, s.task_identifier, s.max_attempts)])) AS g
    FROM stuck s
  )
  SELECT coalesce(array_agg(id), '{}') INTO v_redriven FROM added;

  DELETE FROM worker WHERE status <> 'alive' AND stopped_date < now() - interval '1 day';

  RETURN QUERY SELECT v_dead, v_unlocked, v_redriven;
END
$$;
COMMENT ON FUNCTION worker_recover(interval, interval) IS
  'Declares workers dead after p_timeout without a heartbeat and unlocks their graphile-worker jobs; re-adds '
  'open jobs idle for p_stuck_after with no live graphile-worker job. Returns (dead_workers, unlocked_jobs, redriven_jobs). Raises nothing of its own.';

-- A worker process whose graphile-worker pool failed (e.g. it could not record a job's outcome while the
-- database restarted) releases that pool's locks itself before it starts a new pool, instead of waiting
-- for the heartbeat timeout. Returns how many jobs were unlocked.
CREATE OR REPLACE FUNCTION worker_release(p_id text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_n integer;
BEGIN
  PERFORM worker_drop_detached(ARRAY[p_id]);
  SELECT count(*) INTO v_n FROM graphile_worker._private_jobs WHERE locked_by = p_id;
  PERFORM graphile_worker.force_unlock_workers(ARRAY[p_id]);
  UPDATE worker SET status = 'stopped', stopped_date = now(), unlocked_jobs = v_n WHERE id = p_id;
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION worker_release(text) IS 'Unlocks every graphile-worker job locked by pool p_id and marks its row stopped. Returns the count. Raises nothing of its own.';
