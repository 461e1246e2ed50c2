DROP INDEX refresh_tokens_revoked_at;
ALTER TABLE platform_changes DROP COLUMN access_version;
