-- What an INSERT into "order", order_item or order_item_plan may set (docs/decisions/0005). _100_validate, BEFORE
-- INSERT on the three tables:
--   * a tenant session may write rows of its app.tenant_id only (42501, before anything else; a row that
--     names no tenant is the session's);
--   * in the engine's sessions (no app.tenant_id, the column's default), items and plans that name no
--     tenant take their parent's; a volatile function sees a parent inserted earlier in the same statement
--     (a data-modifying CTE). The composite foreign keys (migrations/0007) check the value at the end of
--     the statement;
--   * the engine's columns keep their defaults: status_id pending, completed_date and result_message
--     unset, the class.audit columns as the defaults set them (PV115 naming the column).
-- Codes: 42501, PV115 (docs/errors.md).
CREATE OR REPLACE FUNCTION tg_order__validate_insert() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_column text;
BEGIN
  IF NOT role_is_engine(session_user) THEN
    -- a tenant's session: its own tenant (an explicit NULL included), checked before any parent row is
    -- read, so that no answer carries the tenant of another tenant's order
    NEW.tenant_customer_id := coalesce(NEW.tenant_customer_id, current_tenant_id());
    PERFORM tenant_assert_session_may_act_for(NEW.tenant_customer_id);
  ELSIF NEW.tenant_customer_id IS NULL THEN
    IF TG_TABLE_NAME = 'order_item' THEN
      NEW.tenant_customer_id := (SELECT tenant_customer_id FROM "order" WHERE id = NEW.order_id);
    ELSIF TG_TABLE_NAME = 'order_item_plan' THEN
      NEW.tenant_customer_id := (SELECT tenant_customer_id FROM order_item WHERE id = NEW.order_item_id);
    END IF;
  END IF;
  v_column := CASE
    WHEN NEW.status_id IS DISTINCT FROM status_pending() THEN 'status_id'
    ELSE audit_columns_given(NEW.created_by, NEW.created_date, NEW.updated_by, NEW.updated_date)
  END;
  -- (nested: a condition naming NEW.completed_date fails on a table without that column)
  IF v_column IS NULL AND TG_TABLE_NAME = 'order' THEN
    IF NEW.completed_date IS NOT NULL THEN v_column := 'completed_date'; END IF;
  ELSIF v_column IS NULL AND TG_TABLE_NAME = 'order_item_plan' THEN
    IF NEW.result_message IS NOT NULL THEN v_column := 'result_message'; END IF;
  END IF;
  IF v_column IS NOT NULL THEN
    RAISE EXCEPTION '%.% is set by provisio, not on INSERT', TG_TABLE_NAME, v_column
      USING ERRCODE = 'PV115', COLUMN = v_column, HINT = 'leave it out of the INSERT';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_order__validate_insert() IS
  'BEFORE INSERT on order, order_item, order_item_plan (_100_validate): tenant from the parent, 42501 for another tenant, '
  'PV115 for an engine-owned column (status_id, completed_date, result_message, created_*/updated_*).';

CREATE OR REPLACE TRIGGER _100_validate BEFORE INSERT ON "order" FOR EACH ROW EXECUTE FUNCTION tg_order__validate_insert();
CREATE OR REPLACE TRIGGER _100_validate BEFORE INSERT ON order_item FOR EACH ROW EXECUTE FUNCTION tg_order__validate_insert();
CREATE OR REPLACE TRIGGER _100_validate BEFORE INSERT ON order_item_plan FOR EACH ROW EXECUTE FUNCTION tg_order__validate_insert();
