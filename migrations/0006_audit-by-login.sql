-- Who changed a row: the login (session_user), not current_user (issue 3, found after the roles work).
-- Since migrations/0004 every provisio trigger function is SECURITY DEFINER, so inside the trigger
-- cascade current_user is the functions' owner: rows written by triggers (the domain inventory, events'
-- sources, audit_trail_log) and every updated_by set by _050_set_updated named the owner, whoever made
-- the change. session_user is the role that logged in (the order system's or the worker's login), the
-- same inside a trigger as outside it. For a direct statement by a login that inherits a provisio_*
-- role, it equals current_user, as before.
-- class.audit's columns are copied into every child when the child is created, so each one is altered.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN
    WITH RECURSIVE d(oid) AS (
      SELECT 'class.audit'::regclass::oid
      UNION SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.oid)
    SELECT oid::regclass FROM d
  LOOP
    EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN created_by SET DEFAULT session_user', t);
  END LOOP;
END
$$;
ALTER TABLE audit_trail_log ALTER COLUMN changed_by SET DEFAULT session_user;
