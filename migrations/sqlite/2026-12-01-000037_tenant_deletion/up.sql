-- A tenant's deletion and the certificates of purged tenants (see the PostgreSQL migration
-- of the same name).
CREATE TABLE tenant_deletions (
    tenant_id    TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    requested_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    requested_at TEXT NOT NULL,
    purge_after  TEXT NOT NULL
);

CREATE TABLE purges (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    slug             TEXT NOT NULL,
    requested_by     TEXT,
    requested_at     TEXT NOT NULL,
    purged_at        TEXT NOT NULL,
    row_counts       TEXT NOT NULL,
    objects          INTEGER NOT NULL,
    accounts         INTEGER NOT NULL,
    certificate      TEXT NOT NULL
);
CREATE INDEX purges_purged_at ON purges (purged_at, id);
