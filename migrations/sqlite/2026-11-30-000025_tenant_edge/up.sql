-- Custom domains verified by their owners over DNS (see the PostgreSQL migration). SQLite
-- cannot drop a column's UNIQUE constraint: the table is rebuilt (nothing references it).
CREATE TABLE domains_new (
    id                 TEXT PRIMARY KEY NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hostname           TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('subdomain', 'custom')),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'failed')),
    is_primary         BOOLEAN NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    verified_at        TEXT,
    verification_token TEXT,
    pending_since      TEXT,
    next_check_at      TEXT,
    last_checked_at    TEXT,
    check_error        TEXT,
    lost_at            TEXT,
    cname_target       TEXT,
    revision           BIGINT NOT NULL DEFAULT 0
);
INSERT INTO domains_new (id, tenant_id, hostname, kind, status, is_primary, created_at,
                         verified_at, pending_since)
SELECT id, tenant_id, hostname, kind, status, is_primary, created_at, verified_at,
       CASE WHEN status = 'pending' THEN created_at END
FROM domains;
DROP TABLE domains;
ALTER TABLE domains_new RENAME TO domains;
CREATE INDEX domains_tenant ON domains (tenant_id, id);
CREATE UNIQUE INDEX domains_one_primary ON domains (tenant_id) WHERE is_primary;
CREATE UNIQUE INDEX domains_tenant_hostname ON domains (tenant_id, hostname);
CREATE UNIQUE INDEX domains_verified_hostname ON domains (hostname) WHERE status = 'verified';
CREATE INDEX domains_due ON domains (next_check_at) WHERE next_check_at IS NOT NULL;

ALTER TABLE tenant_settings ADD COLUMN support_url TEXT;
ALTER TABLE tenant_settings ADD COLUMN locale TEXT;
ALTER TABLE tenant_settings ADD COLUMN time_zone TEXT;
ALTER TABLE tenant_settings ADD COLUMN security TEXT NOT NULL DEFAULT '{}';

UPDATE roles
SET permissions = permissions || ' settings:manage'
WHERE system_role IN ('owner', 'admin') AND ' ' || permissions || ' ' NOT LIKE '% settings:manage %';
UPDATE roles
SET permissions = permissions || ' domains:manage'
WHERE system_role IN ('owner', 'admin') AND ' ' || permissions || ' ' NOT LIKE '% domains:manage %';
