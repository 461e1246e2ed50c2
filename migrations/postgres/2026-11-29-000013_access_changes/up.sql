-- Access that ends must end on every instance at once. A second counter beside the tenancy
-- one moves in every transaction that revokes sessions or changes what a member may do;
-- each instance polls it, then drops its membership cache and reads the sessions revoked
-- since the counter value it last saw. A revocation stamps its tokens with the counter value
-- its transaction set: the counter's row lock orders those values as the commits, so a
-- reader that saw value v has seen every revocation stamped v or lower.
ALTER TABLE platform_changes ADD COLUMN access_version bigint NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN revoked_version bigint;
CREATE INDEX refresh_tokens_revoked_version ON refresh_tokens (revoked_version) WHERE revoked_version IS NOT NULL;
-- On start, an instance reads the revocations of the last access-token lifetime by time.
CREATE INDEX refresh_tokens_revoked_at ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
