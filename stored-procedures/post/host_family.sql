-- Success side effects of host objects (RFC 5732). result_data carries the registry's answer: roid,
-- crDate, and the EPP result code, message and svTRID (src/families/registry/tasks/host__create.ts).

CREATE OR REPLACE FUNCTION tg_provision_host__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.ry_created_date := (NEW.result_data ->> 'crDate')::timestamptz;
  INSERT INTO host (tenant_customer_id, accreditation_id, name, roid, addrs_v4, addrs_v6, ry_created_date)
  VALUES (NEW.tenant_customer_id, NEW.accreditation_id, NEW.name, NEW.roid, NEW.addrs_v4, NEW.addrs_v6, NEW.ry_created_date);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_host__complete() IS
  'BEFORE UPDATE to completed on provision_host (RFC 5732): adds the host to the inventory. Raises unique_violation if held (validation prevents it).';
