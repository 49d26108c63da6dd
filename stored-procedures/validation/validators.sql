-- Syntax checks shared by the registry family's validation triggers (RFC 1034/1123, 3492, 5890-5893,
-- 5322, 5730-5733). Each returns NULL when the value is valid, otherwise the rule it breaks (a short
-- phrase used in the error message). All are IMMUTABLE: they read no table.

-- What an error message echoes of a caller's value: at most 64 characters, then "…" and the length, so
-- that a 1 MB name is not sent back whole.
CREATE OR REPLACE FUNCTION pv_echo(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_value IS NULL THEN 'NULL'
              WHEN length(p_value) <= 64 THEN p_value
              ELSE left(p_value, 64) || format('… (%s characters)', length(p_value)) END
$$;
COMMENT ON FUNCTION pv_echo(text) IS 'p_value for an error message: NULL as ''NULL'', over 64 characters cut with its length. Raises nothing.';

-- The one normal form of a domain or host name, for every operation (create, renew, delete, nameservers):
-- ASCII letters in lower case, and one trailing dot (the DNS root) removed. Only A-Z are folded: lower()
-- would turn U+212A KELVIN SIGN into "k" and "İ" into "i", and a name that is not ASCII must stay so
-- for fqdn_error to refuse it.
CREATE OR REPLACE FUNCTION domain_name_fold(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT translate(p_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
$$;
COMMENT ON FUNCTION domain_name_fold(text) IS 'p_name with A-Z (and nothing else) lower-cased. Raises nothing.';

-- (no FROM clause: an SQL function that is a single expression is inlined into its caller)
CREATE OR REPLACE FUNCTION domain_name_normalize(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN right(p_name, 1) = '.' THEN domain_name_fold(left(p_name, -1)) ELSE domain_name_fold(p_name) END
$$;
COMMENT ON FUNCTION domain_name_normalize(text) IS 'p_name with A-Z lower-cased and one trailing dot removed. Raises nothing.';

-- White space as a bracket expression's content: ASCII's (tab, LF, VT, FF, CR, space) and Unicode's
-- (U+0085, U+00A0, U+1680, U+2000..U+200B, U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF), which
-- btrim() and PostgreSQL's \s (locale-dependent) do not all see. One list for every check that needs it.
CREATE OR REPLACE FUNCTION white_space_chars() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200B\u2028\u2029\u202F\u205F\u3000\uFEFF'::text
$$;
COMMENT ON FUNCTION white_space_chars() IS 'The white space characters as the content of a regular expression bracket expression. Raises nothing.';

-- RFC 3492 §6.2 (Punycode decoding) of the part of an A-label after "xn--". Returns the U-label, or NULL
-- when the input is not valid Punycode: a character outside a-z 0-9 -, a truncated or overflowing
-- variable-length integer, or a code point beyond U+10FFFF or in the surrogate range.
CREATE OR REPLACE FUNCTION punycode_decode(p_input text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  c_base constant integer := 36;
  c_tmin constant integer := 1;
  c_tmax constant integer := 26;
  v_n bigint := 128;
  v_i bigint := 0;
  v_bias bigint := 72;
  v_out integer[] := '{}';
  v_b integer;
  v_in integer;
  v_len integer := length(p_input);
  v_oldi bigint;
  v_w bigint;
  v_k bigint;
  v_t bigint;
  v_digit integer;
  v_ch text;
  v_delta bigint;
  v_points integer;
BEGIN
  IF p_input IS NULL OR p_input !~ '^[a-z0-9-]*$' THEN RETURN NULL; END IF;
  -- the basic code points are everything before the last delimiter
  v_b := v_len - strpos(reverse(p_input), '-');
  IF strpos(p_input, '-') = 0 THEN v_b := 0; END IF;
  -- (RFC 3492 §6.2: the delimiter is consumed only when code points came before it, so a leading "-"
  -- with nothing before it is read as a digit, and fails)
  IF v_b > 0 THEN
    v_out := ARRAY(SELECT ascii(c) FROM regexp_split_to_table(left(p_input, v_b), '') c);
    v_in := v_b + 1;
  ELSE
    v_in := 0;
  END IF;
  WHILE v_in < v_len LOOP
    v_oldi := v_i;
    v_w := 1;
    v_k := c_base;
    LOOP
      IF v_in >= v_len THEN RETURN NULL; END IF;
      v_ch := substr(p_input, v_in + 1, 1);
      v_in := v_in + 1;
      v_digit := CASE WHEN v_ch BETWEEN 'a' AND 'z' THEN ascii(v_ch) - 97
                      WHEN v_ch BETWEEN '0' AND '9' THEN ascii(v_ch) - 22 END;
      IF v_digit IS NULL THEN RETURN NULL; END IF;
      IF v_digit > (2147483647 - v_i) / v_w THEN RETURN NULL; END IF;
      v_i := v_i + v_digit * v_w;
      v_t := CASE WHEN v_k <= v_bias THEN c_tmin WHEN v_k >= v_bias + c_tmax THEN c_tmax ELSE v_k - v_bias END;
      EXIT WHEN v_digit < v_t;
      IF v_w > 2147483647 / (c_base - v_t) THEN RETURN NULL; END IF;
      v_w := v_w * (c_base - v_t);
      v_k := v_k + c_base;
    END LOOP;
    v_points := cardinality(v_out) + 1;
    -- adapt the bias (RFC 3492 §6.1)
    v_delta := CASE WHEN v_oldi = 0 THEN (v_i - v_oldi) / 700 ELSE (v_i - v_oldi) / 2 END;
    v_delta := v_delta + v_delta / v_points;
    v_k := 0;
    WHILE v_delta > ((c_base - c_tmin) * c_tmax) / 2 LOOP
      v_delta := v_delta / (c_base - c_tmin);
      v_k := v_k + c_base;
    END LOOP;
    v_bias := v_k + ((c_base - c_tmin + 1) * v_delta) / (v_delta + 38);
    v_n := v_n + v_i / v_points;
    v_i := v_i % v_points;
    IF v_n > 1114111 OR v_n BETWEEN 55296 AND 57343 THEN RETURN NULL; END IF;
    v_out := v_out[1:v_i] || v_n::integer || v_out[v_i + 1:];
    v_i := v_i + 1;
  END LOOP;
  RETURN (SELECT string_agg(chr(c), '' ORDER BY o) FROM unnest(v_out) WITH ORDINALITY u(c, o));
END
$$;
COMMENT ON FUNCTION punycode_decode(text) IS 'RFC 3492 decoding of p_input (the A-label without "xn--"); NULL when it is not valid Punycode. Raises nothing.';

-- Why an A-label (RFC 5890 §2.3.2.1) is not one, or NULL: its Punycode must decode (RFC 3492) to a
-- U-label that holds a non-ASCII character, is lower case, holds no space, control or noncharacter,
-- neither starts nor ends with a hyphen nor has hyphens in positions 3 and 4 (RFC 5891 §4.2.3.1), does
-- not start with a combining mark (§4.2.3.2; the main combining blocks), and does not mix right-to-left
-- scripts with ASCII letters (RFC 5893's Bidi rule, checked for the Hebrew, Arabic and other RTL blocks).
-- Not a full IDNA2008 check (RFC 5892's code point tables, contextual rules, NFC).
CREATE OR REPLACE FUNCTION alabel_error(p_label text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_u text := punycode_decode(substr(p_label, 5));
BEGIN
  IF v_u IS NULL OR v_u = '' THEN RETURN 'is not valid Punycode (RFC 3492)'; END IF;
  IF v_u !~ '[^\x01-\x7f]' THEN RETURN 'decodes to ASCII only, which is not an IDN (RFC 5890 §2.3.2.1)'; END IF;
  IF v_u <> lower(v_u) THEN RETURN 'decodes to upper-case characters (RFC 5891 §5.3: U-labels are lower case)'; END IF;
  IF v_u ~ ('[\x01-\x20\x7f-\x9f\ufffe\uffff' || white_space_chars() || ']') THEN
    RETURN 'decodes to a space, control or noncharacter (RFC 5892: DISALLOWED)';
  END IF;
  IF v_u ~ '^-|-$' OR substr(v_u, 3, 2) = '--' THEN
    RETURN 'decodes to a U-label with a hyphen at either end or in positions 3 and 4 (RFC 5891 §4.2.3.1)';
  END IF;
  IF v_u ~ '^[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]' THEN
    RETURN 'decodes to a U-label that starts with a combining mark (RFC 5891 §4.2.3.2)';
  END IF;
  IF v_u ~ '[a-z]' AND v_u ~ '[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe]' THEN
    RETURN 'mixes right-to-left characters with ASCII letters (RFC 5893 Bidi rule)';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION alabel_error(text) IS 'NULL if p_label ("xn--...") is a valid A-label as far as provisio checks, else the broken rule. Raises nothing.';

-- A fully qualified domain name (RFC 1034 §3.5, RFC 1123 §2.1, RFC 5890/5891 for IDNs): 2+ labels,
-- at most 253 characters, each label 1..63 of letters, digits and hyphens, no hyphen at either end,
-- IDNs only as valid A-labels (xn--... that decode, alabel_error; a label with hyphens in positions 3-4
-- must start with xn--), and an all-numeric TLD is not allowed. Expects domain_name_normalize()'s form:
-- lower case, no trailing dot (a dot left at the end is an empty label).
CREATE OR REPLACE FUNCTION fqdn_error(p_name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_label text;
  v_labels text[];
  v_err text;
BEGIN
  IF p_name IS NULL THEN RETURN 'is required'; END IF;
  IF p_name ~ '[^\x01-\x7f]' THEN RETURN 'must be ASCII: give IDNs as A-labels (xn--...)'; END IF;
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
    IF v_label ~ '^xn--' THEN
      v_err := alabel_error(v_label);
      IF v_err IS NOT NULL THEN RETURN format('label "%s" %s', v_label, v_err); END IF;
    END IF;
  END LOOP;
  IF v_labels[cardinality(v_labels)] ~ '^[0-9]+$' THEN RETURN 'the TLD must not be all digits'; END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION fqdn_error(text) IS 'NULL if p_name is a valid FQDN in domain_name_normalize() form (RFC 1034/1123, A-labels per RFC 5890/5891/3492), else the broken rule. Raises nothing.';

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

-- RFC 5733 §2.6: e-mail per RFC 5322 addr-spec; provisio checks a dot-atom local part (RFC 5322 §3.2.3:
-- atext runs joined by single dots, none at either end; 1..64 characters, RFC 5321 §4.5.3.1.1) and a
-- valid domain. Quoted local parts are refused (registries refuse them in practice).
CREATE OR REPLACE FUNCTION email_error(p_email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_email IS NULL THEN 'is required'
    WHEN length(p_email) > 254 THEN 'must be at most 254 characters'
    WHEN p_email !~ '^[^@]{1,64}@[^@]+$' THEN 'must be local-part@domain with a local part of 1..64 characters (RFC 5322 addr-spec)'
    WHEN p_email !~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@'
      THEN 'must have a dot-atom local part: letters, digits and !#$%&''*+/=?^_`{|}~- in runs joined by single dots, none at either end (RFC 5322 §3.2.3)'
    WHEN fqdn_error(domain_name_fold(split_part(p_email, '@', 2))) IS NOT NULL
      THEN 'has an invalid domain: ' || fqdn_error(domain_name_fold(split_part(p_email, '@', 2)))
  END
$$;
COMMENT ON FUNCTION email_error(text) IS 'NULL if p_email is a syntactically valid RFC 5322 address (dot-atom local part), else the broken rule. Raises nothing.';

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

-- Characters XML 1.0 cannot carry (§2.2 Char: no C0 control but tab, LF, CR; no U+FFFE, U+FFFF) or
-- discourages (DEL and the C1 controls), and tab, LF and CR too: no value provisio sends to a registry
-- is a block of text. PostgreSQL text cannot hold U+0000 at all (22021).
CREATE OR REPLACE FUNCTION xml_text_error(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_value ~ '[\x01-\x1F\x7F-\x9F]' THEN 'may not hold control characters (XML 1.0 §2.2)'
    WHEN p_value ~ '[\uFFFE\uFFFF]' THEN 'may not hold U+FFFE or U+FFFF (not XML 1.0 characters, §2.2)'
  END
$$;
COMMENT ON FUNCTION xml_text_error(text) IS 'NULL if p_value holds only characters XML 1.0 carries (and no tab, LF, CR, DEL or C1 control), else the broken rule. Raises nothing.';

-- True when p_value is empty or only white space, Unicode's included (U+00A0, U+2000..U+200B, U+3000, ...),
-- which btrim() alone would not see.
CREATE OR REPLACE FUNCTION is_blank(p_value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_value ~ ('^[' || white_space_chars() || ']*$')
$$;
COMMENT ON FUNCTION is_blank(text) IS 'True if p_value is empty or Unicode white space only; NULL for NULL. Raises nothing.';

-- RFC 5730 §4 (eppcom pwAuthInfoType) and RFC 5731 §3.2.1 / RFC 5733 §3.2.1: authInfo <pw> is an XML
-- token. provisio asks for 6..64 characters (what registries accept in practice) and refuses characters
-- XML cannot carry (xml_text_error) and leading, trailing or repeated spaces (not a token). Other white
-- space, such as U+00A0, is an ordinary character of a token and is sent and compared exactly.
CREATE OR REPLACE FUNCTION authinfo_error(p_pw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_pw IS NULL THEN NULL
    WHEN length(p_pw) NOT BETWEEN 6 AND 64 THEN format('must be 6..64 characters, got %s', length(p_pw))
    WHEN xml_text_error(p_pw) IS NOT NULL THEN xml_text_error(p_pw) || ' (RFC 5730 pwType is an XML token)'
    WHEN p_pw ~ '^ | $|  ' THEN 'may not start or end with a space or hold two in a row (RFC 5730 pwType is an XML token)'
    WHEN is_blank(p_pw) THEN 'may not be only white space'
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

-- RFC 5733 §2.3: postal info lines are postalLineType (1..255 characters; pc: at most 16): not only white
-- space, and only characters XML 1.0 carries (xml_text_error).
CREATE OR REPLACE FUNCTION postal_text_error(p_value text, p_max integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_value IS NULL THEN NULL
    WHEN length(p_value) > p_max THEN format('must be at most %s characters, got %s', p_max, length(p_value))
    WHEN is_blank(p_value) THEN 'may not be empty or only white space'
    ELSE xml_text_error(p_value)
  END
$$;
COMMENT ON FUNCTION postal_text_error(text, integer) IS 'NULL if p_value is NULL or 1..p_max characters, not blank, XML-safe; else the broken rule. Raises nothing.';

-- callable by the worker and order roles
GRANT EXECUTE ON FUNCTION fqdn_error(text), alabel_error(text), punycode_decode(text), contact_id_error(text), email_error(text), e164_error(text)
  TO provisio_worker, provisio_order;
