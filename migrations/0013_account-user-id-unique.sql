-- Up Migration
-- One person per account: two identities whose mappings give the same user id in an application would
-- otherwise share (and strip) one account there. The access task refuses the second identity before it
-- calls the adapter (PV_ACCESS_ACCOUNT_TAKEN); this index is the backstop. User ids compare case-
-- insensitively, as SCIM's userName and most directories do.
CREATE UNIQUE INDEX account_user_id_in_app_uidx ON account (application_id, lower(user_id_in_app));

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
