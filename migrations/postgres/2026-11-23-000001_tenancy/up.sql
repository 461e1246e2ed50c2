-- The service connects as `tenantry_service` (a login role, or a group its login role is in):
-- a plain role that owns nothing, so row-level security applies to it. Migrations run as the
-- owner. Creating the role here needs CREATEROLE; create it beforehand otherwise.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenantry_service') THEN
        CREATE ROLE tenantry_service NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO tenantry_service;
GRANT SELECT ON __diesel_schema_migrations TO tenantry_service;

-- Platform tables: read before a tenant is known (resolution), so not tenant-owned.
CREATE TABLE tenants (
    id                  uuid PRIMARY KEY,
    slug                text NOT NULL UNIQUE,
    name                text NOT NULL,
    status              text NOT NULL CHECK (status IN ('active', 'suspended')),
    maintenance         boolean NOT NULL DEFAULT false,
    maintenance_message text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX tenants_status_id ON tenants (status, id);

CREATE TABLE domains (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hostname    text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('subdomain', 'custom')),
    status      text NOT NULL CHECK (status IN ('pending', 'verified')),
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    verified_at timestamptz
);
CREATE INDEX domains_tenant ON domains (tenant_id, id);
CREATE UNIQUE INDEX domains_one_primary ON domains (tenant_id) WHERE is_primary;

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, domains TO tenantry_service;

-- Tenant-owned: keyed by tenant_id and visible only inside that tenant's transaction.
CREATE TABLE tenant_settings (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    display_name  text,
    logo_url      text,
    primary_color text,
    support_email text,
    updated_at    timestamptz NOT NULL
);

ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_settings TO tenantry_service;
