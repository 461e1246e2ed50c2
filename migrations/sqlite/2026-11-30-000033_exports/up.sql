-- A tenant's data exports (see the PostgreSQL migration of the same name).
CREATE TABLE exports (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    status        TEXT NOT NULL,
    recipients    TEXT NOT NULL,
    requested_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    completed_at  TEXT,
    expires_at    TEXT,
    rows_written  BIGINT NOT NULL DEFAULT 0,
    files_written BIGINT NOT NULL DEFAULT 0,
    size          BIGINT,
    sha256        TEXT,
    error         TEXT,
    PRIMARY KEY (tenant_id, id)
);

-- New permission: data:export, the owners' (their role holds every permission).
UPDATE roles SET permissions = permissions || ' data:export'
WHERE system_role = 'owner'
  AND ' ' || permissions || ' ' NOT LIKE '% data:export %';
