-- Identity is platform data (see the PostgreSQL migration of the same name).
CREATE TABLE users (
    id               TEXT PRIMARY KEY NOT NULL,
    email            TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    display_name     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash    TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_login_at    TEXT
);

CREATE TABLE refresh_tokens (
    digest     TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family     TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    spent_at   TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE login_failures (
    id        TEXT PRIMARY KEY NOT NULL,
    email_key TEXT NOT NULL,
    ip        TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email_key, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE signing_keys (
    slot            INTEGER PRIMARY KEY NOT NULL CHECK (slot = 1),
    kid             TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
