-- See the PostgreSQL migration of the same name. SQLite cannot change a column: the table
-- is rebuilt with invited_by nullable and ON DELETE SET NULL.
CREATE TABLE invitations_rebuilt (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    email        TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    role_id      TEXT NOT NULL,
    invited_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    token_digest TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    accepted_at  TEXT,
    revoked_at   TEXT,
    delivery     TEXT NOT NULL DEFAULT 'sent',
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO invitations_rebuilt (tenant_id, id, email, email_normalized, role_id, invited_by,
    token_digest, created_at, expires_at, accepted_at, revoked_at, delivery)
SELECT tenant_id, id, email, email_normalized, role_id, invited_by, token_digest, created_at,
    expires_at, accepted_at, revoked_at, delivery FROM invitations ;
DROP TABLE invitations;
ALTER TABLE invitations_rebuilt RENAME TO invitations;
CREATE UNIQUE INDEX invitations_token ON invitations (tenant_id, token_digest);
CREATE INDEX invitations_digest ON invitations (token_digest);
CREATE INDEX invitations_email ON invitations (tenant_id, email_normalized);
