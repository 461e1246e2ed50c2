-- Host resolution (`tenant_for_host`) looks a hostname up with its status as a bound value. A
-- partial index (`domains_verified_hostname … WHERE status = 'verified'`) serves it only where
-- the planner compares the bound value with the index's literal: SQLite built with its query
-- planner stability guarantee does not (decision 0053), and neither does a generic plan on
-- PostgreSQL. A plain index on the hostname serves the lookup whatever the plan; the partial
-- unique index still keeps a verified hostname to one tenant.
CREATE INDEX domains_hostname ON domains (hostname);
