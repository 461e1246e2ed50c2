DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' webhooks:manage ', ' '));
