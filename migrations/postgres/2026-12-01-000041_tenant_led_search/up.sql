-- Full-text search through a tenant-led index (decision 0050). The GIN indexes on the search
-- vectors become (tenant_id, search_vector) indexes, so a search reads only its tenant's
-- entries. btree_gin gives GIN its uuid column; it is a trusted extension (PostgreSQL 13+),
-- which the schema's owner may create with CREATE on the database.
-- Under row-level security the planner uses such an index only when `@@` (ts_match_vq) is
-- LEAKPROOF, a one-time superuser step (docs/postgres.md); without it searches stay correct
-- and scan the tenant's rows, as before.
CREATE EXTENSION IF NOT EXISTS btree_gin;
DROP INDEX products_search;
CREATE INDEX products_search ON products USING gin (tenant_id, search_vector);
DROP INDEX projects_search;
CREATE INDEX projects_search ON projects USING gin (tenant_id, search_vector);
DROP INDEX tasks_search;
CREATE INDEX tasks_search ON tasks USING gin (tenant_id, search_vector);
