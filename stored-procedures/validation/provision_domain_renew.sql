-- provision_domain_renew (RFC 5731 <domain:renew>). Codes: 23502, PV101, PV103, PV105, PV106, PV115, PV116.
CREATE OR REPLACE FUNCTION tg_provision_domain_renew__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_expiry date;
BEGIN
  NEW.name := domain_name_assert(NEW.name);
  PERFORM years_assert(NEW.period, 'period');
  IF NEW.current_expiry_date IS NULL THEN
    RAISE EXCEPTION 'current_expiry_date is required (RFC 5731 §3.2.3 curExpDate)'
      USING ERRCODE = 'not_null_violation', COLUMN = 'current_expiry_date';
  END IF;
  IF NEW.ry_expiry_date IS NOT NULL THEN
    RAISE EXCEPTION 'ry_expiry_date is set by provisio from the registry''s answer, not on INSERT'
      USING ERRCODE = 'PV115', COLUMN = 'ry_expiry_date', HINT = 'leave it out of the INSERT';
  END IF;
  NEW.domain_id := domain_held_by(NEW.name, NEW.tenant_customer_id, NEW.accreditation_id);
  -- one operation in flight per domain; the claim may have waited for a transaction that changed it,
  -- so the inventory row is read again after it
  PERFORM domain_claim_or_raise(NEW.name, TG_RELID::regclass, NEW.id);
  NEW.domain_id := domain_held_by(NEW.name, NEW.tenant_customer_id, NEW.accreditation_id);
  v_expiry := (SELECT (ry_expiry_date AT TIME ZONE 'UTC')::date FROM domain WHERE id = NEW.domain_id);
  IF v_expiry <> NEW.current_expiry_date THEN
    RAISE EXCEPTION 'current_expiry_date % does not match the expiry in the inventory, %', NEW.current_expiry_date, v_expiry
      USING ERRCODE = 'PV105', COLUMN = 'current_expiry_date', HINT = 'SELECT ry_expiry_date FROM domain WHERE name = ...';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain_renew__validate() IS
  'BEFORE INSERT on provision_domain_renew. Normalises name, sets domain_id. Raises 23502, PV101, PV103, PV105 (expiry mismatch), PV106 (not held), PV115 (ry_expiry_date), PV116 (in flight).';

-- The inventory id of domain p_name held by tenant p_tenant under accreditation p_accreditation, or PV106.
-- Only that tenant's rows are read: the answer about another tenant's domain is the same as about a
-- domain nobody holds.
CREATE OR REPLACE FUNCTION domain_held_by(p_name text, p_tenant uuid, p_accreditation uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_id uuid;
BEGIN
  SELECT id INTO v_id FROM domain
  WHERE name = p_name AND deleted_date IS NULL AND tenant_customer_id = p_tenant AND accreditation_id = p_accreditation;
  IF v_id IS NULL THEN
    RAISE EXCEPTION 'name "%": the tenant does not hold this domain under accreditation %', p_name, p_accreditation
      USING ERRCODE = 'PV106', COLUMN = 'name', HINT = 'SELECT name FROM domain WHERE tenant_customer_id = ...';
  END IF;
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION domain_held_by(text, uuid, uuid) IS 'The domain inventory id, or raises PV106 (column name) when the tenant does not hold p_name under the accreditation.';
