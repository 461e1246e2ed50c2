-- A tenant's data exports: each one a job that writes an archive of everything the tenant
-- owns into the platform's store, downloadable until it expires.
CREATE TABLE exports (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    -- queued, running, completed, failed, expired
    status        text NOT NULL,
    -- A JSON array of the age recipients the archive is encrypted to (public keys).
    recipients    text NOT NULL,
    requested_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    completed_at  timestamptz,
    expires_at    timestamptz,
    rows_written  bigint NOT NULL DEFAULT 0,
    files_written bigint NOT NULL DEFAULT 0,
    size          bigint,
    sha256        text,
    error         text,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE exports ENABLE ROW LEVEL SECURITY;
ALTER TABLE exports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exports
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON exports TO tenantry_service;

-- New permission: data:export, the owners' (their role holds every permission).
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = permissions || ' data:export'
WHERE system_role = 'owner'
  AND ' ' || permissions || ' ' NOT LIKE '% data:export %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
