-- Checks the access family's validation triggers share (seed 002): the identity (of the row's tenant),
-- the applications a provision will touch and their configuration, one access operation in flight per
-- identity. Codes PV201-PV207 (docs/errors.md). Only rows of NEW.tenant_customer_id are read: another
-- tenant's identity, application or entitlement is answered like one that does not exist.

-- The identity p_identity_id of tenant p_tenant (its username and whether it is active), or PV201.
CREATE OR REPLACE FUNCTION access_identity_assert(p_tenant uuid, p_identity_id uuid, OUT username text, OUT is_active boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_identity_id IS NULL THEN
    RAISE EXCEPTION 'identity_id is required' USING ERRCODE = 'not_null_violation', COLUMN = 'identity_id';
  END IF;
  SELECT i.username, i.is_active INTO username, is_active FROM identity i WHERE i.id = p_identity_id AND i.tenant_customer_id = p_tenant;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'identity_id % is not an identity of tenant %', p_identity_id, p_tenant
      USING ERRCODE = 'PV201', COLUMN = 'identity_id', HINT = 'SELECT id, username FROM identity';
  END IF;
END
$$;
COMMENT ON FUNCTION access_identity_assert(uuid, uuid) IS 'The identity''s username and is_active. Raises 23502 (NULL), PV201 (not an identity of the tenant).';

-- What is wrong with connector configuration p_cfg of type p_type, or NULL. It checks what each
-- adapter cannot start without (the adapter's zod schema, src/connectors/<type>/, is the authority and
-- checks the rest when the job runs): sql {dialect, host, database, user, one secret reference},
-- ldap {url, bindDN, usersDN, one secret reference}, scim {baseUrl, one token reference}.
CREATE OR REPLACE FUNCTION access_connector_config_error(p_type text, p_cfg jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_key text;
  v_secret int;
BEGIN
  IF p_cfg IS NULL OR jsonb_typeof(p_cfg) <> 'object' THEN RETURN 'the configuration is not a JSON object'; END IF;
  FOREACH v_key IN ARRAY CASE p_type
      WHEN 'sql' THEN ARRAY['dialect', 'host', 'database', 'user']
      WHEN 'ldap' THEN ARRAY['url', 'bindDN', 'usersDN']
      WHEN 'scim' THEN ARRAY['baseUrl']
      ELSE ARRAY[]::text[] END LOOP
    IF jsonb_typeof(p_cfg -> v_key) IS DISTINCT FROM 'string' OR p_cfg ->> v_key = '' THEN
      RETURN format('"%s" must be a non-empty string', v_key);
    END IF;
  END LOOP;
  IF p_type = 'sql' AND p_cfg ->> 'dialect' NOT IN ('postgresql', 'mariadb') THEN RETURN '"dialect" must be postgresql or mariadb'; END IF;
  IF p_type = 'ldap' AND p_cfg ->> 'url' !~ '^ldaps?://' THEN RETURN '"url" must be an ldap:// or ldaps:// URL'; END IF;
  IF p_type = 'scim' AND p_cfg ->> 'baseUrl' !~ '^https?://' THEN RETURN '"baseUrl" must be an http:// or https:// URL'; END IF;
  v_secret := CASE WHEN p_type = 'scim'
    THEN (p_cfg ? 'token_env')::int + (p_cfg ? 'token_file')::int
    ELSE (p_cfg ? 'password_env')::int + (p_cfg ? 'password_file')::int END;
  IF p_type IN ('sql', 'ldap', 'scim') AND v_secret <> 1 THEN
    RETURN CASE WHEN p_type = 'scim' THEN 'give exactly one of token_env or token_file' ELSE 'give exactly one of password_env or password_file' END;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION access_connector_config_error(text, jsonb) IS 'NULL, or what the connector configuration lacks for its type. Raises nothing.';

-- Raises PV206 unless every application in p_application_ids has a connector configuration that its
-- type accepts (access_connector_config_error) and a mapping.
CREATE OR REPLACE FUNCTION access_applications_assert(p_application_ids uuid[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  r record;
  v_err text;
BEGIN
  FOR r IN SELECT a.id, a.name, c.connector_type, c.configuration, m.application_id IS NOT NULL AS mapped
           FROM application a LEFT JOIN connector_config c ON c.application_id = a.id
           LEFT JOIN mapping_config m ON m.application_id = a.id
           WHERE a.id = ANY (p_application_ids) ORDER BY a.name LOOP
    v_err := CASE WHEN r.connector_type IS NULL THEN 'it has no connector_config'
                  WHEN NOT r.mapped THEN 'it has no mapping_config'
                  ELSE access_connector_config_error(r.connector_type, r.configuration) END;
    IF v_err IS NOT NULL THEN
      RAISE EXCEPTION 'application "%" cannot be provisioned: %', r.name, v_err
        USING ERRCODE = 'PV206', HINT = 'fix connector_config / mapping_config of application ' || r.id;
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION access_applications_assert(uuid[]) IS 'Raises PV206 naming the application whose connector or mapping configuration is missing or incomplete.';

-- Claims identity p_identity_id for provision p_provision_id: one grant or revoke in flight per identity,
-- so that a revoke never races a grant of the same person. Raises PV207 (may wait for an open INSERT).
CREATE OR REPLACE FUNCTION access_claim_or_raise(p_identity_id uuid, p_table regclass, p_provision_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF provision_claim('identity:' || p_identity_id, p_table, p_provision_id) IS NOT TRUE THEN
    RAISE EXCEPTION 'identity %: another grant or revoke of this identity is in flight', p_identity_id
      USING ERRCODE = 'PV207', COLUMN = 'identity_id', HINT = 'wait for it: SELECT * FROM v_provision WHERE object_name = ...';
  END IF;
END
$$;
COMMENT ON FUNCTION access_claim_or_raise(uuid, regclass, uuid) IS 'Raises PV207 when another access operation on the identity is in flight.';
