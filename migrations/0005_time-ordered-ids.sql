-- Time-ordered ids for the tables that grow with every provision (issue 3, "keep the hot tables small
-- and indexed"). Random (v4) uuids put each new index entry on a random leaf page of an index that grows
-- forever: with a million finished jobs in history, every job touched ~15 cold pages (docs/benchmarks.md).
-- UUID version 7 (RFC 9562 §5.7: 48-bit Unix time in milliseconds, then random bits) keeps new entries
-- at the right edge of job, provision, domain, contact and order indexes, and of the indexes that refer
-- to them (job.reference_id, audit_trail_log.object_id, event.reference_id).
-- PostgreSQL 18 has uuidv7(); this works on 15-17 as well. Existing ids are left as they are.
-- An exception to "no function bodies in migrations" (CONVENTIONS.md): the column defaults below need the
-- function when this file runs, which is before stored-procedures/ is applied; it is a pure utility that
-- no later file redefines.

CREATE OR REPLACE FUNCTION uuid_generate_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  -- the first 6 bytes of a random v4 uuid become the time; setting bits 52 and 53 turns version 4
  -- (0100) into version 7 (0111); the variant bits of gen_random_uuid() are already RFC 9562's
  SELECT encode(
           set_bit(set_bit(
             overlay(uuid_send(gen_random_uuid())
                     PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                     FROM 1 FOR 6),
             52, 1), 53, 1),
           'hex')::uuid
$$;
COMMENT ON FUNCTION uuid_generate_v7() IS 'A version 7 (time-ordered) uuid, RFC 9562 §5.7. Raises nothing.';

DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN
    SELECT x::regclass FROM unnest(ARRAY['class.provision', 'job', 'domain', 'contact', '"order"', 'order_item', 'order_item_plan']) x
    UNION ALL
    SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'class.provision'::regclass
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN id SET DEFAULT uuid_generate_v7()', t);
  END LOOP;
END
$$;

-- Down Migration
-- Forward-only (CONVENTIONS.md): no down migration.
