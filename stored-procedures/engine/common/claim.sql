-- One operation in flight per object, across provision tables (table provision_claim,
-- migrations/0007). A family's validation trigger names the object with a key ('domain:<name>',
-- 'contact:<accreditation id>:<contact id>') and claims it for the row being inserted:
--   * no claim yet, or the provision holding it is final: the claim is taken (returns true);
--     (a holder this statement cannot see, committed while it waited, counts as in flight: a false
--     "in flight" in that narrow race is safe, and the next attempt sees the holder);
--   * held by a provision that is still pending or processing: returns false, and the caller raises its
--     own in-flight code;
--   * held by a transaction still open (a concurrent INSERT of the same object): INSERT ... ON CONFLICT
--     waits for it to end, then decides as above, so two concurrent operations on one object never both
--     pass. Under READ COMMITTED (PostgreSQL's default) the second gets the in-flight code; under
--     REPEATABLE READ or SERIALIZABLE, 40001 serialization_failure when the first committed after its
--     snapshot (retry the transaction).
-- A claim is never released: the next operation takes it over once the holder is final, so finishing a
-- provision costs nothing here.
-- plpgsql, not sql: PostgreSQL plans a non-inlined SQL function's statement again in every transaction,
-- and this one (an upsert with a subquery over every class.provision child) is run per INSERTed row.
CREATE OR REPLACE FUNCTION provision_claim(p_object_key text, p_table regclass, p_provision_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  INSERT INTO provision_claim AS c (object_key, provision_table, provision_id) VALUES (p_object_key, p_table, p_provision_id)
  ON CONFLICT (object_key) DO UPDATE
    SET provision_table = EXCLUDED.provision_table, provision_id = EXCLUDED.provision_id, claimed_date = now()
  -- "final and visible": after waiting for a concurrent claimant, this statement's snapshot (taken
  -- before that transaction committed) does not see its provision, which therefore counts as in flight
  -- (ids are unique per table only: the holder is its table and id, so that a row with the same id in
  -- another table can never stand in for it)
  WHERE (c.provision_table, c.provision_id) = (EXCLUDED.provision_table, EXCLUDED.provision_id)
     OR EXISTS (SELECT 1 FROM class.provision p JOIN provision_status s ON s.id = p.status_id
                WHERE p.id = c.provision_id AND p.tableoid = c.provision_table AND s.is_final);
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION provision_claim(text, regclass, uuid) IS
  'Claims object p_object_key for provision p_provision_id of table p_table; true when claimed, false when a provision that is not final (or not yet visible) holds it. '
  'Waits for a concurrent claimant''s transaction. Raises 40001 under REPEATABLE READ when that claimant committed after the snapshot.';

-- A provision row DELETEd (by an operator: no runtime role may) releases the claims it held, which would
-- otherwise stay held for ever: a holder that does not exist is indistinguishable, in a claim's snapshot,
-- from one being inserted by a transaction not yet visible. _960_release_claims, AFTER DELETE FOR EACH
-- STATEMENT on every provision table (provision_attach_triggers), one DELETE per statement.
CREATE OR REPLACE FUNCTION tg_provision__release_claims() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  DELETE FROM provision_claim c USING old_rows o WHERE c.provision_table = TG_RELID AND c.provision_id = o.id;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_provision__release_claims() IS
  'AFTER DELETE FOR EACH STATEMENT (_960_release_claims, transition table old_rows): deletes the claims the deleted provisions held. Raises nothing.';
