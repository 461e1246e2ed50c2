-- Optimistic concurrency for tenant saves (see the PostgreSQL migration of the same name).
ALTER TABLE tenants ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
