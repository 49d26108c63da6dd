-- class.audit: keep updated_date/updated_by current on every UPDATE.
CREATE OR REPLACE FUNCTION tg_audit__set_updated() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.updated_date := now();
  NEW.updated_by := session_user;  -- the login, also inside the SECURITY DEFINER cascade (migrations/0006)
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_audit__set_updated() IS 'BEFORE UPDATE on class.audit children: sets updated_date and updated_by. Raises nothing.';

-- class.audit_trail: log every change of a marked table to audit_trail_log.
CREATE OR REPLACE FUNCTION tg_audit_trail__log() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO audit_trail_log (table_name, operation, object_id, new_value)
    VALUES (TG_TABLE_NAME, TG_OP, NEW.id, to_jsonb(NEW));
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO audit_trail_log (table_name, operation, object_id, old_value, new_value)
    VALUES (TG_TABLE_NAME, TG_OP, NEW.id, to_jsonb(OLD), to_jsonb(NEW));
  ELSE
    INSERT INTO audit_trail_log (table_name, operation, object_id, old_value)
    VALUES (TG_TABLE_NAME, TG_OP, OLD.id, to_jsonb(OLD));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_audit_trail__log() IS 'AFTER INSERT/UPDATE/DELETE on class.audit_trail children: one audit_trail_log row per change. Raises nothing.';

-- Attach the class.audit and class.audit_trail triggers to a table. Idempotent.
CREATE OR REPLACE FUNCTION attach_audit_trail(p_table regclass) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  EXECUTE format('CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON %s
                  FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated()', p_table);
  EXECUTE format('CREATE OR REPLACE TRIGGER _950_audit_trail AFTER INSERT OR UPDATE OR DELETE ON %s
                  FOR EACH ROW EXECUTE FUNCTION tg_audit_trail__log()', p_table);
END
$$;
COMMENT ON FUNCTION attach_audit_trail(regclass) IS 'Attaches _050_set_updated and _950_audit_trail to p_table. Idempotent. Raises undefined_table if p_table does not exist.';

-- The class.audit columns of a row being INSERTed, if the INSERT set one: created_by must be the login
-- (its default, session_user), created_date the transaction's time (its default, now()), updated_* unset.
-- Returns the first column set otherwise, or NULL.
CREATE OR REPLACE FUNCTION audit_columns_given(p_created_by text, p_created_date timestamptz, p_updated_by text, p_updated_date timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN p_created_by IS DISTINCT FROM session_user THEN 'created_by'
    WHEN p_created_date IS DISTINCT FROM now() THEN 'created_date'
    WHEN p_updated_by IS NOT NULL THEN 'updated_by'
    WHEN p_updated_date IS NOT NULL THEN 'updated_date'
  END
$$;
COMMENT ON FUNCTION audit_columns_given(text, timestamptz, text, timestamptz) IS
  'The first class.audit column an INSERT set to something other than its default, or NULL. Raises nothing.';

-- The engine's own audited tables (class.audit children that are not provisions: those get theirs from
-- provision_attach_triggers).
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON tenant_customer FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON accreditation FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON "order" FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON order_item FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON order_item_plan FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
