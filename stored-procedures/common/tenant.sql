-- Tenant of the session for row-level security, the status views and validation (issue 3, issue 10).
-- Roles: migrations/0004_roles.sql; privileges and policies: stored-procedures/security/roles.sql;
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
BEGIN
  IF v_tenant IS NOT NULL
     AND EXISTS (SELECT 1 FROM tenant_login WHERE login = session_user)
     AND NOT EXISTS (SELECT 1 FROM tenant_login WHERE login = session_user AND tenant_customer_id = v_tenant) THEN
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

-- Whether the current role is the engine: a superuser, provisio_owner or provisio_worker, which see
-- every tenant. current_user: inside a view it is the role that queries the view.
CREATE OR REPLACE FUNCTION tenant_engine_role() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT pg_has_role(current_user, 'provisio_worker', 'USAGE') OR pg_has_role(current_user, 'provisio_owner', 'USAGE')
$$;
COMMENT ON FUNCTION tenant_engine_role() IS 'True when the current role sees every tenant (superuser, provisio_owner, provisio_worker). Raises nothing.';

-- The same question for the login, asked inside SECURITY DEFINER triggers (where current_user is the
-- functions' owner): is the session the engine's, or a tenant's (provisio_order)?
CREATE OR REPLACE FUNCTION tenant_engine_session() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT pg_has_role(session_user, 'provisio_worker', 'USAGE') OR pg_has_role(session_user, 'provisio_owner', 'USAGE')
$$;
COMMENT ON FUNCTION tenant_engine_session() IS 'True when the login (session_user) sees every tenant. Raises nothing.';

-- Whether the current role may see rows of tenant p_tenant: always for the engine, otherwise only the
-- tenant in app.tenant_id. For one-off checks; views and policies use the two functions above in
-- scalar subqueries.
CREATE OR REPLACE FUNCTION tenant_visible(p_tenant uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_tenant = current_tenant_id() OR tenant_engine_role()
$$;
COMMENT ON FUNCTION tenant_visible(uuid) IS 'True when the current role may see tenant p_tenant. Raises 42501 as current_tenant_id() does.';

-- The first check of every INSERT a tenant's session makes through provisio's SECURITY DEFINER
-- triggers, before any rule that reads another tenant's rows: a row for a tenant the session may not act
-- for is refused with 42501, so no later message can carry another tenant's data. Engine sessions pass.
CREATE OR REPLACE FUNCTION tenant_assert_session_may_act_for(p_tenant uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_current uuid;
BEGIN
  IF tenant_engine_session() THEN RETURN; END IF;
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
