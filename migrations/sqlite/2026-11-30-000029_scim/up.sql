-- SCIM 2.0 provisioning (see the PostgreSQL migration of the same name).
CREATE TABLE scim_tokens (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL,
    default_role TEXT NOT NULL,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, digest)
);

CREATE TABLE scim_users (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    user_name_key  TEXT NOT NULL,
    external_id    TEXT,
    display_name   TEXT,
    given_name     TEXT,
    family_name    TEXT,
    formatted_name TEXT,
    emails         TEXT NOT NULL,
    active         BOOLEAN,
    user_id        TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, user_name_key),
    UNIQUE (tenant_id, user_id)
);
