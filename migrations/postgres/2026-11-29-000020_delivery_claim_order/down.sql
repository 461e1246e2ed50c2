DROP INDEX webhook_deliveries_endpoint_due;
CREATE INDEX webhook_deliveries_endpoint_due
    ON webhook_deliveries (tenant_id, endpoint_id, state, next_attempt_at);
