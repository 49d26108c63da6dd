-- Up Migration
-- Tenants' sessions (provisio_order) may write their own access definitions: identities, roles,
-- applications, entitlements and their links, and the applications' connector and mapping
-- configuration (grants and checks: stored-procedures/validation/access_definitions.sql and
-- engine/security/roles.sql). What a tenant-written connector configuration may reach is the
-- operator's decision, per tenant: which environment variables and files it may name as secrets, and
-- which hosts it may connect to. Without a policy row a tenant may write no connector configuration.
CREATE TABLE tenant_connector_policy (
  tenant_customer_id UUID NOT NULL PRIMARY KEY REFERENCES tenant_customer ON DELETE CASCADE,
  -- environment variables a configuration may name (password_env, token_env, ...) start with this
  secret_env_prefix  TEXT CHECK (secret_env_prefix ~ '^[A-Za-z][A-Za-z0-9_]*_$'),
  -- files a configuration may name (password_file, token_file, tls.ca_file, ...) are under this directory
  secret_file_dir    TEXT CHECK (secret_file_dir ~ '^/.*/$' AND secret_file_dir !~ '/\.\.?/'),
  -- hosts a configuration may connect to: a name or address, or '*.example.com' for any name under it
  allowed_hosts      TEXT[] NOT NULL DEFAULT '{}'
) INHERITS (class.audit);

-- true when a tenant's session wrote the configuration last: the worker checks it against the tenant's
-- policy again before every use (the policy may have changed since). An owner's write clears it.
ALTER TABLE connector_config ADD COLUMN tenant_written BOOLEAN NOT NULL DEFAULT false;

-- Down Migration
-- Forward-only (docs/design.md "Habits"): no down migration.
