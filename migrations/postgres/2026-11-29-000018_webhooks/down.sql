DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' webhooks:manage ', ' '));
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
