-- One key per person for the personal fields of append-only records (see the PostgreSQL
-- migration of the same name).
CREATE TABLE person_keys (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);
