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
