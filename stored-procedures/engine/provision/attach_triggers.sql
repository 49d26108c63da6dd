-- Attaching the standard triggers to a provision table is one call:
--   SELECT provision_attach_triggers('provision_domain', 'domain_create');
-- Inheritance does not carry triggers to children, so every provision_* table gets them this way.
-- Trigger order matters (Postgres fires same-timing triggers in name order):
--   BEFORE INSERT  _100_validate_common   tenant, accreditation, order plans, status (engine/provision/validate.sql)
--   BEFORE INSERT  _110_validate          the table's own rules: tg_<table>__validate() (the family's validation/<table>.sql)
--   BEFORE INSERT  _500_submit_job        job row (engine/provision/submit.sql); runs last so a job is only
--                                         created for a row that passed every check
--   AFTER  INSERT  _510_enqueue_jobs      per statement: one graphile_worker.add_jobs for all its rows
--   BEFORE UPDATE  _050_set_updated       updated_date/updated_by
--   BEFORE UPDATE  _200_complete          the table's success side effects: tg_<table>__complete() (the family's post/)
--   BEFORE UPDATE  _210_fail              the table's failure side effects, optional: tg_<table>__fail() (the family's post/)
--   AFTER  INS/UPD _900_rollup            event outbox row + order_item_plan status (engine/order/rollup.sql)
--   AFTER  all     _950_audit_trail       audit_trail_log
--   AFTER  DELETE  _960_release_claims    per statement: the provision_claim rows the deleted rows held (engine/common/claim.sql)
CREATE OR REPLACE FUNCTION provision_attach_triggers(p_table regclass, p_job_type text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_table text := p_table::text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM job_type WHERE name = p_job_type) THEN
    RAISE EXCEPTION 'job_type "%" does not exist', p_job_type USING ERRCODE = 'foreign_key_violation',
      HINT = 'INSERT INTO job_type (name, descr, reference_table, task_identifier) in a migration first';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = p_table AND inhparent = 'class.provision'::regclass) THEN
    RAISE EXCEPTION '% does not inherit class.provision', v_table USING ERRCODE = 'wrong_object_type';
  END IF;

  EXECUTE format('CREATE OR REPLACE TRIGGER _100_validate_common BEFORE INSERT ON %s
                  FOR EACH ROW EXECUTE FUNCTION tg_provision__validate_common()', p_table);
  IF to_regproc(format('tg_%s__validate', v_table)) IS NOT NULL THEN
    EXECUTE format('CREATE OR REPLACE TRIGGER _110_validate BEFORE INSERT ON %s
                    FOR EACH ROW EXECUTE FUNCTION %I()', p_table, 'tg_' || v_table || '__validate');
  END IF;
  EXECUTE format('CREATE OR REPLACE TRIGGER _500_submit_job BEFORE INSERT ON %s
                  FOR EACH ROW EXECUTE FUNCTION tg_provision__submit_job(%L)', p_table, p_job_type);
  EXECUTE format('CREATE OR REPLACE TRIGGER _510_enqueue_jobs AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows
                  FOR EACH STATEMENT EXECUTE FUNCTION tg_provision__enqueue_jobs()', p_table);
  -- (a trigger's WHEN is planned at each statement, and the planner runs status_completed() to fold it:
  -- named once here, "OLD <> NEW" says "OLD was not completed" without a second call)
  IF to_regproc(format('tg_%s__complete', v_table)) IS NOT NULL THEN
    EXECUTE format('CREATE OR REPLACE TRIGGER _200_complete BEFORE UPDATE OF status_id ON %s
                    FOR EACH ROW WHEN (NEW.status_id = status_completed() AND OLD.status_id <> NEW.status_id)
                    EXECUTE FUNCTION %I()', p_table, 'tg_' || v_table || '__complete');
  END IF;
  -- the table's side effects of a failure (e.g. recording what did succeed), when its family has them
  IF to_regproc(format('tg_%s__fail', v_table)) IS NOT NULL THEN
    EXECUTE format('CREATE OR REPLACE TRIGGER _210_fail BEFORE UPDATE OF status_id ON %s
                    FOR EACH ROW WHEN (NEW.status_id = status_failed() AND OLD.status_id <> NEW.status_id)
                    EXECUTE FUNCTION %I()', p_table, 'tg_' || v_table || '__fail');
  END IF;
  EXECUTE format('CREATE OR REPLACE TRIGGER _900_rollup AFTER INSERT OR UPDATE OF status_id ON %s
                  FOR EACH ROW EXECUTE FUNCTION tg_provision__rollup()', p_table);
  EXECUTE format('CREATE OR REPLACE TRIGGER _960_release_claims AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows
                  FOR EACH STATEMENT EXECUTE FUNCTION tg_provision__release_claims()', p_table);
  PERFORM attach_audit_trail(p_table);
END
$$;
COMMENT ON FUNCTION provision_attach_triggers(regclass, text) IS
  'Attaches the standard provision triggers to p_table for job type p_job_type. Idempotent. '
  'Raises foreign_key_violation (unknown job type), wrong_object_type (not a class.provision child).';

-- Row-level security of a tenant table, the same two policies everywhere (engine/security/roles.sql for
-- the engine's tables, inventory_attach below for a family's): provisio_order and provisio_reader see
-- and write the rows p_using admits (their tenant's), provisio_worker every row. Idempotent.
CREATE OR REPLACE FUNCTION tenant_policies_attach(p_table regclass, p_using text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', p_table);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s TO provisio_order, provisio_reader USING (%s) WITH CHECK (%s)', p_table, p_using, p_using);
  EXECUTE format('DROP POLICY IF EXISTS engine ON %s', p_table);
  EXECUTE format('CREATE POLICY engine ON %s TO provisio_worker USING (true) WITH CHECK (true)', p_table);
END
$$;
COMMENT ON FUNCTION tenant_policies_attach(regclass, text) IS
  'Enables row-level security on p_table with the tenant_isolation (p_using) and engine policies. Raises what CREATE POLICY raises for a bad p_using.';

-- Giving an inventory table (a family's record of what each tenant holds at the provider: domain, contact,
-- host) the engine's treatment is one call, as for a provision table:
--   SELECT inventory_attach('host');
-- The table must have tenant_customer_id. It gets row-level security with the same two policies as every
-- tenant table (engine/security/roles.sql): provisio_order and provisio_reader see their tenant's rows,
-- provisio_worker every row; provisio_order may SELECT it (provisio_worker reads every table). Writes are
-- the family's post/ triggers', which run as the owner.
CREATE OR REPLACE FUNCTION inventory_attach(p_table regclass) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = p_table AND attname = 'tenant_customer_id' AND NOT attisdropped) THEN
    RAISE EXCEPTION '% has no tenant_customer_id: an inventory table belongs to a tenant', p_table USING ERRCODE = 'wrong_object_type';
  END IF;
  PERFORM tenant_policies_attach(p_table, 'tenant_customer_id = (SELECT current_tenant_id())');
  EXECUTE format('GRANT SELECT ON %s TO provisio_order', p_table);
END
$$;
COMMENT ON FUNCTION inventory_attach(regclass) IS
  'Row-level security by tenant and the order role''s SELECT on inventory table p_table. Idempotent. Raises wrong_object_type (no tenant_customer_id).';
