/**
 * Row types for kysely: the `Database` interface of every table and view provisio owns in schemas
 * `public` and `class` (graphile_worker's schema and node-pg-migrate's `pgmigrations` are not ours).
 *
 * Written by hand, in one place: {@link SCHEMA_COLUMNS} describes each relation's columns at run time
 * (PostgreSQL type as `format_type()` spells it, nullability, whether the database fills it in), and the
 * kysely types are derived from it. test/db/schema.test.ts compares that description with the catalog of
 * the migrated test database, so a migration that adds, drops or changes a column fails the test until
 * this file follows. After a migration: run the test, and edit the relation it names here.
 *
 * TypeScript types are what node-postgres returns (no custom type parsers are installed): uuid, text,
 * regclass, regrole → string; numeric and bigint → string (exact); timestamp(tz) and date → Date;
 * smallint and integer → number; jsonb → unknown (parsed JSON); interval → {@link PgInterval};
 * arrays → arrays. Columns with a default, identity or generation are optional on insert (what kysely's
 * `Generated<>` does); nullable columns are `| null` (optional on insert).
 *
 * Views: PostgreSQL records no nullability for view columns, so theirs is declared here from the view
 * definitions (stored-procedures/engine/views/status.sql); the test checks their names and types only.
 */
import type { ColumnType } from "kysely";

/** An `interval` as node-postgres returns it (the postgres-interval package). */
export interface PgInterval {
  years?: number;
  months?: number;
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
  toPostgres(): string;
  toISO(): string;
}

/** TypeScript type of each PostgreSQL type (as `format_type()` names it) provisio uses: [select, insert/update]. */
interface PgTypes {
  uuid: [string, string];
  "uuid[]": [string[], string[]];
  text: [string, string];
  "text[]": [string[], string[]];
  /** node-postgres returns inet[] as the addresses' text forms */
  "inet[]": [string[], string[]];
  "character varying(255)": [string, string];
  regclass: [string, string];
  regrole: [string, string];
  boolean: [boolean, boolean];
  smallint: [number, number];
  integer: [number, number];
  bigint: [string, string | number | bigint];
  numeric: [string, string | number];
  jsonb: [unknown, unknown];
  date: [Date, Date | string];
  "timestamp with time zone": [Date, Date | string];
  "timestamp without time zone": [Date, Date | string];
  interval: [PgInterval, PgInterval | string];
  "double precision": [number, number];
}
export type PgTypeName = keyof PgTypes;

export interface ColumnSpec {
  type: PgTypeName;
  nullable: boolean;
  /** the database fills it in when an INSERT leaves it out (DEFAULT, identity or generated) */
  generated?: boolean;
}
export interface RelationSpec {
  kind: "table" | "view";
  columns: Record<string, ColumnSpec>;
}

// shorthands: required, nullable, defaulted
const req = <T extends PgTypeName>(type: T) => ({ type, nullable: false }) as const;
const opt = <T extends PgTypeName>(type: T) => ({ type, nullable: true }) as const;
const def = <T extends PgTypeName>(type: T) => ({ type, nullable: false, generated: true }) as const;

/** class.audit: created/updated date and login, inherited by most tables. */
const AUDIT = {
  created_date: def("timestamp with time zone"),
  updated_date: opt("timestamp with time zone"),
  created_by: def("text"),
  updated_by: opt("text"),
} as const;

/**
 * class.provision: the parent of every provision_* table (its own columns, after AUDIT's in the children).
 * accreditation_id is nullable here (a family may have no accreditation: migrations/0010) and NOT NULL in
 * every registry table ({@link REGISTRY_PROVISION}).
 */
const PROVISION = {
  id: def("uuid"),
  tenant_customer_id: req("uuid"),
  accreditation_id: opt("uuid"),
  provisioned_date: opt("timestamp with time zone"),
  status_id: def("smallint"),
  roid: opt("text"),
  job_id: opt("uuid"),
  order_item_plan_ids: opt("uuid[]"),
  result_message: opt("text"),
  result_data: opt("jsonb"),
  attempt_count: def("integer"),
  last_attempt_date: opt("timestamp with time zone"),
} as const;

/** class.provision's columns in a registry family table: made under an accreditation. */
const REGISTRY_PROVISION = { ...PROVISION, accreditation_id: req("uuid") } as const;

/** The lookup tables of statuses (provision_status, job_status, order statuses). */
const STATUS_LOOKUP = {
  id: req("smallint"),
  name: req("text"),
  descr: req("text"),
  is_final: req("boolean"),
  is_success: req("boolean"),
} as const;

const table = <C extends Record<string, ColumnSpec>>(columns: C) => ({ kind: "table", columns }) as const;
const view = <C extends Record<string, ColumnSpec>>(columns: C) => ({ kind: "view", columns }) as const;

/**
 * Every relation of schemas public and class provisio owns, by kysely name (public's unqualified), with
 * its columns. The source of the `Database` types; kept in step with the database by
 * test/db/schema.test.ts.
 */
export const SCHEMA_COLUMNS = {
  "class.audit": table(AUDIT),
  "class.audit_trail": table(AUDIT),
  "class.provision": table(PROVISION),

  tenant_customer: table({ ...AUDIT, id: def("uuid"), name: req("text") }),
  tenant_login: table({
    login: req("regrole"),
    tenant_customer_id: req("uuid"),
    created_date: def("timestamp with time zone"),
    created_by: def("text"),
  }),
  connector_type: table({ name: req("text"), descr: req("text") }),
  accreditation: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    name: req("text"),
    provider: req("text"),
    connector_type: req("text"),
    config: def("jsonb"),
    max_sessions: def("integer"),
  }),
  accreditation_tld: table({ id: def("uuid"), accreditation_id: req("uuid"), tld: req("text") }),
  audit_trail_log: table({
    id: def("bigint"),
    table_name: req("text"),
    operation: req("text"),
    object_id: opt("uuid"),
    old_value: opt("jsonb"),
    new_value: opt("jsonb"),
    changed_by: def("text"),
    changed_date: def("timestamp with time zone"),
    transaction_id: def("bigint"),
  }),

  contact: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    accreditation_id: req("uuid"),
    contact_id: req("text"),
    roid: req("text"),
    email: req("text"),
    pw: req("text"),
    ry_created_date: opt("timestamp with time zone"),
    deleted_date: opt("timestamp with time zone"),
  }),
  domain: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    accreditation_id: req("uuid"),
    accreditation_tld_id: req("uuid"),
    name: req("text"),
    roid: req("text"),
    registrant: opt("text"),
    pw: req("text"),
    ry_created_date: req("timestamp with time zone"),
    ry_expiry_date: req("timestamp with time zone"),
    deleted_date: opt("timestamp with time zone"),
  }),

  provision_status: table(STATUS_LOOKUP),
  provision_contact: table({
    ...AUDIT,
    ...REGISTRY_PROVISION,
    contact_id: req("text"),
    name: req("text"),
    org: opt("text"),
    street: def("text[]"),
    city: req("text"),
    sp: opt("text"),
    pc: opt("text"),
    cc: req("text"),
    voice: opt("text"),
    fax: opt("text"),
    email: req("text"),
    pw: def("text"),
    ry_created_date: opt("timestamp with time zone"),
  }),
  provision_domain: table({
    ...AUDIT,
    ...REGISTRY_PROVISION,
    name: req("text"),
    registration_period: def("numeric"),
    pw: def("text"),
    accreditation_tld_id: opt("uuid"),
    registrant: opt("text"),
    admin_contact: opt("text"),
    tech_contact: opt("text"),
    billing_contact: opt("text"),
    nameservers: def("text[]"),
    ry_created_date: opt("timestamp with time zone"),
    ry_expiry_date: opt("timestamp with time zone"),
  }),
  provision_domain_delete: table({ ...AUDIT, ...REGISTRY_PROVISION, name: req("text"), domain_id: opt("uuid") }),
  provision_domain_renew: table({
    ...AUDIT,
    ...REGISTRY_PROVISION,
    name: req("text"),
    period: def("numeric"),
    current_expiry_date: req("date"),
    domain_id: opt("uuid"),
    ry_expiry_date: opt("timestamp with time zone"),
  }),
  host: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    accreditation_id: req("uuid"),
    name: req("text"),
    roid: req("text"),
    addrs_v4: def("inet[]"),
    addrs_v6: def("inet[]"),
    ry_created_date: opt("timestamp with time zone"),
    deleted_date: opt("timestamp with time zone"),
  }),
  provision_host: table({
    ...AUDIT,
    ...REGISTRY_PROVISION,
    name: req("text"),
    addrs_v4: def("inet[]"),
    addrs_v6: def("inet[]"),
    ry_created_date: opt("timestamp with time zone"),
  }),
  identity: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    username: req("text"),
    email: opt("text"),
    display_name: opt("text"),
    is_active: def("boolean"),
  }),
  role: table({ ...AUDIT, id: def("uuid"), tenant_customer_id: req("uuid"), name: req("text"), descr: opt("text") }),
  application: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    name: req("text"),
    descr: opt("text"),
    discovery_interval: opt("interval"),
    reconcile_mode: def("text"),
    repair_max_revoke_share: def("numeric"),
    discovery_page_size: def("integer"),
  }),
  access_discovery_run: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    application_id: req("uuid"),
    trigger: req("text"),
    status: def("text"),
    attempts: def("integer"),
    pages: def("integer"),
    accounts_seen: def("integer"),
    error_code: opt("text"),
    error: opt("text"),
    started_date: opt("timestamp with time zone"),
    finished_date: opt("timestamp with time zone"),
    repair_status: opt("text"),
    repair_plan: opt("jsonb"),
    repair_result: opt("jsonb"),
    repair_approved_by: opt("text"),
    repair_approved_date: opt("timestamp with time zone"),
  }),
  access_observation: table({
    run_id: req("uuid"),
    tenant_customer_id: req("uuid"),
    application_id: req("uuid"),
    user_id_in_app: req("text"),
    native_id: opt("text"),
    active: req("boolean"),
    entitlements: def("text[]"),
  }),
  connector_config: table({
    ...AUDIT,
    application_id: req("uuid"),
    tenant_customer_id: req("uuid"),
    connector_type: req("text"),
    configuration: req("jsonb"),
    tenant_written: def("boolean"),
  }),
  workflow_task_type: table({ name: req("text"), descr: req("text") }),
  workflow_template: table({
    ...AUDIT,
    id: def("uuid"),
    name: req("text"),
    version: req("integer"),
    status: def("text"),
    description: opt("text"),
    input_schema: def("jsonb"),
    definition: req("jsonb"),
    compiled: opt("jsonb"),
    published_date: opt("timestamp with time zone"),
    retired_date: opt("timestamp with time zone"),
    tenant_startable: def("boolean"),
  }),
  tenant_category: table({ name: req("text"), descr: req("text"), settings: def("jsonb"), limits: def("jsonb") }),
  tenant_profile: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    slug: req("text"),
    category: req("text"),
    settings: def("jsonb"),
    limits: def("jsonb"),
    state: def("text"),
    onboarded_date: opt("timestamp with time zone"),
    deprovisioned_date: opt("timestamp with time zone"),
  }),
  workflow_run_status: table(STATUS_LOOKUP),
  workflow_step_status: table(STATUS_LOOKUP),
  provision_workflow: table({
    ...AUDIT,
    ...PROVISION,
    template_name: req("text"),
    template_version: opt("integer"),
    input: def("jsonb"),
    idempotency_key: opt("text"),
    scheduled_at: opt("timestamp with time zone"),
    recovered_from_id: opt("uuid"),
    wf_status_id: def("smallint"),
    wf_definition: opt("jsonb"),
    wf_output: def("jsonb"),
    wf_error_code: opt("text"),
    wf_cancel_mode: opt("text"),
    wf_started_date: opt("timestamp with time zone"),
    wf_ended_date: opt("timestamp with time zone"),
  }),
  provision_workflow_task: table({ ...AUDIT, ...PROVISION, task_name: req("text"), params: def("jsonb") }),
  provision_workflow_wait: table({ ...AUDIT, ...PROVISION, until: req("timestamp with time zone") }),
  workflow_step_run: table({
    id: def("uuid"),
    run_id: req("uuid"),
    tenant_customer_id: req("uuid"),
    phase: def("text"),
    step_key: req("text"),
    attempt: def("integer"),
    kind: req("text"),
    target: opt("text"),
    status_id: def("smallint"),
    remaining_deps: def("integer"),
    params: opt("jsonb"),
    params_override: opt("jsonb"),
    output: opt("jsonb"),
    provision_table: opt("text"),
    provision_id: def("uuid"),
    job_id: opt("uuid"),
    not_before: opt("timestamp with time zone"),
    error_code: opt("text"),
    error_message: opt("text"),
    skipped_reason: opt("text"),
    copied_from_id: opt("uuid"),
    created_date: def("timestamp with time zone"),
    started_date: opt("timestamp with time zone"),
    ended_date: opt("timestamp with time zone"),
  }),
  tenant_connector_policy: table({
    ...AUDIT,
    tenant_customer_id: req("uuid"),
    secret_env_prefix: opt("text"),
    secret_file_dir: opt("text"),
    allowed_hosts: def("text[]"),
    min_discovery_interval: def("interval"),
  }),
  mapping_config: table({ ...AUDIT, application_id: req("uuid"), tenant_customer_id: req("uuid"), user_id_template: def("text"), lower_case: def("boolean") }),
  entitlement: table({ ...AUDIT, id: def("uuid"), tenant_customer_id: req("uuid"), application_id: req("uuid"), name: req("text"), native_key: req("text") }),
  identity_role: table({ ...AUDIT, identity_id: req("uuid"), role_id: req("uuid"), tenant_customer_id: req("uuid") }),
  role_entitlement: table({ ...AUDIT, role_id: req("uuid"), entitlement_id: req("uuid"), tenant_customer_id: req("uuid") }),
  account: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    identity_id: req("uuid"),
    application_id: req("uuid"),
    user_id_in_app: req("text"),
    native_id: opt("text"),
    link_state: def("text"),
    last_seen_date: def("timestamp with time zone"),
  }),
  provision_access_grant: table({
    ...AUDIT,
    ...PROVISION,
    identity_id: req("uuid"),
    application_id: opt("uuid"),
    dry_run: def("boolean"),
    username: opt("text"),
  }),
  provision_access_revoke: table({
    ...AUDIT,
    ...PROVISION,
    identity_id: req("uuid"),
    entitlement_ids: req("uuid[]"),
    entitlement_keys: opt("jsonb"),
    deactivate: def("boolean"),
    dry_run: def("boolean"),
    username: opt("text"),
  }),
  provision_claim: table({
    object_key: req("text"),
    provision_table: req("regclass"),
    provision_id: req("uuid"),
    claimed_date: def("timestamp with time zone"),
  }),

  job_status: table(STATUS_LOOKUP),
  job_type: table({
    id: def("smallint"),
    name: req("text"),
    descr: req("text"),
    reference_table: req("text"),
    task_identifier: req("text"),
    max_attempts: def("integer"),
    retry_backoff_seconds: def("numeric"),
    retry_backoff_max_seconds: def("numeric"),
    object_column: def("text"),
  }),
  job: table({
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    type_id: req("smallint"),
    status_id: def("smallint"),
    reference_table: req("text"),
    reference_id: req("uuid"),
    data: def("jsonb"),
    result_data: opt("jsonb"),
    result_message: opt("text"),
    attempts: def("integer"),
    max_attempts: req("integer"),
    parent_id: opt("uuid"),
    created_date: def("timestamp with time zone"),
    start_date: opt("timestamp with time zone"),
    end_date: opt("timestamp with time zone"),
    retry_date: opt("timestamp with time zone"),
  }),
  worker: table({
    id: req("text"),
    host: req("text"),
    pid: req("integer"),
    concurrency: req("integer"),
    started_date: def("timestamp with time zone"),
    last_seen_date: def("timestamp with time zone"),
    status: def("text"),
    stopped_date: opt("timestamp with time zone"),
    unlocked_jobs: opt("integer"),
  }),
  event: table({
    id: def("bigint"),
    tenant_customer_id: req("uuid"),
    event_type: req("text"),
    reference_table: req("text"),
    reference_id: req("uuid"),
    payload: def("jsonb"),
    created_date: def("timestamp with time zone"),
    published_date: opt("timestamp with time zone"),
  }),

  order_status: table(STATUS_LOOKUP),
  order_item_status: table(STATUS_LOOKUP),
  order_item_plan_status: table(STATUS_LOOKUP),
  order: table({
    ...AUDIT,
    id: def("uuid"),
    tenant_customer_id: req("uuid"),
    status_id: def("smallint"),
    reference: opt("text"),
    completed_date: opt("timestamp with time zone"),
  }),
  order_item: table({
    ...AUDIT,
    id: def("uuid"),
    order_id: req("uuid"),
    status_id: def("smallint"),
    object_type: req("text"),
    descr: opt("text"),
    tenant_customer_id: def("uuid"),
  }),
  order_item_plan: table({
    ...AUDIT,
    id: def("uuid"),
    order_item_id: req("uuid"),
    status_id: def("smallint"),
    action: req("text"),
    result_message: opt("text"),
    tenant_customer_id: def("uuid"),
  }),

  // views (stored-procedures/engine/views/status.sql): nullability from their definitions
  v_provision: view({
    id: req("uuid"),
    provision_type: req("text"),
    provision_table: req("text"),
    object_name: opt("text"),
    tenant_customer_id: req("uuid"),
    accreditation_id: opt("uuid"), // class.provision's (migrations/0010)
    status: req("text"),
    is_final: req("boolean"),
    is_success: req("boolean"),
    job_id: opt("uuid"),
    attempts: req("integer"),
    max_attempts: opt("integer"), // from the job (LEFT JOIN)
    roid: opt("text"),
    result_message: opt("text"),
    result_data: opt("jsonb"),
    order_item_plan_ids: opt("uuid[]"),
    created_date: opt("timestamp with time zone"), // the job's
    last_attempt_date: opt("timestamp with time zone"),
    retry_date: opt("timestamp with time zone"),
    provisioned_date: opt("timestamp with time zone"),
    end_date: opt("timestamp with time zone"),
  }),
  v_job: view({
    id: req("uuid"),
    job_type: req("text"),
    status: req("text"),
    is_final: req("boolean"),
    attempts: req("integer"),
    max_attempts: req("integer"),
    tenant_customer_id: req("uuid"),
    reference_table: req("text"),
    reference_id: req("uuid"),
    parent_id: opt("uuid"),
    result_message: opt("text"),
    result_data: opt("jsonb"),
    created_date: req("timestamp with time zone"),
    start_date: opt("timestamp with time zone"),
    retry_date: opt("timestamp with time zone"),
    end_date: opt("timestamp with time zone"),
    duration: opt("interval"),
  }),
  v_access_drift: view({
    application_id: req("uuid"),
    run_id: req("uuid"),
    kind: req("text"),
    identity_id: opt("uuid"),
    username: opt("text"),
    user_id_in_app: opt("text"),
    native_id: opt("text"),
    entitlement_id: opt("uuid"),
    native_key: opt("text"),
  }),
  v_access_discovery_run: view({
    id: req("uuid"),
    tenant_customer_id: req("uuid"),
    application_id: req("uuid"),
    application: req("text"),
    reconcile_mode: req("text"),
    trigger: req("text"),
    status: req("text"),
    attempts: req("integer"),
    pages: req("integer"),
    accounts_seen: req("integer"),
    error_code: opt("text"),
    error: opt("text"),
    created_date: req("timestamp with time zone"),
    started_date: opt("timestamp with time zone"),
    finished_date: opt("timestamp with time zone"),
    duration: opt("interval"),
    repair_status: opt("text"),
    repair_accounts: req("integer"),
    repair_revoking: req("bigint"),
    repair_max_revoke_share: req("numeric"),
    repair_plan: opt("jsonb"),
    repair_result: opt("jsonb"),
    repair_approved_by: opt("text"),
    repair_approved_date: opt("timestamp with time zone"),
  }),
  v_workflow_run: view({
    id: req("uuid"),
    tenant_customer_id: req("uuid"),
    template_name: req("text"),
    template_version: req("integer"),
    status: req("text"),
    is_final: req("boolean"),
    is_success: req("boolean"),
    total: req("bigint"),
    completed: req("bigint"),
    failed: req("bigint"),
    skipped: req("bigint"),
    running: req("bigint"),
    percent_done: req("numeric"),
    current_steps: req("text[]"),
    error_code: opt("text"),
    error: opt("text"),
    warnings: req("jsonb"),
    input: req("jsonb"),
    output: opt("jsonb"),
    result: opt("jsonb"),
    idempotency_key: opt("text"),
    scheduled_at: opt("timestamp with time zone"),
    recovered_from_id: opt("uuid"),
    job_id: opt("uuid"),
    order_item_plan_ids: opt("uuid[]"),
    created_date: req("timestamp with time zone"),
    started_date: opt("timestamp with time zone"),
    ended_date: opt("timestamp with time zone"),
    duration: req("interval"),
  }),
  v_workflow_step: view({
    run_id: req("uuid"),
    tenant_customer_id: req("uuid"),
    phase: req("text"),
    step_key: req("text"),
    kind: req("text"),
    target: opt("text"),
    step_index: opt("integer"),
    status: req("text"),
    attempts: req("integer"),
    remaining_deps: req("integer"),
    params: opt("jsonb"),
    params_override: opt("jsonb"),
    output: opt("jsonb"),
    skipped_reason: opt("text"),
    error_code: opt("text"),
    last_error: opt("text"),
    next_retry: opt("timestamp with time zone"),
    job_attempts: opt("integer"),
    job_max_attempts: opt("integer"),
    provision_table: opt("text"),
    provision_id: opt("uuid"),
    job_id: opt("uuid"),
    copied_from_id: opt("uuid"),
    created_date: req("timestamp with time zone"),
    started_date: opt("timestamp with time zone"),
    ended_date: opt("timestamp with time zone"),
  }),
  v_workflow_stats: view({
    template_name: req("text"),
    template_version: opt("integer"),
    runs: req("bigint"),
    completed: req("bigint"),
    failed: req("bigint"),
    running: req("bigint"),
    blocked: req("bigint"),
    success_rate: opt("numeric"),
    mean_duration: opt("interval"),
    p95_duration_seconds: opt("double precision"),
    most_failing_step: opt("text"),
  }),
  v_order: view({
    id: req("uuid"),
    tenant_customer_id: req("uuid"),
    reference: opt("text"),
    status: req("text"),
    is_final: req("boolean"),
    created_date: req("timestamp with time zone"),
    completed_date: opt("timestamp with time zone"),
    item_count: req("bigint"),
    items_pending: req("bigint"),
    items_processing: req("bigint"),
    items_completed: req("bigint"),
    items_failed: req("bigint"),
    plan_count: req("bigint"),
    plans_completed: req("bigint"),
    plans_failed: req("bigint"),
  }),
} as const satisfies Record<string, RelationSpec>;

type Nullable<C extends ColumnSpec, T> = C["nullable"] extends true ? T | null : T;

/**
 * The kysely type of one column described by `C`: what a SELECT returns, what an INSERT and an UPDATE
 * accept (an INSERT may leave out a generated column).
 */
export type ColumnOf<C extends ColumnSpec> = ColumnType<
  Nullable<C, PgTypes[C["type"]][0]>,
  C extends { generated: true } ? Nullable<C, PgTypes[C["type"]][1]> | undefined : Nullable<C, PgTypes[C["type"]][1]>,
  Nullable<C, PgTypes[C["type"]][1]>
>;

/** The kysely row type of a relation described by `R`. */
export type RelationOf<R extends RelationSpec> = { [K in keyof R["columns"]]: R["columns"][K] extends ColumnSpec ? ColumnOf<R["columns"][K]> : never };

type Schema = typeof SCHEMA_COLUMNS;

/** The kysely `Database`: every table and view of {@link SCHEMA_COLUMNS}. */
export type Database = { [K in keyof Schema]: RelationOf<Schema[K]> };

// named row types for the relations code reads most
export type AccreditationTable = Database["accreditation"];
export type JobTable = Database["job"];
export type ProvisionTable = Database["class.provision"];
export type WorkerTable = Database["worker"];
export type VProvision = Database["v_provision"];
export type VOrder = Database["v_order"];
export type VJob = Database["v_job"];
