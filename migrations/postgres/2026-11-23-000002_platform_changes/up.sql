-- A counter bumped in every transaction that changes tenants or domains. Every instance polls
-- it and drops its resolution cache when it moves, so changes made elsewhere (the CLI,
-- another instance) are seen within a poll interval.
CREATE TABLE platform_changes (
    id              integer PRIMARY KEY CHECK (id = 1),
    tenancy_version bigint NOT NULL
);
INSERT INTO platform_changes (id, tenancy_version) VALUES (1, 0);
GRANT SELECT, UPDATE ON platform_changes TO tenantry_service;
