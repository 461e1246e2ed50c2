-- Usage metering (see the PostgreSQL migration of the same name).
CREATE TABLE billable_metrics (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    aggregation TEXT NOT NULL CHECK (aggregation IN ('count', 'unique_count', 'sum', 'max', 'latest')),
    field       TEXT,
    created_at  TEXT NOT NULL
);
INSERT INTO billable_metrics VALUES ('api_calls', 'API calls', 'sum', 'calls', strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'));

CREATE TABLE usage_events (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    metric         TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    day            TEXT NOT NULL,
    value          DOUBLE,
    unique_key     TEXT,
    properties     TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, transaction_id)
);
CREATE INDEX usage_events_by_metric ON usage_events (tenant_id, metric, occurred_at, day, value, unique_key);

-- A new permission, usage:write (reporting usage events), for owners and for admins who may
-- manage API keys (usage is usually reported by a machine).

UPDATE roles
SET permissions = permissions || ' usage:write'
WHERE (system_role = 'owner'
       OR (system_role = 'admin' AND ' ' || permissions || ' ' LIKE '% api_keys:manage %'))
  AND ' ' || permissions || ' ' NOT LIKE '% usage:write %';

