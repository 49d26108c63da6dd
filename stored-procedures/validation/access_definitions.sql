-- The access family's definitions written by tenants' sessions (migrations/0016): what a connector
-- configuration may hold and reach. A configuration is code that the worker runs with secrets: it names
-- environment variables and files the worker reads, the host the worker connects to and, in the sql
-- connector's tables mode, the statements it executes there. So:
--  - nobody's configuration holds a secret inline, at any depth (23514, like the top-level CHECK);
--  - a tenant's configuration may name only the variables and files, and reach only the hosts, that the
--    operator assigned to the tenant (tenant_connector_policy); PV211 names the key and the rule. The
--    worker checks a tenant-written configuration against the policy again before each use
--    (src/families/access/task.ts loadApplication), so a tightened policy takes effect at once.
-- A host name is compared as written: a name whose DNS the tenant controls may point anywhere, so
-- allowed_hosts should name hosts whose resolution the operator controls.

-- Every key of a JSON document at any depth (objects and arrays): its path (a.b[0].c), key and value.
CREATE OR REPLACE FUNCTION jsonb_walk(p jsonb) RETURNS TABLE (path text, key text, value jsonb)
LANGUAGE sql IMMUTABLE AS $$
  WITH RECURSIVE walk(path, key, value) AS (
    SELECT '', NULL::text, p
    UNION ALL
    SELECT c.path, c.key, c.value
    FROM walk w CROSS JOIN LATERAL (
      SELECT CASE WHEN w.path = '' THEN e.key ELSE w.path || '.' || e.key END AS path, e.key, e.value
      FROM jsonb_each(CASE WHEN jsonb_typeof(w.value) = 'object' THEN w.value ELSE '{}' END) e
      UNION ALL
      SELECT w.path || '[' || (a.i - 1) || ']', w.key, a.v
      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.value) = 'array' THEN w.value ELSE '[]' END) WITH ORDINALITY a(v, i)
    ) c
  )
  SELECT path, key, value FROM walk WHERE key IS NOT NULL
$$;
COMMENT ON FUNCTION jsonb_walk(jsonb) IS 'Every key of p at any depth with its path and value (array elements carry their key''s name). Raises nothing.';

-- The first key of configuration p_cfg that holds a secret inline (a name with password, secret, token,
-- bearer, authorization, credential or api key in it, in any case, that is not a reference: *_env,
-- *_file), as its path; NULL when there is none.
CREATE OR REPLACE FUNCTION access_inline_secret_path(p_cfg jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT path FROM jsonb_walk(p_cfg)
  WHERE (key ~* '(passw|secret|token|bearer|authori[sz]ation|credential|api_?key)' OR lower(key) IN ('pw', 'pwd'))
    AND key !~* '_(env|file)$'
  ORDER BY path LIMIT 1
$$;
COMMENT ON FUNCTION access_inline_secret_path(jsonb) IS 'Path of the first inline secret key of a connector configuration, or NULL. Raises nothing.';

-- The host a configuration connects to (sql: host; ldap: url; scim: baseUrl), lower case, or NULL when
-- it is not written plainly: scheme://host[:port][/path] with a host of letters, digits, dots and
-- hyphens only (no user part, no backslash, no brackets: forms that URL parsers disagree on).
CREATE OR REPLACE FUNCTION access_connector_host(p_type text, p_cfg jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT lower(CASE p_type
    WHEN 'sql' THEN substring(p_cfg ->> 'host' FROM '^([A-Za-z0-9.-]+)$')
    WHEN 'ldap' THEN substring(p_cfg ->> 'url' FROM '^ldaps?://([A-Za-z0-9.-]+)(?::[0-9]{1,5})?/?$')
    WHEN 'scim' THEN substring(p_cfg ->> 'baseUrl' FROM '^https?://([A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&''()*+,;=:@/-]*)?$')
  END)
$$;
COMMENT ON FUNCTION access_connector_host(text, jsonb) IS 'The plainly written host a connector configuration reaches, lower case, or NULL. Raises nothing.';

-- What in configuration p_cfg (of type p_type) tenant p_tenant's policy does not allow, or NULL.
CREATE OR REPLACE FUNCTION access_connector_policy_error(p_tenant uuid, p_type text, p_cfg jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_pol tenant_connector_policy;
  r record;
  v_text text;
  v_host text;
BEGIN
  IF p_type IS NULL OR p_type NOT IN ('sql', 'ldap', 'scim') THEN
    RETURN format('connector_type "%s" is not one a tenant may configure (sql, ldap, scim)', p_type);
  END IF;
  SELECT * INTO v_pol FROM tenant_connector_policy WHERE tenant_customer_id = p_tenant;
  IF NOT FOUND THEN
    RETURN 'no connector policy is assigned to this tenant (tenant_connector_policy): the operator decides which secrets and hosts its configurations may use';
  END IF;
  FOR r IN SELECT * FROM jsonb_walk(p_cfg) WHERE key ~* '_(env|file)$' ORDER BY path LOOP
    v_text := CASE WHEN jsonb_typeof(r.value) = 'string' THEN r.value #>> '{}' END;
    IF r.key ~* '_env$' THEN
      IF v_pol.secret_env_prefix IS NULL THEN
        RETURN format('"%s": this tenant may name no environment variable (its policy has no secret_env_prefix)', r.path);
      END IF;
      IF v_text IS NULL OR v_text !~ '^[A-Za-z0-9_]+$' OR NOT starts_with(v_text, v_pol.secret_env_prefix) THEN
        RETURN format('"%s" must name an environment variable starting with %s', r.path, v_pol.secret_env_prefix);
      END IF;
    ELSE
      IF v_pol.secret_file_dir IS NULL THEN
        RETURN format('"%s": this tenant may name no file (its policy has no secret_file_dir)', r.path);
      END IF;
      IF v_text IS NULL OR v_text !~ '^/[A-Za-z0-9._/-]+$' OR v_text ~ '(^|/)\.\.?(/|$)' OR v_text ~ '//'
         OR NOT starts_with(v_text, v_pol.secret_file_dir) OR v_text = v_pol.secret_file_dir THEN
        RETURN format('"%s" must name a file under %s (letters, digits, ".", "_", "-", "/"; no "." or ".." segments)', r.path, v_pol.secret_file_dir);
      END IF;
    END IF;
  END LOOP;
  v_host := access_connector_host(p_type, p_cfg);
  IF v_host IS NULL THEN
    RETURN format('"%s" must be written plainly: %s', CASE p_type WHEN 'sql' THEN 'host' WHEN 'ldap' THEN 'url' ELSE 'baseUrl' END,
      CASE p_type WHEN 'sql' THEN 'a host name or IPv4 address' ELSE 'scheme://host[:port][/path], no user part, backslash or brackets' END);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM unnest(v_pol.allowed_hosts) h
                 WHERE lower(h) = v_host
                    OR (h LIKE '*.%' AND length(v_host) > length(h) - 1 AND right(v_host, length(h) - 1) = lower(substr(h, 2)))) THEN
    RETURN format('host "%s" is not one this tenant may reach (tenant_connector_policy.allowed_hosts)', v_host);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION access_connector_policy_error(uuid, text, jsonb) IS
  'NULL, or what in a tenant-written connector configuration the tenant''s policy does not allow (connector type, secret references, host). Raises nothing.';

-- BEFORE INSERT OR UPDATE on connector_config: no inline secret at any depth (23514, whoever writes);
-- a tenant's session writes only what its policy allows (PV211) and marks the row tenant_written. The
-- mark stays through an engine session's later edits; the operator clears it explicitly
-- (UPDATE connector_config SET tenant_written = false ...) after vetting the configuration.
CREATE OR REPLACE FUNCTION tg_connector_config__check() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_err text;
BEGIN
  v_err := access_inline_secret_path(NEW.configuration);
  IF v_err IS NOT NULL THEN
    RAISE EXCEPTION 'connector_config of application %: "%" holds a secret inline; reference it (*_env or *_file)', NEW.application_id, v_err
      USING ERRCODE = 'check_violation', COLUMN = 'configuration', CONSTRAINT = 'connector_config_inline_secret';
  END IF;
  IF NOT role_is_engine(session_user) THEN
    NEW.tenant_written := true;
  ELSIF TG_OP = 'INSERT' THEN
    NEW.tenant_written := coalesce(NEW.tenant_written, false);
  ELSIF NEW.tenant_written IS NOT DISTINCT FROM OLD.tenant_written THEN
    -- an engine session's other change keeps the mark: only an explicit SET tenant_written = false clears it
    NEW.tenant_written := OLD.tenant_written;
  END IF;
  IF NOT role_is_engine(session_user) THEN
    PERFORM tenant_assert_session_may_act_for(NEW.tenant_customer_id);
    v_err := access_connector_policy_error(NEW.tenant_customer_id, NEW.connector_type, NEW.configuration);
    IF v_err IS NOT NULL THEN
      RAISE EXCEPTION 'connector_config of application %: %', NEW.application_id, v_err
        USING ERRCODE = 'PV211', COLUMN = 'configuration', HINT = 'SELECT * FROM tenant_connector_policy';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_connector_config__check() IS
  'BEFORE INSERT OR UPDATE on connector_config: 23514 for an inline secret at any depth; for a tenant''s session, PV211 for what its tenant_connector_policy does not allow, and tenant_written.';
DROP TRIGGER IF EXISTS connector_config_check ON connector_config;
CREATE TRIGGER connector_config_check BEFORE INSERT OR UPDATE ON connector_config FOR EACH ROW EXECUTE FUNCTION tg_connector_config__check();

-- BEFORE INSERT OR UPDATE on tenant_connector_policy: no two tenants' policies may overlap, or one
-- tenant could name another's secrets: an environment prefix may not be a prefix of another tenant's
-- (ACME_ and ACME_CORP_), nor a secret directory contain another's. Raises PV212 naming the other tenant.
CREATE OR REPLACE FUNCTION tg_tenant_connector_policy__check() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_other uuid;
BEGIN
  -- one policy write at a time: two overlapping rows written concurrently would each miss the other
  PERFORM pg_advisory_xact_lock(hashtextextended('tenant_connector_policy', 0));
  SELECT p.tenant_customer_id INTO v_other FROM tenant_connector_policy p
  WHERE p.tenant_customer_id <> NEW.tenant_customer_id AND NEW.secret_env_prefix IS NOT NULL AND p.secret_env_prefix IS NOT NULL
    AND (starts_with(p.secret_env_prefix, NEW.secret_env_prefix) OR starts_with(NEW.secret_env_prefix, p.secret_env_prefix))
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'secret_env_prefix % overlaps the prefix of tenant %', NEW.secret_env_prefix, v_other
      USING ERRCODE = 'PV212', COLUMN = 'secret_env_prefix';
  END IF;
  SELECT p.tenant_customer_id INTO v_other FROM tenant_connector_policy p
  WHERE p.tenant_customer_id <> NEW.tenant_customer_id AND NEW.secret_file_dir IS NOT NULL AND p.secret_file_dir IS NOT NULL
    AND (starts_with(p.secret_file_dir, NEW.secret_file_dir) OR starts_with(NEW.secret_file_dir, p.secret_file_dir))
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'secret_file_dir % overlaps the directory of tenant %', NEW.secret_file_dir, v_other
      USING ERRCODE = 'PV212', COLUMN = 'secret_file_dir';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_tenant_connector_policy__check() IS
  'BEFORE INSERT OR UPDATE on tenant_connector_policy: PV212 when the secret prefix or directory overlaps another tenant''s.';
DROP TRIGGER IF EXISTS tenant_connector_policy_check ON tenant_connector_policy;
CREATE TRIGGER tenant_connector_policy_check BEFORE INSERT OR UPDATE ON tenant_connector_policy
  FOR EACH ROW EXECUTE FUNCTION tg_tenant_connector_policy__check();

-- The shortest discovery interval tenant p_tenant may use: its policy's, else the column's default.
CREATE OR REPLACE FUNCTION access_tenant_min_discovery_interval(p_tenant uuid) RETURNS interval
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT min_discovery_interval FROM tenant_connector_policy WHERE tenant_customer_id = p_tenant), interval '15 minutes')
$$;
COMMENT ON FUNCTION access_tenant_min_discovery_interval(uuid) IS 'The minimum discovery interval of a tenant''s sessions (tenant_connector_policy, default 15 minutes). Raises nothing.';

-- BEFORE INSERT OR UPDATE on application: a tenant's session may not schedule discovery more often than
-- its policy allows (PV213 naming the minimum). Engine sessions are not limited.
CREATE OR REPLACE FUNCTION tg_application__check() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_min interval;
BEGIN
  IF NEW.discovery_interval IS NOT NULL AND NOT role_is_engine(session_user)
     AND (TG_OP = 'INSERT' OR NEW.discovery_interval IS DISTINCT FROM OLD.discovery_interval) THEN
    v_min := access_tenant_min_discovery_interval(NEW.tenant_customer_id);
    IF NEW.discovery_interval < v_min THEN
      RAISE EXCEPTION 'application %: discovery_interval % is shorter than this tenant may use (%)', NEW.name, NEW.discovery_interval, v_min
        USING ERRCODE = 'PV213', COLUMN = 'discovery_interval', HINT = 'tenant_connector_policy.min_discovery_interval';
    END IF;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_application__check() IS 'BEFORE INSERT OR UPDATE on application: PV213 when a tenant session schedules discovery more often than its policy allows.';
DROP TRIGGER IF EXISTS application_check ON application;
CREATE TRIGGER application_check BEFORE INSERT OR UPDATE ON application FOR EACH ROW EXECUTE FUNCTION tg_application__check();
