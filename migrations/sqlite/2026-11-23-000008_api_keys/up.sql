-- API keys are tenant-owned (see the PostgreSQL migration of the same name).
CREATE TABLE api_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    secret_digest TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    created_by    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    expires_at    TEXT,
    revoked_at    TEXT,
    PRIMARY KEY (tenant_id, id),
    -- Tenant-led like every key of a tenant-owned table; the prefix alone (71 random bits)
    -- finds a key through the plain index below.
    UNIQUE (tenant_id, prefix)
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);
