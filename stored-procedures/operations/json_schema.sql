-- JSON Schema, a subset checked in SQL (docs/decisions/0008-workflows.md §2): a workflow template's
-- input_schema is checked at publish and a run's input at INSERT, where ajv cannot run. Semantics are those
-- of draft 2020-12 for the subset below; test/sql/json-schema.property.test.ts checks them against ajv
-- 8 (Ajv2020 with ajv-formats), which is a devDependency only.
--
--   json_schema_subset_error(schema)          NULL, or where and why the schema is outside the subset
--   json_schema_error(schema, value)          the first error of value: (path, message), or NULLs
--   json_schema_apply_defaults(schema, value) value with the defaults of absent object properties filled in
--
-- The subset: a boolean schema, or an object of the keywords
--   type (one of null, boolean, object, array, number, integer, string, or a non-empty array of them without
--   repeats), properties (an object of schemas), required (an array of unique strings), additionalProperties
--   (a schema), items (one schema), minItems, maxItems, minLength, maxLength (non-negative integers), enum (a
--   non-empty array), const, minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers), pattern,
--   format (email, uuid, date, date-time or hostname), default;
--   annotations, accepted and ignored: title, description, $comment (strings), examples (an array), and at
--   the root only $schema (exactly https://json-schema.org/draft/2020-12/schema) and $id (an absolute http,
--   https or urn URI without a fragment).
-- Anything else ($ref, $defs, allOf, anyOf, oneOf, not, if/then/else, patternProperties, prefixItems,
-- dependentRequired, multipleOf, uniqueItems, unknown keywords...) is refused as "not supported".
--
-- pattern is a PostgreSQL ARE, searched unanchored as ECMA-262's RegExp.test is. So that a pattern means the
-- same in both, the subset refuses what only one of them has or what they read differently: "(?" other than
-- "(?:" (lookarounds, named groups, embedded options), escapes other than \d \D \w \W \s \S \n \r \t \f \v,
-- \uXXXX and an escaped punctuation character (so no \b, backreferences, \x, \p, nor ARE's \m \y \A \Z...),
-- POSIX classes "[[:", "[[.", "[[=", the bracket expressions "[]" and "[^]", a "{" that does not start a
-- {m}, {m,} or {m,n} bound, a lone "]" or "}", \D \W \S inside brackets, and the ARE director "***". Where
-- the two read the same syntax otherwise, the pattern is rewritten before it is matched
-- (json_schema_pattern_are): \d \w \s as ECMA-262's ASCII digits, word characters and white space, "." as any
-- character but a line terminator.
--
-- format follows ajv-formats 3 ("full" mode, its default), so that the two agree:
--   email      local@domain: the local part runs of a-z 0-9 !#$%&'*+/=?^_`{|}~- joined by single dots; the
--              domain two or more labels of letters, digits and inner hyphens (at least one dot; no length
--              limits); case-insensitive
--   uuid       8-4-4-4-12 hexadecimal digits, either case, optionally prefixed by "urn:uuid:" (as ajv-formats)
--   date       YYYY-MM-DD, a valid day of the Gregorian calendar
--   date-time  a date, "T", "t" or one white space character, then hh:mm:ss[.fraction] and a time zone Z, z,
--              +hh, +hhmm or +hh:mm (or -); hours <= 23, minutes <= 59, seconds < 60, and a leap second
--              :60 only at 23:59 UTC
--   hostname   RFC 1123: labels of 1..63 letters, digits and inner hyphens joined by dots, 253 characters
--              at most, one trailing dot allowed
-- Formats apply to strings only, as every keyword applies only to the instance types it is about.

-- p_token escaped as one reference token of a JSON pointer (RFC 6901: ~ as ~0, / as ~1).
CREATE OR REPLACE FUNCTION json_pointer_token(p_token text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT replace(replace(p_token, '~', '~0'), '/', '~1')
$$;
COMMENT ON FUNCTION json_pointer_token(text) IS 'p_token escaped as a JSON pointer reference token (RFC 6901). Raises nothing.';

-- The subset's pattern p_pattern (ECMA-262 syntax, the part of it that PostgreSQL's ARE shares) as an ARE
-- that matches what ECMA-262 with the u flag matches: \d, \w, \s (and \D, \W, \S outside brackets) are
-- spelt as ECMA-262's ASCII digits, ASCII word characters and white space, and "." outside brackets as any
-- character but a line terminator (ARE's class escapes follow the locale, and its "." matches a newline).
-- error is why p_pattern is outside the subset (are is NULL then): see the head of this file.
CREATE OR REPLACE FUNCTION json_schema_pattern_are(p_pattern text, OUT are text, OUT error text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  n integer := char_length(p_pattern);
  i integer := 1;
  c text;
  d text;
  v_bracket boolean := false;
  v_m text;
  v_out text := '';
  c_space constant text := '\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';
BEGIN
  IF left(p_pattern, 3) = '***' THEN error := 'pattern starts with the ARE director "***", which ECMA-262 does not have'; RETURN; END IF;
  WHILE i <= n LOOP
    c := substr(p_pattern, i, 1);
    IF c = '\' THEN
      d := substr(p_pattern, i + 1, 1);
      IF d = 'u' THEN
        IF substr(p_pattern, i + 2, 4) !~ '^[0-9A-Fa-f]{4}$' THEN error := 'pattern has \u without 4 hexadecimal digits'; RETURN; END IF;
        v_out := v_out || substr(p_pattern, i, 6);
        i := i + 6;
        CONTINUE;
      END IF;
      IF d = '' OR strpos('dDwWsSnrtfv\^$.*+?()[]{}|/', d) = 0 AND NOT (v_bracket AND d = '-') THEN
        error := format('pattern has the escape \%s, which the subset refuses (it differs between ECMA-262 and PostgreSQL, or one of them lacks it)', d);
        RETURN;
      END IF;
      IF v_bracket AND d IN ('D', 'W', 'S') THEN
        error := format('pattern has \%s in a bracket expression, which the subset refuses', d);
        RETURN;
      END IF;
      v_out := v_out || CASE d
        WHEN 'd' THEN CASE WHEN v_bracket THEN '0-9' ELSE '[0-9]' END
        WHEN 'w' THEN CASE WHEN v_bracket THEN 'A-Za-z0-9_' ELSE '[A-Za-z0-9_]' END
        WHEN 's' THEN CASE WHEN v_bracket THEN c_space ELSE '[' || c_space || ']' END
        WHEN 'D' THEN '[^0-9]'
        WHEN 'W' THEN '[^A-Za-z0-9_]'
        WHEN 'S' THEN '[^' || c_space || ']'
        ELSE '\' || d
      END;
      i := i + 2;
      CONTINUE;
    END IF;
    IF v_bracket THEN
      IF c = '[' AND substr(p_pattern, i + 1, 1) IN (':', '.', '=') THEN
        error := format('pattern has "[%s", a POSIX bracket element ECMA-262 does not have', substr(p_pattern, i + 1, 1));
        RETURN;
      END IF;
      IF c = ']' THEN v_bracket := false; END IF;
      v_out := v_out || c;
      i := i + 1;
      CONTINUE;
    END IF;
    IF c = '(' AND substr(p_pattern, i + 1, 1) = '?' AND substr(p_pattern, i + 2, 1) <> ':' THEN
      error := format('pattern has "%s": lookarounds, named groups and embedded options are not in the subset', substr(p_pattern, i, 3));
      RETURN;
    ELSIF c = '[' THEN
      v_bracket := true;
      v_out := v_out || c;
      i := i + 1;
      IF substr(p_pattern, i, 1) = '^' THEN v_out := v_out || '^'; i := i + 1; END IF;
      IF substr(p_pattern, i, 1) = ']' THEN
        error := 'pattern has "[]" or "[^]", which mean different things in ECMA-262 and PostgreSQL';
        RETURN;
      END IF;
      CONTINUE;
    ELSIF c = '{' THEN
      v_m := substring(substr(p_pattern, i) FROM '^\{[0-9]+(?:,[0-9]*)?\}');
      IF v_m IS NULL THEN error := 'pattern has a "{" that does not start a bound {m}, {m,} or {m,n}'; RETURN; END IF;
      v_out := v_out || v_m;
      i := i + char_length(v_m);
      CONTINUE;
    ELSIF c IN (']', '}') THEN
      error := format('pattern has a lone "%s" (escape it as \%s)', c, c);
      RETURN;
    ELSIF c = '.' THEN
      v_out := v_out || '[^\n\r\u2028\u2029]';
      i := i + 1;
      CONTINUE;
    END IF;
    v_out := v_out || c;
    i := i + 1;
  END LOOP;
  BEGIN
    PERFORM '' ~ p_pattern;
    PERFORM '' ~ v_out;
  EXCEPTION WHEN invalid_regular_expression THEN
    error := 'pattern is not a valid regular expression: ' || SQLERRM;
    RETURN;
  END;
  are := v_out;
END
$$;
COMMENT ON FUNCTION json_schema_pattern_are(text) IS
  'The subset pattern p_pattern as an ARE matching what ECMA-262 (u flag) matches, or NULL and the error when outside the subset. Raises nothing.';

-- NULL when p_pattern is within the subset (head of this file), else why not.
CREATE OR REPLACE FUNCTION json_schema_pattern_error(p_pattern text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (json_schema_pattern_are(p_pattern)).error
$$;
COMMENT ON FUNCTION json_schema_pattern_error(text) IS
  'NULL if p_pattern is a pattern within the JSON Schema subset (compiles as an ARE, means the same in ECMA-262 as far as checked), else why not. Raises nothing.';

-- True when p_value is a JSON number that is a non-negative integer (2.0 is one, as in JSON Schema).
CREATE OR REPLACE FUNCTION json_schema_is_count(p_value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_typeof(p_value) = 'number' AND (p_value #>> '{}')::numeric >= 0
    AND (p_value #>> '{}')::numeric = trunc((p_value #>> '{}')::numeric)
$$;
COMMENT ON FUNCTION json_schema_is_count(jsonb) IS 'True if p_value is a JSON number that is a non-negative integer (2.0 included). Raises nothing.';

-- The subset check of p_schema found at JSON pointer p_ptr (p_root: the document's root, where $schema and
-- $id are allowed): NULL when within the subset, else 'at "<pointer>": <rule>'.
CREATE OR REPLACE FUNCTION json_schema_subset_error_at(p_schema jsonb, p_ptr text, p_root boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  k text;
  v jsonb;
  e jsonb;
  v_at text;
  v_err text;
  v_types constant text[] := ARRAY['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'];
BEGIN
  IF p_schema IS NULL OR jsonb_typeof(p_schema) NOT IN ('object', 'boolean') THEN
    RETURN format('at "%s": a schema must be an object or a boolean', p_ptr);
  END IF;
  IF jsonb_typeof(p_schema) = 'boolean' THEN RETURN NULL; END IF;
  FOR k, v IN SELECT * FROM jsonb_each(p_schema) LOOP
    v_at := format('at "%s/%s": ', p_ptr, json_pointer_token(k));
    CASE k
    WHEN 'type' THEN
      IF NOT (jsonb_typeof(v) = 'string' AND (v #>> '{}') = ANY (v_types)
              OR jsonb_typeof(v) = 'array' AND jsonb_array_length(v) > 0
                 AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string' OR (x #>> '{}') <> ALL (v_types))
                 AND (SELECT count(DISTINCT x) FROM jsonb_array_elements(v) x) = jsonb_array_length(v)) THEN
        RETURN v_at || 'type must be one of null, boolean, object, array, number, integer, string, or a non-empty array of them without repeats';
      END IF;
    WHEN 'properties' THEN
      IF jsonb_typeof(v) <> 'object' THEN RETURN v_at || 'properties must be an object of schemas'; END IF;
      FOR e IN SELECT jsonb_build_array(key, value) FROM jsonb_each(v) LOOP
        v_err := json_schema_subset_error_at(e -> 1, format('%s/properties/%s', p_ptr, json_pointer_token(e ->> 0)), false);
        IF v_err IS NOT NULL THEN RETURN v_err; END IF;
      END LOOP;
    WHEN 'additionalProperties', 'items' THEN
      v_err := json_schema_subset_error_at(v, format('%s/%s', p_ptr, k), false);
      IF v_err IS NOT NULL THEN RETURN v_err; END IF;
    WHEN 'required' THEN
      IF jsonb_typeof(v) <> 'array'
         OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string')
         OR (SELECT count(DISTINCT x) FROM jsonb_array_elements(v) x) <> jsonb_array_length(v) THEN
        RETURN v_at || 'required must be an array of unique strings';
      END IF;
    WHEN 'minItems', 'maxItems', 'minLength', 'maxLength' THEN
      IF NOT json_schema_is_count(v) THEN RETURN v_at || k || ' must be a non-negative integer'; END IF;
    WHEN 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum' THEN
      IF jsonb_typeof(v) <> 'number' THEN RETURN v_at || k || ' must be a number'; END IF;
    WHEN 'enum' THEN
      IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0 THEN RETURN v_at || 'enum must be a non-empty array'; END IF;
    WHEN 'const', 'default' THEN
      NULL;
    WHEN 'pattern' THEN
      IF jsonb_typeof(v) <> 'string' THEN RETURN v_at || 'pattern must be a string'; END IF;
      v_err := json_schema_pattern_error(v #>> '{}');
      IF v_err IS NOT NULL THEN RETURN v_at || v_err; END IF;
    WHEN 'format' THEN
      IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') NOT IN ('email', 'uuid', 'date', 'date-time', 'hostname') THEN
        RETURN v_at || 'format must be one of email, uuid, date, date-time, hostname';
      END IF;
    WHEN 'title', 'description', '$comment' THEN
      IF jsonb_typeof(v) <> 'string' THEN RETURN v_at || k || ' must be a string'; END IF;
    WHEN 'examples' THEN
      IF jsonb_typeof(v) <> 'array' THEN RETURN v_at || 'examples must be an array'; END IF;
    WHEN '$schema' THEN
      IF NOT p_root THEN RETURN v_at || '$schema is allowed only at the root'; END IF;
      IF v <> '"https://json-schema.org/draft/2020-12/schema"' THEN
        RETURN v_at || '$schema must be "https://json-schema.org/draft/2020-12/schema"';
      END IF;
    WHEN '$id' THEN
      IF NOT p_root THEN RETURN v_at || '$id is allowed only at the root'; END IF;
      IF jsonb_typeof(v) <> 'string'
         OR (v #>> '{}') !~ '^(https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&''()*+,;=:@-]*)*|urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9._~!$&''()*+,;=:@/-]+)$' THEN
        RETURN v_at || '$id must be an absolute http, https or urn URI without a fragment, query or percent escape';
      END IF;
    ELSE
      RETURN v_at || format('keyword %s is not supported', k);
    END CASE;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION json_schema_subset_error_at(jsonb, text, boolean) IS
  'json_schema_subset_error of the subschema p_schema at JSON pointer p_ptr (p_root: the document root). Raises nothing.';

-- NULL when p_schema is within the JSON Schema subset (head of this file), else 'at "<JSON pointer>": <rule>',
-- e.g. 'at "/properties/admin/anyOf": keyword anyOf is not supported' (the root is the empty pointer "").
CREATE OR REPLACE FUNCTION json_schema_subset_error(p_schema jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT json_schema_subset_error_at(p_schema, '', true)
$$;
COMMENT ON FUNCTION json_schema_subset_error(jsonb) IS
  'NULL if p_schema is within the JSON Schema subset of docs/decisions/0008-workflows.md §2, else the JSON pointer and the broken rule. Raises nothing.';

-- Whether the string p_value has format p_format, as ajv-formats 3 ("full" mode) decides (head of this file).
CREATE OR REPLACE FUNCTION json_schema_format_ok(p_format text, p_value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  m text[];
  v_parts text[];
  v_year integer;
  v_month integer;
  v_day integer;
  hr integer;
  mi integer;
  sec numeric;
  v_sign integer;
  tzh integer;
  tzm integer;
  utc_min integer;
  utc_hr integer;
BEGIN
  CASE p_format
  WHEN 'email' THEN
    RETURN p_value ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$';
  WHEN 'uuid' THEN
    RETURN p_value ~ '^([Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:)?[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$';
  WHEN 'hostname' THEN
    RETURN char_length(regexp_replace(p_value, '\.$', '')) BETWEEN 1 AND 253
      AND p_value ~ '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$';
  WHEN 'date' THEN
    m := regexp_match(p_value, '^([0-9]{4})-([0-9]{2})-([0-9]{2})$');
    IF m IS NULL THEN RETURN false; END IF;
    v_year := m[1]::integer;
    v_month := m[2]::integer;
    v_day := m[3]::integer;
    RETURN v_month BETWEEN 1 AND 12 AND v_day >= 1 AND v_day <= CASE
      WHEN v_month = 2 THEN CASE WHEN v_year % 4 = 0 AND (v_year % 100 <> 0 OR v_year % 400 = 0) THEN 29 ELSE 28 END
      WHEN v_month IN (4, 6, 9, 11) THEN 30 ELSE 31 END;
  WHEN 'date-time' THEN
    -- ajv-formats splits on /t|\s/i and wants exactly two parts; \s is ECMA-262's white space and line terminators
    v_parts := regexp_split_to_array(p_value, E'[tT\t\n\u000b\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]');
    IF cardinality(v_parts) <> 2 OR NOT json_schema_format_ok('date', v_parts[1]) THEN RETURN false; END IF;
    m := regexp_match(v_parts[2], '^([0-9]{2}):([0-9]{2}):([0-9]{2}(\.[0-9]+)?)([zZ]|([+-])([0-9]{2})(:?([0-9]{2}))?)$');
    IF m IS NULL THEN RETURN false; END IF;
    hr := m[1]::integer;
    mi := m[2]::integer;
    sec := m[3]::numeric;
    v_sign := CASE WHEN m[6] = '-' THEN -1 ELSE 1 END;
    tzh := coalesce(m[7]::integer, 0);
    tzm := coalesce(m[9]::integer, 0);
    IF tzh > 23 OR tzm > 59 THEN RETURN false; END IF;
    IF hr <= 23 AND mi <= 59 AND sec < 60 THEN RETURN true; END IF;
    utc_min := mi - tzm * v_sign;
    utc_hr := hr - tzh * v_sign - CASE WHEN utc_min < 0 THEN 1 ELSE 0 END;
    RETURN utc_hr IN (23, -1) AND utc_min IN (59, -1) AND sec < 61;
  ELSE
    RETURN true;
  END CASE;
END
$$;
COMMENT ON FUNCTION json_schema_format_ok(text, text) IS
  'True if the string p_value has JSON Schema format p_format (email, uuid, date, date-time, hostname) as ajv-formats 3 decides; true for any other format. Raises nothing.';

-- Whether p_value is of JSON Schema type p_type (integer: a number with a zero fractional part, 1.0 included).
CREATE OR REPLACE FUNCTION json_schema_type_ok(p_type text, p_value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE p_type
    WHEN 'integer' THEN jsonb_typeof(p_value) = 'number' AND (p_value #>> '{}')::numeric = trunc((p_value #>> '{}')::numeric)
    ELSE jsonb_typeof(p_value) = p_type
  END
$$;
COMMENT ON FUNCTION json_schema_type_ok(text, jsonb) IS 'True if p_value is of JSON Schema type p_type. Raises nothing.';

-- The first error of p_value (found at instance pointer p_path) against the subset schema p_schema, as
-- ARRAY[path, message], or NULL when valid. Order: false schema, type, enum, const; for a number minimum,
-- maximum, exclusiveMinimum, exclusiveMaximum; for a string minLength, maxLength, pattern, format; for an
-- array minItems, maxItems, then each item; for an object required (in its order), properties (the
-- schema's order, present ones), then the other properties against additionalProperties.
CREATE OR REPLACE FUNCTION json_schema_error_at(p_schema jsonb, p_value jsonb, p_path text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_kind text := jsonb_typeof(p_value);
  v_num numeric;
  v_str text;
  k text;
  s jsonb;
  x jsonb;
  i integer;
  r text[];
BEGIN
  IF p_schema = 'true' THEN RETURN NULL; END IF;
  IF p_schema = 'false' THEN RETURN ARRAY[p_path, 'false schema']; END IF;
  IF p_schema ? 'type' THEN
    IF jsonb_typeof(p_schema -> 'type') = 'string' THEN
      IF NOT json_schema_type_ok(p_schema ->> 'type', p_value) THEN RETURN ARRAY[p_path, 'type ' || (p_schema ->> 'type')]; END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(p_schema -> 'type') t WHERE json_schema_type_ok(t, p_value)) THEN
      RETURN ARRAY[p_path, 'type ' || (SELECT string_agg(t, ' or ') FROM jsonb_array_elements_text(p_schema -> 'type') t)];
    END IF;
  END IF;
  IF p_schema ? 'enum' AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_schema -> 'enum') e WHERE e = p_value) THEN
    RETURN ARRAY[p_path, 'enum ' || (p_schema -> 'enum')::text];
  END IF;
  IF p_schema ? 'const' AND p_schema -> 'const' <> p_value THEN
    RETURN ARRAY[p_path, 'const ' || (p_schema -> 'const')::text];
  END IF;
  IF v_kind = 'number' THEN
    v_num := (p_value #>> '{}')::numeric;
    IF v_num < (p_schema ->> 'minimum')::numeric THEN RETURN ARRAY[p_path, 'minimum ' || (p_schema ->> 'minimum')]; END IF;
    IF v_num > (p_schema ->> 'maximum')::numeric THEN RETURN ARRAY[p_path, 'maximum ' || (p_schema ->> 'maximum')]; END IF;
    IF v_num <= (p_schema ->> 'exclusiveMinimum')::numeric THEN
      RETURN ARRAY[p_path, 'exclusiveMinimum ' || (p_schema ->> 'exclusiveMinimum')];
    END IF;
    IF v_num >= (p_schema ->> 'exclusiveMaximum')::numeric THEN
      RETURN ARRAY[p_path, 'exclusiveMaximum ' || (p_schema ->> 'exclusiveMaximum')];
    END IF;
  ELSIF v_kind = 'string' THEN
    v_str := p_value #>> '{}';
    IF char_length(v_str) < (p_schema ->> 'minLength')::numeric THEN RETURN ARRAY[p_path, 'minLength ' || (p_schema ->> 'minLength')]; END IF;
    IF char_length(v_str) > (p_schema ->> 'maxLength')::numeric THEN RETURN ARRAY[p_path, 'maxLength ' || (p_schema ->> 'maxLength')]; END IF;
    IF p_schema ? 'pattern' AND v_str !~ (json_schema_pattern_are(p_schema ->> 'pattern')).are THEN RETURN ARRAY[p_path, 'pattern ' || (p_schema ->> 'pattern')]; END IF;
    IF p_schema ? 'format' AND NOT json_schema_format_ok(p_schema ->> 'format', v_str) THEN
      RETURN ARRAY[p_path, 'format ' || (p_schema ->> 'format')];
    END IF;
  ELSIF v_kind = 'array' THEN
    IF jsonb_array_length(p_value) < (p_schema ->> 'minItems')::numeric THEN RETURN ARRAY[p_path, 'minItems ' || (p_schema ->> 'minItems')]; END IF;
    IF jsonb_array_length(p_value) > (p_schema ->> 'maxItems')::numeric THEN RETURN ARRAY[p_path, 'maxItems ' || (p_schema ->> 'maxItems')]; END IF;
    IF p_schema ? 'items' THEN
      FOR x, i IN SELECT value, ordinality - 1 FROM jsonb_array_elements(p_value) WITH ORDINALITY LOOP
        r := json_schema_error_at(p_schema -> 'items', x, p_path || '/' || i);
        IF r IS NOT NULL THEN RETURN r; END IF;
      END LOOP;
    END IF;
  ELSIF v_kind = 'object' THEN
    FOR k IN SELECT jsonb_array_elements_text(p_schema -> 'required') LOOP
      IF NOT p_value ? k THEN RETURN ARRAY[p_path, 'required property ' || k]; END IF;
    END LOOP;
    FOR k, s IN SELECT key, value FROM jsonb_each(p_schema -> 'properties') WHERE p_value ? key LOOP
      r := json_schema_error_at(s, p_value -> k, p_path || '/' || json_pointer_token(k));
      IF r IS NOT NULL THEN RETURN r; END IF;
    END LOOP;
    IF p_schema ? 'additionalProperties' THEN
      FOR k, x IN SELECT key, value FROM jsonb_each(p_value) WHERE NOT coalesce(p_schema -> 'properties' ? key, false) LOOP
        IF p_schema -> 'additionalProperties' = 'false' THEN RETURN ARRAY[p_path, 'additional property ' || k]; END IF;
        r := json_schema_error_at(p_schema -> 'additionalProperties', x, p_path || '/' || json_pointer_token(k));
        IF r IS NOT NULL THEN RETURN r; END IF;
      END LOOP;
    END IF;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION json_schema_error_at(jsonb, jsonb, text) IS
  'The first error of p_value at instance pointer p_path against subset schema p_schema as ARRAY[path, message], or NULL. Raises nothing (unchecked schema).';

-- The first error of p_value against p_schema (JSON Schema 2020-12 semantics, the subset of this file):
-- path is the JSON pointer of the failing instance ('' for the value itself, '/admin/email' ...), message
-- the rule ('type integer', 'required property name', 'minimum 1', 'format email', 'additional property x',
-- 'enum [...]', 'pattern ^a', 'false schema' ...); both NULL when p_value is valid. Raises 22023 when
-- p_schema is outside the subset (json_schema_subset_error says where).
CREATE OR REPLACE FUNCTION json_schema_error(p_schema jsonb, p_value jsonb, OUT path text, OUT message text)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_err text := json_schema_subset_error(p_schema);
  r text[];
BEGIN
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'JSON Schema outside the subset: %', v_err USING ERRCODE = '22023';
  END IF;
  r := json_schema_error_at(p_schema, p_value, '');
  path := r[1];
  message := r[2];
END
$$;
COMMENT ON FUNCTION json_schema_error(jsonb, jsonb) IS
  'The first validation error of p_value against the subset schema p_schema: (JSON pointer of the instance, rule), or NULLs when valid. Raises 22023 when p_schema is outside the subset.';

-- p_value with the default of every absent property of an object filled in, as ajv's useDefaults does:
-- where a schema with properties applies to an object, its absent properties whose schema has a default
-- get it (a copy); then each present or defaulted property, each item of an array (items) and each other
-- property (additionalProperties) is filled in the same way. Values of another type are left as they are.
CREATE OR REPLACE FUNCTION json_schema_apply_defaults(p_schema jsonb, p_value jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v jsonb := p_value;
  k text;
  s jsonb;
BEGIN
  IF jsonb_typeof(p_schema) IS DISTINCT FROM 'object' OR p_value IS NULL THEN RETURN p_value; END IF;
  IF jsonb_typeof(v) = 'object' THEN
    FOR k, s IN SELECT key, value FROM jsonb_each(p_schema -> 'properties') LOOP
      IF NOT v ? k AND jsonb_typeof(s) = 'object' AND s ? 'default' THEN
        v := v || jsonb_build_object(k, s -> 'default');
      END IF;
    END LOOP;
    -- one pass over the object (a jsonb_set per key would copy it once per key: quadratic on wide input);
    -- only values that are objects or arrays can take defaults
    SELECT jsonb_object_agg(e.key, CASE
             WHEN jsonb_typeof(e.value) NOT IN ('object', 'array') THEN e.value
             WHEN coalesce(p_schema -> 'properties' ? e.key, false) THEN json_schema_apply_defaults(p_schema -> 'properties' -> e.key, e.value)
             WHEN p_schema ? 'additionalProperties' THEN json_schema_apply_defaults(p_schema -> 'additionalProperties', e.value)
             ELSE e.value END)
      INTO v FROM jsonb_each(v) e;
    v := coalesce(v, '{}');
  ELSIF jsonb_typeof(v) = 'array' AND p_schema ? 'items' THEN
    SELECT coalesce(jsonb_agg(json_schema_apply_defaults(p_schema -> 'items', x) ORDER BY o), '[]') INTO v
      FROM jsonb_array_elements(v) WITH ORDINALITY AS e(x, o);
  END IF;
  RETURN v;
END
$$;
COMMENT ON FUNCTION json_schema_apply_defaults(jsonb, jsonb) IS
  'p_value with the defaults of absent object properties filled in, recursively (ajv useDefaults for properties). Raises nothing.';
