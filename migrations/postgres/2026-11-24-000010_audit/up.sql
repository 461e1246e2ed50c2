-- The audit trail: one hash chain per tenant, appended by the mutation pipeline in the
-- transaction of the change. audit_heads holds each chain's end; appends lock that row.
CREATE TABLE audit_heads (
    tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    seq       bigint NOT NULL,
    hash      text NOT NULL
);

CREATE TABLE audit_entries (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    id          uuid NOT NULL,
    at          timestamptz NOT NULL,
    actor_type  text NOT NULL,
    actor_id    uuid,
    api_key_id  uuid,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    action      text NOT NULL,
    changes     text NOT NULL,
    request_id  text,
    ip          text,
    user_agent  text,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (tenant_id, id)
);
-- The list's filters, each newest first.
CREATE INDEX audit_entries_entity ON audit_entries (tenant_id, entity_type, entity_id, seq);
CREATE INDEX audit_entries_actor ON audit_entries (tenant_id, actor_id, seq);
CREATE INDEX audit_entries_action ON audit_entries (tenant_id, action, seq);
CREATE INDEX audit_entries_at ON audit_entries (tenant_id, at);

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE audit_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_entries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Append-only: the service may read and add entries, never change or remove them.
GRANT SELECT, INSERT, UPDATE ON audit_heads TO tenantry_service;
GRANT SELECT, INSERT ON audit_entries TO tenantry_service;

-- Account-level security events (no tenant): a platform table, append-only as well.
CREATE TABLE security_events (
    id         uuid PRIMARY KEY,
    at         timestamptz NOT NULL,
    kind       text NOT NULL,
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    email      text,
    ip         text,
    user_agent text
);
CREATE INDEX security_events_user ON security_events (user_id, id);
GRANT SELECT, INSERT ON security_events TO tenantry_service;
