DROP INDEX purges_tenant;
ALTER TABLE tenant_deletions DROP COLUMN purge_started_at;
DROP INDEX exports_one_pending;
