-- Up Migration
-- provisio core schema: the abstract classes, lookup tables, tenants, accreditations, jobs, orders, events.
-- Forward-only: never edit this file after it has landed; fix with a new migration.
-- Function bodies live in stored-procedures/ and are re-applied after every migrate.

CREATE SCHEMA IF NOT EXISTS class;

-- ---------------------------------------------------------------------------------------------------------
-- Lookup tables. Ids are fixed small integers so that partial indexes and CHECKs can name them; the names
-- are the public API (DESIGN.md "Contracts users rely on").
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE provision_status (
  id         SMALLINT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  descr      TEXT NOT NULL,
  is_final   BOOLEAN NOT NULL,
  is_success BOOLEAN NOT NULL
);
INSERT INTO provision_status VALUES
  (1, 'pending',    'accepted, waiting for a worker',         FALSE, FALSE),
  (2, 'processing', 'a worker is talking to the provider',    FALSE, FALSE),
  (3, 'completed',  'the provider confirmed the action',      TRUE,  TRUE),
  (4, 'failed',     'the action failed; see result_message',  TRUE,  FALSE);

CREATE TABLE job_status (LIKE provision_status INCLUDING ALL);
INSERT INTO job_status VALUES
  (1, 'submitted',  'enqueued in graphile-worker',            FALSE, FALSE),
  (2, 'processing', 'a worker holds the job',                 FALSE, FALSE),
  (3, 'completed',  'done; result_data holds the outcome',    TRUE,  TRUE),
  (4, 'failed',     'failed for good; result_message says why', TRUE, FALSE);

CREATE TABLE order_status (LIKE provision_status INCLUDING ALL);
INSERT INTO order_status VALUES
  (1, 'pending',    'no item has started',                    FALSE, FALSE),
  (2, 'processing', 'some items are in progress',             FALSE, FALSE),
  (3, 'completed',  'every item completed',                   TRUE,  TRUE),
  (4, 'failed',     'every item is final and one failed',     TRUE,  FALSE);

CREATE TABLE order_item_status (LIKE provision_status INCLUDING ALL);
INSERT INTO order_item_status SELECT * FROM order_status;

CREATE TABLE order_item_plan_status (LIKE provision_status INCLUDING ALL);
INSERT INTO order_item_plan_status SELECT * FROM order_status;

-- ---------------------------------------------------------------------------------------------------------
-- Abstract classes (never written to directly).
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE class.audit (
  created_date TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_date TIMESTAMPTZ,
  created_by   TEXT NOT NULL DEFAULT current_user,
  updated_by   TEXT
);
COMMENT ON TABLE class.audit IS 'Parent of every table that records who created and last changed a row.';

-- A table that inherits class.audit_trail gets its INSERT/UPDATE/DELETE logged to audit_trail_log
-- (the trigger is attached by attach_audit_trail(regclass)).
CREATE TABLE class.audit_trail () INHERITS (class.audit);
COMMENT ON TABLE class.audit_trail IS 'Marks a table whose changes are logged to audit_trail_log.';

CREATE TABLE audit_trail_log (
  id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name     TEXT NOT NULL,
  operation      TEXT NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
  object_id      UUID,
  old_value      JSONB,
  new_value      JSONB,
  changed_by     TEXT NOT NULL DEFAULT current_user,
  changed_date   TIMESTAMPTZ NOT NULL DEFAULT now(),
  transaction_id BIGINT NOT NULL DEFAULT txid_current()
);
CREATE INDEX audit_trail_log_object_idx ON audit_trail_log (object_id);

-- ---------------------------------------------------------------------------------------------------------
-- Tenants and accreditations.
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE tenant_customer (
  id   UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
) INHERITS (class.audit);

-- Connector types the worker knows (src/connectors/registry.ts keeps one adapter per name).
CREATE TABLE connector_type (
  name  TEXT PRIMARY KEY,
  descr TEXT NOT NULL
);
INSERT INTO connector_type VALUES
  ('epp',  'EPP registry (RFC 5730-5734) over TLS'),
  ('noop', 'does nothing and succeeds; for benchmarks and dry runs');

-- A tenant's account at a provider. config holds connection settings; secrets are only referenced
-- (password_env: the name of an environment variable, or password_file: a path) and are never stored.
CREATE TABLE accreditation (
  id                 UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  name               TEXT NOT NULL,
  provider           TEXT NOT NULL,
  connector_type     TEXT NOT NULL REFERENCES connector_type ON DELETE RESTRICT,
  config             JSONB NOT NULL DEFAULT '{}',
  max_sessions       INT NOT NULL DEFAULT 4 CHECK (max_sessions BETWEEN 1 AND 64),
  UNIQUE (tenant_customer_id, name),
  CONSTRAINT accreditation_config_has_no_secret
    CHECK (NOT (config ?| ARRAY['password', 'pw', 'secret', 'passwd', 'newPW']))
) INHERITS (class.audit);
CREATE INDEX accreditation_tenant_idx ON accreditation (tenant_customer_id);

-- The TLDs an accreditation serves (seed 003: provision_domain.accreditation_tld_id).
CREATE TABLE accreditation_tld (
  id               UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  accreditation_id UUID NOT NULL REFERENCES accreditation ON DELETE CASCADE,
  tld              TEXT NOT NULL CHECK (tld = lower(tld) AND tld !~ '^\.|\.$'),
  UNIQUE (accreditation_id, tld)
);

-- ---------------------------------------------------------------------------------------------------------
-- Jobs: the durable record. graphile-worker deletes its own rows when done; job keeps the history.
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE job_type (
  id                         SMALLINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                       TEXT NOT NULL UNIQUE,
  descr                      TEXT NOT NULL,
  reference_table            TEXT NOT NULL,
  task_identifier            TEXT NOT NULL,
  max_attempts               INT NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
  -- retry n waits retry_backoff_seconds * 2^(n-1), capped at retry_backoff_max_seconds
  retry_backoff_seconds      NUMERIC NOT NULL DEFAULT 2 CHECK (retry_backoff_seconds >= 0),
  retry_backoff_max_seconds  NUMERIC NOT NULL DEFAULT 300 CHECK (retry_backoff_max_seconds >= 0)
);

CREATE TABLE job (
  id                 UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  type_id            SMALLINT NOT NULL REFERENCES job_type ON DELETE RESTRICT,
  status_id          SMALLINT NOT NULL DEFAULT 1 REFERENCES job_status ON DELETE RESTRICT,
  reference_table    TEXT NOT NULL,
  reference_id       UUID NOT NULL,
  data               JSONB NOT NULL DEFAULT '{}',
  result_data        JSONB,
  result_message     TEXT,
  attempts           INT NOT NULL DEFAULT 0,
  max_attempts       INT NOT NULL,
  parent_id          UUID REFERENCES job ON DELETE RESTRICT,
  created_date       TIMESTAMPTZ NOT NULL DEFAULT now(),
  start_date         TIMESTAMPTZ,
  end_date           TIMESTAMPTZ,
  retry_date         TIMESTAMPTZ
);
CREATE INDEX job_reference_idx ON job (reference_id);
CREATE INDEX job_parent_idx ON job (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX job_open_idx ON job (status_id, created_date) WHERE status_id IN (1, 2);
CREATE INDEX job_tenant_created_idx ON job (tenant_customer_id, created_date DESC);

-- ---------------------------------------------------------------------------------------------------------
-- Provisions: every provision_* table INHERITS (class.audit_trail, class.provision). Inheritance does not
-- carry primary keys, foreign keys or triggers: each child declares its own keys, and the standard
-- triggers are attached with provision_attach_triggers(regclass) (stored-procedures/common).
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE class.provision (
  id                  UUID NOT NULL DEFAULT gen_random_uuid(),
  tenant_customer_id  UUID NOT NULL,
  accreditation_id    UUID NOT NULL,
  provisioned_date    TIMESTAMPTZ,
  status_id           SMALLINT NOT NULL DEFAULT 1,
  roid                TEXT,
  job_id              UUID,
  order_item_plan_ids UUID[],
  result_message      TEXT,
  result_data         JSONB,
  -- attempt bookkeeping, mirrored from the job on every attempt
  attempt_count       INT NOT NULL DEFAULT 0,
  last_attempt_date   TIMESTAMPTZ
);
COMMENT ON TABLE class.provision IS
  'Parent of every provision_* table (seed 003). SELECT tableoid::regclass, * FROM class.provision sees all.';

-- ---------------------------------------------------------------------------------------------------------
-- Orders: a provision row serves the plans listed in its order_item_plan_ids; statuses roll up
-- plan -> item -> order in triggers (stored-procedures/order).
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE "order" (
  id                 UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE RESTRICT,
  status_id          SMALLINT NOT NULL DEFAULT 1 REFERENCES order_status ON DELETE RESTRICT,
  reference          TEXT,
  completed_date     TIMESTAMPTZ
) INHERITS (class.audit);
CREATE INDEX order_tenant_idx ON "order" (tenant_customer_id, created_date DESC);

CREATE TABLE order_item (
  id          UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  order_id    UUID NOT NULL REFERENCES "order" ON DELETE CASCADE,
  status_id   SMALLINT NOT NULL DEFAULT 1 REFERENCES order_item_status ON DELETE RESTRICT,
  object_type TEXT NOT NULL,
  descr       TEXT
) INHERITS (class.audit);
CREATE INDEX order_item_order_idx ON order_item (order_id);

CREATE TABLE order_item_plan (
  id             UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  order_item_id  UUID NOT NULL REFERENCES order_item ON DELETE CASCADE,
  status_id      SMALLINT NOT NULL DEFAULT 1 REFERENCES order_item_plan_status ON DELETE RESTRICT,
  action         TEXT NOT NULL,
  result_message TEXT
) INHERITS (class.audit);
CREATE INDEX order_item_plan_item_idx ON order_item_plan (order_item_id);

-- ---------------------------------------------------------------------------------------------------------
-- Event outbox: one row per provision and order status change, written in the same transaction.
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE event (
  id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_customer_id UUID NOT NULL,
  event_type         TEXT NOT NULL,
  reference_table    TEXT NOT NULL,
  reference_id       UUID NOT NULL,
  payload            JSONB NOT NULL DEFAULT '{}',
  created_date       TIMESTAMPTZ NOT NULL DEFAULT now(),
  published_date     TIMESTAMPTZ
);
CREATE INDEX event_unpublished_idx ON event (id) WHERE published_date IS NULL;
CREATE INDEX event_reference_idx ON event (reference_id);

-- Down Migration
-- Forward-only (CONVENTIONS.md): no down migration.
