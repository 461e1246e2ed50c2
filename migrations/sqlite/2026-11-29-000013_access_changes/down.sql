DROP INDEX refresh_tokens_revoked_at;
DROP INDEX refresh_tokens_revoked_version;
ALTER TABLE refresh_tokens DROP COLUMN revoked_version;
ALTER TABLE platform_changes DROP COLUMN access_version;
