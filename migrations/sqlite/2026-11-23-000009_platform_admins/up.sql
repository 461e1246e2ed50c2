-- The operator's own staff (see the PostgreSQL migration of the same name).
CREATE TABLE platform_admins (
    user_id    TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
