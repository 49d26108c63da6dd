-- The event outbox (table event, migrations/0001): every row is written by event_emit(), in the
-- transaction that made the change it reports. The relay (src/events/relay.ts) publishes rows in id
-- order, which keeps each aggregate's events in order only because they are inserted while the
-- aggregate's row is locked by that transaction: call event_emit from the trigger of the row whose
-- status changed (an AFTER trigger of that row's UPDATE or INSERT), never later or from elsewhere.
-- Callers today: tg_provision__rollup (provision.status) and tg_order__status_changed (order.status),
-- stored-procedures/engine/order/rollup.sql.
-- PL/pgSQL, not SQL: its INSERT is planned once per session, not once per call (a non-inlined SQL
-- function's statement is planned again in every transaction). It returns the event's id so that a caller
-- may call it in an assignment, `v_event := event_emit(...)`: when every argument is a plain expression
-- (no subquery), PL/pgSQL evaluates that without starting an executor, as it must for PERFORM (13 k
-- instructions a call, docs/decisions/0006-named-statuses-optional-accreditation.md).
CREATE OR REPLACE FUNCTION event_emit(p_tenant_customer_id uuid, p_event_type text, p_reference_table text,
                                      p_reference_id uuid, p_payload jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_id bigint;
BEGIN
  INSERT INTO event (tenant_customer_id, event_type, reference_table, reference_id, payload)
  VALUES (p_tenant_customer_id, p_event_type, p_reference_table, p_reference_id, p_payload)
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;
COMMENT ON FUNCTION event_emit(uuid, text, text, uuid, jsonb) IS
  'Writes one event outbox row (event_type e.g. provision.status, the aggregate''s table and id, payload) and returns its id. '
  'Call it while the aggregate''s row is locked (from its trigger). Raises nothing of its own.';
