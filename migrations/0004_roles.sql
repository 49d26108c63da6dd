-- Database roles (issue 3, "Database roles and tenant isolation"). Roles belong to the whole cluster,
-- so each is created only when missing; their privileges and the row-level security policies are set
-- on every `provisio migrate` by stored-procedures/security/ (objects re-created by an apply keep them).
--
--   provisio_owner   owns the schema: the role `provisio migrate` should run as (grant it to that login)
--   provisio_worker  what the worker process needs: jobs, accreditations, graphile_worker, heartbeats
--   provisio_order   INSERT provision and order rows of its tenant, read the status views; no job
--                    internals, no accreditation config, no graphile_worker
--   provisio_reader  the status views of its tenant, nothing else
-- The three runtime roles are NOLOGIN groups: create a login per service and GRANT the group to it.
-- Tenant: the order and reader roles see and write only rows of the tenant named by the setting
-- app.tenant_id (SET app.tenant_id = '<tenant_customer.id>'); unset, they see nothing.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['provisio_owner', 'provisio_worker', 'provisio_order', 'provisio_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END
$$;

-- Down Migration
-- Forward-only (CONVENTIONS.md): no down migration.
