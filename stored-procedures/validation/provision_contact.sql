-- provision_contact (RFC 5733 <contact:create>). Codes: 23502, PV109, PV110, PV111, PV114, PV115, PV117, PV118.
CREATE OR REPLACE FUNCTION tg_provision_contact__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_err text;
  v_field text;
  v_value text;
  v_max integer;
BEGIN
  v_err := contact_id_error(NEW.contact_id);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'contact_id "%" %', pv_echo(NEW.contact_id), v_err USING ERRCODE = 'PV109', COLUMN = 'contact_id';
  END IF;
  v_err := email_error(NEW.email);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'email "%" %', pv_echo(NEW.email), v_err USING ERRCODE = 'PV110', COLUMN = 'email';
  END IF;
  v_err := e164_error(NEW.voice);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'voice "%" %', pv_echo(NEW.voice), v_err USING ERRCODE = 'PV111', COLUMN = 'voice';
  END IF;
  v_err := e164_error(NEW.fax);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'fax "%" %', pv_echo(NEW.fax), v_err USING ERRCODE = 'PV111', COLUMN = 'fax';
  END IF;
  IF NEW.name IS NULL OR is_blank(NEW.name) THEN
    RAISE EXCEPTION 'name is required: 1..255 characters, not only white space (RFC 5733 §2.3 postalInfo name)' USING ERRCODE = 'PV117', COLUMN = 'name';
  END IF;
  IF NEW.city IS NULL OR is_blank(NEW.city) THEN
    RAISE EXCEPTION 'city is required: 1..255 characters, not only white space (RFC 5733 §2.3 addr city)' USING ERRCODE = 'PV117', COLUMN = 'city';
  END IF;
  IF NEW.cc IS NULL OR NEW.cc !~ '^[A-Za-z]{2}$' THEN
    RAISE EXCEPTION 'cc "%" must be a two-letter ISO 3166-1 country code (RFC 5733 §2.3)', pv_echo(NEW.cc) USING ERRCODE = 'PV117', COLUMN = 'cc';
  END IF;
  NEW.cc := upper(NEW.cc);
  IF array_ndims(NEW.street) > 1 THEN
    RAISE EXCEPTION 'street must be a one-dimensional array of up to 3 lines (RFC 5733 §2.3), got % dimensions', array_ndims(NEW.street)
      USING ERRCODE = 'PV117', COLUMN = 'street';
  END IF;
  IF cardinality(coalesce(NEW.street, '{}')) > 3 THEN
    RAISE EXCEPTION 'street: at most 3 lines (RFC 5733 §2.3), got %', cardinality(NEW.street) USING ERRCODE = 'PV117', COLUMN = 'street';
  END IF;
  FOR v_field, v_value, v_max IN
    SELECT * FROM (VALUES ('name', NEW.name, 255), ('org', NEW.org, 255), ('city', NEW.city, 255), ('sp', NEW.sp, 255), ('pc', NEW.pc, 16)) f(f, v, m)
    UNION ALL
    SELECT 'street', coalesce(s, ''), 255 FROM unnest(NEW.street) s
  LOOP
    v_err := CASE WHEN v_field = 'street' AND v_value = '' THEN 'lines may not be NULL or empty' ELSE postal_text_error(v_value, v_max) END;
    IF v_err IS NOT NULL THEN
      RAISE EXCEPTION '% %', v_field, v_err USING ERRCODE = 'PV117', COLUMN = v_field;
    END IF;
  END LOOP;
  PERFORM authinfo_assert(NEW.pw);
  IF NEW.ry_created_date IS NOT NULL THEN
    RAISE EXCEPTION 'ry_created_date is set by provisio from the registry''s answer, not on INSERT'
      USING ERRCODE = 'PV115', COLUMN = 'ry_created_date', HINT = 'leave it out of the INSERT';
  END IF;
  -- exists, then claimed for this create (one operation in flight per contact, also against INSERTs not
  -- yet committed), then exists again: the claim may have waited for a transaction that created it
  -- (three statements, so that the last one reads with a snapshot taken after the claim)
  v_err := NULL;
  IF contact_exists(NEW.accreditation_id, NEW.contact_id) THEN
    v_err := 'already exists';
  ELSIF provision_claim('contact:' || NEW.accreditation_id || ':' || NEW.contact_id, TG_RELID::regclass, NEW.id) IS NOT TRUE THEN
    v_err := 'has a create in flight';
  ELSIF contact_exists(NEW.accreditation_id, NEW.contact_id) THEN
    v_err := 'already exists';
  END IF;
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'contact_id "%" % under this accreditation', NEW.contact_id, v_err
      USING ERRCODE = 'PV114', COLUMN = 'contact_id';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_contact__validate() IS
  'BEFORE INSERT on provision_contact. Raises 23502, PV109 (id), PV110 (email), PV111 (voice/fax), PV114 (exists or in flight), '
  'PV115 (ry_created_date), PV117 (postal info), PV118 (pw).';

-- Whether the inventory holds contact p_contact_id under accreditation p_accreditation (not deleted).
CREATE OR REPLACE FUNCTION contact_exists(p_accreditation uuid, p_contact_id text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM contact WHERE accreditation_id = p_accreditation AND contact_id = p_contact_id AND deleted_date IS NULL);
END
$$;
COMMENT ON FUNCTION contact_exists(uuid, text) IS 'True when the inventory holds the contact under the accreditation. Raises nothing.';
