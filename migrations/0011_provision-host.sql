-- Up Migration
-- RFC 5732 host objects, the registry family's third object type, added through the seams the README's
-- "Adding a provision type" describes: a provision table, an inventory table, a job type. Views, roles,
-- grants, row-level security, the lifecycle and the order rollup pick the table up by themselves
-- (stored-procedures/attach/tables.sql attaches it with one line, and the inventory with one more).

-- A provision type names the column of its job data that identifies the object it acts on, shown as
-- v_provision.object_name (a domain's name, a contact's contact_id, a host's name).
ALTER TABLE job_type ADD COLUMN object_column TEXT NOT NULL DEFAULT 'name';
UPDATE job_type SET object_column = 'contact_id' WHERE name = 'contact_create';

-- Inventory: the hosts each tenant holds at the registry (maintained by post/host_family.sql).
CREATE TABLE host (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  accreditation_id   UUID NOT NULL REFERENCES accreditation ON DELETE RESTRICT,
  name               TEXT NOT NULL CHECK (name = lower(name)),
  roid               TEXT NOT NULL,
  addrs_v4           INET[] NOT NULL DEFAULT '{}',
  addrs_v6           INET[] NOT NULL DEFAULT '{}',
  ry_created_date    TIMESTAMPTZ,
  deleted_date       TIMESTAMPTZ
) INHERITS (class.audit);
-- a host name is unique within a registry (RFC 5732 §2.1): one live row per accreditation and name
CREATE UNIQUE INDEX host_live_uidx ON host (accreditation_id, name) WHERE deleted_date IS NULL;
CREATE INDEX host_tenant_idx ON host (tenant_customer_id);

-- RFC 5732 <host:create>: a name and its addresses (glue for a host subordinate to a domain of the
-- registry; none for an external host).
CREATE TABLE provision_host (
  name            TEXT NOT NULL,
  addrs_v4        INET[] NOT NULL DEFAULT '{}',
  addrs_v6        INET[] NOT NULL DEFAULT '{}',
  ry_created_date TIMESTAMPTZ,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (accreditation_id) REFERENCES accreditation ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);
-- the registry family's provisions are made under an accreditation (migrations/0010)
ALTER TABLE provision_host ALTER COLUMN accreditation_id SET NOT NULL;

INSERT INTO job_type (name, descr, reference_table, task_identifier, max_attempts) VALUES
  ('host_create', 'create a host at the registry (RFC 5732 <create>)', 'provision_host', 'host__create', 5);

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
