-- Single sign-on over OpenID Connect (see the PostgreSQL migration of the same name).
CREATE TABLE sso_providers (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    client_secret   TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    allowed_domains TEXT NOT NULL,
    redirect_uris   TEXT NOT NULL,
    default_role    TEXT NOT NULL,
    jit             BOOLEAN NOT NULL,
    enforce         BOOLEAN NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE sso_logins (
    state_digest  TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider_id   TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT
);
CREATE INDEX sso_logins_expiry ON sso_logins (expires_at);

CREATE TABLE sso_codes (
    digest     TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX sso_codes_expiry ON sso_codes (expires_at);

CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

ALTER TABLE sessions ADD COLUMN sso_tenant_id TEXT;

UPDATE roles
SET permissions = permissions || ' sso:manage'
WHERE system_role IN ('owner', 'admin') AND ' ' || permissions || ' ' NOT LIKE '% sso:manage %';
