-- provision_domain_delete (RFC 5731 <domain:delete>). Codes: 23502, PV101, PV106, PV115, PV116.
CREATE OR REPLACE FUNCTION tg_provision_domain_delete__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.name := domain_name_assert(NEW.name);
  NEW.domain_id := domain_held_by(NEW.name, NEW.tenant_customer_id, NEW.accreditation_id);
  -- one operation in flight per domain; the claim may have waited for a transaction that deleted it
  PERFORM domain_claim_or_raise(NEW.name, TG_RELID::regclass, NEW.id);
  NEW.domain_id := domain_held_by(NEW.name, NEW.tenant_customer_id, NEW.accreditation_id);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain_delete__validate() IS
  'BEFORE INSERT on provision_domain_delete. Normalises name, sets domain_id. Raises 23502, PV101, PV106 (not held), PV116 (in flight).';
