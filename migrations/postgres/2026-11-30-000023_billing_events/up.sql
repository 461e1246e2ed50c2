-- Events received from billing providers (Stripe): each applied once, by the provider's id.
CREATE TABLE billing_events (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    tenant_id   uuid REFERENCES tenants (id) ON DELETE SET NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX billing_events_by_tenant ON billing_events (tenant_id, received_at);
GRANT SELECT, INSERT, DELETE ON billing_events TO tenantry_service;
