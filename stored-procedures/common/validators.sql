-- Syntax checks shared by the validation triggers. Each returns NULL when the value is valid, otherwise
-- the rule it breaks (a short phrase used in the error message). All are IMMUTABLE: they read no table.

-- A fully qualified domain name (RFC 1034 §3.5, RFC 1123 §2.1, RFC 5890/5891 for IDNs): 2+ labels,
-- at most 253 characters, each label 1..63 of letters, digits and hyphens, no hyphen at either end,
-- IDNs only as A-labels (xn--...; a label with hyphens in positions 3-4 must start with xn--), and an
-- all-numeric TLD is not allowed. Lower-case is expected (callers lower-case first).
CREATE OR REPLACE FUNCTION fqdn_error(p_name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_label text;
  v_labels text[];
BEGIN
  IF p_name IS NULL THEN RETURN 'is required'; END IF;
  IF p_name ~ '[^\x01-\x7f]' THEN RETURN 'must be ASCII: give IDNs as A-labels (xn--...)'; END IF;
  IF p_name ~ '\.$' THEN p_name := left(p_name, -1); END IF;
  IF length(p_name) = 0 THEN RETURN 'must not be empty'; END IF;
  IF length(p_name) > 253 THEN RETURN format('must be at most 253 characters, got %s', length(p_name)); END IF;
  v_labels := string_to_array(p_name, '.');
  IF cardinality(v_labels) < 2 THEN RETURN 'must have at least two labels'; END IF;
  FOREACH v_label IN ARRAY v_labels LOOP
    IF length(v_label) = 0 THEN RETURN 'must not contain an empty label'; END IF;
    IF length(v_label) > 63 THEN RETURN format('label "%s" is longer than 63 characters', left(v_label, 20) || '...'); END IF;
    IF v_label !~ '^[a-z0-9-]+$' THEN RETURN format('label "%s" may hold only letters, digits and hyphens', v_label); END IF;
    IF v_label ~ '^-|-$' THEN RETURN format('label "%s" must not start or end with a hyphen', v_label); END IF;
    IF substr(v_label, 3, 2) = '--' AND v_label !~ '^xn--' THEN
      RETURN format('label "%s" has hyphens in positions 3-4 but is not an A-label (xn--)', v_label);
    END IF;
  END LOOP;
  IF v_labels[cardinality(v_labels)] ~ '^[0-9]+$' THEN RETURN 'the TLD must not be all digits'; END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION fqdn_error(text) IS 'NULL if p_name is a valid lower-case FQDN (RFC 1034/1123, A-labels per RFC 5891), else the broken rule. Raises nothing.';

-- RFC 5730 §4 / RFC 5733 §4: contact:id is an epp:clIDType, a token of 3..16 characters. provisio also
-- refuses whitespace and non-printable characters, which registries refuse in practice.
CREATE OR REPLACE FUNCTION contact_id_error(p_id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_id IS NULL THEN 'is required'
    WHEN length(p_id) NOT BETWEEN 3 AND 16 THEN format('must be 3..16 characters (RFC 5733 clIDType), got %s', length(p_id))
    WHEN p_id !~ '^[!-~]+$' THEN 'may hold only printable ASCII without spaces (RFC 5733 clIDType)'
  END
$$;
COMMENT ON FUNCTION contact_id_error(text) IS 'NULL if p_id is a valid RFC 5733 contact:id, else the broken rule. Raises nothing.';

-- RFC 5733 §2.6: e-mail per RFC 5322 addr-spec; provisio checks local@domain with a valid domain.
CREATE OR REPLACE FUNCTION email_error(p_email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_email IS NULL THEN 'is required'
    WHEN length(p_email) > 254 THEN 'must be at most 254 characters'
    WHEN p_email !~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]{1,64}@[^@]+$' THEN 'must be local-part@domain (RFC 5322 addr-spec)'
    WHEN fqdn_error(lower(split_part(p_email, '@', 2))) IS NOT NULL THEN 'has an invalid domain: ' || fqdn_error(lower(split_part(p_email, '@', 2)))
  END
$$;
COMMENT ON FUNCTION email_error(text) IS 'NULL if p_email is a syntactically valid RFC 5322 address, else the broken rule. Raises nothing.';

-- RFC 5733 §2.5: voice and fax are e164StringType: "+" country code (1-3 digits) "." number, at most
-- 17 characters in all.
CREATE OR REPLACE FUNCTION e164_error(p_number text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_number IS NULL THEN NULL
    WHEN p_number !~ '^\+[0-9]{1,3}\.[0-9]{1,14}$' OR length(p_number) > 17
      THEN 'must be +CC.NUMBER (RFC 5733 e164StringType), e.g. +1.7035555555'
  END
$$;
COMMENT ON FUNCTION e164_error(text) IS 'NULL if p_number is NULL or a valid RFC 5733 e164 number, else the broken rule. Raises nothing.';

-- RFC 5730 §4 (eppcom pwAuthInfoType) and RFC 5731 §3.2.1 / RFC 5733 §3.2.1: authInfo <pw> is an XML
-- token. provisio asks for 6..64 characters (what registries accept in practice) and refuses control
-- characters (not allowed in XML 1.0) and leading, trailing or repeated spaces (not a token).
CREATE OR REPLACE FUNCTION authinfo_error(p_pw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_pw IS NULL THEN NULL
    WHEN length(p_pw) NOT BETWEEN 6 AND 64 THEN format('must be 6..64 characters, got %s', length(p_pw))
    WHEN p_pw ~ '[\x01-\x1F\x7F-\x9F]' THEN 'may not hold control characters (RFC 5730 pwType is an XML token)'
    WHEN p_pw ~ '^\s|\s$|\s\s' THEN 'may not start or end with a space or hold two in a row (RFC 5730 pwType is an XML token)'
  END
$$;
COMMENT ON FUNCTION authinfo_error(text) IS 'NULL if p_pw is NULL or a valid authInfo password (6..64 characters, an XML token), else the broken rule. Raises nothing.';

-- The pw column check every provision table with an authInfo makes (provision_domain, provision_contact).
CREATE OR REPLACE FUNCTION authinfo_assert(p_pw text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_err text := authinfo_error(p_pw);
BEGIN
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'pw (authInfo) %', v_err USING ERRCODE = 'PV118', COLUMN = 'pw',
      HINT = '6..64 characters, no control characters, no leading, trailing or repeated spaces';
  END IF;
END
$$;
COMMENT ON FUNCTION authinfo_assert(text) IS 'Raises PV118 (column pw) when authinfo_error(p_pw) names a broken rule.';

-- RFC 5733 §2.3: postal info lines are postalLineType (1..255 characters; pc: at most 16). Control
-- characters are refused: XML 1.0 cannot carry most of them.
CREATE OR REPLACE FUNCTION postal_text_error(p_value text, p_max integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_value IS NULL THEN NULL
    WHEN length(p_value) > p_max THEN format('must be at most %s characters, got %s', p_max, length(p_value))
    WHEN p_value ~ '[\x01-\x1F\x7F-\x9F]' THEN 'may not hold control characters (XML 1.0)'
  END
$$;
COMMENT ON FUNCTION postal_text_error(text, integer) IS 'NULL if p_value is NULL or at most p_max characters without control characters, else the broken rule. Raises nothing.';
