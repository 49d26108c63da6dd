-- provision_domain (RFC 5731 <domain:create>). Codes: 23502, PV101, PV102, PV103, PV104, PV109, PV115, PV118.
CREATE OR REPLACE FUNCTION tg_provision_domain__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_err text;
  v_ns text;
  v_field text;
  v_value text;
BEGIN
  NEW.name := domain_name_assert(NEW.name);
  PERFORM years_assert(NEW.registration_period, 'registration_period');
  IF NEW.ry_created_date IS NOT NULL OR NEW.ry_expiry_date IS NOT NULL THEN
    v_field := CASE WHEN NEW.ry_created_date IS NOT NULL THEN 'ry_created_date' ELSE 'ry_expiry_date' END;
    RAISE EXCEPTION '% is set by provisio from the registry''s answer, not on INSERT', v_field
      USING ERRCODE = 'PV115', COLUMN = v_field, HINT = 'leave it out of the INSERT';
  END IF;

  FOR v_field, v_value IN
    SELECT * FROM (VALUES ('registrant', NEW.registrant), ('admin_contact', NEW.admin_contact),
                          ('tech_contact', NEW.tech_contact), ('billing_contact', NEW.billing_contact)) c(f, v)
    WHERE c.v IS NOT NULL
  LOOP
    v_err := contact_id_error(v_value);
    IF v_err IS NOT NULL THEN
      RAISE EXCEPTION '% "%" %', v_field, pv_echo(v_value), v_err USING ERRCODE = 'PV109', COLUMN = v_field;
    END IF;
  END LOOP;

  PERFORM authinfo_assert(NEW.pw);

  -- nameservers: one normal form (domain_name_normalize), then no host twice
  IF NEW.nameservers IS NULL THEN NEW.nameservers := '{}'; END IF;
  IF array_ndims(NEW.nameservers) > 1 THEN
    RAISE EXCEPTION 'nameservers must be a one-dimensional array of host names' USING ERRCODE = 'PV101', COLUMN = 'nameservers';
  END IF;
  IF cardinality(NEW.nameservers) > 13 THEN
    RAISE EXCEPTION 'nameservers: at most 13 hosts, got %', cardinality(NEW.nameservers)
      USING ERRCODE = 'PV101', COLUMN = 'nameservers';
  END IF;
  IF cardinality(NEW.nameservers) > 0 THEN
    NEW.nameservers := ARRAY(SELECT domain_name_assert(n, 'nameservers') FROM unnest(NEW.nameservers) WITH ORDINALITY u(n, o) ORDER BY o);
    SELECT n INTO v_ns FROM unnest(NEW.nameservers) n GROUP BY n HAVING count(*) > 1 LIMIT 1;
    IF v_ns IS NOT NULL THEN
      RAISE EXCEPTION 'nameservers: "%" is given more than once (names compare in lower case, without a trailing dot)', v_ns
        USING ERRCODE = 'PV101', COLUMN = 'nameservers';
    END IF;
  END IF;

  NEW.accreditation_tld_id := accreditation_tld_of(NEW.accreditation_id, NEW.name);
  IF NEW.accreditation_tld_id IS NULL THEN
    RAISE EXCEPTION 'name "%": the TLD is not served by accreditation %', NEW.name, NEW.accreditation_id
      USING ERRCODE = 'PV102', COLUMN = 'name', HINT = 'SELECT tld FROM accreditation_tld WHERE accreditation_id = ...';
  END IF;

  -- held (by anyone: a registered name is public), then claimed for this create (one operation in flight
  -- per domain, also against INSERTs not yet committed), then held again (a new statement): the claim may
  -- have waited for a transaction that registered it
  PERFORM domain_assert_not_held(NEW.name);
  IF provision_claim('domain:' || NEW.name, TG_RELID::regclass, NEW.id) IS NOT TRUE THEN
    RAISE EXCEPTION 'name "%": another operation on this domain is already in flight', NEW.name
      USING ERRCODE = 'PV104', COLUMN = 'name', HINT = 'SELECT * FROM v_provision WHERE object_name = ...';
  END IF;
  PERFORM domain_assert_not_held(NEW.name);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain__validate() IS
  'BEFORE INSERT on provision_domain (_110_validate). Normalises name and nameservers (lower case, no trailing dot), sets accreditation_tld_id. '
  'Raises 23502, PV101 (FQDN, nameservers), PV102 (TLD not served), PV103 (period), PV104 (held or in flight), PV109 (contact id), PV115 (ry_*), PV118 (pw).';

-- Whether a live inventory row holds domain p_name (any tenant: a registered name is public).
-- Raises PV104 when a live inventory row holds domain p_name (any tenant: a registered name is public).
-- plpgsql, so that its query plan is kept for the session (validation calls it twice per row).
CREATE OR REPLACE FUNCTION domain_assert_not_held(p_name text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM domain WHERE name = p_name AND deleted_date IS NULL) THEN
    RAISE EXCEPTION 'name "%": the domain is already held', p_name
      USING ERRCODE = 'PV104', COLUMN = 'name', HINT = 'renew it with provision_domain_renew instead';
  END IF;
END
$$;
COMMENT ON FUNCTION domain_assert_not_held(text) IS 'Raises PV104 (column name) when the inventory holds domain p_name (not deleted).';
