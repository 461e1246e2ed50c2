-- Invitations are tenant-owned. Before any tenant is known (the invitee follows a link), a
-- transaction that sets app.invitation_digest sees exactly the invitation with that digest.
CREATE TABLE invitations (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    email        text NOT NULL,
    email_normalized text NOT NULL,
    role_id      uuid NOT NULL,
    invited_by   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_digest text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX invitations_token ON invitations (tenant_id, token_digest);
CREATE INDEX invitations_digest ON invitations (token_digest);
CREATE INDEX invitations_email ON invitations (tenant_id, email_normalized);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY by_token ON invitations FOR SELECT
    USING (token_digest = NULLIF(current_setting('app.invitation_digest', true), ''));

GRANT SELECT, INSERT, UPDATE, DELETE ON invitations TO tenantry_service;
