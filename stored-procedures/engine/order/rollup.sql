-- Status rollup: provision -> order_item_plan -> order_item -> order, plus the event outbox (event_emit,
-- engine/event/emit.sql).
-- Each level locks its parent row before counting its siblings, so two transactions finishing siblings
-- at the same time serialise on the parent and the second one counts the first one's committed change
-- (READ COMMITTED takes a new snapshot per statement).

-- provision_status, order_item_plan_status, order_item_status and order_status hold the same rows, named
-- by status_pending(), status_processing(), status_completed() and status_failed() (migrations/0009): a
-- provision's status is copied to its plan, and rollup_status() turns the statuses of the children of one
-- level into the status of the next. (SQL with no FROM clause: inlined into the statements that call it,
-- where the planner folds the status functions to constants.)
CREATE OR REPLACE FUNCTION rollup_status(p_statuses smallint[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_statuses IS NULL OR cardinality(p_statuses) = 0 THEN status_pending()
    WHEN status_completed() = ALL (p_statuses) THEN status_completed()
    WHEN NOT (status_pending() = ANY (p_statuses) OR status_processing() = ANY (p_statuses)) THEN status_failed()
    WHEN status_pending() = ALL (p_statuses) THEN status_pending()
    ELSE status_processing()
  END::smallint
$$;
COMMENT ON FUNCTION rollup_status(smallint[]) IS
  'Parent status from child statuses: completed if all completed; failed if all final and one failed; '
  'pending if all pending (or none); else processing. Raises nothing.';

CREATE OR REPLACE FUNCTION tg_provision__rollup() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_event bigint;
BEGIN
  v_event := event_emit(NEW.tenant_customer_id, 'provision.status', TG_TABLE_NAME, NEW.id,
                        jsonb_build_object('status', (SELECT name FROM provision_status WHERE id = NEW.status_id),
                                           'job_id', NEW.job_id, 'result_message', NEW.result_message));
  IF TG_OP = 'UPDATE' AND NEW.order_item_plan_ids IS NOT NULL AND OLD.status_id IS DISTINCT FROM NEW.status_id THEN
    UPDATE order_item_plan SET status_id = NEW.status_id,
      result_message = CASE WHEN NEW.status_id = status_failed() THEN NEW.result_message ELSE result_message END
    WHERE id = ANY (NEW.order_item_plan_ids) AND status_id NOT IN (status_completed(), status_failed()) AND status_id <> NEW.status_id;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_provision__rollup() IS
  'AFTER INSERT/UPDATE OF status_id on provision tables (_900_rollup): event row; plan status follows the provision. Raises nothing.';

CREATE OR REPLACE FUNCTION tg_order_item_plan__rollup() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF OLD.status_id IS NOT DISTINCT FROM NEW.status_id THEN RETURN NULL; END IF;
  -- lock the parent first, so that the count below (a new statement, a new snapshot) sees every sibling
  -- committed by a concurrent transaction that held the lock
  PERFORM 1 FROM order_item WHERE id = NEW.order_item_id FOR UPDATE;
  WITH s AS (SELECT rollup_status(array_agg(status_id)) AS v FROM order_item_plan WHERE order_item_id = NEW.order_item_id)
  UPDATE order_item i SET status_id = s.v FROM s WHERE i.id = NEW.order_item_id AND i.status_id <> s.v;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_order_item_plan__rollup() IS 'AFTER UPDATE OF status_id on order_item_plan: recomputes the item. Raises nothing.';

CREATE OR REPLACE TRIGGER _900_rollup AFTER UPDATE OF status_id ON order_item_plan
  FOR EACH ROW EXECUTE FUNCTION tg_order_item_plan__rollup();

CREATE OR REPLACE FUNCTION tg_order_item__rollup() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF OLD.status_id IS NOT DISTINCT FROM NEW.status_id THEN RETURN NULL; END IF;
  PERFORM 1 FROM "order" WHERE id = NEW.order_id FOR UPDATE;   -- see tg_order_item_plan__rollup
  WITH s AS (SELECT rollup_status(array_agg(status_id)) AS v FROM order_item WHERE order_id = NEW.order_id)
  UPDATE "order" o SET status_id = s.v FROM s WHERE o.id = NEW.order_id AND o.status_id <> s.v;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_order_item__rollup() IS 'AFTER UPDATE OF status_id on order_item: recomputes the order. Raises nothing.';

CREATE OR REPLACE TRIGGER _900_rollup AFTER UPDATE OF status_id ON order_item
  FOR EACH ROW EXECUTE FUNCTION tg_order_item__rollup();

-- Every order status change: completed_date, an event row and a NOTIFY on channel provisio_order_status
-- whose payload is the order id and nothing else. PostgreSQL has no privileges on channels: any login may
-- LISTEN (and see every tenant's notifications) or pg_notify a forged one. So the payload carries nothing
-- a tenant may not see, and a notification is only a hint: the listener re-reads the order through
-- v_order, which shows it only to its tenant (README "Roles and tenants").
CREATE OR REPLACE FUNCTION tg_order__status_changed() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status text;
  v_event bigint;
BEGIN
  IF OLD.status_id IS NOT DISTINCT FROM NEW.status_id THEN RETURN NULL; END IF;
  v_status := (SELECT name FROM order_status WHERE id = NEW.status_id);
  v_event := event_emit(NEW.tenant_customer_id, 'order.status', 'order', NEW.id, jsonb_build_object('status', v_status));
  PERFORM pg_notify('provisio_order_status', NEW.id::text);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_order__status_changed() IS 'AFTER UPDATE OF status_id on order: event row + NOTIFY provisio_order_status (payload: the order id only). Raises nothing.';

CREATE OR REPLACE FUNCTION tg_order__set_completed_date() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF OLD.status_id IS DISTINCT FROM NEW.status_id THEN
    NEW.completed_date := CASE WHEN NEW.status_id IN (status_completed(), status_failed()) THEN now() END;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_order__set_completed_date() IS 'BEFORE UPDATE OF status_id on order: completed_date when final. Raises nothing.';

-- The rollup triggers test "status changed" inside their functions rather than in a WHEN clause:
-- PostgreSQL parses and compiles a trigger's WHEN once per statement, and in the cascade every statement
-- changes one row whose status did change, so the WHEN was pure cost (2.7% of a completion's
-- instructions, docs/decisions/0004-start-in-get-job.md).
CREATE OR REPLACE TRIGGER _100_set_completed_date BEFORE UPDATE OF status_id ON "order"
  FOR EACH ROW EXECUTE FUNCTION tg_order__set_completed_date();
CREATE OR REPLACE TRIGGER _900_status_changed AFTER UPDATE OF status_id ON "order"
  FOR EACH ROW EXECUTE FUNCTION tg_order__status_changed();
