-- Up Migration
-- Workflows (seeds 000 and 004; docs/decisions/0008): templates as data. A template version is a
-- definition (a DAG of steps whose targets are provision tables, task types or waits) and the JSON
-- Schema its runs' input must match. Publishing compiles and freezes it
-- (stored-procedures/operations/workflow_template.sql); runs are not built yet.

-- The task steps the worker knows (a step of kind "task" names one). Rows come with the task handlers.
CREATE TABLE workflow_task_type (
  name  TEXT NOT NULL PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.]{0,62}$'),
  descr TEXT NOT NULL
);

-- A version of a template. Global (every tenant may read the published ones), written by the owner.
-- status: draft (editable) -> published (frozen; runs may start) -> retired (no new runs).
CREATE TABLE workflow_template (
  id             UUID NOT NULL DEFAULT uuid_generate_v7() UNIQUE,
  name           TEXT NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  version        INTEGER NOT NULL CHECK (version > 0),
  status         TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'retired')),
  description    TEXT,
  input_schema   JSONB NOT NULL DEFAULT '{"type": "object"}',
  definition     JSONB NOT NULL,
  -- the checked graph in topological order, written at publish: what a run copies
  compiled       JSONB,
  published_date TIMESTAMPTZ,
  retired_date   TIMESTAMPTZ,
  PRIMARY KEY (name, version),
  CHECK ((status = 'draft') = (compiled IS NULL))
) INHERITS (class.audit_trail);

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
