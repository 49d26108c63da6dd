-- Attach the standard provision triggers (stored-procedures/engine/provision/attach_triggers.sql) to the
-- registry family's tables. Runs after validation/ and post/, so every family trigger function exists
-- (the engine attaches tg_<table>__validate and tg_<table>__complete when they do).
-- A new provision table is one more line here (and its migration, validation and post files).
SELECT provision_attach_triggers('provision_contact', 'contact_create');
SELECT provision_attach_triggers('provision_domain', 'domain_create');
SELECT provision_attach_triggers('provision_domain_renew', 'domain_renew');
SELECT provision_attach_triggers('provision_domain_delete', 'domain_delete');
SELECT provision_attach_triggers('provision_host', 'host_create');

-- Inventory tables (what each tenant holds at the registry): row-level security by tenant, read by the
-- order role, every row for the worker. A new inventory table is one more line here.
SELECT inventory_attach('contact');
SELECT inventory_attach('domain');
SELECT inventory_attach('host');

-- The access family (seed 002)
SELECT provision_attach_triggers('provision_access_grant', 'access_grant');
SELECT provision_attach_triggers('provision_access_revoke', 'access_revoke');
SELECT inventory_attach('identity');
SELECT inventory_attach('role');
SELECT inventory_attach('identity_role');
SELECT inventory_attach('application');
SELECT inventory_attach('mapping_config');
SELECT inventory_attach('entitlement');
SELECT inventory_attach('role_entitlement');
SELECT inventory_attach('account');
SELECT inventory_attach('connector_config');
SELECT inventory_attach('access_discovery_run');
SELECT inventory_attach('access_observation');
SELECT inventory_attach('tenant_connector_policy');
-- Tenants' sessions read these (their own rows) and write their definitions (engine/security/roles.sql:
-- identity, role, their links, application, entitlement, connector_config within the tenant's
-- tenant_connector_policy, mapping_config); accounts, discovery passes and the policy are the engine's
-- and the operator's.

-- Workflows (docs/decisions/0008): templates are global, audited, written by the owner only
-- (engine/security/roles.sql grants every runtime role SELECT).
SELECT attach_audit_trail('workflow_template');

-- Workflow runs and their task and wait steps (stored-procedures/workflow/): provisions like any other.
-- A run's scheduled_at and a wait's until hold their jobs back (_520_schedule).
SELECT provision_attach_triggers('provision_workflow', 'workflow_run');
SELECT provision_attach_triggers('provision_workflow_task', 'workflow_task');
SELECT provision_attach_triggers('provision_workflow_wait', 'workflow_wait');
CREATE OR REPLACE TRIGGER _520_schedule AFTER INSERT ON provision_workflow REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tg_provision__schedule('scheduled_at');
CREATE OR REPLACE TRIGGER _520_schedule AFTER INSERT ON provision_workflow_wait REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tg_provision__schedule('until');
-- step attempts: read by their tenant, written by the engine's SECURITY DEFINER functions only
SELECT tenant_policies_attach('workflow_step_run', 'tenant_customer_id = (SELECT current_tenant_id())');
-- the tenant lifecycle (migrations/0020): a tenant reads its own profile; the task steps write it
SELECT inventory_attach('tenant_profile');
SELECT attach_audit_trail('tenant_profile');
