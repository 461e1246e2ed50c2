-- SCIM 2.0 provisioning, per tenant: the directory's bearer tokens and its users.

-- A directory's token: the tenant is named in the token itself, so it is found inside that
-- tenant's scope by its secret's digest.
CREATE TABLE scim_tokens (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL,
    digest       text NOT NULL,
    default_role text NOT NULL,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, digest)
);

-- A user as the directory describes them; `user_id` is the Tenantry account it provisions
-- (none until an e-mail address is known).
CREATE TABLE scim_users (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    user_name      text NOT NULL,
    -- userName is case-insensitive (RFC 7643 §4.1.1): unique and filtered lower-cased.
    user_name_key  text NOT NULL,
    external_id    text,
    display_name   text,
    given_name     text,
    family_name    text,
    formatted_name text,
    -- The e-mail addresses as a JSON array of {value, type, primary}.
    emails         text NOT NULL,
    -- Unset: the directory did not say, which counts as active.
    active         boolean,
    user_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_name_key),
    UNIQUE (tenant_id, user_id)
);

ALTER TABLE scim_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE scim_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON scim_tokens
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE scim_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE scim_users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON scim_users
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON scim_tokens, scim_users TO tenantry_service;
