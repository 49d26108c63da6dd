-- Create a job row and enqueue it in graphile-worker in the caller's transaction: the job and the row
-- that asked for it commit or roll back together (no lost or orphan jobs). The graphile-worker job_key
-- is the job id, so re-enqueueing a job replaces its queue entry instead of duplicating it.
CREATE OR REPLACE FUNCTION job_submit(
  p_tenant_customer_id uuid,
  p_job_type text,
  p_reference_table text,
  p_reference_id uuid,
  p_data jsonb,
  p_parent_id uuid DEFAULT NULL,
  p_job_id uuid DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_type job_type;
  v_job_id uuid := coalesce(p_job_id, gen_random_uuid());
BEGIN
  SELECT * INTO v_type FROM job_type WHERE name = p_job_type;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job_type "%" does not exist', p_job_type USING ERRCODE = 'PV502';
  END IF;
  INSERT INTO job (id, tenant_customer_id, type_id, reference_table, reference_id, data, max_attempts, parent_id)
  VALUES (v_job_id, p_tenant_customer_id, v_type.id, p_reference_table, p_reference_id,
          coalesce(p_data, '{}'), v_type.max_attempts, p_parent_id);
  PERFORM graphile_worker.add_job(
    identifier   => v_type.task_identifier,
    payload      => json_build_object('job_id', v_job_id),
    max_attempts => v_type.max_attempts,
    job_key      => v_job_id::text);
  RETURN v_job_id;
END
$$;
COMMENT ON FUNCTION job_submit(uuid, text, text, uuid, jsonb, uuid, uuid) IS
  'Creates job and enqueues it (graphile_worker.add_job, job_key = job id) in the same transaction; returns the job id. '
  'Raises PV502 (unknown job type). SECURITY DEFINER: the only path to graphile_worker for callers.';
