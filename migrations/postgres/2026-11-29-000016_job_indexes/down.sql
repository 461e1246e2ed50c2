DROP INDEX jobs_due;
DROP INDEX jobs_lease_end;
CREATE INDEX jobs_runnable ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (locked_until) WHERE state = 'running';
