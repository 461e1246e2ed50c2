-- The event backbone (see the PostgreSQL migration of the same name).
CREATE TABLE events (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_by_type ON events (tenant_id, type, id);
CREATE INDEX events_by_time ON events (tenant_id, occurred_at);

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    tenant_id    TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'dead')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    run_at       TEXT NOT NULL,
    locked_by    TEXT,
    locked_until TEXT,
    last_error   TEXT,
    dedupe_key   TEXT UNIQUE,
    created_at   TEXT NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_by_tenant ON jobs (tenant_id) WHERE tenant_id IS NOT NULL;

ALTER TABLE invitations ADD COLUMN delivery TEXT NOT NULL DEFAULT 'sent'
    CHECK (delivery IN ('pending', 'sent', 'failed'));
