-- API keys are tenant-owned. A request presenting one names no tenant yet: a transaction
-- that sets app.api_key_prefix sees exactly the key with that prefix.
CREATE TABLE api_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    name          text NOT NULL,
    prefix        text NOT NULL,
    secret_digest text NOT NULL,
    permissions   text NOT NULL,
    created_by    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    -- Tenant-led like every key of a tenant-owned table; the prefix alone (71 random bits)
    -- finds a key through the plain index below.
    UNIQUE (tenant_id, prefix)
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY by_prefix ON api_keys FOR SELECT
    USING (prefix = NULLIF(current_setting('app.api_key_prefix', true), ''));

GRANT SELECT, INSERT, UPDATE, DELETE ON api_keys TO tenantry_service;
