-- Usage metering: billable metrics (platform) and the usage events tenants report.
CREATE TABLE billable_metrics (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    aggregation text NOT NULL CHECK (aggregation IN ('count', 'unique_count', 'sum', 'max', 'latest')),
    field       text,
    created_at  timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON billable_metrics TO tenantry_service;
-- Counted by the server itself, in batches.
INSERT INTO billable_metrics VALUES ('api_calls', 'API calls', 'sum', 'calls', now());

-- One row per reported event, idempotent on the tenant's transaction id. What aggregation
-- reads is extracted on the way in: the numeric property (sum, max, latest) and the unique
-- one (unique_count), and the UTC day the event counts on.
CREATE TABLE usage_events (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    transaction_id text NOT NULL,
    metric         text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    day            text NOT NULL,
    value          double precision,
    unique_key     text,
    properties     text NOT NULL,
    received_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, transaction_id)
);
CREATE INDEX usage_events_by_metric ON usage_events (tenant_id, metric, occurred_at)
    INCLUDE (day, value, unique_key);
ALTER TABLE usage_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_events
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON usage_events TO tenantry_service;

-- A new permission, usage:write (reporting usage events), for owners and for admins who may
-- manage API keys (usage is usually reported by a machine).
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles
SET permissions = permissions || ' usage:write'
WHERE (system_role = 'owner'
       OR (system_role = 'admin' AND ' ' || permissions || ' ' LIKE '% api_keys:manage %'))
  AND ' ' || permissions || ' ' NOT LIKE '% usage:write %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
