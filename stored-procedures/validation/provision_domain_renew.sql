-- provision_domain_renew (RFC 5731 <domain:renew>). Codes: 23502, PV101, PV103, PV105, PV106, PV116.
CREATE OR REPLACE FUNCTION tg_provision_domain_renew__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_domain domain;
  v_err text;
BEGIN
  IF NEW.name IS NULL THEN
    RAISE EXCEPTION 'name is required' USING ERRCODE = 'not_null_violation', COLUMN = 'name';
  END IF;
  NEW.name := lower(NEW.name);
  v_err := fqdn_error(NEW.name);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'name "%" is not a valid domain name: %', NEW.name, v_err USING ERRCODE = 'PV101', COLUMN = 'name';
  END IF;
  IF NEW.period IS NULL OR NEW.period NOT BETWEEN 1 AND 10 THEN
    RAISE EXCEPTION 'period must be 1..10 years, got %', coalesce(NEW.period::text, 'NULL')
      USING ERRCODE = 'PV103', COLUMN = 'period';
  END IF;
  IF NEW.current_expiry_date IS NULL THEN
    RAISE EXCEPTION 'current_expiry_date is required (RFC 5731 §3.2.3 curExpDate)'
      USING ERRCODE = 'not_null_violation', COLUMN = 'current_expiry_date';
  END IF;
  SELECT * INTO v_domain FROM domain
  WHERE name = NEW.name AND deleted_date IS NULL
    AND tenant_customer_id = NEW.tenant_customer_id AND accreditation_id = NEW.accreditation_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'name "%": the tenant does not hold this domain under accreditation %', NEW.name, NEW.accreditation_id
      USING ERRCODE = 'PV106', COLUMN = 'name', HINT = 'SELECT name FROM domain WHERE tenant_customer_id = ...';
  END IF;
  IF (v_domain.ry_expiry_date AT TIME ZONE 'UTC')::date <> NEW.current_expiry_date THEN
    RAISE EXCEPTION 'current_expiry_date % does not match the expiry in the inventory, %',
      NEW.current_expiry_date, (v_domain.ry_expiry_date AT TIME ZONE 'UTC')::date
      USING ERRCODE = 'PV105', COLUMN = 'current_expiry_date', HINT = 'SELECT ry_expiry_date FROM domain WHERE name = ...';
  END IF;
  PERFORM domain_assert_no_operation_in_flight(NEW.name);
  NEW.domain_id := v_domain.id;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain_renew__validate() IS
  'BEFORE INSERT on provision_domain_renew. Sets domain_id. Raises 23502, PV101, PV103, PV105 (expiry mismatch), PV106 (not held), PV116 (in flight).';

-- A renew or delete refuses to start while another renew or delete of the same name is in flight.
CREATE OR REPLACE FUNCTION domain_assert_no_operation_in_flight(p_name text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM provision_domain_renew WHERE name = p_name AND status_id IN (1, 2))
     OR EXISTS (SELECT 1 FROM provision_domain_delete WHERE name = p_name AND status_id IN (1, 2)) THEN
    RAISE EXCEPTION 'name "%": a renew or delete of this domain is already in flight', p_name
      USING ERRCODE = 'PV116', COLUMN = 'name', HINT = 'wait for it to finish: SELECT * FROM v_provision WHERE object_name = ...';
  END IF;
END
$$;
COMMENT ON FUNCTION domain_assert_no_operation_in_flight(text) IS 'Raises PV116 when a renew or delete of p_name is pending or processing.';
