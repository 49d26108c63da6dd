-- Create a job row and enqueue it in graphile-worker in the caller's transaction: the job and the row
-- that asked for it commit or roll back together (no lost or orphan jobs). The graphile-worker job is
-- job_spec(): job_key = the job id, so re-enqueueing a job replaces its queue entry instead of duplicating it.
-- (the 7-argument form before p_enqueue existed; dropped so that calls stay unambiguous)
DROP FUNCTION IF EXISTS job_submit(uuid, text, text, uuid, jsonb, uuid, uuid);
CREATE OR REPLACE FUNCTION job_submit(
  p_tenant_customer_id uuid,
  p_job_type text,
  p_reference_table text,
  p_reference_id uuid,
  p_data jsonb,
  p_parent_id uuid DEFAULT NULL,
  p_job_id uuid DEFAULT NULL,
  p_enqueue boolean DEFAULT true
) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_type job_type;
  v_job_id uuid := coalesce(p_job_id, uuid_generate_v7());
BEGIN
  SELECT * INTO v_type FROM job_type WHERE name = p_job_type;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job_type "%" does not exist', p_job_type USING ERRCODE = 'PV502';
  END IF;
  INSERT INTO job (id, tenant_customer_id, type_id, reference_table, reference_id, data, max_attempts, parent_id)
  VALUES (v_job_id, p_tenant_customer_id, v_type.id, p_reference_table, p_reference_id,
          coalesce(p_data, '{}'), v_type.max_attempts, p_parent_id);
  IF p_enqueue THEN
    PERFORM graphile_worker.add_jobs(ARRAY[job_spec(v_job_id, v_type.task_identifier, v_type.max_attempts)]);
  END IF;
  RETURN v_job_id;
END
$$;
COMMENT ON FUNCTION job_submit(uuid, text, text, uuid, jsonb, uuid, uuid, boolean) IS
  'Creates job and, unless p_enqueue is false (the caller then calls job_enqueue), enqueues it (graphile_worker.add_jobs, '
  'job_key = job id) in the same transaction; returns the job id. Raises PV502 (unknown job type). SECURITY DEFINER.';

-- Enqueue many jobs created by job_submit(..., p_enqueue => false) with one graphile_worker.add_jobs
-- call: the provision tables' statement-level trigger (_510_enqueue_jobs) uses it, so that an INSERT of
-- 10,000 rows costs one add_jobs instead of 10,000. Jobs that are already final are skipped.
CREATE OR REPLACE FUNCTION job_enqueue(p_job_ids uuid[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_n integer;
BEGIN
  SELECT count(*) INTO v_n
  FROM graphile_worker.add_jobs(ARRAY(
    SELECT job_spec(j.id, t.task_identifier, t.max_attempts)
    FROM job j JOIN job_type t ON t.id = j.type_id
    WHERE j.id = ANY (p_job_ids) AND j.status_id IN (job_status_submitted(), job_status_processing())));
  RETURN v_n;
END
$$;
COMMENT ON FUNCTION job_enqueue(uuid[]) IS
  'Adds graphile-worker jobs (job_key = job id) for the given open jobs in one add_jobs call; returns how many. Raises nothing of its own. SECURITY DEFINER.';
