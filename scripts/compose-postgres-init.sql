-- Run once by the postgres image on an empty volume. The image's POSTGRES_USER
-- (tenantry_owner) owns the schema and runs migrations; the service connects as
-- tenantry_service, which owns nothing, so row-level security applies to it.
CREATE ROLE tenantry_service LOGIN PASSWORD 'tenantry_service' NOSUPERUSER NOBYPASSRLS;
