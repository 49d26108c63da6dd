-- Up Migration
-- A provision names an accreditation only when its family has one (issue 11, section 3). Every provision
-- of the registry family is made under a tenant's account at a registry, but a provision of another family
-- may have none: an access grant spanning several applications is made under no single account. So
-- class.provision.accreditation_id may be NULL, and each registry table keeps it NOT NULL (ONLY: without
-- it, DROP NOT NULL would reach every child table). A table created after this inherits a nullable
-- column: a family that needs an accreditation declares it NOT NULL in its table (docs/design.md
-- "Accreditations are per family"). The common validation (stored-procedures/engine/provision/validate.sql)
-- still checks that an accreditation, when given, is one of the row's tenant's, and refuses NULL (23502)
-- where the table's column is NOT NULL.
-- docs/decisions/0006-named-statuses-optional-accreditation.md.
ALTER TABLE ONLY class.provision ALTER COLUMN accreditation_id DROP NOT NULL;

-- the registry family's tables, as they were (a no-op on a database migrated from 0002; stated here so
-- that the rule is written where the column changed)
ALTER TABLE provision_contact ALTER COLUMN accreditation_id SET NOT NULL;
ALTER TABLE provision_domain ALTER COLUMN accreditation_id SET NOT NULL;
ALTER TABLE provision_domain_renew ALTER COLUMN accreditation_id SET NOT NULL;
ALTER TABLE provision_domain_delete ALTER COLUMN accreditation_id SET NOT NULL;

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
