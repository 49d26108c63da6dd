-- provision_access_revoke (seed 002 processProvisioningTask, revoke). Codes: 23502, PV201, PV203, PV204,
-- PV206, PV207, PV115 (engine columns, common trigger).
CREATE OR REPLACE FUNCTION tg_provision_access_revoke__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_active boolean;
  v_bad uuid;
  v_apps uuid[];
BEGIN
  SELECT username, is_active INTO NEW.username, v_active FROM access_identity_assert(NEW.tenant_customer_id, NEW.identity_id);
  IF NEW.entitlement_ids IS NULL THEN
    RAISE EXCEPTION 'entitlement_ids is required' USING ERRCODE = 'not_null_violation', COLUMN = 'entitlement_ids';
  END IF;
  IF array_ndims(NEW.entitlement_ids) IS DISTINCT FROM 1 OR array_position(NEW.entitlement_ids, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'entitlement_ids must be a non-empty one-dimensional array of entitlement ids without NULL'
      USING ERRCODE = 'PV203', COLUMN = 'entitlement_ids';
  END IF;
  NEW.entitlement_ids := ARRAY(SELECT DISTINCT x FROM unnest(NEW.entitlement_ids) x ORDER BY x);
  SELECT x INTO v_bad FROM unnest(NEW.entitlement_ids) x
  WHERE NOT EXISTS (SELECT 1 FROM entitlement e WHERE e.id = x AND e.tenant_customer_id = NEW.tenant_customer_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'entitlement % is not an entitlement of tenant %', v_bad, NEW.tenant_customer_id
      USING ERRCODE = 'PV203', COLUMN = 'entitlement_ids';
  END IF;
  -- held: a role of the identity gives it, or the identity has an account in its application (access a
  -- role gave before it was removed from identity_role); neither means there is nothing to revoke
  SELECT x INTO v_bad FROM unnest(NEW.entitlement_ids) x
  WHERE NOT EXISTS (SELECT 1 FROM identity_role ir JOIN role_entitlement re ON re.role_id = ir.role_id
                    WHERE ir.identity_id = NEW.identity_id AND re.entitlement_id = x)
    AND NOT EXISTS (SELECT 1 FROM entitlement e JOIN account ac ON ac.application_id = e.application_id
                    WHERE e.id = x AND ac.identity_id = NEW.identity_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'identity % ("%") does not hold entitlement %: no role of it gives it and it has no account in its application', NEW.identity_id, NEW.username, v_bad
      USING ERRCODE = 'PV204', COLUMN = 'entitlement_ids', HINT = 'SELECT * FROM account WHERE identity_id = ...';
  END IF;
  IF NEW.deactivate IS NULL THEN NEW.deactivate := false; END IF;
  IF NEW.dry_run IS NULL THEN NEW.dry_run := false; END IF;
  SELECT array_agg(DISTINCT e.application_id) INTO v_apps FROM entitlement e WHERE e.id = ANY (NEW.entitlement_ids);
  -- what is revoked: each entitlement's application and native key as they are now
  SELECT jsonb_agg(jsonb_build_object('entitlement_id', e.id, 'application_id', e.application_id, 'native_key', e.native_key) ORDER BY e.id)
  INTO NEW.entitlement_keys FROM entitlement e WHERE e.id = ANY (NEW.entitlement_ids);
  PERFORM access_applications_assert(v_apps);
  PERFORM access_claim_or_raise(NEW.identity_id, TG_RELID::regclass, NEW.id);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_access_revoke__validate() IS
  'BEFORE INSERT on provision_access_revoke (_110_validate): sets username and entitlement_keys, sorts and de-duplicates entitlement_ids. Raises 23502, PV201, PV203, PV204, PV206, PV207.';
