-- Sessions, TOTP, recovery codes, MFA tickets and the platform's data key (see the
-- PostgreSQL migration of the same name).
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
INSERT INTO sessions (id, user_id, method, created_at, last_used_at)
SELECT family, user_id, 'password', min(issued_at), max(issued_at)
FROM refresh_tokens GROUP BY family, user_id;

CREATE TABLE user_totp (
    user_id      TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    confirmed_at TEXT,
    last_step    BIGINT
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE mfa_tickets (
    digest     TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX mfa_tickets_expiry ON mfa_tickets (expires_at);

CREATE TABLE platform_keys (
    slot       INTEGER PRIMARY KEY NOT NULL CHECK (slot = 1),
    kek_id     TEXT NOT NULL,
    wrapped    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    rotated_at TEXT
);
