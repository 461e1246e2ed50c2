-- Plans, subscriptions and quotas (see the PostgreSQL migration of the same name).
CREATE TABLE plans (
    code                TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    currency            TEXT NOT NULL,
    price_monthly_minor BIGINT NOT NULL,
    price_yearly_minor  BIGINT NOT NULL,
    quotas              TEXT NOT NULL,
    requests_per_hour   BIGINT,
    features            TEXT NOT NULL,
    trial_days          INTEGER NOT NULL,
    public              BOOLEAN NOT NULL,
    is_default          BOOLEAN NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default;

INSERT INTO plans VALUES
 ('starter', 'Starter', 'For a small team getting started.', 'USD', 0, 0,
  '{"api_keys":2,"members":3,"products":100,"projects":3,"roles":2,"tasks":1000,"webhooks":0}', 100,
  '{"audit_retention_days":30,"custom_domains":false,"dedicated_storage":false,"ip_allowlist":false,"sso":false,"webhooks":false}',
  0, 1, 1, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
 ('professional', 'Professional', 'For growing teams: integrations and your own domain.', 'USD', 4900, 49000,
  '{"api_keys":20,"members":25,"products":10000,"projects":100,"roles":10,"tasks":100000,"webhooks":10}', 1000,
  '{"audit_retention_days":365,"custom_domains":true,"dedicated_storage":false,"ip_allowlist":false,"sso":false,"webhooks":true}',
  14, 1, 0, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')),
 ('enterprise', 'Enterprise', 'Everything, without limits: SSO, IP allowlists, dedicated storage.', 'USD', 49900, 499000,
  '{"api_keys":null,"members":null,"products":null,"projects":null,"roles":null,"tasks":null,"webhooks":null}', 10000,
  '{"audit_retention_days":2555,"custom_domains":true,"dedicated_storage":true,"ip_allowlist":true,"sso":true,"webhooks":true}',
  30, 1, 0, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'));

CREATE TABLE subscriptions (
    tenant_id            TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    plan                 TEXT NOT NULL REFERENCES plans (code),
    status               TEXT NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    trial_ends_at        TEXT,
    current_period_end   TEXT,
    cancel_at_period_end BOOLEAN NOT NULL,
    past_due_since       TEXT,
    canceled_at          TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX subscriptions_by_plan ON subscriptions (plan);
CREATE INDEX subscriptions_trials ON subscriptions (trial_ends_at) WHERE status = 'trialing';
CREATE INDEX subscriptions_period_ends ON subscriptions (current_period_end) WHERE cancel_at_period_end;

INSERT INTO subscriptions
SELECT id, 'enterprise', 'active', NULL, NULL, 0, NULL, NULL,
       strftime('%Y-%m-%d %H:%M:%f+00:00', 'now'), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
FROM tenants;

CREATE TABLE tenant_quotas (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    resource    TEXT NOT NULL,
    limit_value BIGINT,
    used        BIGINT NOT NULL,
    overridden  BOOLEAN NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, resource)
);

INSERT INTO tenant_quotas (tenant_id, resource, limit_value, used, overridden, updated_at)
SELECT t.id, u.r, NULL, u.n, 0, strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
FROM tenants t JOIN (
    SELECT tenant_id, 'members' AS r, count(*) AS n FROM memberships GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'roles', count(*) FROM roles WHERE system_role IS NULL GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'api_keys', count(*) FROM api_keys WHERE revoked_at IS NULL GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'products', count(*) FROM products GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'projects', count(*) FROM projects GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'tasks', count(*) FROM tasks GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'webhooks', count(*) FROM webhook_endpoints GROUP BY tenant_id
) u ON u.tenant_id = t.id;

-- New permissions: billing:read (the plan, subscription and quotas) for every system role,
-- billing:manage (changing plans) for owners and for admins who may manage members.

UPDATE roles
SET permissions = permissions || ' billing:read'
WHERE system_role IS NOT NULL AND ' ' || permissions || ' ' NOT LIKE '% billing:read %';
UPDATE roles
SET permissions = permissions || ' billing:manage'
WHERE (system_role = 'owner'
       OR (system_role = 'admin' AND ' ' || permissions || ' ' LIKE '% members:manage %'))
  AND ' ' || permissions || ' ' NOT LIKE '% billing:manage %';

