-- A tenant's deletion, requested by an owner: the tenant is suspended at once and purged when
-- the grace period ends, unless the owner or the operator cancels first. One per tenant.
CREATE TABLE tenant_deletions (
    tenant_id    uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    requested_by uuid REFERENCES users (id) ON DELETE SET NULL,
    requested_at timestamptz NOT NULL,
    purge_after  timestamptz NOT NULL
);
ALTER TABLE tenant_deletions ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_deletions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_deletions
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_deletions TO tenantry_service;

-- What stays of a purged tenant: its certificate (a platform record; the tenant is gone, so
-- no foreign key). `certificate` is the signed statement (a JWS), `row_counts` its rows
-- per table as JSON.
CREATE TABLE purges (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    slug             text NOT NULL,
    requested_by     uuid,
    requested_at     timestamptz NOT NULL,
    purged_at        timestamptz NOT NULL,
    row_counts       text NOT NULL,
    objects          bigint NOT NULL,
    accounts         bigint NOT NULL,
    certificate      text NOT NULL
);
CREATE INDEX purges_purged_at ON purges (purged_at, id);
GRANT SELECT, INSERT ON purges TO tenantry_service;
