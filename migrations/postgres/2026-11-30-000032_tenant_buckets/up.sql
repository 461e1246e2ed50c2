-- Tenants' own buckets (plan feature dedicated_storage). Each save is a new record that
-- becomes the current one; a retired record stays while files still live in it.
CREATE TABLE tenant_buckets (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    endpoint      text,
    region        text NOT NULL,
    bucket        text NOT NULL,
    access_key_id text NOT NULL,
    -- Sealed with the tenant's data key.
    secret        text NOT NULL,
    is_current    boolean NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_buckets_one_current ON tenant_buckets (tenant_id) WHERE is_current;
ALTER TABLE tenant_buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_buckets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_buckets
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_buckets TO tenantry_service;

-- Where each file's content is: NULL for the platform's store.
ALTER TABLE files ADD COLUMN location uuid;
ALTER TABLE files ADD FOREIGN KEY (tenant_id, location) REFERENCES tenant_buckets (tenant_id, id);
CREATE INDEX files_by_location ON files (tenant_id, location);
