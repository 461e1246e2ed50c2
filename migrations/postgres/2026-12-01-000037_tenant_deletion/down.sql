DROP TABLE purges;
DROP TABLE tenant_deletions;
