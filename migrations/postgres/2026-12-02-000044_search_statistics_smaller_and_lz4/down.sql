DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_database
               WHERE datname = current_database() AND pg_has_role(datdba, 'MEMBER')) THEN
        EXECUTE format('ALTER DATABASE %I RESET default_toast_compression', current_database());
    END IF;
END $$;
ALTER TABLE users ALTER COLUMN search_vector SET STATISTICS 1000;
ALTER TABLE tasks ALTER COLUMN search_vector SET STATISTICS 1000;
ALTER TABLE projects ALTER COLUMN search_vector SET STATISTICS 1000;
ALTER TABLE products ALTER COLUMN search_vector SET STATISTICS 1000;
