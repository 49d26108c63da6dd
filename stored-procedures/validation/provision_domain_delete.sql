-- provision_domain_delete (RFC 5731 <domain:delete>). Codes: 23502, PV101, PV106, PV116.
CREATE OR REPLACE FUNCTION tg_provision_domain_delete__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
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
  SELECT id INTO NEW.domain_id FROM domain
  WHERE name = NEW.name AND deleted_date IS NULL
    AND tenant_customer_id = NEW.tenant_customer_id AND accreditation_id = NEW.accreditation_id;
  IF NEW.domain_id IS NULL THEN
    RAISE EXCEPTION 'name "%": the tenant does not hold this domain under accreditation %', NEW.name, NEW.accreditation_id
      USING ERRCODE = 'PV106', COLUMN = 'name';
  END IF;
  PERFORM domain_assert_no_operation_in_flight(NEW.name);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain_delete__validate() IS
  'BEFORE INSERT on provision_domain_delete. Sets domain_id. Raises 23502, PV101, PV106 (not held), PV116 (in flight).';
