-- Plans (platform reference data), one subscription per tenant, and each tenant's quotas.
CREATE TABLE plans (
    code                text PRIMARY KEY,
    name                text NOT NULL,
    description         text NOT NULL,
    currency            text NOT NULL,
    price_monthly_minor bigint NOT NULL,
    price_yearly_minor  bigint NOT NULL,
    quotas              text NOT NULL,   -- JSON {resource: limit | null}
    requests_per_hour   bigint,
    features            text NOT NULL,   -- JSON {feature: true | false | number}
    trial_days          integer NOT NULL,
    public              boolean NOT NULL,
    is_default          boolean NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default;
GRANT SELECT, INSERT, UPDATE, DELETE ON plans TO tenantry_service;

INSERT INTO plans VALUES
 ('starter', 'Starter', 'For a small team getting started.', 'USD', 0, 0,
  '{"api_keys":2,"members":3,"products":100,"projects":3,"roles":2,"tasks":1000,"webhooks":0}', 100,
  '{"audit_retention_days":30,"custom_domains":false,"dedicated_storage":false,"ip_allowlist":false,"sso":false,"webhooks":false}',
  0, true, true, now(), now()),
 ('professional', 'Professional', 'For growing teams: integrations and your own domain.', 'USD', 4900, 49000,
  '{"api_keys":20,"members":25,"products":10000,"projects":100,"roles":10,"tasks":100000,"webhooks":10}', 1000,
  '{"audit_retention_days":365,"custom_domains":true,"dedicated_storage":false,"ip_allowlist":false,"sso":false,"webhooks":true}',
  14, true, false, now(), now()),
 ('enterprise', 'Enterprise', 'Everything, without limits: SSO, IP allowlists, dedicated storage.', 'USD', 49900, 499000,
  '{"api_keys":null,"members":null,"products":null,"projects":null,"roles":null,"tasks":null,"webhooks":null}', 10000,
  '{"audit_retention_days":2555,"custom_domains":true,"dedicated_storage":true,"ip_allowlist":true,"sso":true,"webhooks":true}',
  30, true, false, now(), now());

-- A platform table like `tenants`: the request gate reads it for every tenant, and the
-- schedule finds due transitions across tenants.
CREATE TABLE subscriptions (
    tenant_id            uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    plan                 text NOT NULL REFERENCES plans (code),
    status               text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    trial_ends_at        timestamptz,
    current_period_end   timestamptz,
    cancel_at_period_end boolean NOT NULL,
    past_due_since       timestamptz,
    canceled_at          timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX subscriptions_by_plan ON subscriptions (plan);
CREATE INDEX subscriptions_trials ON subscriptions (trial_ends_at) WHERE status = 'trialing';
CREATE INDEX subscriptions_period_ends ON subscriptions (current_period_end) WHERE cancel_at_period_end;
GRANT SELECT, INSERT, UPDATE, DELETE ON subscriptions TO tenantry_service;

-- Tenants that exist before plans keep everything they had: the unlimited plan, active.
INSERT INTO subscriptions
SELECT id, 'enterprise', 'active', NULL, NULL, false, NULL, NULL, now(), now() FROM tenants;

-- Limits (synced from the plan, or the operator's) and usage, counted by the change pipeline
-- in the transaction of each change.
CREATE TABLE tenant_quotas (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    resource    text NOT NULL,
    limit_value bigint,
    used        bigint NOT NULL,
    overridden  boolean NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, resource)
);
ALTER TABLE tenant_quotas ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_quotas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_quotas
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_quotas TO tenantry_service;

-- Usage so far, tenant by tenant (row-level security applies to this migration too).
DO $$
DECLARE t uuid;
BEGIN
    FOR t IN SELECT id FROM tenants LOOP
        PERFORM set_config('app.tenant_id', t::text, true);
        INSERT INTO tenant_quotas (tenant_id, resource, limit_value, used, overridden, updated_at)
        SELECT t, r, NULL, n, false, now() FROM (VALUES
            ('members',  (SELECT count(*) FROM memberships WHERE tenant_id = t)),
            ('roles',    (SELECT count(*) FROM roles WHERE tenant_id = t AND system_role IS NULL)),
            ('api_keys', (SELECT count(*) FROM api_keys WHERE tenant_id = t AND revoked_at IS NULL)),
            ('products', (SELECT count(*) FROM products WHERE tenant_id = t)),
            ('projects', (SELECT count(*) FROM projects WHERE tenant_id = t)),
            ('tasks',    (SELECT count(*) FROM tasks WHERE tenant_id = t)),
            ('webhooks', (SELECT count(*) FROM webhook_endpoints WHERE tenant_id = t))
        ) AS usage (r, n);
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;

-- New permissions: billing:read (the plan, subscription and quotas) for every system role,
-- billing:manage (changing plans) for owners and for admins who may manage members.
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles
SET permissions = permissions || ' billing:read'
WHERE system_role IS NOT NULL AND ' ' || permissions || ' ' NOT LIKE '% billing:read %';
UPDATE roles
SET permissions = permissions || ' billing:manage'
WHERE (system_role = 'owner'
       OR (system_role = 'admin' AND ' ' || permissions || ' ' LIKE '% members:manage %'))
  AND ' ' || permissions || ' ' NOT LIKE '% billing:manage %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
