-- Keys of e-mail addresses (see the PostgreSQL migration of the same name).
CREATE TABLE address_keys (
    id               TEXT PRIMARY KEY,
    email_normalized TEXT NOT NULL,
    sealed_key       TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX address_keys_email ON address_keys (email_normalized, created_at);
