-- Validation of a workflow run and of its steps' own provision rows (docs/decisions/0008 §3). A run is
-- started by an INSERT into provision_workflow, like any provision: the template is resolved, the input
-- checked against its JSON Schema (defaults applied), the idempotency key looked up; anything wrong is
-- refused with a documented code (docs/errors.md, PV320-PV326) and nothing is written.

-- _110_validate on provision_workflow.
-- Codes: PV115 (an engine-owned wf_* column given), PV320 (template), PV321 (input), PV322 and PV323
-- (idempotency key), PV324 (recovered_from_id), PV327 (a template only the operator starts).
CREATE OR REPLACE FUNCTION tg_provision_workflow__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_tpl workflow_template;
  v_old provision_workflow;
  v_column text;
  v_err record;
  v_status text;
  v_version_given boolean := NEW.template_version IS NOT NULL;
  v_raw_input jsonb := NEW.input;
BEGIN
  v_column := CASE
    WHEN NEW.wf_status_id IS DISTINCT FROM wf_run_pending() THEN 'wf_status_id'
    WHEN NEW.wf_definition IS NOT NULL THEN 'wf_definition'
    WHEN NEW.wf_output IS DISTINCT FROM '{}'::jsonb THEN 'wf_output'
    WHEN NEW.wf_error_code IS NOT NULL THEN 'wf_error_code'
    WHEN NEW.wf_cancel_mode IS NOT NULL THEN 'wf_cancel_mode'
    WHEN NEW.wf_started_date IS NOT NULL THEN 'wf_started_date'
    WHEN NEW.wf_ended_date IS NOT NULL THEN 'wf_ended_date'
  END;
  IF v_column IS NOT NULL THEN
    RAISE EXCEPTION '% is set by provisio, not on INSERT', v_column USING ERRCODE = 'PV115', COLUMN = v_column, HINT = 'leave it out of the INSERT';
  END IF;
  IF NEW.input IS NULL OR jsonb_typeof(NEW.input) <> 'object' THEN
    RAISE EXCEPTION 'input must be a JSON object' USING ERRCODE = 'PV321', COLUMN = 'input';
  END IF;

  -- a recovery (workflow_recover): a failed or cancelled run of this tenant and template, whose version it keeps
  IF NEW.recovered_from_id IS NOT NULL THEN
    SELECT * INTO v_old FROM provision_workflow WHERE id = NEW.recovered_from_id AND tenant_customer_id = NEW.tenant_customer_id;
    IF NOT FOUND OR v_old.template_name <> NEW.template_name THEN
      RAISE EXCEPTION 'recovered_from_id %: no run of template % of this tenant', NEW.recovered_from_id, NEW.template_name
        USING ERRCODE = 'PV324', COLUMN = 'recovered_from_id';
    END IF;
    IF v_old.wf_status_id NOT IN (wf_run_failed(), wf_run_cancelled()) THEN
      RAISE EXCEPTION 'recovered_from_id %: the run is %; only a failed or cancelled run is recovered', NEW.recovered_from_id,
        workflow_run_status_name(v_old.wf_status_id)
        USING ERRCODE = 'PV324', COLUMN = 'recovered_from_id',
              HINT = 'a compensated run undid its work: start a new run instead';
    END IF;
    IF NEW.template_version IS DISTINCT FROM v_old.template_version AND NEW.template_version IS NOT NULL THEN
      RAISE EXCEPTION 'recovered_from_id %: a recovery runs the version of the run it recovers (%)', NEW.recovered_from_id, v_old.template_version
        USING ERRCODE = 'PV324', COLUMN = 'template_version';
    END IF;
    NEW.template_version := v_old.template_version;
  END IF;

  -- the template: the version given, or the highest published one
  IF NEW.template_version IS NULL THEN
    SELECT * INTO v_tpl FROM workflow_template WHERE name = NEW.template_name AND status = 'published' ORDER BY version DESC LIMIT 1;
    IF NOT FOUND THEN
      v_status := (SELECT string_agg(format('v%s %s', version, status), ', ' ORDER BY version) FROM workflow_template WHERE name = NEW.template_name);
      RAISE EXCEPTION 'template_name %: %', NEW.template_name,
        CASE WHEN v_status IS NULL THEN 'no such template' ELSE 'no published version (' || v_status || ')' END
        USING ERRCODE = 'PV320', COLUMN = 'template_name', HINT = 'SELECT name, version, status FROM workflow_template';
    END IF;
  ELSE
    SELECT * INTO v_tpl FROM workflow_template WHERE name = NEW.template_name AND version = NEW.template_version;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'template % version %: no such version', NEW.template_name, NEW.template_version
        USING ERRCODE = 'PV320', COLUMN = 'template_version', HINT = 'SELECT name, version, status FROM workflow_template';
    END IF;
    -- a retired version takes no new run; its recovery still runs it
    IF v_tpl.status = 'draft' OR (v_tpl.status = 'retired' AND NEW.recovered_from_id IS NULL) THEN
      RAISE EXCEPTION 'template % version % is %; a run starts from a published version', NEW.template_name, NEW.template_version, v_tpl.status
        USING ERRCODE = 'PV320', COLUMN = 'template_version', HINT = 'leave template_version out to run the latest published version';
    END IF;
  END IF;
  IF NOT v_tpl.tenant_startable AND NOT role_is_engine(session_user) THEN
    RAISE EXCEPTION 'template %: its runs are started by the operator, not by a tenant''s session', NEW.template_name
      USING ERRCODE = 'PV327', COLUMN = 'template_name', HINT = 'SELECT name FROM workflow_template WHERE tenant_startable';
  END IF;
  NEW.template_version := v_tpl.version;
  NEW.wf_definition := v_tpl.compiled;

  -- input: the schema's defaults applied (what the run stores is what it used), then checked
  NEW.input := json_schema_apply_defaults(v_tpl.input_schema, NEW.input);
  SELECT * INTO v_err FROM json_schema_error(v_tpl.input_schema, NEW.input);
  IF v_err.path IS NOT NULL THEN
    RAISE EXCEPTION 'input%: %', CASE WHEN v_err.path = '' THEN '' ELSE v_err.path END, v_err.message
      USING ERRCODE = 'PV321', COLUMN = 'input', HINT = format('template %s v%s: SELECT input_schema FROM workflow_template', v_tpl.name, v_tpl.version);
  END IF;

  -- idempotency: one run per (tenant, key). The claim serialises concurrent INSERTs of one key (the second
  -- waits for the first's transaction); the lookup after it sees a run the first committed.
  IF NEW.idempotency_key IS NOT NULL THEN
    PERFORM provision_claim('workflow-key:' || NEW.tenant_customer_id || ':' || NEW.idempotency_key, TG_RELID::regclass, NEW.id);
    SELECT * INTO v_old FROM provision_workflow WHERE tenant_customer_id = NEW.tenant_customer_id AND idempotency_key = NEW.idempotency_key;
    IF FOUND THEN
      v_status := workflow_run_status_name(v_old.wf_status_id);
      -- the same request: the same template, the same version when one was asked for (without one, the run
      -- started with whatever version was latest then), and the same input with that version's defaults
      IF v_old.template_name = NEW.template_name
         AND (NOT v_version_given OR v_old.template_version = NEW.template_version)
         AND v_old.input = json_schema_apply_defaults((SELECT input_schema FROM workflow_template WHERE name = v_old.template_name AND version = v_old.template_version), v_raw_input) THEN
        RAISE EXCEPTION 'idempotency_key %: this run exists already', NEW.idempotency_key
          USING ERRCODE = 'PV322', COLUMN = 'idempotency_key', DETAIL = format('run %s status %s', v_old.id, v_status),
                HINT = 'get-or-create: call workflow_start(), or read the run by its key';
      END IF;
      RAISE EXCEPTION 'idempotency_key %: the tenant''s run % (template % v%) used this key with another request', NEW.idempotency_key,
        v_old.id, v_old.template_name, v_old.template_version
        USING ERRCODE = 'PV323', COLUMN = 'idempotency_key', DETAIL = format('run %s status %s', v_old.id, v_status),
              HINT = 'a key names one request: use a new key for a new request';
    END IF;
  END IF;

  IF NEW.scheduled_at IS NOT NULL AND NEW.scheduled_at < now() THEN
    NEW.scheduled_at := now();
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_workflow__validate() IS
  'BEFORE INSERT on provision_workflow: resolves the template version, copies its compiled graph, applies and checks the input schema, '
  'looks up the idempotency key. Raises PV115, PV320, PV321, PV322, PV323, PV324, PV327.';

-- A step's own provision row (task or wait) is inserted by its run's dispatch, never by a caller: a task
-- runs a handler of the worker with whatever params it is given. Raises PV325 otherwise.
CREATE OR REPLACE FUNCTION workflow_assert_dispatched(p_table text, p_id uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM workflow_step_run WHERE provision_id = p_id AND provision_table = p_table AND status_id = wf_step_ready()) THEN
    RAISE EXCEPTION '% rows are inserted by a workflow run''s steps, not directly', p_table
      USING ERRCODE = 'PV325', HINT = 'INSERT INTO provision_workflow (template_name, input) to run a template';
  END IF;
END
$$;
COMMENT ON FUNCTION workflow_assert_dispatched(text, uuid) IS 'Raises PV325 unless provision p_id of p_table is being dispatched by a workflow step.';

CREATE OR REPLACE FUNCTION tg_provision_workflow_task__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM workflow_assert_dispatched(TG_TABLE_NAME, NEW.id);
  IF jsonb_typeof(NEW.params) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'params must be a JSON object' USING ERRCODE = 'PV306', COLUMN = 'params';
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_workflow_task__validate() IS 'BEFORE INSERT on provision_workflow_task. Raises PV325, PV306.';

CREATE OR REPLACE FUNCTION tg_provision_workflow_wait__validate() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM workflow_assert_dispatched(TG_TABLE_NAME, NEW.id);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_provision_workflow_wait__validate() IS 'BEFORE INSERT on provision_workflow_wait. Raises PV325.';

-- _520_schedule: AFTER INSERT FOR EACH STATEMENT on provision_workflow (scheduled_at) and
-- provision_workflow_wait (until). _510_enqueue_jobs added their graphile-worker jobs to run now; a row
-- whose time is in the future has its job added again with run_at = that time (same job_key: add_jobs
-- replaces the entry).
CREATE OR REPLACE FUNCTION tg_provision__schedule() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM graphile_worker.add_jobs(ARRAY(
    SELECT job_spec(n.job_id, t.task_identifier, t.max_attempts, n.run_at)
    FROM (SELECT r.job_id, (to_jsonb(r) ->> TG_ARGV[0])::timestamptz AS run_at FROM new_rows r) n
    JOIN job j ON j.id = n.job_id JOIN job_type t ON t.id = j.type_id
    WHERE n.run_at > now()));
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION tg_provision__schedule() IS
  'AFTER INSERT FOR EACH STATEMENT (_520_schedule, transition table new_rows; TG_ARGV[0] the time column): re-adds the graphile-worker jobs of rows due later with run_at. Raises nothing of its own.';

-- Get-or-create a run without an aborted transaction (seed 000; the CLI's `workflow start`): returns the
-- run with this tenant and key when there is one (created false), else inserts it (created true). A
-- different request under the same key still raises PV323; the rest as the INSERT (PV320, PV321).
CREATE OR REPLACE FUNCTION workflow_start(p_tenant uuid, p_template text, p_input jsonb DEFAULT '{}', p_idempotency_key text DEFAULT NULL,
                                          p_version integer DEFAULT NULL, p_scheduled_at timestamptz DEFAULT NULL,
                                          p_order_item_plan_ids uuid[] DEFAULT NULL, OUT run_id uuid, OUT created boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM tenant_assert_session_may_act_for(p_tenant);
  BEGIN
    INSERT INTO provision_workflow (tenant_customer_id, template_name, template_version, input, idempotency_key, scheduled_at, order_item_plan_ids)
    VALUES (p_tenant, p_template, p_version, coalesce(p_input, '{}'), p_idempotency_key, p_scheduled_at, p_order_item_plan_ids)
    RETURNING id INTO run_id;
    created := true;
  EXCEPTION WHEN SQLSTATE 'PV322' THEN
    SELECT id INTO run_id FROM provision_workflow WHERE tenant_customer_id = p_tenant AND idempotency_key = p_idempotency_key;
    created := false;
  END;
END
$$;
COMMENT ON FUNCTION workflow_start(uuid, text, jsonb, text, integer, timestamptz, uuid[]) IS
  'Get-or-create a run of template p_template for tenant p_tenant (by p_idempotency_key); returns (run_id, created). '
  'Raises 42501 (another tenant), PV320, PV321, PV323, and what the INSERT raises. SECURITY DEFINER.';
