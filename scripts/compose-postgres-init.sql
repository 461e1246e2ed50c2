-- Run once by the postgres image on an empty volume. The image's POSTGRES_USER
-- (tenantry_owner) owns the schema and runs migrations; the service connects as
-- tenantry_service, which owns nothing, so row-level security applies to it.
CREATE ROLE tenantry_service LOGIN PASSWORD 'tenantry_service' NOSUPERUSER NOBYPASSRLS;
-- Searches may use the tenant-led full-text indexes under row-level security (decision 0050,
-- docs/postgres.md "Indexed search"): a superuser's step, once per database.
ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
