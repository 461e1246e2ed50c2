-- Sessions as their owners see them: one row per login (a refresh-token family), with where
-- and how it started and when it was last refreshed. Whether it is live is the refresh
-- tokens' answer (a live, unspent token in the family).
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- How the session started: password, mfa (password and a second factor), sign_up.
    method       text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    ip           text,
    user_agent   text
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
-- The sessions open before this table existed.
INSERT INTO sessions (id, user_id, method, created_at, last_used_at)
SELECT family, user_id, 'password', min(issued_at), max(issued_at)
FROM refresh_tokens GROUP BY family, user_id;

-- TOTP (RFC 6238): the secret sealed with the platform's data key, pending until a first code
-- confirms it; the last time step accepted, so that a code works once.
CREATE TABLE user_totp (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       text NOT NULL,
    created_at   timestamptz NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint
);

-- One-time recovery codes, stored as SHA-256 digests (each is 80 random bits).
CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest     text NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, digest)
);

-- The short-lived ticket a password login with MFA on gets instead of a session.
CREATE TABLE mfa_tickets (
    digest     text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX mfa_tickets_expiry ON mfa_tickets (expires_at);

-- The platform's own data key (secrets that belong to no tenant: users' TOTP secrets),
-- wrapped under a master key like the tenants' keys.
CREATE TABLE platform_keys (
    slot       integer PRIMARY KEY CHECK (slot = 1),
    kek_id     text NOT NULL,
    wrapped    text NOT NULL,
    created_at timestamptz NOT NULL,
    rotated_at timestamptz
);

GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, user_totp, recovery_codes, mfa_tickets,
    platform_keys TO tenantry_service;
