-- Workflow templates (seeds 000 and 004; docs/decisions/0008 §2; table in migrations/0017): publishing
-- compiles a definition and freezes it. Codes PV301-PV311 (docs/errors.md), each naming the step and
-- the field (COLUMN is the template's column, the message the step and path).
--
-- definition = { "steps": [step, ...], "on_cancel": "stop" | "compensate", "output": { name: ref } }
-- step       = { "key", "kind": "provision" | "task" | "wait", "target", "depends_on": [key],
--                "params": {...}, "when": cond, "retry": { "max_attempts": 1..20 },
--                "on_failure": "block" | "fail" | "skip" | "compensate",
--                "compensate": { "kind": "provision" | "task", "target", "params" }, "description" }
-- A reference is { "$ref": path [, "default": v] }; { "$literal": v } passes v as it is. Paths:
-- input.<a>..., steps.<key>.output[.<a>...], steps.<key>.provision_id, run.id, run.tenant_customer_id.
-- cond = { "ref": path [, "eq" | "ne": v | "in": [v] | "exists": bool] } | { "all" | "any": [cond] } | { "not": cond }

-- Raises the template error p_code with p_message (COLUMN 'definition' unless p_column is given).
CREATE OR REPLACE FUNCTION workflow_template_raise(p_code text, p_message text, p_column text DEFAULT 'definition') RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RAISE EXCEPTION '%', p_message USING ERRCODE = p_code, COLUMN = p_column;
END
$$;
COMMENT ON FUNCTION workflow_template_raise(text, text, text) IS 'Raises p_code with p_message and COLUMN p_column (the one error exit of the template checks).';

-- Every reference path in p (params, a compensation's params, an output map): the "$ref" values, and
-- those of their "default"s; nothing inside a "$literal". Raises PV307 for a "$ref" object with other
-- keys than "$ref" and "default", a "$ref" that is not a string, or a "$literal" object with other keys.
CREATE OR REPLACE FUNCTION workflow_refs(p jsonb) RETURNS SETOF text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v jsonb;
BEGIN
  IF jsonb_typeof(p) = 'object' THEN
    IF p ? '$literal' THEN
      IF (SELECT count(*) FROM jsonb_object_keys(p)) <> 1 THEN
        PERFORM workflow_template_raise('PV307', format('{"$literal": v} takes nothing else, got %s', p));
      END IF;
      RETURN;
    END IF;
    IF p ? '$ref' THEN
      IF jsonb_typeof(p -> '$ref') <> 'string' OR EXISTS (SELECT 1 FROM jsonb_object_keys(p) k WHERE k NOT IN ('$ref', 'default')) THEN
        PERFORM workflow_template_raise('PV307', format('a reference is {"$ref": "<path>"} with an optional "default", got %s', p));
      END IF;
      RETURN NEXT p ->> '$ref';
      IF p ? 'default' THEN RETURN QUERY SELECT workflow_refs(p -> 'default'); END IF;
      RETURN;
    END IF;
    FOR v IN SELECT value FROM jsonb_each(p) LOOP RETURN QUERY SELECT workflow_refs(v); END LOOP;
  ELSIF jsonb_typeof(p) = 'array' THEN
    FOR v IN SELECT value FROM jsonb_array_elements(p) LOOP RETURN QUERY SELECT workflow_refs(v); END LOOP;
  END IF;
END
$$;
COMMENT ON FUNCTION workflow_refs(jsonb) IS 'The $ref paths in params or an output map (and in their defaults; not inside $literal). Raises PV307 for a malformed $ref or $literal object.';

-- Every reference path of a when condition (its "ref"s, in all/any/not).
CREATE OR REPLACE FUNCTION workflow_when_refs(p jsonb) RETURNS SETOF text
LANGUAGE sql IMMUTABLE AS $$
  WITH RECURSIVE walk(v) AS (
    SELECT p
    UNION ALL
    SELECT c.v FROM walk w CROSS JOIN LATERAL (
      SELECT e.value AS v FROM jsonb_array_elements(CASE WHEN jsonb_typeof(coalesce(w.v -> 'all', w.v -> 'any')) = 'array' THEN coalesce(w.v -> 'all', w.v -> 'any') ELSE '[]' END) e
      UNION ALL
      SELECT w.v -> 'not' WHERE jsonb_typeof(w.v) = 'object' AND w.v ? 'not'
    ) c
  )
  SELECT v ->> 'ref' FROM walk WHERE jsonb_typeof(v) = 'object' AND v ? 'ref'
$$;
COMMENT ON FUNCTION workflow_when_refs(jsonb) IS 'The reference paths of a when condition. Raises nothing.';

-- The step a reference path names (steps.<key>...), '' for input and run paths, NULL when the path is
-- outside the grammar.
CREATE OR REPLACE FUNCTION workflow_ref_step(p_path text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_path ~ '^input(\.[A-Za-z0-9_-]+)*$' OR p_path IN ('run.id', 'run.tenant_customer_id') THEN ''
    WHEN p_path ~ '^steps\.[a-z][a-z0-9_]{0,62}\.(output(\.[A-Za-z0-9_-]+)*|provision_id)$' THEN split_part(p_path, '.', 2)
  END
$$;
COMMENT ON FUNCTION workflow_ref_step(text) IS 'The step key a reference path names, '''' for input.* and run.*, NULL when the path is malformed. Raises nothing.';

-- Raises PV307 unless every reference in p (of step p_key's p_field) is well formed and names a step
-- of p_allowed (its ancestors; a compensation also its own step).
CREATE OR REPLACE FUNCTION workflow_refs_assert(p jsonb, p_key text, p_field text, p_allowed text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_path text;
  v_step text;
  v_paths text[];
BEGIN
  IF p_field = 'when' THEN
    v_paths := ARRAY(SELECT workflow_when_refs(p));
  ELSE
    v_paths := ARRAY(SELECT workflow_refs(p));
  END IF;
  FOREACH v_path IN ARRAY v_paths LOOP
    v_step := workflow_ref_step(v_path);
    IF v_step IS NULL OR v_path IS NULL THEN
      PERFORM workflow_template_raise('PV307', format('step "%s" %s: reference "%s" is not input.<field>, steps.<key>.output[.<field>], steps.<key>.provision_id, run.id or run.tenant_customer_id', p_key, p_field, v_path));
    ELSIF v_step <> '' AND NOT v_step = ANY (p_allowed) THEN
      PERFORM workflow_template_raise('PV307', format('step "%s" %s: reference "%s" names step "%s", which does not run before it (only steps it depends on, directly or not, may be referenced)', p_key, p_field, v_path, v_step));
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION workflow_refs_assert(jsonb, text, text, text[]) IS 'Raises PV307 for a malformed reference or one to a step that is not upstream.';

-- Raises PV309 unless p is a well-formed when condition (of step p_key).
CREATE OR REPLACE FUNCTION workflow_when_assert(p jsonb, p_key text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_ops text[];
  v_c jsonb;
BEGIN
  IF jsonb_typeof(p) <> 'object' THEN
    PERFORM workflow_template_raise('PV309', format('step "%s" when: a condition is an object, got %s', p_key, p));
  END IF;
  IF p ? 'all' OR p ? 'any' THEN
    IF (SELECT count(*) FROM jsonb_object_keys(p)) <> 1 OR jsonb_typeof(coalesce(p -> 'all', p -> 'any')) <> 'array'
       OR jsonb_array_length(coalesce(p -> 'all', p -> 'any')) = 0 THEN
      PERFORM workflow_template_raise('PV309', format('step "%s" when: "all"/"any" takes a non-empty array of conditions and nothing else', p_key));
    END IF;
    FOR v_c IN SELECT value FROM jsonb_array_elements(coalesce(p -> 'all', p -> 'any')) LOOP
      PERFORM workflow_when_assert(v_c, p_key);
    END LOOP;
  ELSIF p ? 'not' THEN
    IF (SELECT count(*) FROM jsonb_object_keys(p)) <> 1 THEN
      PERFORM workflow_template_raise('PV309', format('step "%s" when: "not" takes one condition and nothing else', p_key));
    END IF;
    PERFORM workflow_when_assert(p -> 'not', p_key);
  ELSIF p ? 'ref' THEN
    v_ops := ARRAY(SELECT k FROM jsonb_object_keys(p) k WHERE k <> 'ref');
    IF jsonb_typeof(p -> 'ref') <> 'string' OR cardinality(v_ops) > 1 OR NOT (v_ops <@ ARRAY['eq', 'ne', 'in', 'exists'])
       OR (p ? 'in' AND jsonb_typeof(p -> 'in') <> 'array') OR (p ? 'exists' AND jsonb_typeof(p -> 'exists') <> 'boolean') THEN
      PERFORM workflow_template_raise('PV309', format('step "%s" when: {"ref": path} takes at most one of "eq", "ne", "in" (an array), "exists" (a boolean), got %s', p_key, p));
    END IF;
  ELSE
    PERFORM workflow_template_raise('PV309', format('step "%s" when: a condition is {"ref": ...}, {"all": [...]}, {"any": [...]} or {"not": ...}, got %s', p_key, p));
  END IF;
END
$$;
COMMENT ON FUNCTION workflow_when_assert(jsonb, text) IS 'Raises PV309 for a malformed when condition.';

-- Raises PV305 or PV306 unless a step (or compensation) of kind p_kind with target p_target and params
-- p_params can run: a provision target is a provision table with a job type, whose columns the params
-- name (only those an order system may write, never tenant_customer_id or order_item_plan_ids); a task
-- target is a workflow_task_type; a wait has no target and exactly one of seconds, hours, until.
CREATE OR REPLACE FUNCTION workflow_target_assert(p_kind text, p_target jsonb, p_params jsonb, p_key text, p_what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_table regclass;
  v_writable text[];
  v_param text;
BEGIN
  IF p_params IS NOT NULL AND jsonb_typeof(p_params) <> 'object' THEN
    PERFORM workflow_template_raise('PV306', format('%s "%s": params must be an object', p_what, p_key));
  END IF;
  IF p_kind = 'wait' THEN
    IF p_target IS NOT NULL AND p_target <> 'null' THEN
      PERFORM workflow_template_raise('PV305', format('%s "%s": a wait has no target', p_what, p_key));
    END IF;
    IF (SELECT count(*) FROM jsonb_object_keys(coalesce(p_params, '{}')) k WHERE k IN ('seconds', 'hours', 'until')) <> 1
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(coalesce(p_params, '{}')) k WHERE k NOT IN ('seconds', 'hours', 'until')) THEN
      PERFORM workflow_template_raise('PV305', format('%s "%s": a wait takes exactly one of params seconds, hours, until', p_what, p_key));
    END IF;
    -- a duration is a positive number, until an RFC 3339 date-time; either may be a reference (checked at dispatch: PV341)
    IF (p_params ? 'seconds' AND NOT ((jsonb_typeof(p_params -> 'seconds') = 'object' AND p_params -> 'seconds' ? '$ref')
                                       OR (jsonb_typeof(p_params -> 'seconds') = 'number' AND (p_params ->> 'seconds')::numeric > 0)))
       OR (p_params ? 'hours' AND NOT ((jsonb_typeof(p_params -> 'hours') = 'object' AND p_params -> 'hours' ? '$ref')
                                       OR (jsonb_typeof(p_params -> 'hours') = 'number' AND (p_params ->> 'hours')::numeric > 0)))
       OR (p_params ? 'until' AND NOT ((jsonb_typeof(p_params -> 'until') = 'object' AND p_params -> 'until' ? '$ref')
           OR (jsonb_typeof(p_params -> 'until') = 'string' AND json_schema_format_ok('date-time', p_params ->> 'until')))) THEN
      PERFORM workflow_template_raise('PV305', format('%s "%s": a wait''s seconds or hours is a positive number or a reference, its until a date-time (RFC 3339) or a reference', p_what, p_key));
    END IF;
    RETURN;
  END IF;
  IF jsonb_typeof(p_target) IS DISTINCT FROM 'string' THEN
    PERFORM workflow_template_raise('PV305', format('%s "%s": target must be a string (a provision table or a task type)', p_what, p_key));
  END IF;
  IF p_kind = 'task' THEN
    IF NOT EXISTS (SELECT 1 FROM workflow_task_type WHERE name = p_target #>> '{}') THEN
      PERFORM workflow_template_raise('PV305', format('%s "%s": target "%s" is not a task type (SELECT name FROM workflow_task_type)', p_what, p_key, p_target #>> '{}'));
    END IF;
    RETURN;
  END IF;
  SELECT c.oid::regclass INTO v_table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'class.provision'::regclass
  JOIN job_type jt ON jt.reference_table = c.relname
  WHERE n.nspname = 'public' AND c.relname = p_target #>> '{}';
  IF v_table IS NULL THEN
    PERFORM workflow_template_raise('PV305', format('%s "%s": target "%s" is not a provision table with a job type (SELECT reference_table FROM job_type)', p_what, p_key, p_target #>> '{}'));
  END IF;
  v_writable := string_to_array(replace(provision_writable_columns(v_table), '"', ''), ', ');
  FOR v_param IN SELECT jsonb_object_keys(coalesce(p_params, '{}')) LOOP
    IF v_param IN ('tenant_customer_id', 'order_item_plan_ids', 'id') THEN
      PERFORM workflow_template_raise('PV306', format('%s "%s": params.%s is set by the run, not by the template', p_what, p_key, v_param));
    ELSIF NOT v_param = ANY (v_writable) OR v_param IN ('created_by', 'created_date') THEN
      PERFORM workflow_template_raise('PV306', format('%s "%s": params.%s is not a column of %s that a provision may be given', p_what, p_key, v_param, v_table));
    END IF;
  END LOOP;
END
$$;
COMMENT ON FUNCTION workflow_target_assert(text, jsonb, jsonb, text, text) IS 'Raises PV305 (no such target, a wait''s params) or PV306 (a params key the target does not take).';

-- Check definition p_def (and input schema p_schema) and return the compiled graph:
-- { "steps": [ { key, kind, target, params, when, retry, on_failure, compensate, index, deps,
--   dependents, ancestors } in topological order ], "on_cancel", "output" }.
-- Raises PV301-PV310 (docs/errors.md), naming the step and the field.
CREATE OR REPLACE FUNCTION workflow_template_compile(p_def jsonb, p_schema jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_steps jsonb := p_def -> 'steps';
  s jsonb;
  v_key text;
  v_keys text[] := '{}';
  v_deps jsonb := '{}';        -- key -> [dep keys]
  v_order text[] := '{}';
  v_left text[];
  v_ready text[];
  v_anc jsonb := '{}';         -- key -> [ancestor keys]
  v_out jsonb := '[]';
  v_dep text;
  v_field text;
  v_err text;
  i integer := 0;
BEGIN
  IF jsonb_typeof(p_def) IS DISTINCT FROM 'object' OR jsonb_typeof(v_steps) IS DISTINCT FROM 'array' OR jsonb_array_length(v_steps) = 0 THEN
    PERFORM workflow_template_raise('PV301', 'the definition must be an object with a non-empty "steps" array');
  END IF;
  FOR v_field IN SELECT jsonb_object_keys(p_def) LOOP
    IF v_field NOT IN ('steps', 'on_cancel', 'output', 'description') THEN
      PERFORM workflow_template_raise('PV301', format('the definition has an unknown field "%s" (steps, on_cancel, output, description)', v_field));
    END IF;
  END LOOP;
  IF coalesce(p_def ->> 'on_cancel', 'stop') NOT IN ('stop', 'compensate') THEN
    PERFORM workflow_template_raise('PV301', 'on_cancel must be "stop" or "compensate"');
  END IF;
  -- shape of each step, unique keys
  FOR s IN SELECT value FROM jsonb_array_elements(v_steps) LOOP
    i := i + 1;
    IF jsonb_typeof(s) <> 'object' OR jsonb_typeof(s -> 'key') IS DISTINCT FROM 'string' THEN
      PERFORM workflow_template_raise('PV301', format('step %s has no "key" (a string)', i));
    END IF;
    v_key := s ->> 'key';
    IF v_key !~ '^[a-z][a-z0-9_]{0,62}$' THEN
      PERFORM workflow_template_raise('PV301', format('step "%s": key must match ^[a-z][a-z0-9_]{0,62}$', v_key));
    END IF;
    IF v_key = ANY (v_keys) THEN
      PERFORM workflow_template_raise('PV302', format('step "%s" is defined twice', v_key));
    END IF;
    v_keys := v_keys || v_key;
    FOR v_field IN SELECT jsonb_object_keys(s) LOOP
      IF v_field NOT IN ('key', 'kind', 'target', 'depends_on', 'params', 'when', 'retry', 'on_failure', 'compensate', 'description') THEN
        PERFORM workflow_template_raise('PV301', format('step "%s" has an unknown field "%s"', v_key, v_field));
      END IF;
    END LOOP;
    IF coalesce(s ->> 'kind', '') NOT IN ('provision', 'task', 'wait') THEN
      PERFORM workflow_template_raise('PV301', format('step "%s": kind must be provision, task or wait', v_key));
    END IF;
    IF coalesce(s ->> 'on_failure', 'block') NOT IN ('block', 'fail', 'skip', 'compensate') THEN
      PERFORM workflow_template_raise('PV301', format('step "%s": on_failure must be block, fail, skip or compensate', v_key));
    END IF;
    IF s ? 'retry' AND (jsonb_typeof(s -> 'retry') <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(s -> 'retry') k WHERE k <> 'max_attempts')
       OR jsonb_typeof(s -> 'retry' -> 'max_attempts') IS DISTINCT FROM 'number' OR (s -> 'retry' ->> 'max_attempts') !~ '^([1-9]|1[0-9]|20)$') THEN
      PERFORM workflow_template_raise('PV301', format('step "%s": retry must be {"max_attempts": 1..20}', v_key));
    END IF;
    IF s ? 'depends_on' AND (jsonb_typeof(s -> 'depends_on') <> 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(s -> 'depends_on') d WHERE jsonb_typeof(d) <> 'string')) THEN
      PERFORM workflow_template_raise('PV301', format('step "%s": depends_on must be an array of step keys', v_key));
    END IF;
    v_deps := v_deps || jsonb_build_object(v_key, coalesce((SELECT jsonb_agg(DISTINCT d) FROM jsonb_array_elements_text(s -> 'depends_on') d), '[]'));
  END LOOP;
  -- dependencies name steps
  FOR v_key, s IN SELECT key, value FROM jsonb_each(v_deps) LOOP
    FOR v_dep IN SELECT jsonb_array_elements_text(s) LOOP
      IF NOT v_dep = ANY (v_keys) THEN
        PERFORM workflow_template_raise('PV304', format('step "%s": depends_on names "%s", which is no step of this definition', v_key, v_dep));
      END IF;
      IF v_dep = v_key THEN
        PERFORM workflow_template_raise('PV303', format('step "%s" depends on itself', v_key));
      END IF;
    END LOOP;
  END LOOP;
  -- topological order (Kahn's algorithm, in definition order among the ready); what is left is on a cycle
  v_left := v_keys;
  LOOP
    v_ready := ARRAY(SELECT k FROM unnest(v_left) WITH ORDINALITY u(k, n)
                     WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(v_deps -> k) d WHERE d = ANY (v_left)) ORDER BY n);
    EXIT WHEN cardinality(v_ready) = 0;
    v_order := v_order || v_ready;
    v_left := ARRAY(SELECT k FROM unnest(v_left) k WHERE NOT k = ANY (v_ready));
  END LOOP;
  IF cardinality(v_left) > 0 THEN
    -- name only the steps on a cycle: drop, again and again, those no other remaining step depends on
    LOOP
      v_ready := ARRAY(SELECT k FROM unnest(v_left) k
                       WHERE NOT EXISTS (SELECT 1 FROM unnest(v_left) o WHERE (v_deps -> o) ? k));
      EXIT WHEN cardinality(v_ready) = 0;
      v_left := ARRAY(SELECT k FROM unnest(v_left) k WHERE NOT k = ANY (v_ready));
    END LOOP;
    PERFORM workflow_template_raise('PV303', format('the steps %s depend on each other in a cycle', array_to_string(v_left, ', ')));
  END IF;
  -- ancestors, in topological order
  FOREACH v_key IN ARRAY v_order LOOP
    v_anc := v_anc || jsonb_build_object(v_key, coalesce((
      SELECT jsonb_agg(DISTINCT a) FROM (
        SELECT d AS a FROM jsonb_array_elements_text(v_deps -> v_key) d
        UNION SELECT x FROM jsonb_array_elements_text(v_deps -> v_key) d, jsonb_array_elements_text(v_anc -> d) x) q), '[]'));
  END LOOP;
  -- targets, params, references, conditions, compensations; the compiled steps
  i := 0;
  FOREACH v_key IN ARRAY v_order LOOP
    SELECT value INTO s FROM jsonb_array_elements(v_steps) WHERE value ->> 'key' = v_key;
    PERFORM workflow_target_assert(s ->> 'kind', s -> 'target', s -> 'params', v_key, 'step');
    PERFORM workflow_refs_assert(s -> 'params', v_key, 'params', ARRAY(SELECT jsonb_array_elements_text(v_anc -> v_key)));
    IF s ? 'when' THEN
      PERFORM workflow_when_assert(s -> 'when', v_key);
      PERFORM workflow_refs_assert(s -> 'when', v_key, 'when', ARRAY(SELECT jsonb_array_elements_text(v_anc -> v_key)));
    END IF;
    IF s ? 'compensate' THEN
      IF jsonb_typeof(s -> 'compensate') <> 'object' OR coalesce(s -> 'compensate' ->> 'kind', '') NOT IN ('provision', 'task')
         OR EXISTS (SELECT 1 FROM jsonb_object_keys(s -> 'compensate') k WHERE k NOT IN ('kind', 'target', 'params')) THEN
        PERFORM workflow_template_raise('PV310', format('step "%s" compensate: {"kind": "provision" | "task", "target", "params"} and nothing else', v_key));
      END IF;
      BEGIN
        PERFORM workflow_target_assert(s -> 'compensate' ->> 'kind', s -> 'compensate' -> 'target', s -> 'compensate' -> 'params', v_key, 'compensation of step');
        PERFORM workflow_refs_assert(s -> 'compensate' -> 'params', v_key, 'compensate.params',
          ARRAY(SELECT jsonb_array_elements_text(v_anc -> v_key)) || v_key);
      EXCEPTION WHEN SQLSTATE 'PV305' OR SQLSTATE 'PV306' OR SQLSTATE 'PV307' THEN
        GET STACKED DIAGNOSTICS v_err = MESSAGE_TEXT;
        PERFORM workflow_template_raise('PV310', v_err);
      END;
    ELSIF s ->> 'on_failure' = 'compensate' THEN
      PERFORM workflow_template_raise('PV310', format('step "%s": on_failure compensate needs a "compensate" step', v_key));
    END IF;
    v_out := v_out || jsonb_build_array(s || jsonb_build_object(
      'index', i, 'deps', v_deps -> v_key, 'ancestors', v_anc -> v_key,
      'on_failure', coalesce(s ->> 'on_failure', 'block'),
      'dependents', coalesce((SELECT jsonb_agg(k ORDER BY k) FROM jsonb_each(v_deps) e(k, d) WHERE d ? v_key), '[]')));
    i := i + 1;
  END LOOP;
  IF p_def ? 'output' THEN
    IF jsonb_typeof(p_def -> 'output') <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_each(p_def -> 'output') o WHERE jsonb_typeof(o.value) <> 'object' OR NOT o.value ? '$ref') THEN
      PERFORM workflow_template_raise('PV301', 'output must be an object whose values are references ({"$ref": path})');
    END IF;
    PERFORM workflow_refs_assert(p_def -> 'output', '(run)', 'output', v_keys);
  END IF;
  -- only a provision step has a provision_id
  SELECT r INTO v_err FROM (
    SELECT workflow_refs(x) AS r FROM jsonb_array_elements(v_steps) st,
      LATERAL (VALUES (st -> 'params'), (st -> 'compensate' -> 'params')) v(x)
    UNION ALL SELECT workflow_when_refs(st -> 'when') FROM jsonb_array_elements(v_steps) st WHERE st ? 'when'
    UNION ALL SELECT workflow_refs(p_def -> 'output')
  ) q
  WHERE r ~ '\.provision_id$'
    AND (SELECT value ->> 'kind' FROM jsonb_array_elements(v_steps) WHERE value ->> 'key' = split_part(r, '.', 2)) <> 'provision'
  LIMIT 1;
  IF v_err IS NOT NULL THEN
    PERFORM workflow_template_raise('PV307', format('reference "%s": only a provision step has a provision_id', v_err));
  END IF;
  IF jsonb_typeof(p_schema) IS DISTINCT FROM 'object' OR p_schema ->> 'type' IS DISTINCT FROM 'object' THEN
    PERFORM workflow_template_raise('PV308', 'input_schema: the root must be {"type": "object", ...} (a run''s input is an object)', 'input_schema');
  END IF;
  v_err := json_schema_subset_error(p_schema);
  IF v_err IS NOT NULL THEN
    PERFORM workflow_template_raise('PV308', format('input_schema: %s', v_err), 'input_schema');
  END IF;
  RETURN jsonb_build_object('steps', v_out, 'on_cancel', coalesce(p_def ->> 'on_cancel', 'stop'), 'output', coalesce(p_def -> 'output', '{}'));
END
$$;
COMMENT ON FUNCTION workflow_template_compile(jsonb, jsonb) IS
  'Checks a template definition and input schema; returns the compiled graph in topological order. Raises PV301-PV310 naming the step and field.';

-- BEFORE INSERT OR UPDATE OR DELETE on workflow_template: a version is compiled when it becomes published
-- (inserted as published, or a draft updated to published) and frozen from then on: PV311 for any change
-- of a published or retired version other than published -> retired, for its DELETE, and for a draft
-- retired without being published. INSERT without a version takes the name's next one.
CREATE OR REPLACE FUNCTION tg_workflow_template__check() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      PERFORM workflow_template_raise('PV311', format('template %s version %s is %s: it cannot be deleted (retire it)', OLD.name, OLD.version, OLD.status), 'status');
    END IF;
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.status <> 'draft' THEN
    IF OLD.status = 'published' AND NEW.status = 'retired'
       AND (NEW.id, NEW.name, NEW.version, NEW.description, NEW.input_schema, NEW.definition, NEW.compiled, NEW.published_date, NEW.created_by, NEW.created_date)
           IS NOT DISTINCT FROM (OLD.id, OLD.name, OLD.version, OLD.description, OLD.input_schema, OLD.definition, OLD.compiled, OLD.published_date, OLD.created_by, OLD.created_date) THEN
      NEW.retired_date := now();
      RETURN NEW;
    END IF;
    IF row(NEW.*) IS NOT DISTINCT FROM row(OLD.*) THEN RETURN NEW; END IF;
    PERFORM workflow_template_raise('PV311', format('template %s version %s is %s: it never changes (publish a new version)%s', OLD.name, OLD.version, OLD.status,
      CASE WHEN OLD.status = 'published' THEN '; only published -> retired is allowed' ELSE '' END), 'status');
  END IF;
  IF NEW.status = 'retired' THEN
    PERFORM workflow_template_raise('PV311', format('template %s version %s: only a published version can be retired (publish it first, or delete the draft)', NEW.name, NEW.version), 'status');
  END IF;
  NEW.retired_date := NULL;
  IF NEW.status = 'published' THEN
    NEW.compiled := workflow_template_compile(NEW.definition, NEW.input_schema);
    NEW.published_date := now();
  ELSE
    NEW.compiled := NULL;
    NEW.published_date := NULL;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_workflow_template__check() IS
  'BEFORE INSERT/UPDATE/DELETE on workflow_template: compiles at publish (PV301-PV310), freezes published and retired versions (PV311).';

-- The next version of template p_name (1 for a new name): the column default's helper.
CREATE OR REPLACE FUNCTION tg_workflow_template__version() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF NEW.version IS NULL THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('workflow_template:' || NEW.name, 0));
    NEW.version := coalesce((SELECT max(version) FROM workflow_template WHERE name = NEW.name), 0) + 1;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION tg_workflow_template__version() IS 'BEFORE INSERT on workflow_template: a NULL version becomes the name''s next. Raises nothing.';

DROP TRIGGER IF EXISTS _010_version ON workflow_template;
CREATE TRIGGER _010_version BEFORE INSERT ON workflow_template FOR EACH ROW EXECUTE FUNCTION tg_workflow_template__version();
DROP TRIGGER IF EXISTS _020_check ON workflow_template;
CREATE TRIGGER _020_check BEFORE INSERT OR UPDATE OR DELETE ON workflow_template FOR EACH ROW EXECUTE FUNCTION tg_workflow_template__check();

-- Publish template p_name version p_version (the CLI's `template publish`); returns the compiled graph.
-- Publishing a published version again returns it unchanged. Raises PV312 (no such version) and what
-- publishing raises (PV301-PV311).
CREATE OR REPLACE FUNCTION workflow_template_publish(p_name text, p_version integer) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v workflow_template;
BEGIN
  SELECT * INTO v FROM workflow_template WHERE name = p_name AND version = p_version FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM workflow_template_raise('PV312', format('template %s has no version %s', p_name, p_version), 'version');
  END IF;
  IF v.status = 'published' THEN RETURN v.compiled; END IF;
  UPDATE workflow_template SET status = 'published' WHERE name = p_name AND version = p_version RETURNING * INTO v;
  RETURN v.compiled;
END
$$;
COMMENT ON FUNCTION workflow_template_publish(text, integer) IS 'Publishes a draft (idempotent); returns its compiled graph. Raises PV312, PV301-PV311.';
