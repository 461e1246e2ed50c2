-- Cheaper planning for full-text searches (decision 0057). Each search is planned for its
-- words (decision 0052), and planning a prefix word reads the column's most common lexemes
-- from pg_statistic: an array of up to ten times the statistics target, decompressed and
-- split on every search. At 1,000 that was most of a search's time in the database.
-- - 500 halves the array; the plans chosen for the bench's words did not change.
-- - LZ4, where the server has it, decompresses it several times faster than pglz. The
--   database's default (kept by autovacuum's later ANALYZEs) needs its owner; a migration
--   role that does not own the database leaves it, and docs/postgres.md gives the step.
ALTER TABLE products ALTER COLUMN search_vector SET STATISTICS 500;
ALTER TABLE projects ALTER COLUMN search_vector SET STATISTICS 500;
ALTER TABLE tasks ALTER COLUMN search_vector SET STATISTICS 500;
ALTER TABLE users ALTER COLUMN search_vector SET STATISTICS 500;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        SET LOCAL default_toast_compression = lz4;
        IF EXISTS (SELECT 1 FROM pg_database
                   WHERE datname = current_database() AND pg_has_role(datdba, 'MEMBER')) THEN
            EXECUTE format('ALTER DATABASE %I SET default_toast_compression = lz4',
                           current_database());
        END IF;
    END IF;
END $$;
-- The new statistics now, not at autovacuum's next visit.
ANALYZE products, projects, tasks, users;
