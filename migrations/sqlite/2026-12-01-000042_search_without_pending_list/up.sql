-- Full-text indexes without GIN's pending list on PostgreSQL (see the migration of the same
-- name there). SQLite's FTS5 tables have no such list: nothing to do.
SELECT 1;
