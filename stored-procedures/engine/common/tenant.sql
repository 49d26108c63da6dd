-- Tenant of the session for row-level security, the status views and validation (docs/decisions/0005).
-- Roles: migrations/0004_roles.sql; privileges and policies: stored-procedures/engine/security/roles.sql;
-- login binding: table tenant_login (migrations/0007).
--
-- Callers that evaluate these per row write them as a scalar subquery, `(SELECT current_tenant_id())`:
-- PostgreSQL then evaluates the function once per query (an InitPlan) instead of once per row.

-- The tenant of this session: SET app.tenant_id = '<uuid>' (or set_config('app.tenant_id', ..., true)
-- per transaction). NULL when unset or empty. A login listed in tenant_login may name only its own
-- tenants; an unlisted login may name any (an order system that serves many tenants through one login).
-- SECURITY DEFINER: it reads tenant_login, which the order and reader roles cannot.
CREATE OR REPLACE FUNCTION current_tenant_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  v_login regrole;
BEGIN
  IF v_tenant IS NULL THEN RETURN NULL; END IF;
  v_login := (SELECT oid FROM pg_roles WHERE rolname = session_user)::regrole;
  IF EXISTS (SELECT 1 FROM tenant_login WHERE login = v_login)
     AND NOT EXISTS (SELECT 1 FROM tenant_login WHERE login = v_login AND tenant_customer_id = v_tenant) THEN
    RAISE EXCEPTION 'app.tenant_id: login % may not act for tenant %', session_user, v_tenant
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'the login is bound to its tenants in tenant_login; set app.tenant_id to one of them';
  END IF;
  RETURN v_tenant;
END
$$;
COMMENT ON FUNCTION current_tenant_id() IS
  'The uuid in setting app.tenant_id, or NULL. Raises 22P02 on a malformed value, 42501 when the login is bound '
  '(tenant_login) to other tenants. SECURITY DEFINER.';

-- Whether role p_role is the engine's: a superuser, provisio_owner or provisio_worker, which see every
-- tenant. The views ask it of current_user (inside a view, the role that queries it); the SECURITY
-- DEFINER triggers of session_user, the login (inside them current_user is the functions' owner).
CREATE OR REPLACE FUNCTION role_is_engine(p_role name) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT pg_has_role(p_role, 'provisio_worker', 'USAGE') OR pg_has_role(p_role, 'provisio_owner', 'USAGE')
$$;
COMMENT ON FUNCTION role_is_engine(name) IS 'True when role p_role sees every tenant (superuser, provisio_owner, provisio_worker). Raises nothing.';

-- The first check of every INSERT a tenant's session makes through provisio's SECURITY DEFINER
-- triggers, before any rule that reads another tenant's rows: a row for a tenant the session may not act
-- for is refused with 42501, so no later message can carry another tenant's data. Engine sessions pass.
CREATE OR REPLACE FUNCTION tenant_assert_session_may_act_for(p_tenant uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_current uuid;
BEGIN
  IF role_is_engine(session_user) THEN RETURN; END IF;
  v_current := current_tenant_id();
  IF p_tenant IS DISTINCT FROM v_current THEN
    RAISE EXCEPTION 'tenant_customer_id %: this session acts for tenant % (app.tenant_id)', p_tenant, coalesce(v_current::text, 'none')
      USING ERRCODE = 'insufficient_privilege', COLUMN = 'tenant_customer_id',
            HINT = 'SET app.tenant_id to the tenant of the row, or use that tenant''s id';
  END IF;
END
$$;
COMMENT ON FUNCTION tenant_assert_session_may_act_for(uuid) IS
  'Raises 42501 (column tenant_customer_id) when a tenant session (not the engine) writes a row of a tenant other than app.tenant_id.';
