-- Success side effects of the domain family (RFC 5731). result_data carries the registry's answer:
-- roid, crDate, exDate, and the EPP result code, message and svTRID (src/families/registry/tasks/domain__*.ts).

CREATE OR REPLACE FUNCTION tg_provision_domain__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.ry_created_date := (NEW.result_data ->> 'crDate')::timestamptz;
  NEW.ry_expiry_date  := (NEW.result_data ->> 'exDate')::timestamptz;
  INSERT INTO domain (tenant_customer_id, accreditation_id, accreditation_tld_id, name, roid, registrant, pw,
                      ry_created_date, ry_expiry_date)
  VALUES (NEW.tenant_customer_id, NEW.accreditation_id, NEW.accreditation_tld_id, NEW.name, NEW.roid,
          NEW.registrant, NEW.pw, NEW.ry_created_date, NEW.ry_expiry_date);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain__complete() IS
  'BEFORE UPDATE to completed on provision_domain: copies crDate/exDate and adds the domain to the inventory. '
  'Raises unique_violation if the name is already held (validation prevents it).';

CREATE OR REPLACE FUNCTION tg_provision_domain_renew__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.ry_expiry_date := (NEW.result_data ->> 'exDate')::timestamptz;
  UPDATE domain SET ry_expiry_date = NEW.ry_expiry_date, updated_date = now(), updated_by = session_user
  WHERE id = NEW.domain_id;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain_renew__complete() IS
  'BEFORE UPDATE to completed on provision_domain_renew: moves the inventory expiry to the registry''s exDate. Raises nothing.';

CREATE OR REPLACE FUNCTION tg_provision_domain_delete__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  UPDATE domain SET deleted_date = now(), updated_date = now(), updated_by = session_user
  WHERE id = NEW.domain_id AND deleted_date IS NULL;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_domain_delete__complete() IS
  'BEFORE UPDATE to completed on provision_domain_delete: marks the inventory row deleted (kept as history). Raises nothing.';

CREATE OR REPLACE FUNCTION tg_provision_contact__complete() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  NEW.ry_created_date := (NEW.result_data ->> 'crDate')::timestamptz;
  INSERT INTO contact (tenant_customer_id, accreditation_id, contact_id, roid, email, pw, ry_created_date)
  VALUES (NEW.tenant_customer_id, NEW.accreditation_id, NEW.contact_id, NEW.roid, NEW.email, NEW.pw, NEW.ry_created_date);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_contact__complete() IS
  'BEFORE UPDATE to completed on provision_contact (RFC 5733): adds the contact to the inventory. Raises unique_violation if held.';
