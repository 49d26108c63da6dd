-- Checks every provision row gets, whatever its table (_100_validate_common). Errors name the field.
-- Codes: 42501, 23502 not_null_violation, PV107, PV112, PV113, PV115, PV119 (docs/errors.md).
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
  IF NEW.accreditation_id IS NULL THEN
    RAISE EXCEPTION 'accreditation_id is required' USING ERRCODE = 'not_null_violation', COLUMN = 'accreditation_id';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM tenant_customer WHERE id = NEW.tenant_customer_id) THEN
    RAISE EXCEPTION 'tenant_customer_id % does not exist', NEW.tenant_customer_id
      USING ERRCODE = 'PV112', COLUMN = 'tenant_customer_id', HINT = 'create the tenant_customer row first';
  END IF;
  -- another tenant's accreditation is answered like a missing one: the answer tells nothing about it
  IF NOT EXISTS (SELECT 1 FROM accreditation WHERE id = NEW.accreditation_id AND tenant_customer_id = NEW.tenant_customer_id) THEN
    RAISE EXCEPTION 'accreditation_id % is not an accreditation of tenant %', NEW.accreditation_id, NEW.tenant_customer_id
      USING ERRCODE = 'PV107', COLUMN = 'accreditation_id', HINT = 'SELECT id, name FROM accreditation WHERE tenant_customer_id = <yours>';
  END IF;

  -- engine-owned columns: set by provisio as the job runs, never by the INSERT
  v_column := CASE
    WHEN NEW.status_id IS DISTINCT FROM 1 THEN 'status_id'
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

  IF NEW.order_item_plan_ids IS NOT NULL THEN
    IF array_ndims(NEW.order_item_plan_ids) > 1 THEN
      RAISE EXCEPTION 'order_item_plan_ids must be a one-dimensional array of plan ids'
        USING ERRCODE = 'PV113', COLUMN = 'order_item_plan_ids';
    END IF;
    -- one primary-key lookup per plan id: a set-wise anti-join here was planned as hash joins over the
    -- whole order tables when they had no statistics yet (a bulk load: 4.4 ms a row instead of 0.7).
    -- FOR SHARE: a plan cannot turn final (the rollup UPDATEs it) between this check and our commit.
    FOREACH v_plan IN ARRAY NEW.order_item_plan_ids LOOP
      v_plan_tenant := NULL;
      IF v_plan IS NOT NULL THEN
        SELECT p.tenant_customer_id, CASE WHEN s.is_final THEN s.name END INTO v_plan_tenant, v_plan_final
        FROM order_item_plan p JOIN order_item_plan_status s ON s.id = p.status_id
        WHERE p.id = v_plan AND p.tenant_customer_id = NEW.tenant_customer_id
        FOR SHARE OF p;
      END IF;
      IF v_plan_tenant IS NULL THEN
        RAISE EXCEPTION 'order_item_plan_ids: % is not an order_item_plan of this tenant', coalesce(v_plan::text, 'NULL')
          USING ERRCODE = 'PV113', COLUMN = 'order_item_plan_ids';
      END IF;
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
  'BEFORE INSERT on every provision_* table. Raises 42501 (another tenant), 23502, PV107, PV112, PV113, PV115 (engine-owned column), PV119 (final plan).';
