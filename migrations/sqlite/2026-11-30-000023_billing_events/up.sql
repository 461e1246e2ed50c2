-- Events received from billing providers (see the PostgreSQL migration of the same name).
CREATE TABLE billing_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    tenant_id   TEXT REFERENCES tenants (id) ON DELETE SET NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX billing_events_by_tenant ON billing_events (tenant_id, received_at);
