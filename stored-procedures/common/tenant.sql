-- Tenant of the session for row-level security and the status views (issue 3). Roles: migrations/0004_roles.sql;
-- privileges and policies: stored-procedures/security/roles.sql.

-- The tenant of this session: SET app.tenant_id = '<uuid>' (or set_config('app.tenant_id', ..., true)
-- per transaction). NULL when unset or empty; a malformed value raises invalid_text_representation.
CREATE OR REPLACE FUNCTION current_tenant_id() RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.tenant_id', true), '')::uuid
$$;
COMMENT ON FUNCTION current_tenant_id() IS 'The uuid in setting app.tenant_id, or NULL. Raises 22P02 on a malformed value.';

-- Whether the current role may see rows of tenant p_tenant through the status views: always for the
-- engine (superuser, provisio_owner, provisio_worker), otherwise only the tenant in app.tenant_id.
CREATE OR REPLACE FUNCTION tenant_visible(p_tenant uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_tenant = current_tenant_id()
      OR pg_has_role(current_user, 'provisio_worker', 'USAGE')
      OR pg_has_role(current_user, 'provisio_owner', 'USAGE')
$$;
COMMENT ON FUNCTION tenant_visible(uuid) IS 'True when the current role may see tenant p_tenant in v_provision/v_order/v_job. Raises nothing.';

