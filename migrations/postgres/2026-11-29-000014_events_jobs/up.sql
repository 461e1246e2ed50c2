-- The event backbone. Every change the mutation pipeline records is also an event, written
-- in the same transaction: the tenant's pull API and (later) webhooks read them here.
CREATE TABLE events (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    -- The whole event as consumers receive it (JSON).
    payload     text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_by_type ON events (tenant_id, type, id);
CREATE INDEX events_by_time ON events (tenant_id, occurred_at);

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
-- Events are never edited; retention deletes them.
GRANT SELECT, INSERT, DELETE ON events TO tenantry_service;

-- The job queue: side effects run after the commit that asked for them, by any worker of
-- any instance. A platform table: workers claim across tenants; a row names ids, never
-- tenant data, and a tenant job runs under its tenant's scope. Succeeded jobs are deleted.
CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
    payload      text NOT NULL,
    state        text NOT NULL CHECK (state IN ('queued', 'running', 'dead')),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    run_at       timestamptz NOT NULL,
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    dedupe_key   text UNIQUE,
    created_at   timestamptz NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_by_tenant ON jobs (tenant_id) WHERE tenant_id IS NOT NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO tenantry_service;

-- Invitation e-mail goes out from a job: where its delivery stands.
ALTER TABLE invitations ADD COLUMN delivery text NOT NULL DEFAULT 'sent'
    CHECK (delivery IN ('pending', 'sent', 'failed'));
