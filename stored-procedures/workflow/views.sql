-- Workflow progress in SQL (seed 004's progress tracking and statistics; docs/decisions/0008 §8). Column
-- names are public API. Security barriers filtering by tenant, as the engine's status views
-- (engine/views/status.sql): provisio_order and provisio_reader see their app.tenant_id's runs only.
DROP VIEW IF EXISTS v_workflow_stats, v_workflow_step, v_workflow_run;

-- One row per run: its status, step counts (live attempts of the forward steps), progress, the steps
-- in flight, the error that stopped it, warnings (steps skipped on failure or by an operator, steps
-- retried), the accumulated output ({step key: output}), the run's result and timings.
CREATE VIEW v_workflow_run WITH (security_barrier) AS
SELECT
  w.id,
  w.tenant_customer_id,
  w.template_name,
  w.template_version,
  rs.name                                                   AS status,
  rs.is_final,
  rs.is_success,
  c.total,
  c.completed,
  c.failed,
  c.skipped,
  c.running,
  CASE WHEN c.total = 0 THEN 0 ELSE round(100.0 * (c.completed + c.skipped) / c.total, 1) END AS percent_done,
  c.current_steps,
  w.wf_error_code                                           AS error_code,
  c.error,
  c.warnings,
  w.input,
  CASE WHEN rs.is_final THEN w.wf_output ELSE workflow_outputs(w.id) END AS output,
  -- what the run returns: the definition's "output" resolved (all step outputs when it has none), once completed
  w.result_data -> 'output'                                 AS result,
  w.idempotency_key,
  w.scheduled_at,
  w.recovered_from_id,
  w.job_id,
  w.order_item_plan_ids,
  w.created_date,
  w.wf_started_date                                         AS started_date,
  w.wf_ended_date                                           AS ended_date,
  coalesce(w.wf_ended_date, now()) - coalesce(w.wf_started_date, w.created_date) AS duration
FROM provision_workflow w
JOIN workflow_run_status rs ON rs.id = w.wf_status_id
CROSS JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE l.phase = 'forward')                                                          AS total,
    count(*) FILTER (WHERE l.phase = 'forward' AND l.status_id IN (wf_step_completed(), wf_step_compensated())) AS completed,
    count(*) FILTER (WHERE l.phase = 'forward' AND l.status_id = wf_step_failed())                       AS failed,
    count(*) FILTER (WHERE l.phase = 'forward' AND l.status_id = wf_step_skipped())                      AS skipped,
    count(*) FILTER (WHERE l.status_id = wf_step_running())                                              AS running,
    coalesce(array_agg(l.step_key ORDER BY l.step_key) FILTER (WHERE l.status_id IN (wf_step_running(), wf_step_ready())), '{}') AS current_steps,
    (array_agg(format('%s: %s %s', l.step_key, l.error_code, l.error_message) ORDER BY l.ended_date DESC)
       FILTER (WHERE l.status_id = wf_step_failed()))[1]                                                 AS error,
    coalesce(jsonb_agg(jsonb_build_object('step', l.step_key, 'phase', l.phase,
                       'warning', CASE WHEN l.skipped_reason IN ('on_failure', 'operator') THEN 'skipped (' || l.skipped_reason || ')'
                                       ELSE format('attempt %s', l.attempt) END))
             FILTER (WHERE l.skipped_reason IN ('on_failure', 'operator') OR l.attempt > 1), '[]')         AS warnings
  FROM (SELECT DISTINCT ON (phase, step_key) * FROM workflow_step_run s WHERE s.run_id = w.id ORDER BY phase, step_key, attempt DESC) l
) c
WHERE w.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user));
COMMENT ON VIEW v_workflow_run IS 'Workflow runs with status, step counts, percent done, current steps, error, warnings and timings; tenants see their own.';

-- One row per step (and compensation) of a run: its live attempt, how many attempts, the last error,
-- the next retry (a retry scheduled by its job, or a wait's time), its provision and job.
CREATE VIEW v_workflow_step WITH (security_barrier) AS
SELECT
  l.run_id,
  l.tenant_customer_id,
  l.phase,
  l.step_key,
  l.kind,
  l.target,
  (SELECT (d.n - 1)::integer FROM jsonb_array_elements(w.wf_definition -> 'steps') WITH ORDINALITY d(def, n) WHERE d.def ->> 'key' = l.step_key) AS step_index,
  ss.name                                                   AS status,
  l.attempt                                                 AS attempts,
  l.remaining_deps,
  l.params,
  l.params_override,
  l.output,
  l.skipped_reason,
  coalesce(l.error_code, e.error_code)                      AS error_code,
  coalesce(l.error_message, e.error_message)                AS last_error,
  CASE WHEN l.status_id = wf_step_running() THEN coalesce(j.retry_date, CASE WHEN l.kind = 'wait' THEN wt.until END) END AS next_retry,
  j.attempts                                                AS job_attempts,
  j.max_attempts                                            AS job_max_attempts,
  l.provision_table,
  CASE WHEN l.job_id IS NOT NULL OR l.copied_from_id IS NOT NULL THEN l.provision_id END AS provision_id,
  l.job_id,
  l.copied_from_id,
  l.created_date,
  l.started_date,
  l.ended_date
FROM (SELECT DISTINCT ON (run_id, phase, step_key) * FROM workflow_step_run ORDER BY run_id, phase, step_key, attempt DESC) l
JOIN provision_workflow w ON w.id = l.run_id
JOIN workflow_step_status ss ON ss.id = l.status_id
LEFT JOIN job j ON j.id = l.job_id
LEFT JOIN provision_workflow_wait wt ON wt.id = l.provision_id AND l.kind = 'wait'
LEFT JOIN LATERAL (SELECT p.error_code, p.error_message FROM workflow_step_run p
                   WHERE p.run_id = l.run_id AND p.phase = l.phase AND p.step_key = l.step_key AND p.error_code IS NOT NULL
                   ORDER BY p.attempt DESC LIMIT 1) e ON true
WHERE l.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user));
COMMENT ON VIEW v_workflow_step IS 'Each step of each run at its live attempt: status, attempts, last error, next retry, provision and job; tenants see their own.';

-- Per template version: runs, how many completed / failed / are running, the success rate of the final
-- ones, mean and 95th percentile duration of completed runs, and the step that fails most.
CREATE VIEW v_workflow_stats WITH (security_barrier) AS
SELECT
  w.template_name,
  w.template_version,
  count(*)                                                                  AS runs,
  count(*) FILTER (WHERE w.wf_status_id = wf_run_completed())               AS completed,
  count(*) FILTER (WHERE w.wf_status_id IN (wf_run_failed(), wf_run_cancelled(), wf_run_compensated())) AS failed,
  count(*) FILTER (WHERE w.wf_status_id IN (wf_run_pending(), wf_run_running(), wf_run_blocked(), wf_run_cancelling(), wf_run_compensating())) AS running,
  count(*) FILTER (WHERE w.wf_status_id = wf_run_blocked())                 AS blocked,
  round(100.0 * count(*) FILTER (WHERE w.wf_status_id = wf_run_completed())
        / nullif(count(*) FILTER (WHERE w.wf_status_id IN (wf_run_completed(), wf_run_failed(), wf_run_cancelled(), wf_run_compensated())), 0), 1) AS success_rate,
  avg(w.wf_ended_date - w.wf_started_date) FILTER (WHERE w.wf_status_id = wf_run_completed()) AS mean_duration,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM w.wf_ended_date - w.wf_started_date))
    FILTER (WHERE w.wf_status_id = wf_run_completed())                       AS p95_duration_seconds,
  (SELECT s.step_key FROM workflow_step_run s JOIN provision_workflow x ON x.id = s.run_id
   WHERE x.template_name = w.template_name AND x.template_version = w.template_version AND s.status_id = wf_step_failed()
     AND (x.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user)))
   GROUP BY s.step_key ORDER BY count(*) DESC, s.step_key LIMIT 1)         AS most_failing_step
FROM provision_workflow w
WHERE w.tenant_customer_id = (SELECT current_tenant_id()) OR (SELECT role_is_engine(current_user))
GROUP BY w.template_name, w.template_version;
COMMENT ON VIEW v_workflow_stats IS 'Per template version: runs, completed, failed, running, success rate, mean and p95 duration, most failing step; tenants see their own runs.';
