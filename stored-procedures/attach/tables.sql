-- Attach the standard triggers. Runs last so every trigger function above exists.
-- A new provision table is one more line here (and its migration, validation and post files).
SELECT provision_attach_triggers('provision_contact', 'contact_create');
SELECT provision_attach_triggers('provision_domain', 'domain_create');
SELECT provision_attach_triggers('provision_domain_renew', 'domain_renew');
SELECT provision_attach_triggers('provision_domain_delete', 'domain_delete');

CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON tenant_customer FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON accreditation FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON "order" FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON order_item FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
CREATE OR REPLACE TRIGGER _050_set_updated BEFORE UPDATE ON order_item_plan FOR EACH ROW EXECUTE FUNCTION tg_audit__set_updated();
