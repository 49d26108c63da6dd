-- Up Migration
-- A revoke removes what the entitlements were when it was accepted: validation copies each listed
-- entitlement's application and native key onto the row (entitlement_keys, derived like username), so an
-- entitlement deleted or re-keyed while the job waits is still revoked under the key the account holds.
ALTER TABLE provision_access_revoke ADD COLUMN entitlement_keys JSONB;

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
