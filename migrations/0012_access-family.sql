-- Up Migration
-- The access family (seed 002): people (identity) are given roles, roles carry entitlements,
-- entitlements live in applications, and provisio makes each application's account of a person hold
-- what the person's roles give. Tenant-owned like everything else; row-level security and grants come
-- from stored-procedures/attach/tables.sql (inventory_attach) and engine/security/roles.sql.
-- Provisions: provision_access_grant and provision_access_revoke (job types access_grant, access_revoke).

INSERT INTO connector_type VALUES
  ('sql',  'a database: logins and roles (PostgreSQL, MariaDB), or rows of an application''s own user and role tables'),
  ('ldap', 'an LDAP directory (RFC 4511): account entries and group membership'),
  ('scim', 'a SCIM 2.0 service provider (RFC 7643, RFC 7644): Users and Groups');

-- A person of the tenant. username is unique per tenant whatever its case (RFC 7643 §4.1.1: userName is
-- caseExact false), and is what the mappings derive an account's id from.
CREATE TABLE identity (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  username           TEXT NOT NULL CHECK (username <> '' AND length(username) <= 256),
  email              TEXT,
  display_name       TEXT,
  is_active          BOOLEAN NOT NULL DEFAULT true,
  UNIQUE (id, tenant_customer_id)
) INHERITS (class.audit);
CREATE UNIQUE INDEX identity_username_uidx ON identity (tenant_customer_id, lower(username));

CREATE TABLE role (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  name               TEXT NOT NULL,
  descr              TEXT,
  UNIQUE (tenant_customer_id, name),
  UNIQUE (id, tenant_customer_id)
) INHERITS (class.audit);

-- An application of the tenant: a target system whose accounts provisio keeps in step.
CREATE TABLE application (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  name               TEXT NOT NULL,
  descr              TEXT,
  UNIQUE (tenant_customer_id, name),
  UNIQUE (id, tenant_customer_id)
) INHERITS (class.audit);

-- How provisio reaches an application: the connector type and its configuration (the adapter's zod
-- schema is the authority: src/connectors/<type>/). Secrets are referenced (password_env, token_file,
-- ...), never stored: a CHECK refuses the usual inline keys at any depth of the top level.
CREATE TABLE connector_config (
  application_id     UUID NOT NULL PRIMARY KEY,
  tenant_customer_id UUID NOT NULL,
  connector_type     TEXT NOT NULL REFERENCES connector_type ON DELETE RESTRICT,
  configuration      JSONB NOT NULL CHECK (jsonb_typeof(configuration) = 'object'),
  CHECK (NOT (configuration ?| ARRAY['password', 'pw', 'secret', 'passwd', 'token', 'bindPassword', 'bearer'])),
  FOREIGN KEY (application_id, tenant_customer_id) REFERENCES application (id, tenant_customer_id) ON DELETE CASCADE
) INHERITS (class.audit);

-- How a person's account in the application is named: user_id_template with {username} and {email}
-- (e.g. '{username}', 'uid={username}' is the LDAP adapter's business: it gets the plain value), and
-- whether it is lower-cased first.
CREATE TABLE mapping_config (
  application_id     UUID NOT NULL PRIMARY KEY,
  tenant_customer_id UUID NOT NULL,
  user_id_template   TEXT NOT NULL DEFAULT '{username}' CHECK (user_id_template ~ '\{(username|email)\}'),
  lower_case         BOOLEAN NOT NULL DEFAULT true,
  FOREIGN KEY (application_id, tenant_customer_id) REFERENCES application (id, tenant_customer_id) ON DELETE CASCADE
) INHERITS (class.audit);

-- A right in one application, by its native key there: a group DN (LDAP), a group id (SCIM), a role (SQL).
CREATE TABLE entitlement (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL,
  application_id     UUID NOT NULL,
  name               TEXT NOT NULL,
  native_key         TEXT NOT NULL CHECK (native_key <> ''),
  UNIQUE (application_id, native_key),
  UNIQUE (id, tenant_customer_id),
  FOREIGN KEY (application_id, tenant_customer_id) REFERENCES application (id, tenant_customer_id) ON DELETE RESTRICT
) INHERITS (class.audit);

CREATE TABLE identity_role (
  identity_id        UUID NOT NULL,
  role_id            UUID NOT NULL,
  tenant_customer_id UUID NOT NULL,
  PRIMARY KEY (identity_id, role_id),
  FOREIGN KEY (identity_id, tenant_customer_id) REFERENCES identity (id, tenant_customer_id) ON DELETE CASCADE,
  FOREIGN KEY (role_id, tenant_customer_id) REFERENCES role (id, tenant_customer_id) ON DELETE CASCADE
) INHERITS (class.audit);

CREATE TABLE role_entitlement (
  role_id            UUID NOT NULL,
  entitlement_id     UUID NOT NULL,
  tenant_customer_id UUID NOT NULL,
  PRIMARY KEY (role_id, entitlement_id),
  FOREIGN KEY (role_id, tenant_customer_id) REFERENCES role (id, tenant_customer_id) ON DELETE CASCADE,
  FOREIGN KEY (entitlement_id, tenant_customer_id) REFERENCES entitlement (id, tenant_customer_id) ON DELETE CASCADE
) INHERITS (class.audit);

-- A person's account in an application, as provisio last saw it (written by the completion of a grant
-- or revoke): the id the application gave it (an entryUUID or DN, a SCIM id, a login), and its state.
CREATE TABLE account (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL,
  identity_id        UUID NOT NULL,
  application_id     UUID NOT NULL,
  user_id_in_app     TEXT NOT NULL,
  native_id          TEXT,
  link_state         TEXT NOT NULL DEFAULT 'linked' CHECK (link_state IN ('linked', 'disabled')),
  last_seen_date     TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (identity_id, application_id),
  FOREIGN KEY (identity_id, tenant_customer_id) REFERENCES identity (id, tenant_customer_id) ON DELETE RESTRICT,
  FOREIGN KEY (application_id, tenant_customer_id) REFERENCES application (id, tenant_customer_id) ON DELETE RESTRICT
) INHERITS (class.audit);

-- Make each application hold every entitlement the identity's roles give it (application_id NULL: every
-- application of those entitlements); create the account when missing, enable it when disabled.
-- username is derived by validation (shown as v_provision.object_name).
CREATE TABLE provision_access_grant (
  identity_id     UUID NOT NULL,
  application_id  UUID,
  dry_run         BOOLEAN NOT NULL DEFAULT false,
  username        TEXT,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (identity_id, tenant_customer_id) REFERENCES identity (id, tenant_customer_id) ON DELETE RESTRICT,
  FOREIGN KEY (application_id, tenant_customer_id) REFERENCES application (id, tenant_customer_id) ON DELETE RESTRICT
) INHERITS (class.audit_trail, class.provision);

-- Remove exactly the listed entitlements; with deactivate, disable the account where nothing is left.
CREATE TABLE provision_access_revoke (
  identity_id     UUID NOT NULL,
  entitlement_ids UUID[] NOT NULL,
  deactivate      BOOLEAN NOT NULL DEFAULT false,
  dry_run         BOOLEAN NOT NULL DEFAULT false,
  username        TEXT,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (identity_id, tenant_customer_id) REFERENCES identity (id, tenant_customer_id) ON DELETE RESTRICT
) INHERITS (class.audit_trail, class.provision);

INSERT INTO job_type (name, descr, reference_table, task_identifier, max_attempts, object_column) VALUES
  ('access_grant',  'make the identity''s applications hold what its roles give (seed 002)', 'provision_access_grant',  'access__grant',  8, 'username'),
  ('access_revoke', 'remove the listed entitlements from the identity''s accounts (seed 002)', 'provision_access_revoke', 'access__revoke', 8, 'username');

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
