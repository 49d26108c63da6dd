-- Up Migration
-- Closing the holes a hostile or careless user found (issue 10). Tables, columns, keys and indexes only;
-- the functions, policies and views that use them are in stored-procedures/.

-- ---------------------------------------------------------------------------------------------------------
-- Items and plans carry their order's tenant. Row-level security on order_item and order_item_plan used to
-- look the tenant up in the parent row with EXISTS, which a policy evaluates in the snapshot of the INSERT
-- statement itself: an order, its item and its plan inserted in one statement (data-modifying CTEs) were
-- refused although every row was the session's tenant. Now the policy compares the row's own column, and
-- a composite foreign key (checked at the end of the statement, when every row of it is visible) keeps
-- the column equal to the parent's. The default is the session's tenant (app.tenant_id, the order and
-- reader roles' setting); without it (the engine's sessions) a trigger copies the parent's
-- (stored-procedures/order/insert.sql).
-- ---------------------------------------------------------------------------------------------------------
ALTER TABLE order_item ADD COLUMN tenant_customer_id UUID;
ALTER TABLE order_item_plan ADD COLUMN tenant_customer_id UUID;
UPDATE order_item i SET tenant_customer_id = o.tenant_customer_id FROM "order" o WHERE o.id = i.order_id;
UPDATE order_item_plan p SET tenant_customer_id = i.tenant_customer_id FROM order_item i WHERE i.id = p.order_item_id;
ALTER TABLE order_item ALTER COLUMN tenant_customer_id SET NOT NULL,
  ALTER COLUMN tenant_customer_id SET DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid;
ALTER TABLE order_item_plan ALTER COLUMN tenant_customer_id SET NOT NULL,
  ALTER COLUMN tenant_customer_id SET DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid;

CREATE UNIQUE INDEX order_id_tenant_uidx ON "order" (id, tenant_customer_id);
CREATE UNIQUE INDEX order_item_id_tenant_uidx ON order_item (id, tenant_customer_id);
ALTER TABLE order_item ADD CONSTRAINT order_item_order_tenant_fkey
  FOREIGN KEY (order_id, tenant_customer_id) REFERENCES "order" (id, tenant_customer_id) ON DELETE CASCADE;
ALTER TABLE order_item_plan ADD CONSTRAINT order_item_plan_item_tenant_fkey
  FOREIGN KEY (order_item_id, tenant_customer_id) REFERENCES order_item (id, tenant_customer_id) ON DELETE CASCADE;
-- the composite keys imply the single-column ones (and cascade the same way): one check per row, not two
ALTER TABLE order_item DROP CONSTRAINT order_item_order_id_fkey;
ALTER TABLE order_item_plan DROP CONSTRAINT order_item_plan_order_item_id_fkey;

-- ---------------------------------------------------------------------------------------------------------
-- Binding a login to tenants. A login with no row here may act for any tenant it names in app.tenant_id
-- (an order system serving many tenants through one login); a login with rows may act only for those
-- tenants: current_tenant_id() refuses any other with 42501 (stored-procedures/common/tenant.sql).
-- ---------------------------------------------------------------------------------------------------------
-- login is a regrole: a name that is not a role is refused when the binding is written, and a renamed
-- login keeps its binding.
CREATE TABLE tenant_login (
  login              REGROLE NOT NULL,
  tenant_customer_id UUID NOT NULL REFERENCES tenant_customer ON DELETE CASCADE,
  created_date       TIMESTAMPTZ NOT NULL DEFAULT now(),
  created_by         TEXT NOT NULL DEFAULT session_user,
  PRIMARY KEY (login, tenant_customer_id)
);
COMMENT ON TABLE tenant_login IS
  'Logins bound to tenants: a login listed here may set app.tenant_id only to its tenants. Unlisted logins are unbound.';

-- ---------------------------------------------------------------------------------------------------------
-- Periods in whole years. As INT, a literal 1.5 was rounded to 2 by PostgreSQL's assignment cast before
-- any trigger could see it; as NUMERIC the validation triggers see 1.5 and refuse it (PV103).
-- ---------------------------------------------------------------------------------------------------------
ALTER TABLE provision_domain ALTER COLUMN registration_period TYPE NUMERIC;
ALTER TABLE provision_domain_renew ALTER COLUMN period TYPE NUMERIC;

-- ---------------------------------------------------------------------------------------------------------
-- One operation in flight per object, across provision tables. The in-flight checks of the validation
-- triggers see only committed rows, and the partial unique indexes are per table, so a renew and a delete
-- of one domain inserted by two open transactions both passed. Validation now claims the object here
-- (provision_claim(), stored-procedures/common/claim.sql): INSERT ... ON CONFLICT waits for a concurrent
-- claimant's transaction, and takes the claim over only when the provision holding it is final. A row per
-- object ever provisioned; nothing is deleted when a provision finishes (the completion path is unchanged).
-- ---------------------------------------------------------------------------------------------------------
CREATE TABLE provision_claim (
  object_key   TEXT PRIMARY KEY,             -- 'domain:<name>', 'contact:<accreditation id>:<contact id>', 'plan:<order_item_plan id>'
  provision_table REGCLASS NOT NULL,         -- the class.provision child that holds it ...
  provision_id UUID NOT NULL,                -- ... and the row (ids are unique per table only)
  claimed_date TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE provision_claim IS
  'The provision that last claimed each object; a claim is live while that provision is not final.';
INSERT INTO provision_claim (object_key, provision_table, provision_id)
SELECT k, t, id FROM (
  SELECT 'domain:' || name AS k, tableoid::regclass AS t, id FROM provision_domain WHERE status_id IN (1, 2)
  UNION ALL SELECT 'domain:' || name, tableoid::regclass, id FROM provision_domain_renew WHERE status_id IN (1, 2)
  UNION ALL SELECT 'domain:' || name, tableoid::regclass, id FROM provision_domain_delete WHERE status_id IN (1, 2)
  UNION ALL SELECT 'contact:' || accreditation_id || ':' || contact_id, tableoid::regclass, id FROM provision_contact WHERE status_id IN (1, 2)
  -- a plan is served by one provision (validation/provision.sql): the plans of those in flight
  UNION ALL SELECT 'plan:' || plan_id, p.tableoid::regclass, p.id
            FROM class.provision p, unnest(p.order_item_plan_ids) plan_id WHERE p.status_id IN (1, 2) AND plan_id IS NOT NULL
) c
ORDER BY id   -- time-ordered ids (migrations/0005): the oldest operation on an object keeps its claim
ON CONFLICT (object_key) DO NOTHING;

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
