-- Usage rolled up as it is ingested, in the same transaction, so an aggregation reads days
-- rather than events.
--
-- usage_rollups: per tenant, metric and UTC day, what count, sum, max and latest need. Each
-- day is split over a few shards (a batch picks one) so concurrent batches of one tenant do
-- not queue on one row; readers add the shards up.
CREATE TABLE usage_rollups (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric    text NOT NULL,
    day       text NOT NULL,
    shard     smallint NOT NULL,
    events    bigint NOT NULL,
    total     double precision,
    maximum   double precision,
    -- The newest event (by time, then transaction id) and its value.
    latest_at timestamptz NOT NULL,
    latest_id text NOT NULL,
    latest    double precision,
    PRIMARY KEY (tenant_id, metric, day, shard)
);

-- usage_uniques: each distinct value a unique count reads, once per day (`YYYY-MM-DD`) and
-- once per month (`YYYY-MM`).
CREATE TABLE usage_uniques (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric     text NOT NULL,
    period     text NOT NULL,
    unique_key text NOT NULL,
    PRIMARY KEY (tenant_id, metric, period, unique_key)
);

-- What was ingested before, rolled up once (as the owner, who reads every tenant's events).
ALTER TABLE usage_events NO FORCE ROW LEVEL SECURITY;
INSERT INTO usage_rollups (tenant_id, metric, day, shard, events, total, maximum, latest_at,
                           latest_id, latest)
SELECT tenant_id, metric, day, 0, n, total, maximum, occurred_at, transaction_id, value
FROM (SELECT tenant_id, metric, day, occurred_at, transaction_id, value,
             COUNT(*) OVER w AS n, SUM(value) OVER w AS total, MAX(value) OVER w AS maximum,
             ROW_NUMBER() OVER (PARTITION BY tenant_id, metric, day
                                ORDER BY occurred_at DESC, transaction_id DESC) AS rn
      FROM usage_events
      WINDOW w AS (PARTITION BY tenant_id, metric, day)) e
WHERE rn = 1;
INSERT INTO usage_uniques (tenant_id, metric, period, unique_key)
SELECT DISTINCT tenant_id, metric, day, unique_key FROM usage_events WHERE unique_key IS NOT NULL
UNION
SELECT DISTINCT tenant_id, metric, substr(day, 1, 7), unique_key FROM usage_events
WHERE unique_key IS NOT NULL;
ALTER TABLE usage_events FORCE ROW LEVEL SECURITY;

ALTER TABLE usage_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_rollups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_rollups
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON usage_rollups TO tenantry_service;

ALTER TABLE usage_uniques ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_uniques FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_uniques
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON usage_uniques TO tenantry_service;
