-- Tenant-led full-text indexes on PostgreSQL (see the migration of the same name there).
-- SQLite's FTS5 tables are already reached through each tenant's own rows: nothing to do.
SELECT 1;
