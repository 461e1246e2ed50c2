-- Tenants' own buckets (see the PostgreSQL migration of the same name).
CREATE TABLE tenant_buckets (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    endpoint      TEXT,
    region        TEXT NOT NULL,
    bucket        TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    secret        TEXT NOT NULL,
    is_current    BOOLEAN NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_buckets_one_current ON tenant_buckets (tenant_id) WHERE is_current;

-- (SQLite cannot add a two-column foreign key to an existing table: PostgreSQL keeps it.)
ALTER TABLE files ADD COLUMN location TEXT;
CREATE INDEX files_by_location ON files (tenant_id, location);
