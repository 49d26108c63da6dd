-- Worker heartbeats (issue 3, "Crash recovery in seconds").
-- graphile-worker locks a job with its worker pool's id (locked_by) and only considers the lock stale
-- after 4 hours. Every provisio worker process registers here under that pool id and refreshes
-- last_seen_date every few seconds; a live worker that finds a heartbeat older than the timeout marks
-- the row dead and calls graphile_worker.force_unlock_workers() for it (stored-procedures/post/worker.sql).

CREATE TABLE worker (
  -- graphile-worker's worker pool id, the value it writes into _private_jobs.locked_by
  id             TEXT PRIMARY KEY,
  host           TEXT NOT NULL,
  pid            INTEGER NOT NULL,
  concurrency    INTEGER NOT NULL CHECK (concurrency > 0),
  started_date   TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_seen_date TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- alive: heartbeating; stopped: shut down gracefully; dead: missed its heartbeat, jobs unlocked
  status         TEXT NOT NULL DEFAULT 'alive' CHECK (status IN ('alive', 'stopped', 'dead')),
  stopped_date   TIMESTAMPTZ,
  -- how many of its graphile-worker jobs were unlocked when it was declared dead
  unlocked_jobs  INTEGER
);
CREATE INDEX worker_alive_idx ON worker (last_seen_date) WHERE status = 'alive';
COMMENT ON TABLE worker IS 'One row per worker process (graphile-worker pool): heartbeat for crash recovery.';
