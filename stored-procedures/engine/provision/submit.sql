-- _500_submit_job: BEFORE INSERT on every provision table, after all validation (_1xx). It sets
-- NEW.job_id to a job created in the same transaction, so if anything later in the statement fails
-- (a constraint, another trigger) the job rolls back with it. The graphile-worker jobs of all rows of
-- the statement are added at its end by _510_enqueue_jobs (below), in one add_jobs call.
-- TG_ARGV[0] is the job type name (provision_attach_triggers passes it).
CREATE OR REPLACE FUNCTION tg_provision__submit_job() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.job_id := job_submit(
    NEW.tenant_customer_id,
    TG_ARGV[0],
    TG_TABLE_NAME,
    NEW.id,
    to_jsonb(NEW) - ARRAY['created_date', 'updated_date', 'created_by', 'updated_by', 'status_id', 'job_id',
                          'roid', 'result_message', 'result_data', 'provisioned_date', 'attempt_count',
                          'last_attempt_date'],
    p_enqueue => false);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision__submit_job() IS
  'BEFORE INSERT (_500_submit_job): creates and enqueues the job for the row (data = the row as JSON). Raises PV502.';

-- _510_enqueue_jobs: AFTER INSERT ... FOR EACH STATEMENT with the inserted rows as a transition table:
-- one graphile_worker.add_jobs for the whole statement (job_enqueue), still in the same transaction.
CREATE OR REPLACE FUNCTION tg_provision__enqueue_jobs() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM job_enqueue(ARRAY(SELECT job_id FROM new_rows));
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_provision__enqueue_jobs() IS
  'AFTER INSERT FOR EACH STATEMENT (_510_enqueue_jobs, transition table new_rows): enqueues the statement''s jobs in graphile-worker at once. Raises nothing of its own.';
