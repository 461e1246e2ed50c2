-- Identity is platform data: one person, many tenants. Reads are by e-mail (login), by id
-- (token subject) or by token digest, never across tenants' data.
CREATE TABLE users (
    id               uuid PRIMARY KEY,
    email            text NOT NULL,
    email_normalized text NOT NULL UNIQUE,
    display_name     text NOT NULL,
    status           text NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash    text NOT NULL,
    created_at       timestamptz NOT NULL,
    last_login_at    timestamptz
);

-- Refresh tokens, stored as SHA-256 digests. A family is the chain descending from one login.
CREATE TABLE refresh_tokens (
    digest     text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family     uuid NOT NULL,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed logins, for the per-account and per-address throttles.
CREATE TABLE login_failures (
    id        uuid PRIMARY KEY,
    email_key text NOT NULL,
    ip        text,
    at        timestamptz NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email_key, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- The key that signs access tokens, shared by every instance.
CREATE TABLE signing_keys (
    -- One key in use: instances starting together race for this one row, and all use the
    -- winner's key.
    slot            integer PRIMARY KEY CHECK (slot = 1),
    kid             text NOT NULL,
    private_key_pem text NOT NULL,
    created_at      timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON users, refresh_tokens, login_failures TO tenantry_service;
GRANT SELECT, INSERT ON signing_keys TO tenantry_service;
