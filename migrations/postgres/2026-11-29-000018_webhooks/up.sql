-- Outgoing webhooks. A tenant's endpoints; the delivery queue (one row per event and
-- endpoint while it is owed); the log of every attempt.
CREATE TABLE webhook_endpoints (
    tenant_id                  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                         uuid NOT NULL,
    url                        text NOT NULL,
    description                text NOT NULL,
    -- The event types as given (JSON array; [] = every event) and, for the fan-out in the
    -- change's transaction, the same as ' type type.* ' ('' = every event).
    event_types                text NOT NULL,
    match_keys                 text NOT NULL,
    disabled_reason            text CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
    headers                    text NOT NULL,
    rate_limit                 integer CHECK (rate_limit > 0),
    -- Signing secrets, sealed with the tenant's data key (never readable from the database).
    secret                     text NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    secret_rotated_at          timestamptz,
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO tenantry_service;

-- The delivery queue: dispatchers claim across tenants (fairly), so a platform table like
-- jobs; a row holds ids and schedule, never tenant data. Written by the change pipeline in
-- the transaction of the change; a delivered row is deleted, a failed one kept (recover).
CREATE TABLE webhook_deliveries (
    tenant_id       uuid NOT NULL,
    endpoint_id     uuid NOT NULL,
    event_id        uuid NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'sending', 'failed')),
    trigger         text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_by       text,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_lease_end ON webhook_deliveries (state, locked_until);
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (tenant_id, endpoint_id, state, updated_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO tenantry_service;

-- Every attempt: what was sent where, and what came back.
CREATE TABLE webhook_attempts (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    endpoint_id   uuid NOT NULL,
    event_id      uuid NOT NULL,
    event_type    text NOT NULL,
    attempt       integer NOT NULL,
    trigger       text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    succeeded     boolean NOT NULL,
    status_code   integer,
    duration_ms   integer NOT NULL,
    response_body text,
    error         text,
    attempted_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (tenant_id, endpoint_id, id);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (tenant_id, event_id, id);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (tenant_id, attempted_at);
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON webhook_attempts TO tenantry_service;

-- A new permission, webhooks:manage, for every tenant's owner role and for admin roles that
-- may manage API keys (the same kind of integration power).
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles
SET permissions = permissions || ' webhooks:manage'
WHERE (system_role = 'owner'
       OR (system_role = 'admin' AND ' ' || permissions || ' ' LIKE '% api_keys:manage %'))
  AND ' ' || permissions || ' ' NOT LIKE '% webhooks:manage %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
