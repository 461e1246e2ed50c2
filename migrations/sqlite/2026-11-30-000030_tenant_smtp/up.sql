-- A tenant's own mail server (see the PostgreSQL migration of the same name).
CREATE TABLE tenant_smtp (
    tenant_id    TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    tls          TEXT NOT NULL,
    username     TEXT,
    password     TEXT,
    from_address TEXT NOT NULL,
    from_name    TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
