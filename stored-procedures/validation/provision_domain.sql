-- provision_domain (RFC 5731 <domain:create>). Codes: 23502, PV101, PV102, PV103, PV104, PV109, PV118.
CREATE OR REPLACE FUNCTION tg_provision_domain__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_err text;
  v_ns text;
  v_field text;
  v_value text;
BEGIN
  IF NEW.name IS NULL THEN
    RAISE EXCEPTION 'name is required' USING ERRCODE = 'not_null_violation', COLUMN = 'name';
  END IF;
  NEW.name := lower(NEW.name);
  IF right(NEW.name, 1) = '.' THEN NEW.name := left(NEW.name, -1); END IF;
  v_err := fqdn_error(NEW.name);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'name "%" is not a valid domain name: %', NEW.name, v_err
      USING ERRCODE = 'PV101', COLUMN = 'name', HINT = 'letters, digits, hyphens; labels of 1..63; IDNs as A-labels';
  END IF;
  IF NEW.registration_period IS NULL OR NEW.registration_period NOT BETWEEN 1 AND 10 THEN
    RAISE EXCEPTION 'registration_period must be 1..10 years, got %', coalesce(NEW.registration_period::text, 'NULL')
      USING ERRCODE = 'PV103', COLUMN = 'registration_period', HINT = 'RFC 5731 §3.2.1: 1..99 allowed by the schema, registries allow 1..10';
  END IF;

  SELECT t.id INTO NEW.accreditation_tld_id
  FROM accreditation_tld t
  WHERE t.accreditation_id = NEW.accreditation_id AND NEW.name LIKE '%.' || t.tld
  ORDER BY length(t.tld) DESC LIMIT 1;
  IF NEW.accreditation_tld_id IS NULL THEN
    RAISE EXCEPTION 'name "%": the TLD is not served by accreditation %', NEW.name, NEW.accreditation_id
      USING ERRCODE = 'PV102', COLUMN = 'name', HINT = 'SELECT tld FROM accreditation_tld WHERE accreditation_id = ...';
  END IF;

  IF EXISTS (SELECT 1 FROM domain WHERE name = NEW.name AND deleted_date IS NULL) THEN
    RAISE EXCEPTION 'name "%": the domain is already held', NEW.name
      USING ERRCODE = 'PV104', COLUMN = 'name', HINT = 'renew it with provision_domain_renew instead';
  END IF;
  IF EXISTS (SELECT 1 FROM provision_domain WHERE name = NEW.name AND status_id IN (1, 2)) THEN
    RAISE EXCEPTION 'name "%": a create for this domain is already in flight', NEW.name
      USING ERRCODE = 'PV104', COLUMN = 'name', HINT = 'SELECT * FROM v_provision WHERE object_name = ...';
  END IF;

  FOR v_field, v_value IN
    SELECT * FROM (VALUES ('registrant', NEW.registrant), ('admin_contact', NEW.admin_contact),
                          ('tech_contact', NEW.tech_contact), ('billing_contact', NEW.billing_contact)) c(f, v)
    WHERE c.v IS NOT NULL
  LOOP
    v_err := contact_id_error(v_value);
    IF v_err IS NOT NULL THEN
      RAISE EXCEPTION '% "%" %', v_field, v_value, v_err USING ERRCODE = 'PV109', COLUMN = v_field;
    END IF;
  END LOOP;

  PERFORM authinfo_assert(NEW.pw);

  IF NEW.nameservers IS NULL THEN NEW.nameservers := '{}'; END IF;
  IF cardinality(NEW.nameservers) > 13 THEN
    RAISE EXCEPTION 'nameservers: at most 13 hosts, got %', cardinality(NEW.nameservers)
      USING ERRCODE = 'PV101', COLUMN = 'nameservers';
  END IF;
  NEW.nameservers := ARRAY(SELECT lower(n) FROM unnest(NEW.nameservers) n);
  FOREACH v_ns IN ARRAY NEW.nameservers LOOP
    v_err := fqdn_error(v_ns);
    IF v_err IS NOT NULL THEN
      RAISE EXCEPTION 'nameservers: "%" is not a valid host name: %', v_ns, v_err
        USING ERRCODE = 'PV101', COLUMN = 'nameservers';
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain__validate() IS
  'BEFORE INSERT on provision_domain (_110_validate). Normalises name to lower case, sets accreditation_tld_id. '
  'Raises 23502, PV101 (FQDN), PV102 (TLD not served), PV103 (period), PV104 (held or in flight), PV109 (contact id).';
