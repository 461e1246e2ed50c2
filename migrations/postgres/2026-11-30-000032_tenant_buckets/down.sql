ALTER TABLE files DROP COLUMN location;
DROP TABLE tenant_buckets;
