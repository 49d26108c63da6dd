-- Up Migration
-- Discovery (seed 002 "Discovery pipeline"): a pass per application lists the accounts the application
-- holds and the entitlements each one has, records what it saw (access_observation) on a run
-- (access_discovery_run), and the drift view (v_access_drift, stored-procedures/operations/) compares it
-- with what the identities' roles give. Repair is opt-in per application and held for an operator when
-- it would revoke too much (the mass-deletion guard).

-- Per application: how often a pass runs (NULL: only on demand), what a complete pass does with drift
-- (report: nothing; repair: apply the difference), the share of the application's accounts a repair may
-- revoke from before it is held, and the accounts read per page.
ALTER TABLE application
  ADD COLUMN discovery_interval      INTERVAL CHECK (discovery_interval IS NULL OR discovery_interval >= interval '1 minute'),
  ADD COLUMN reconcile_mode          TEXT NOT NULL DEFAULT 'report' CHECK (reconcile_mode IN ('report', 'repair')),
  ADD COLUMN repair_max_revoke_share NUMERIC NOT NULL DEFAULT 0.1 CHECK (repair_max_revoke_share BETWEEN 0 AND 1),
  ADD COLUMN discovery_page_size     INTEGER NOT NULL DEFAULT 200 CHECK (discovery_page_size BETWEEN 1 AND 10000);

-- One pass over one application. status: queued -> running -> complete | failed (a failed or partial
-- pass marks nothing). repair_status (repair mode only, set when the pass completes): none (no drift to
-- repair), held (over the revoke share: waits for access_repair_approve), queued, running, applied,
-- failed, superseded (a newer complete pass came first).
CREATE TABLE access_discovery_run (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  tenant_customer_id UUID NOT NULL,
  application_id     UUID NOT NULL,
  trigger            TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
  status             TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'complete', 'failed')),
  attempts           INTEGER NOT NULL DEFAULT 0,
  pages              INTEGER NOT NULL DEFAULT 0,
  accounts_seen      INTEGER NOT NULL DEFAULT 0,
  error_code         TEXT,
  error              TEXT,
  started_date       TIMESTAMPTZ,
  finished_date      TIMESTAMPTZ,
  repair_status      TEXT CHECK (repair_status IN ('none', 'held', 'queued', 'running', 'applied', 'failed', 'superseded')),
  repair_plan        JSONB,
  repair_result      JSONB,
  repair_approved_by TEXT,
  repair_approved_date TIMESTAMPTZ,
  FOREIGN KEY (application_id, tenant_customer_id) REFERENCES application (id, tenant_customer_id) ON DELETE CASCADE
) INHERITS (class.audit);
-- one pass in flight per application: requesting another returns it (get-or-create)
CREATE UNIQUE INDEX access_discovery_run_in_flight_uidx ON access_discovery_run (application_id) WHERE status IN ('queued', 'running');
CREATE INDEX access_discovery_run_application_idx ON access_discovery_run (application_id, created_date DESC);
CREATE INDEX access_discovery_run_complete_idx ON access_discovery_run (application_id, finished_date DESC) WHERE status = 'complete';

-- What a pass saw: one row per account, with the native keys (of the application's entitlements) it holds.
CREATE TABLE access_observation (
  run_id             UUID NOT NULL REFERENCES access_discovery_run ON DELETE CASCADE,
  tenant_customer_id UUID NOT NULL,
  application_id     UUID NOT NULL,
  user_id_in_app     TEXT NOT NULL,
  native_id          TEXT,
  active             BOOLEAN NOT NULL,
  entitlements       TEXT[] NOT NULL DEFAULT '{}'
);
-- a user id as the application spells it: targets that compare case-sensitively (SQL logins) may hold
-- "Alice" and "alice" as two accounts
CREATE UNIQUE INDEX access_observation_uidx ON access_observation (run_id, user_id_in_app);

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
