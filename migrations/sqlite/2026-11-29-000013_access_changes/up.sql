-- Access that ends must end on every instance at once. A second counter beside the tenancy
-- one moves in every transaction that revokes sessions or changes what a member may do;
-- each instance polls it and then drops its membership cache and reads the sessions
-- revoked since its last look (the index below keeps that read small).
ALTER TABLE platform_changes ADD COLUMN access_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX refresh_tokens_revoked_at ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
