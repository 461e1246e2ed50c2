-- Secrets at rest: each tenant's data key, wrapped (AES key wrap, base64) under a master key
-- that never reaches the database; kek_id names that master key. A platform table: a key
-- rotation re-wraps every tenant's key, and a row is useless without the master key.
CREATE TABLE tenant_keys (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    kek_id     text NOT NULL,
    wrapped    text NOT NULL,
    created_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX tenant_keys_by_kek ON tenant_keys (kek_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_keys TO tenantry_service;
