-- Up Migration
-- The first provision family (seed 003; RFC 5731 domains, RFC 5733 contacts): provision tables, the
-- tenant's inventory at the registry, and the job types that serve them.

-- ---------------------------------------------------------------------------------------------------------
-- Inventory: what each tenant holds at the registry, maintained by post/ triggers.
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE contact (
  id                 UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  accreditation_id   UUID NOT NULL REFERENCES accreditation ON DELETE RESTRICT,
  contact_id         TEXT NOT NULL,           -- RFC 5733 contact:id (clIDType)
  roid               TEXT NOT NULL,
  email              TEXT NOT NULL,
  pw                 TEXT NOT NULL,           -- authInfo
  ry_created_date    TIMESTAMPTZ,
  deleted_date       TIMESTAMPTZ
) INHERITS (class.audit);
CREATE UNIQUE INDEX contact_live_uidx ON contact (accreditation_id, contact_id) WHERE deleted_date IS NULL;
CREATE INDEX contact_tenant_idx ON contact (tenant_customer_id);

CREATE TABLE domain (
  id                   UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  tenant_customer_id   UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  accreditation_id     UUID NOT NULL REFERENCES accreditation ON DELETE RESTRICT,
  accreditation_tld_id UUID NOT NULL REFERENCES accreditation_tld ON DELETE RESTRICT,
  name                 TEXT NOT NULL CHECK (name = lower(name)),
  roid                 TEXT NOT NULL,
  registrant           TEXT,
  pw                   TEXT NOT NULL,          -- authInfo
  ry_created_date      TIMESTAMPTZ NOT NULL,
  ry_expiry_date       TIMESTAMPTZ NOT NULL,
  deleted_date         TIMESTAMPTZ
) INHERITS (class.audit);
CREATE UNIQUE INDEX domain_live_uidx ON domain (name) WHERE deleted_date IS NULL;
CREATE INDEX domain_tenant_idx ON domain (tenant_customer_id);

-- ---------------------------------------------------------------------------------------------------------
-- Provision tables. Keys are declared per child (inheritance does not carry them); the job FK is
-- DEFERRABLE because the job row is created by the _500 trigger of the same INSERT.
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE provision_contact (
  contact_id  TEXT NOT NULL,
  name        TEXT NOT NULL,
  org         TEXT,
  street      TEXT[] NOT NULL DEFAULT '{}',
  city        TEXT NOT NULL,
  sp          TEXT,
  pc          TEXT,
  cc          TEXT NOT NULL,
  voice       TEXT,
  fax         TEXT,
  email       TEXT NOT NULL,
  pw          TEXT NOT NULL DEFAULT 'Pv' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 14) || '!',
  ry_created_date TIMESTAMPTZ,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (accreditation_id) REFERENCES accreditation ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);
CREATE UNIQUE INDEX provision_contact_in_flight_uidx ON provision_contact (accreditation_id, contact_id)
  WHERE status_id IN (1, 2);

CREATE TABLE provision_domain (
  name                 TEXT NOT NULL,
  registration_period  INT NOT NULL DEFAULT 1,
  pw                   TEXT NOT NULL DEFAULT 'Pv' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 14) || '!',
  accreditation_tld_id UUID REFERENCES accreditation_tld ON DELETE RESTRICT,
  registrant           TEXT,
  admin_contact        TEXT,
  tech_contact         TEXT,
  billing_contact      TEXT,
  nameservers          TEXT[] NOT NULL DEFAULT '{}',
  ry_created_date      TIMESTAMPTZ,
  ry_expiry_date       TIMESTAMPTZ,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (accreditation_id) REFERENCES accreditation ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);
-- one create in flight per name (the validation trigger gives the friendly error; this is the backstop
-- against two concurrent INSERTs)
CREATE UNIQUE INDEX provision_domain_in_flight_uidx ON provision_domain (name) WHERE status_id IN (1, 2);

CREATE TABLE provision_domain_renew (
  name                 TEXT NOT NULL,
  period               INT NOT NULL DEFAULT 1,
  current_expiry_date  DATE NOT NULL,
  domain_id            UUID REFERENCES domain ON DELETE RESTRICT,
  ry_expiry_date       TIMESTAMPTZ,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (accreditation_id) REFERENCES accreditation ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);
CREATE UNIQUE INDEX provision_domain_renew_in_flight_uidx ON provision_domain_renew (name) WHERE status_id IN (1, 2);

CREATE TABLE provision_domain_delete (
  name       TEXT NOT NULL,
  domain_id  UUID REFERENCES domain ON DELETE RESTRICT,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (accreditation_id) REFERENCES accreditation ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);
CREATE UNIQUE INDEX provision_domain_delete_in_flight_uidx ON provision_domain_delete (name) WHERE status_id IN (1, 2);

INSERT INTO job_type (name, descr, reference_table, task_identifier, max_attempts) VALUES
  ('contact_create', 'create a contact at the registry (RFC 5733 <create>)', 'provision_contact',       'contact__create', 5),
  ('domain_create',  'create a domain at the registry (RFC 5731 <create>)',  'provision_domain',        'domain__create',  5),
  ('domain_renew',   'renew a domain at the registry (RFC 5731 <renew>)',    'provision_domain_renew',  'domain__renew',   5),
  ('domain_delete',  'delete a domain at the registry (RFC 5731 <delete>)',  'provision_domain_delete', 'domain__delete',  5);

-- Down Migration
-- Forward-only (CONVENTIONS.md): no down migration.
