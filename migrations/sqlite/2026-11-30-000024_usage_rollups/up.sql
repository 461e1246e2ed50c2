-- Usage rolled up as it is ingested (see the PostgreSQL migration of the same name).
CREATE TABLE usage_rollups (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    day       TEXT NOT NULL,
    shard     SMALLINT NOT NULL,
    events    BIGINT NOT NULL,
    total     DOUBLE,
    maximum   DOUBLE,
    latest_at TEXT NOT NULL,
    latest_id TEXT NOT NULL,
    latest    DOUBLE,
    PRIMARY KEY (tenant_id, metric, day, shard)
);

CREATE TABLE usage_uniques (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    metric     TEXT NOT NULL,
    period     TEXT NOT NULL,
    unique_key TEXT NOT NULL,
    PRIMARY KEY (tenant_id, metric, period, unique_key)
);

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
