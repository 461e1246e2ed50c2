-- Single sign-on over OpenID Connect, per tenant.
CREATE TABLE sso_providers (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    name            text NOT NULL,
    issuer          text NOT NULL,
    client_id       text NOT NULL,
    -- Sealed with the tenant's data key, bound to this row.
    client_secret   text NOT NULL,
    -- Space-separated lists (none of their items has a space).
    scopes          text NOT NULL,
    allowed_domains text NOT NULL,
    redirect_uris   text NOT NULL,
    default_role    text NOT NULL,
    jit             boolean NOT NULL,
    enforce         boolean NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE sso_providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_providers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_providers
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON sso_providers TO tenantry_service;

-- A sign-in between authorize and callback: found by its state's digest before any tenant is
-- known (the browser comes back to one callback for every tenant), spent once, minutes long.
CREATE TABLE sso_logins (
    state_digest  text PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider_id   uuid NOT NULL,
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    redirect_uri  text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX sso_logins_expiry ON sso_logins (expires_at);

-- The one-time codes a client exchanges for a session (a minute long, spent once).
CREATE TABLE sso_codes (
    digest     text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX sso_codes_expiry ON sso_codes (expires_at);

-- Which provider identity (issuer, subject) is which person.
CREATE TABLE user_identities (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- An SSO session keeps its tenant through refreshes.
ALTER TABLE sessions ADD COLUMN sso_tenant_id uuid;

GRANT SELECT, INSERT, UPDATE, DELETE ON sso_logins, sso_codes, user_identities TO tenantry_service;

-- sso:manage for owners and admins.
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles
SET permissions = permissions || ' sso:manage'
WHERE system_role IN ('owner', 'admin') AND ' ' || permissions || ' ' NOT LIKE '% sso:manage %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
