-- A counter bumped in every transaction that changes tenants or domains (see the PostgreSQL
-- migration of the same name).
CREATE TABLE platform_changes (
    id              INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    tenancy_version BIGINT NOT NULL
);
INSERT INTO platform_changes (id, tenancy_version) VALUES (1, 0);
