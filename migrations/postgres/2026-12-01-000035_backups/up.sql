-- Per-tenant backups: operator's archives in the platform's store, each encrypted to an age
-- identity sealed under the tenant's data key (NULL: written unencrypted, as the operator
-- chose), kept for the plan's backup_retention_days.
CREATE TABLE backups (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    created_at timestamptz NOT NULL,
    size       bigint NOT NULL,
    sha256     text NOT NULL,
    row_count  bigint NOT NULL,
    file_count bigint NOT NULL,
    identity   text,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE backups ENABLE ROW LEVEL SECURITY;
ALTER TABLE backups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON backups
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON backups TO tenantry_service;

UPDATE plans SET features = (features::jsonb || jsonb_build_object('backup_retention_days',
    CASE code WHEN 'starter' THEN 7 WHEN 'professional' THEN 30 ELSE 90 END))::text
 WHERE code IN ('starter', 'professional', 'enterprise') AND NOT features::jsonb ? 'backup_retention_days';
