-- Per-tenant backups (see the PostgreSQL migration of the same name).
CREATE TABLE backups (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    created_at TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    row_count  BIGINT NOT NULL,
    file_count BIGINT NOT NULL,
    identity   TEXT,
    PRIMARY KEY (tenant_id, id)
);

UPDATE plans SET features = json_set(features, '$.backup_retention_days',
    CASE code WHEN 'starter' THEN 7 WHEN 'professional' THEN 30 ELSE 90 END)
 WHERE code IN ('starter', 'professional', 'enterprise') AND json_type(features, '$.backup_retention_days') IS NULL;
