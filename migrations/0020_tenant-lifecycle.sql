-- Up Migration
-- The tenant lifecycle (seed 004, "tenant provisioning automation"; docs/decisions/0008 §7): what the
-- built-in templates tenant.onboard and tenant.deprovision record about a tenant beyond tenant_customer,
-- and the task steps they use (src/families/workflow/tasks.ts).

-- Seed 004's tenant categories: example limit sets an onboarding applies (a template's input names one).
CREATE TABLE tenant_category (
  name     TEXT NOT NULL PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  descr    TEXT NOT NULL,
  settings JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  limits   JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limits) = 'object')
);
INSERT INTO tenant_category (name, descr, settings, limits) VALUES
  ('basic',        'a single school or small organisation', '{"features": ["core"]}',                      '{"max_users": 50,  "max_schools": 10,  "max_products": 500}'),
  ('district',     'a school district',                     '{"features": ["core", "reports"]}',           '{"max_users": 200, "max_schools": 50,  "max_products": 2000}'),
  ('municipality', 'a municipality',                        '{"features": ["core", "reports", "sso"]}',    '{"max_users": 500, "max_schools": 200, "max_products": 5000}');

-- A tenant's profile: its slug (the schema name in its applications), category, the settings and limits
-- applied, and where it stands in its lifecycle. Written by the task steps (tenant.settings,
-- tenant.state), read by the tenant.
CREATE TABLE tenant_profile (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() UNIQUE,
  tenant_customer_id UUID NOT NULL PRIMARY KEY REFERENCES tenant_customer ON DELETE RESTRICT,
  slug               TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z_][a-z0-9_]{0,62}$'),
  category           TEXT NOT NULL REFERENCES tenant_category ON DELETE RESTRICT,
  settings           JSONB NOT NULL DEFAULT '{}',
  limits             JSONB NOT NULL DEFAULT '{}',
  state              TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled', 'deprovisioned')),
  onboarded_date     TIMESTAMPTZ,
  deprovisioned_date TIMESTAMPTZ
) INHERITS (class.audit_trail);

-- Who may start a template's runs: every tenant's session (the default), or only the operator's (the
-- tenant lifecycle's templates: they drop schemas, purge audit logs and set a tenant's state). A tenant
-- session's INSERT of such a run, and its operations on one, are refused (PV327).
ALTER TABLE workflow_template ADD COLUMN tenant_startable BOOLEAN NOT NULL DEFAULT true;

INSERT INTO workflow_task_type (name, descr) VALUES
  ('sql.tenant_schema', 'create the tenant''s schema in an application''s database (sql connector) and apply the given migrations not yet recorded there'),
  ('tenant.settings', 'record the tenant''s profile: slug, category, the category''s settings and limits (params override them)'),
  ('tenant.state', 'set the tenant''s lifecycle state: active, disabled or deprovisioned'),
  ('identity.ensure', 'create or update an identity and give it a role; output identity_id, role_id and the role''s entitlement_ids'),
  ('access.list_entitlements', 'the entitlement ids an identity''s roles give it (output ids)'),
  ('backup.export', 'export every table of the tenant''s schema in an application''s database to a file; output location, size, sha256'),
  ('backup.purge', 'delete a backup file written by backup.export'),
  ('data.cleanup', 'drop the tenant''s schema in an application''s database'),
  ('audit.purge', 'delete the audit_trail_log rows of the tenant''s rows');

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
