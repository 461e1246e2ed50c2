-- The schedule's memory: which period's job (its dedupe key, e.g. prune_events:2026-12-01)
-- was queued already. A job leaves the queue when it succeeds; without this row the next
-- minute's schedule would queue the same period again.
CREATE TABLE job_periods (
    dedupe_key text PRIMARY KEY,
    queued_at  timestamptz NOT NULL
);
CREATE INDEX job_periods_by_time ON job_periods (queued_at);
GRANT SELECT, INSERT, DELETE ON job_periods TO tenantry_service;
