-- Checks every provision row gets, whatever its table and family (_100_validate_common). Errors name the field.
-- Codes: 42501, 23502 not_null_violation, 23505 unique_violation, PV107, PV112, PV113, PV115, PV119
-- (docs/errors.md).
--
-- Order matters: the tenant check comes first. These triggers run as the owner (SECURITY DEFINER) and so
-- see every tenant's rows, while row-level security checks the row only after the BEFORE triggers; a row
-- naming a tenant the session may not act for is refused with 42501 before any rule could answer a
-- question about that tenant. Every later lookup is restricted to the row's tenant.
CREATE OR REPLACE FUNCTION tg_provision__validate_common() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_plan uuid;
  v_plan_tenant uuid;
  v_plan_final text;
  v_column text;
BEGIN
  IF NEW.tenant_customer_id IS NULL THEN
    RAISE EXCEPTION 'tenant_customer_id is required' USING ERRCODE = 'not_null_violation', COLUMN = 'tenant_customer_id';
  END IF;
  PERFORM tenant_assert_session_may_act_for(NEW.tenant_customer_id);
  -- an accreditation is required where the table says so (every registry table: migrations/0010); a
  -- family without one leaves the column nullable, and its rows may leave it out
  -- (nested IFs: a condition with a subquery is run as a query, a plain one is evaluated at once)
  IF NEW.accreditation_id IS NULL THEN
    IF (SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attname = 'accreditation_id') THEN
      RAISE EXCEPTION 'accreditation_id is required' USING ERRCODE = 'not_null_violation', COLUMN = 'accreditation_id';
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tenant_customer WHERE id = NEW.tenant_customer_id) THEN
    RAISE EXCEPTION 'tenant_customer_id % does not exist', NEW.tenant_customer_id
      USING ERRCODE = 'PV112', COLUMN = 'tenant_customer_id', HINT = 'create the tenant_customer row first';
  END IF;
  -- an accreditation, when given, must be one of the row's tenant's; another tenant's is answered like a
  -- missing one: the answer tells nothing about it
  IF NEW.accreditation_id IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM accreditation WHERE id = NEW.accreditation_id AND tenant_customer_id = NEW.tenant_customer_id) THEN
      RAISE EXCEPTION 'accreditation_id % is not an accreditation of tenant %', NEW.accreditation_id, NEW.tenant_customer_id
        USING ERRCODE = 'PV107', COLUMN = 'accreditation_id', HINT = 'SELECT id, name FROM accreditation WHERE tenant_customer_id = <yours>';
    END IF;
  END IF;

  -- engine-owned columns: set by provisio as the job runs, never by the INSERT
  v_column := CASE
    WHEN NEW.status_id IS DISTINCT FROM status_pending() THEN 'status_id'
    WHEN NEW.job_id IS NOT NULL THEN 'job_id'
    WHEN NEW.provisioned_date IS NOT NULL THEN 'provisioned_date'
    WHEN NEW.result_data IS NOT NULL THEN 'result_data'
    WHEN NEW.result_message IS NOT NULL THEN 'result_message'
    WHEN NEW.roid IS NOT NULL THEN 'roid'
    WHEN NEW.attempt_count IS DISTINCT FROM 0 THEN 'attempt_count'
    WHEN NEW.last_attempt_date IS NOT NULL THEN 'last_attempt_date'
    ELSE audit_columns_given(NEW.created_by, NEW.created_date, NEW.updated_by, NEW.updated_date)
  END;
  IF v_column IS NOT NULL THEN
    RAISE EXCEPTION '% is set by provisio, not on INSERT', v_column
      USING ERRCODE = 'PV115', COLUMN = v_column, HINT = 'leave it out of the INSERT';
  END IF;
  -- An id already in this table: the INSERT would fail on the primary key anyway, unless it says ON
  -- CONFLICT DO NOTHING, which skips the row after these BEFORE triggers have created its job and claimed
  -- its objects: a job (and a registry operation) for a row that does not exist. Refused instead.
  IF EXISTS (SELECT 1 FROM class.provision WHERE id = NEW.id AND tableoid = TG_RELID) THEN
    RAISE EXCEPTION 'id % already exists in %', NEW.id, TG_TABLE_NAME
      USING ERRCODE = 'unique_violation', COLUMN = 'id',
            HINT = 'INSERT ... ON CONFLICT cannot skip provision rows: leave id to its default or give a new one';
  END IF;

  IF NEW.order_item_plan_ids IS NOT NULL THEN
    IF array_ndims(NEW.order_item_plan_ids) > 1 THEN
      RAISE EXCEPTION 'order_item_plan_ids must be a one-dimensional array of plan ids'
        USING ERRCODE = 'PV113', COLUMN = 'order_item_plan_ids';
    END IF;
    -- one primary-key lookup per plan id: a set-wise anti-join here was planned as hash joins over the
    -- whole order tables when they had no statistics yet (a bulk load: 4.4 ms a row instead of 0.7).
    -- A plan is served by one provision: its status follows that provision (engine/order/rollup.sql), so a
    -- second one, or one joining a plan already final, could leave an order completed while it fails.
    -- The plan is claimed for this row (provision_claim: also against an INSERT not yet committed), and
    -- its status read after the claim, in a statement that sees a provision that finished it meanwhile.
    FOREACH v_plan IN ARRAY NEW.order_item_plan_ids LOOP
      v_plan_tenant := NULL;
      IF v_plan IS NOT NULL THEN
        SELECT p.tenant_customer_id INTO v_plan_tenant FROM order_item_plan p
        WHERE p.id = v_plan AND p.tenant_customer_id = NEW.tenant_customer_id;
      END IF;
      IF v_plan_tenant IS NULL THEN
        RAISE EXCEPTION 'order_item_plan_ids: % is not an order_item_plan of this tenant', coalesce(v_plan::text, 'NULL')
          USING ERRCODE = 'PV113', COLUMN = 'order_item_plan_ids';
      END IF;
      IF provision_claim('plan:' || v_plan, TG_RELID::regclass, NEW.id) IS NOT TRUE THEN
        RAISE EXCEPTION 'order_item_plan_ids: plan % is already served by another provision in flight', v_plan
          USING ERRCODE = 'PV119', COLUMN = 'order_item_plan_ids',
                HINT = 'a plan is served by one provision: add another order_item_plan for another action';
      END IF;
      v_plan_final := (SELECT s.name FROM order_item_plan p JOIN order_item_plan_status s ON s.id = p.status_id
                       WHERE p.id = v_plan AND s.is_final);
      IF v_plan_final IS NOT NULL THEN
        RAISE EXCEPTION 'order_item_plan_ids: plan % is already %; a provision cannot join a final plan', v_plan, v_plan_final
          USING ERRCODE = 'PV119', COLUMN = 'order_item_plan_ids',
                HINT = 'add a new order_item_plan (or a new order) for another attempt';
      END IF;
    END LOOP;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision__validate_common() IS
  'BEFORE INSERT on every provision_* table. Raises 42501 (another tenant), 23502, 23505 (id exists), PV107, PV112, PV113, '
  'PV115 (engine-owned column), PV119 (plan final or served by another provision).';
