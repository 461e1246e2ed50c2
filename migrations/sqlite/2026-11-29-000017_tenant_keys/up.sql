-- Secrets at rest (see the PostgreSQL migration of the same name).
CREATE TABLE tenant_keys (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    kek_id     TEXT NOT NULL,
    wrapped    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    rotated_at TEXT
);
CREATE INDEX tenant_keys_by_kek ON tenant_keys (kek_id);
