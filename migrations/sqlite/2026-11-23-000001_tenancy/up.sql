-- Ids are hyphenated uuid text; timestamps are RFC 3339 text (diesel's TimestamptzSqlite).
CREATE TABLE tenants (
    id                  TEXT PRIMARY KEY NOT NULL,
    slug                TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    maintenance         BOOLEAN NOT NULL DEFAULT 0,
    maintenance_message TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX tenants_status_id ON tenants (status, id);

CREATE TABLE domains (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hostname    TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('subdomain', 'custom')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'verified')),
    is_primary  BOOLEAN NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    verified_at TEXT
);
CREATE INDEX domains_tenant ON domains (tenant_id, id);
CREATE UNIQUE INDEX domains_one_primary ON domains (tenant_id) WHERE is_primary;

CREATE TABLE tenant_settings (
    tenant_id     TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name  TEXT,
    logo_url      TEXT,
    primary_color TEXT,
    support_email TEXT,
    updated_at    TEXT NOT NULL
);
