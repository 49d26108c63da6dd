-- Checks the domain family's validation triggers share (RFC 5731): the one normal form of a name for
-- every operation, periods in whole years, and one operation in flight per domain.

-- p_value (a domain name given in column p_column) in normal form (domain_name_normalize: lower case,
-- one trailing dot removed), or an error: 23502 when NULL, PV101 naming the rule it breaks (the value is
-- echoed at most 64 characters long).
CREATE OR REPLACE FUNCTION domain_name_assert(p_value text, p_column text DEFAULT 'name') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_name text := domain_name_normalize(p_value);
  v_err text;
BEGIN
  IF p_value IS NULL THEN
    RAISE EXCEPTION '% is required', p_column USING ERRCODE = 'not_null_violation', COLUMN = p_column;
  END IF;
  v_err := fqdn_error(v_name);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION '% "%" is not a valid domain name: %', p_column, pv_echo(p_value), v_err
      USING ERRCODE = 'PV101', COLUMN = p_column, HINT = 'letters, digits, hyphens; labels of 1..63; IDNs as valid A-labels (xn--)';
  END IF;
  RETURN v_name;
END
$$;
COMMENT ON FUNCTION domain_name_assert(text, text) IS 'p_value normalised (lower case, no trailing dot). Raises 23502 (NULL) or PV101 (not a valid FQDN), column p_column.';

-- A period in years (RFC 5731 §2.5, unit "y"): a whole number 1..10 (what registries allow; the schema
-- allows 1..99). The columns are NUMERIC so that 1.5 reaches this check instead of being rounded.
CREATE OR REPLACE FUNCTION years_assert(p_value numeric, p_column text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_value IS NULL OR p_value <> trunc(p_value) OR p_value NOT BETWEEN 1 AND 10 THEN
    RAISE EXCEPTION '% must be a whole number of years, 1..10, got %', p_column, coalesce(left(p_value::text, 40), 'NULL')
      USING ERRCODE = 'PV103', COLUMN = p_column, HINT = 'RFC 5731 §2.5: 1..99 allowed by the schema, registries allow 1..10';
  END IF;
END
$$;
COMMENT ON FUNCTION years_assert(numeric, text) IS 'Raises PV103 (column p_column) unless p_value is a whole number 1..10.';

-- Claim domain p_name for provision p_provision_id (provision_claim): a renew or delete refuses to start
-- while another operation on the same domain is pending, processing, or being inserted by an open
-- transaction (then it waits for that transaction).
CREATE OR REPLACE FUNCTION domain_claim_or_raise(p_name text, p_table regclass, p_provision_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF provision_claim('domain:' || p_name, p_table, p_provision_id) IS NOT TRUE THEN
    RAISE EXCEPTION 'name "%": another operation on this domain is already in flight', p_name
      USING ERRCODE = 'PV116', COLUMN = 'name', HINT = 'wait for it to finish: SELECT * FROM v_provision WHERE object_name = ...';
  END IF;
END
$$;
COMMENT ON FUNCTION domain_claim_or_raise(text, regclass, uuid) IS 'Raises PV116 when another operation on domain p_name is in flight. May wait for a concurrent INSERT''s transaction.';

DROP FUNCTION IF EXISTS domain_assert_no_operation_in_flight(text);

-- The accreditation_tld row of accreditation p_accreditation_id whose TLD name p_name (normalised) lies
-- in, the longest TLD winning ("co.uk" over "uk"); NULL when the accreditation serves none. Used for a
-- domain's TLD (provision_domain) and to tell a subordinate host from an external one (provision_host).
-- plpgsql, so that its query plan is kept for the session.
CREATE OR REPLACE FUNCTION accreditation_tld_of(p_accreditation_id uuid, p_name text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT t.id FROM accreditation_tld t
          WHERE t.accreditation_id = p_accreditation_id AND p_name LIKE '%.' || t.tld
          ORDER BY length(t.tld) DESC LIMIT 1);
END
$$;
COMMENT ON FUNCTION accreditation_tld_of(uuid, text) IS 'The accreditation_tld id serving p_name (longest TLD), or NULL. Raises nothing.';
