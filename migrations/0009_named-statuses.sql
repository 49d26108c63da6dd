-- Up Migration
-- Statuses named once (issue 11, section 3). The ids of the status lookup tables (migrations/0001) were
-- written as numbers wherever code needed one: `status_id IN (1, 2)` in partial indexes, `= 3` in trigger
-- conditions, `FILTER (WHERE status_id = 4)` in views. Each id now has a function named after its row,
-- and functions, triggers, views and indexes call it (test/sql/engine/named-statuses.test.ts checks that
-- every function returns the id of the row of its name, and that the catalogue holds no literal status id).
--
-- Two families of names, as there are two sets of rows:
--   status_<name>()      provision_status, order_status, order_item_status and order_item_plan_status, which
--                        hold the same rows (the rollup copies a provision's status to its plan, a plan's to
--                        its item, an item's to its order): pending, processing, completed, failed;
--   job_status_<name>()  job_status: submitted, processing, completed, failed.
--
-- IMMUTABLE, without arguments: the planner evaluates each call once when it plans a statement and uses the
-- constant (in a partial index predicate too, when the relation cache loads it, and in a PL/pgSQL statement
-- once per session), so a status costs nothing per row. PL/pgSQL rather than SQL: a call is folded by
-- running the function, and a PL/pgSQL function runs in about half the instructions of an SQL one (the SQL
-- body is parsed and planned again at each call; docs/decisions/0006-named-statuses-optional-accreditation.md).
-- Never change the value a function returns: the indexes below were built with it. A new status is a new
-- migration with its row and its function (docs/design.md "Statuses").
--
-- An exception to "no function bodies in migrations" (docs/design.md "Habits"), like migrations/0005: the
-- index predicates below need the functions when this file runs, before stored-procedures/ is applied; and
-- they belong with the lookup rows they name, which only migrations write.

CREATE OR REPLACE FUNCTION status_pending() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION status_processing() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 2; END $$;
CREATE OR REPLACE FUNCTION status_completed() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 3; END $$;
CREATE OR REPLACE FUNCTION status_failed() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 4; END $$;
COMMENT ON FUNCTION status_pending() IS 'Id of status "pending" in provision_status, order_status, order_item_status and order_item_plan_status. Raises nothing.';
COMMENT ON FUNCTION status_processing() IS 'Id of status "processing" in provision_status, order_status, order_item_status and order_item_plan_status. Raises nothing.';
COMMENT ON FUNCTION status_completed() IS 'Id of status "completed" in provision_status, order_status, order_item_status and order_item_plan_status. Raises nothing.';
COMMENT ON FUNCTION status_failed() IS 'Id of status "failed" in provision_status, order_status, order_item_status and order_item_plan_status. Raises nothing.';

CREATE OR REPLACE FUNCTION job_status_submitted() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION job_status_processing() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 2; END $$;
CREATE OR REPLACE FUNCTION job_status_completed() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 3; END $$;
CREATE OR REPLACE FUNCTION job_status_failed() RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$ BEGIN RETURN 4; END $$;
COMMENT ON FUNCTION job_status_submitted() IS 'Id of job_status "submitted". Raises nothing.';
COMMENT ON FUNCTION job_status_processing() IS 'Id of job_status "processing". Raises nothing.';
COMMENT ON FUNCTION job_status_completed() IS 'Id of job_status "completed". Raises nothing.';
COMMENT ON FUNCTION job_status_failed() IS 'Id of job_status "failed". Raises nothing.';

-- The partial indexes, built again on the same columns with the same predicates, now naming the statuses
-- (plain DROP and CREATE: CREATE INDEX CONCURRENTLY cannot run in a migration's transaction; each table is
-- locked while its index is built).
DROP INDEX job_open_idx;
CREATE INDEX job_open_idx ON job (status_id, created_date) WHERE status_id IN (job_status_submitted(), job_status_processing());

DROP INDEX provision_contact_in_flight_uidx;
CREATE UNIQUE INDEX provision_contact_in_flight_uidx ON provision_contact (accreditation_id, contact_id)
  WHERE status_id IN (status_pending(), status_processing());
DROP INDEX provision_domain_in_flight_uidx;
CREATE UNIQUE INDEX provision_domain_in_flight_uidx ON provision_domain (name)
  WHERE status_id IN (status_pending(), status_processing());
DROP INDEX provision_domain_renew_in_flight_uidx;
CREATE UNIQUE INDEX provision_domain_renew_in_flight_uidx ON provision_domain_renew (name)
  WHERE status_id IN (status_pending(), status_processing());
DROP INDEX provision_domain_delete_in_flight_uidx;
CREATE UNIQUE INDEX provision_domain_delete_in_flight_uidx ON provision_domain_delete (name)
  WHERE status_id IN (status_pending(), status_processing());

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
