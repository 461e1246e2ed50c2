-- The schedule's memory (see the PostgreSQL migration of the same name).
CREATE TABLE job_periods (
    dedupe_key TEXT PRIMARY KEY,
    queued_at  TEXT NOT NULL
);
CREATE INDEX job_periods_by_time ON job_periods (queued_at);
