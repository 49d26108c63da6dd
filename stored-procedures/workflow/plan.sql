-- A dry run of a template (docs/decisions/0008 §6 "plan"; the CLI's `provisio workflow plan`): the run is
-- INSERTed and every step whose params and "when" resolve from the input alone is INSERTed too, by the
-- same triggers production uses, inside a block that is then rolled back (rows, claims, graphile-worker
-- jobs, events): nothing is left behind. What it returns:
--   { template_name, template_version, input (with the schema's defaults), input_error: {code, message} | null,
--     steps: [ { key, kind, target, depends_on, params, unresolved: [paths], when: true | false | null,
--                error_code, error_message, after_upstream, compensate } ] }
-- when is null when the condition names a step's output (known only once that step ran); after_upstream
-- is true for a step with provision steps upstream, whose validation may depend on what they create (a
-- contact a domain names): its error may not happen in a real run.
CREATE OR REPLACE FUNCTION workflow_plan(p_template text, p_input jsonb DEFAULT '{}', p_version integer DEFAULT NULL, p_tenant uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid := coalesce(p_tenant, current_tenant_id());
  v_run provision_workflow;
  v_def jsonb;
  v_out jsonb := '[]';
  v_result jsonb;
  v_input_error jsonb;
  v_input jsonb := coalesce(p_input, '{}');
  s jsonb;
  v_ctx jsonb;
  r record;
  v_when boolean;
  v_step workflow_step_run;
  v_code text;
  v_msg text;
  v_upstream boolean;
  v_version integer;
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'a plan needs a tenant (p_tenant, or app.tenant_id)' USING ERRCODE = 'not_null_violation', COLUMN = 'tenant_customer_id';
  END IF;
  PERFORM tenant_assert_session_may_act_for(v_tenant);
  BEGIN
    BEGIN
      INSERT INTO provision_workflow (tenant_customer_id, template_name, template_version, input)
      VALUES (v_tenant, p_template, p_version, v_input) RETURNING * INTO v_run;
      v_def := v_run.wf_definition;
      v_input := v_run.input;
      v_version := v_run.template_version;
    EXCEPTION WHEN SQLSTATE 'PV321' THEN
      GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
      v_input_error := jsonb_build_object('code', v_code, 'message', v_msg);
      SELECT compiled, version INTO v_def, v_version FROM workflow_template
      WHERE name = p_template AND status = 'published' AND (version = p_version OR p_version IS NULL) ORDER BY version DESC LIMIT 1;
    END;
    v_ctx := jsonb_build_object('input', v_input, 'steps', '{}'::jsonb,
                                'run', jsonb_build_object('id', v_run.id, 'tenant_customer_id', v_tenant));
    FOR s IN SELECT value FROM jsonb_array_elements(v_def -> 'steps') LOOP
      SELECT * INTO r FROM workflow_resolve(coalesce(s -> 'params', '{}'), v_ctx);
      v_when := NULL;
      IF NOT s ? 'when' THEN
        v_when := true;
      ELSIF NOT EXISTS (SELECT 1 FROM workflow_when_refs(s -> 'when') p WHERE p LIKE 'steps.%') THEN
        v_when := workflow_when(s -> 'when', v_ctx);
      END IF;
      v_upstream := EXISTS (SELECT 1 FROM jsonb_array_elements_text(s -> 'ancestors') a
                            JOIN jsonb_array_elements(v_def -> 'steps') x ON x ->> 'key' = a.value WHERE x ->> 'kind' = 'provision');
      v_code := NULL;
      v_msg := NULL;
      IF v_run.id IS NOT NULL AND cardinality(r.unresolved) = 0 AND v_when IS NOT FALSE THEN
        BEGIN
          INSERT INTO workflow_step_run (run_id, tenant_customer_id, step_key, kind, target, status_id, provision_table)
          VALUES (v_run.id, v_tenant, s ->> 'key', s ->> 'kind', s ->> 'target', wf_step_ready(),
                  workflow_step_table(s ->> 'kind', s ->> 'target'))
          RETURNING * INTO v_step;
          PERFORM workflow_step_insert(v_run, v_step, r.value, NULL);
        EXCEPTION WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS v_code = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT;
          IF workflow_error_aborts(v_code) THEN
            RAISE;
          END IF;
        END;
      END IF;
      v_out := v_out || jsonb_build_array(jsonb_build_object(
        'key', s ->> 'key', 'kind', s ->> 'kind', 'target', s -> 'target', 'depends_on', s -> 'deps',
        'params', r.value, 'unresolved', to_jsonb(ARRAY(SELECT DISTINCT u FROM unnest(r.unresolved) u ORDER BY 1)),
        'when', v_when, 'error_code', v_code, 'error_message', v_msg, 'after_upstream', v_code IS NOT NULL AND v_upstream,
        'compensate', s -> 'compensate'));
    END LOOP;
    v_result := jsonb_build_object('template_name', p_template, 'template_version', v_version, 'input', v_input,
                                   'input_error', v_input_error, 'steps', v_out);
    -- roll back everything the plan inserted
    RAISE EXCEPTION 'workflow plan rollback' USING ERRCODE = 'PV399';
  EXCEPTION WHEN SQLSTATE 'PV399' THEN
    NULL;
  END;
  RETURN v_result;
END
$$;
COMMENT ON FUNCTION workflow_plan(text, jsonb, integer, uuid) IS
  'Dry run of a template with an input: each step''s resolved params, unresolved references, when, and the error its INSERT would raise; '
  'everything rolled back. Raises 42501 (another tenant), 23502 (no tenant), PV320 (template). SECURITY DEFINER.';
