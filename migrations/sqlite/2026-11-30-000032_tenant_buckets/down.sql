DROP INDEX files_by_location;
ALTER TABLE files DROP COLUMN location;
DROP TABLE tenant_buckets;
