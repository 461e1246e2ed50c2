-- Claiming reads queued jobs by due time and running jobs by lease end. The partial indexes
-- (WHERE state = '…') cannot serve a statement that binds the state as a parameter, so every
-- claim scanned the queue; one index per access path with the state leading serves both.
DROP INDEX jobs_runnable;
DROP INDEX jobs_leases;
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_lease_end ON jobs (state, locked_until);
