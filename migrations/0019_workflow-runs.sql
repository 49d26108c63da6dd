-- Up Migration
-- Workflow runs (seeds 000 and 004; docs/decisions/0008 §1): a run is a provision (provision_workflow),
-- each of its steps is a provision too (of a family's table, of provision_workflow_task for a task the
-- worker runs, of provision_workflow_wait for a timer), and each step attempt is a workflow_step_run
-- row. The run's job stays open in the new job status "waiting" while its steps run; the database
-- advances the run in the transaction that finishes a step (stored-procedures/workflow/).

-- A job whose work is its children's: the run's job, held by workflow_run_start and released by
-- workflow_settle. Not final; the provision shows processing. Outside job_open_idx, so worker_recover
-- never re-adds it.
INSERT INTO job_status VALUES (5, 'waiting', 'waits for its child jobs (a workflow run''s steps)', FALSE, FALSE);
CREATE OR REPLACE FUNCTION job_status_waiting() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 5; END $$;
COMMENT ON FUNCTION job_status_waiting() IS 'Id of job_status "waiting". Raises nothing.';
-- the reconciler looks for waiting jobs whose run is final (stored-procedures/workflow/operations.sql)
CREATE INDEX job_waiting_idx ON job (id) WHERE status_id = job_status_waiting();

-- The run's own status (provision_workflow.wf_status_id), finer than its provision status: blocked,
-- cancelling and compensating keep the provision (and the order) processing.
CREATE TABLE workflow_run_status (LIKE provision_status INCLUDING ALL);
INSERT INTO workflow_run_status VALUES
  (1, 'pending',      'inserted; its job has not started it yet (scheduled_at)',               FALSE, FALSE),
  (2, 'running',      'steps are being dispatched and run',                                   FALSE, FALSE),
  (3, 'blocked',      'a step failed and waits for an operator: retry, skip, resume, cancel', FALSE, FALSE),
  (4, 'cancelling',   'cancelled; steps in flight finish and are recorded',                    FALSE, FALSE),
  (5, 'compensating', 'the compensations of completed steps run, in reverse order',           FALSE, FALSE),
  (6, 'completed',    'every step completed or was skipped',                                  TRUE,  TRUE),
  (7, 'failed',       'a step failed and its on_failure ended the run',                       TRUE,  FALSE),
  (8, 'cancelled',    'cancelled; nothing is in flight any more',                             TRUE,  FALSE),
  (9, 'compensated',  'every compensation of a completed step completed',                     TRUE,  FALSE);

-- A step attempt's status (workflow_step_run.status_id).
CREATE TABLE workflow_step_status (LIKE provision_status INCLUDING ALL);
INSERT INTO workflow_step_status VALUES
  (1, 'pending',     'waits for the steps it depends on',                     FALSE, FALSE),
  (2, 'ready',       'its dependencies are done; to be dispatched',           FALSE, FALSE),
  (3, 'running',     'its provision was inserted; its job runs',              FALSE, FALSE),
  (4, 'completed',   'its job completed; output recorded',                    TRUE,  TRUE),
  (5, 'failed',      'its job failed, or its provision was refused',          TRUE,  FALSE),
  (6, 'skipped',     'not run (when was false, or skipped); counts as done',  TRUE,  TRUE),
  (7, 'cancelled',   'the run was cancelled before the step finished',        TRUE,  FALSE),
  (8, 'compensated', 'completed, then undone by its compensation',            TRUE,  FALSE);

CREATE OR REPLACE FUNCTION wf_run_pending() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION wf_run_running() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 2; END $$;
CREATE OR REPLACE FUNCTION wf_run_blocked() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 3; END $$;
CREATE OR REPLACE FUNCTION wf_run_cancelling() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 4; END $$;
CREATE OR REPLACE FUNCTION wf_run_compensating() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 5; END $$;
CREATE OR REPLACE FUNCTION wf_run_completed() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 6; END $$;
CREATE OR REPLACE FUNCTION wf_run_failed() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 7; END $$;
CREATE OR REPLACE FUNCTION wf_run_cancelled() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 8; END $$;
CREATE OR REPLACE FUNCTION wf_run_compensated() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 9; END $$;
CREATE OR REPLACE FUNCTION wf_step_pending() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION wf_step_ready() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 2; END $$;
CREATE OR REPLACE FUNCTION wf_step_running() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 3; END $$;
CREATE OR REPLACE FUNCTION wf_step_completed() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 4; END $$;
CREATE OR REPLACE FUNCTION wf_step_failed() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 5; END $$;
CREATE OR REPLACE FUNCTION wf_step_skipped() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 6; END $$;
CREATE OR REPLACE FUNCTION wf_step_cancelled() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 7; END $$;
CREATE OR REPLACE FUNCTION wf_step_compensated() RETURNS smallint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 8; END $$;

-- The run. The order system writes template_name (and optionally template_version, input,
-- idempotency_key, scheduled_at, recovered_from_id); the wf_* columns are the engine's
-- (provision_writable_columns leaves them out of the order role's INSERT).
CREATE TABLE provision_workflow (
  template_name     TEXT NOT NULL,
  template_version  INTEGER,
  input             JSONB NOT NULL DEFAULT '{}',
  idempotency_key   TEXT CHECK (idempotency_key IS NULL OR length(idempotency_key) BETWEEN 1 AND 200),
  scheduled_at      TIMESTAMPTZ,
  recovered_from_id UUID,
  wf_status_id      SMALLINT NOT NULL DEFAULT 1 REFERENCES workflow_run_status ON DELETE RESTRICT,
  -- the template version's compiled graph, copied at INSERT: a run never reads its template again
  wf_definition     JSONB,
  -- accumulated output: {"<step key>": <its output>}
  wf_output         JSONB NOT NULL DEFAULT '{}',
  wf_error_code     TEXT,
  -- what a cancel asked for: stop, or compensate the completed steps (workflow_cancel)
  wf_cancel_mode    TEXT CHECK (wf_cancel_mode IN ('stop', 'compensate')),
  wf_started_date   TIMESTAMPTZ,
  wf_ended_date     TIMESTAMPTZ,
  PRIMARY KEY (id),
  UNIQUE (id, tenant_customer_id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (template_name, template_version) REFERENCES workflow_template (name, version) ON DELETE RESTRICT,
  FOREIGN KEY (recovered_from_id, tenant_customer_id) REFERENCES provision_workflow (id, tenant_customer_id) ON DELETE RESTRICT
) INHERITS (class.audit_trail, class.provision);
-- get-or-create by (tenant, key); the validation answers first (PV322/PV323), this is the backstop
CREATE UNIQUE INDEX provision_workflow_idempotency_idx ON provision_workflow (tenant_customer_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX provision_workflow_open_idx ON provision_workflow (wf_status_id, created_date)
  WHERE wf_status_id IN (wf_run_pending(), wf_run_running(), wf_run_blocked(), wf_run_cancelling(), wf_run_compensating());
CREATE INDEX provision_workflow_template_idx ON provision_workflow (template_name, template_version);
CREATE INDEX provision_workflow_tenant_idx ON provision_workflow (tenant_customer_id, created_date DESC);

-- A task step: the worker runs the handler registered under task_name (src/families/workflow/tasks.ts)
-- with params. Inserted by a run's dispatch only (validation refuses any other INSERT).
CREATE TABLE provision_workflow_task (
  task_name TEXT NOT NULL REFERENCES workflow_task_type ON DELETE RESTRICT,
  params    JSONB NOT NULL DEFAULT '{}',
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);

-- A wait step: its job runs at "until" (graphile-worker's run_at). Inserted by a run's dispatch only.
CREATE TABLE provision_workflow_wait (
  until TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (id),
  FOREIGN KEY (tenant_customer_id) REFERENCES tenant_customer ON DELETE RESTRICT,
  FOREIGN KEY (status_id) REFERENCES provision_status ON DELETE RESTRICT,
  FOREIGN KEY (job_id) REFERENCES job ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) INHERITS (class.audit_trail, class.provision);

INSERT INTO job_type (name, descr, reference_table, task_identifier, max_attempts, object_column) VALUES
  ('workflow_run',  'start a workflow run: create its step records and dispatch the first steps (seed 000)', 'provision_workflow', 'workflow__start', 5, 'template_name'),
  ('workflow_task', 'a workflow task step: run the registered handler of task_name', 'provision_workflow_task', 'workflow__task', 8, 'task_name'),
  ('workflow_wait', 'a workflow wait step: completes at until', 'provision_workflow_wait', 'workflow__wait', 5, 'until');

-- Each attempt of a step (forward) or of its compensation: get-or-create by (run_id, phase, step_key,
-- attempt); the live attempt of a key is its highest. Written only by the engine's SECURITY DEFINER
-- functions (stored-procedures/workflow/).
CREATE TABLE workflow_step_run (
  id                 UUID NOT NULL DEFAULT uuid_generate_v7() PRIMARY KEY,
  run_id             UUID NOT NULL,
  tenant_customer_id UUID NOT NULL,
  phase              TEXT NOT NULL DEFAULT 'forward' CHECK (phase IN ('forward', 'compensate')),
  step_key           TEXT NOT NULL,
  attempt            INTEGER NOT NULL DEFAULT 1 CHECK (attempt > 0),
  kind               TEXT NOT NULL CHECK (kind IN ('provision', 'task', 'wait')),
  target             TEXT,
  status_id          SMALLINT NOT NULL DEFAULT 1 REFERENCES workflow_step_status ON DELETE RESTRICT,
  remaining_deps     INTEGER NOT NULL DEFAULT 0 CHECK (remaining_deps >= 0),
  params             JSONB,
  params_override    JSONB,
  output             JSONB,
  provision_table    TEXT,
  provision_id       UUID NOT NULL DEFAULT uuid_generate_v7(),
  job_id             UUID UNIQUE REFERENCES job ON DELETE RESTRICT,
  not_before         TIMESTAMPTZ,
  error_code         TEXT,
  error_message      TEXT,
  skipped_reason     TEXT CHECK (skipped_reason IN ('when', 'operator', 'on_failure', 'cancelled')),
  copied_from_id     UUID REFERENCES workflow_step_run ON DELETE SET NULL,
  created_date       TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_date       TIMESTAMPTZ,
  ended_date         TIMESTAMPTZ,
  UNIQUE (run_id, phase, step_key, attempt),
  FOREIGN KEY (run_id, tenant_customer_id) REFERENCES provision_workflow (id, tenant_customer_id) ON DELETE CASCADE
);
CREATE INDEX workflow_step_run_ready_idx ON workflow_step_run (created_date) WHERE status_id = wf_step_ready();
CREATE INDEX workflow_step_run_provision_idx ON workflow_step_run (provision_id);

-- The task steps the worker knows (src/families/workflow/tasks.ts registers the same names; a test
-- checks both lists agree).
INSERT INTO workflow_task_type (name, descr) VALUES
  ('noop', 'does nothing; returns params.output (an object). params.fail (a message) fails it for good, params.fail_attempts (n) fails its first n attempts transiently: for trying templates'),
  ('notify', 'emits a workflow.notification event (params: topic, message, data) through the outbox');

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
