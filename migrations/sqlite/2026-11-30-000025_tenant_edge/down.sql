UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' settings:manage ', ' '));
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' domains:manage ', ' '));

ALTER TABLE tenant_settings DROP COLUMN security;
ALTER TABLE tenant_settings DROP COLUMN time_zone;
ALTER TABLE tenant_settings DROP COLUMN locale;
ALTER TABLE tenant_settings DROP COLUMN support_url;

CREATE TABLE domains_old (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hostname    TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('subdomain', 'custom')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
    is_primary  BOOLEAN NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    verified_at TEXT
);
INSERT INTO domains_old
SELECT id, tenant_id, hostname, kind, status, is_primary, created_at, verified_at
FROM domains WHERE status = 'verified';
DROP TABLE domains;
ALTER TABLE domains_old RENAME TO domains;
CREATE INDEX domains_tenant ON domains (tenant_id, id);
CREATE UNIQUE INDEX domains_one_primary ON domains (tenant_id) WHERE is_primary;
