-- Row-level security is PostgreSQL's; SQLite relies on the explicit filters. Kept so both backends share migration versions.
SELECT 1;
