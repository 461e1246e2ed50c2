-- Outgoing webhooks (see the PostgreSQL migration of the same name).
CREATE TABLE webhook_endpoints (
    tenant_id                  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                         TEXT NOT NULL,
    url                        TEXT NOT NULL,
    description                TEXT NOT NULL,
    event_types                TEXT NOT NULL,
    match_keys                 TEXT NOT NULL,
    disabled_reason            TEXT CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
    headers                    TEXT NOT NULL,
    rate_limit                 INTEGER CHECK (rate_limit > 0),
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at TEXT,
    secret_rotated_at          TEXT,
    failing_since              TEXT,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id       TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'failed')),
    trigger         TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_lease_end ON webhook_deliveries (state, locked_until);
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (tenant_id, endpoint_id, state, updated_at);

CREATE TABLE webhook_attempts (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    endpoint_id   TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    trigger       TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    succeeded     BOOLEAN NOT NULL,
    status_code   INTEGER,
    duration_ms   INTEGER NOT NULL,
    response_body TEXT,
    error         TEXT,
    attempted_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (tenant_id, endpoint_id, id);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (tenant_id, event_id, id);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (tenant_id, attempted_at);

UPDATE roles
SET permissions = permissions || ' webhooks:manage'
WHERE (system_role = 'owner'
       OR (system_role = 'admin' AND ' ' || permissions || ' ' LIKE '% api_keys:manage %'))
  AND ' ' || permissions || ' ' NOT LIKE '% webhooks:manage %';
