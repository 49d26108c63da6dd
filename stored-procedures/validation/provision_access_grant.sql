-- provision_access_grant (seed 002 processProvisioningTask, grant). Codes: 23502, PV201, PV202, PV205,
-- PV206, PV207, PV115 (engine columns, common trigger).
CREATE OR REPLACE FUNCTION tg_provision_access_grant__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_active boolean;
  v_apps uuid[];
BEGIN
  SELECT username, is_active INTO NEW.username, v_active FROM access_identity_assert(NEW.tenant_customer_id, NEW.identity_id);
  IF NOT v_active THEN
    RAISE EXCEPTION 'identity % ("%") is not active: a grant would give an inactive person access', NEW.identity_id, NEW.username
      USING ERRCODE = 'PV205', COLUMN = 'identity_id', HINT = 'revoke instead, or set identity.is_active';
  END IF;
  IF NEW.application_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM application WHERE id = NEW.application_id AND tenant_customer_id = NEW.tenant_customer_id) THEN
    RAISE EXCEPTION 'application_id % is not an application of tenant %', NEW.application_id, NEW.tenant_customer_id
      USING ERRCODE = 'PV202', COLUMN = 'application_id';
  END IF;
  IF NEW.dry_run IS NULL THEN NEW.dry_run := false; END IF;
  -- the applications the grant touches: those of the entitlements the identity's roles give (one, when named)
  SELECT coalesce(array_agg(DISTINCT e.application_id), '{}') INTO v_apps
  FROM identity_role ir JOIN role_entitlement re ON re.role_id = ir.role_id JOIN entitlement e ON e.id = re.entitlement_id
  WHERE ir.identity_id = NEW.identity_id AND (NEW.application_id IS NULL OR e.application_id = NEW.application_id);
  IF NEW.application_id IS NOT NULL AND NOT NEW.application_id = ANY (v_apps) THEN v_apps := v_apps || NEW.application_id; END IF;
  PERFORM access_applications_assert(v_apps);
  PERFORM access_claim_or_raise(NEW.identity_id, TG_RELID::regclass, NEW.id);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_access_grant__validate() IS
  'BEFORE INSERT on provision_access_grant (_110_validate): sets username. Raises 23502, PV201, PV202, PV205, PV206, PV207.';
