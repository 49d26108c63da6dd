-- provision_host (RFC 5732 <host:create>). Codes: 23502, PV101, PV115, PV120, PV121, PV122.
-- A host is subordinate when its name lies in a TLD the accreditation serves (its superordinate domain is
-- at the same registry): it needs at least one address (glue). A host outside those TLDs is external and
-- takes none (RFC 5732 §3.2.1). Whether the superordinate domain exists and is ours is the registry's to
-- say (2303, 2201): the tenant may hold it without provisio's inventory knowing.
CREATE OR REPLACE FUNCTION tg_provision_host__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_subordinate boolean;
  v_count integer;
BEGIN
  NEW.name := domain_name_assert(NEW.name);
  IF NEW.ry_created_date IS NOT NULL THEN
    RAISE EXCEPTION 'ry_created_date is set by provisio from the registry''s answer, not on INSERT'
      USING ERRCODE = 'PV115', COLUMN = 'ry_created_date', HINT = 'leave it out of the INSERT';
  END IF;

  NEW.addrs_v4 := host_addrs_assert(NEW.addrs_v4, 4, 'addrs_v4');
  NEW.addrs_v6 := host_addrs_assert(NEW.addrs_v6, 6, 'addrs_v6');
  v_count := cardinality(NEW.addrs_v4) + cardinality(NEW.addrs_v6);
  v_subordinate := accreditation_tld_of(NEW.accreditation_id, NEW.name) IS NOT NULL;
  IF v_subordinate AND v_count = 0 THEN
    RAISE EXCEPTION 'host "%" is in a TLD this accreditation serves (subordinate): give at least one address', NEW.name
      USING ERRCODE = 'PV121', COLUMN = 'addrs_v4', HINT = 'RFC 5732 §3.2.1: glue for a host subordinate to a domain of the registry';
  ELSIF NOT v_subordinate AND v_count > 0 THEN
    RAISE EXCEPTION 'host "%" is outside the TLDs this accreditation serves (external): it takes no addresses', NEW.name
      USING ERRCODE = 'PV121', COLUMN = CASE WHEN cardinality(NEW.addrs_v4) > 0 THEN 'addrs_v4' ELSE 'addrs_v6' END,
            HINT = 'RFC 5732 §3.2.1: the addresses of an external host are not the registry''s to keep';
  END IF;

  -- exists, then claimed for this create (one create in flight per host, also against INSERTs not yet
  -- committed), then exists again: the claim may have waited for a transaction that created it
  PERFORM host_assert_not_held(NEW.accreditation_id, NEW.name);
  IF provision_claim('host:' || NEW.accreditation_id || ':' || NEW.name, TG_RELID::regclass, NEW.id) IS NOT TRUE THEN
    RAISE EXCEPTION 'host "%": a create of this host is already in flight', NEW.name
      USING ERRCODE = 'PV122', COLUMN = 'name', HINT = 'SELECT * FROM v_provision WHERE object_name = ...';
  END IF;
  PERFORM host_assert_not_held(NEW.accreditation_id, NEW.name);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_host__validate() IS
  'BEFORE INSERT on provision_host (_110_validate). Normalises name (lower case, no trailing dot) and addresses. '
  'Raises 23502, PV101 (FQDN), PV115 (ry_created_date), PV120 (addresses), PV121 (addresses for a subordinate / external host), PV122 (held or in flight).';

-- p_addrs (column p_column) checked as host addresses of IP version p_family (4 or 6): one-dimensional,
-- no NULL, no network (a mask shorter than the address), at most 13, no address twice. Returns the
-- addresses in their PostgreSQL text form order kept; '{}' for NULL.
CREATE OR REPLACE FUNCTION host_addrs_assert(p_addrs inet[], p_family integer, p_column text) RETURNS inet[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_bad inet;
BEGIN
  IF p_addrs IS NULL THEN RETURN '{}'; END IF;
  IF array_ndims(p_addrs) > 1 THEN
    RAISE EXCEPTION '% must be a one-dimensional array of addresses', p_column USING ERRCODE = 'PV120', COLUMN = p_column;
  END IF;
  IF cardinality(p_addrs) > 13 THEN
    RAISE EXCEPTION '%: at most 13 addresses, got %', p_column, cardinality(p_addrs) USING ERRCODE = 'PV120', COLUMN = p_column;
  END IF;
  IF array_position(p_addrs, NULL) IS NOT NULL THEN
    RAISE EXCEPTION '%: an address is NULL', p_column USING ERRCODE = 'PV120', COLUMN = p_column;
  END IF;
  SELECT a INTO v_bad FROM unnest(p_addrs) a WHERE family(a) <> p_family LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%: "%" is not an IPv% address', p_column, v_bad, p_family USING ERRCODE = 'PV120', COLUMN = p_column;
  END IF;
  SELECT a INTO v_bad FROM unnest(p_addrs) a WHERE masklen(a) <> CASE p_family WHEN 4 THEN 32 ELSE 128 END LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%: "%" is a network, not one host''s address', p_column, v_bad USING ERRCODE = 'PV120', COLUMN = p_column;
  END IF;
  SELECT a INTO v_bad FROM unnest(p_addrs) a GROUP BY a HAVING count(*) > 1 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%: "%" is given more than once', p_column, host(v_bad) USING ERRCODE = 'PV120', COLUMN = p_column;
  END IF;
  RETURN p_addrs;
END
$$;
COMMENT ON FUNCTION host_addrs_assert(inet[], integer, text) IS
  'p_addrs checked as host addresses of IP version p_family; NULL becomes {}. Raises PV120 (column p_column).';

-- Raises PV122 when the inventory holds host p_name under accreditation p_accreditation_id (not deleted).
CREATE OR REPLACE FUNCTION host_assert_not_held(p_accreditation_id uuid, p_name text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM host WHERE accreditation_id = p_accreditation_id AND name = p_name AND deleted_date IS NULL) THEN
    RAISE EXCEPTION 'host "%" already exists under this accreditation', p_name
      USING ERRCODE = 'PV122', COLUMN = 'name';
  END IF;
END
$$;
COMMENT ON FUNCTION host_assert_not_held(uuid, text) IS 'Raises PV122 (column name) when the inventory holds host p_name under the accreditation.';
