-- Full-text search statistics on PostgreSQL (see the migration of the same name there).
-- SQLite's FTS5 keeps no such statistics: nothing to do.
SELECT 1;
