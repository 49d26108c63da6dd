-- Up Migration
-- How often a tenant's sessions may have an application listed (stored-procedures/validation/
-- access_definitions.sql and operations/access_discovery.sql): a discovery pass reads every account of
-- the target and runs on the shared worker, so a tenant may neither schedule passes nor request them by
-- hand more often than this. The operator's own sessions are not limited.
ALTER TABLE tenant_connector_policy
  ADD COLUMN min_discovery_interval INTERVAL NOT NULL DEFAULT '15 minutes' CHECK (min_discovery_interval >= interval '1 minute');

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
