-- A tenant's own mail server: its mail goes there instead of the platform's.
CREATE TABLE tenant_smtp (
    tenant_id    uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    host         text NOT NULL,
    port         integer NOT NULL,
    tls          text NOT NULL,
    username     text,
    -- Sealed with the tenant's data key, bound to this row.
    password     text,
    from_address text NOT NULL,
    from_name    text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
ALTER TABLE tenant_smtp ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_smtp FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_smtp
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_smtp TO tenantry_service;
