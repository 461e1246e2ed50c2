-- A claim takes an endpoint's due deliveries oldest first, then by event (the order events
-- were made): with the event id in the index the walk stops after the share it takes, where
-- it sorted every due row of the endpoint (10,000 rows of one bulk change share one time).
DROP INDEX webhook_deliveries_endpoint_due;
CREATE INDEX webhook_deliveries_endpoint_due
    ON webhook_deliveries (tenant_id, endpoint_id, state, next_attempt_at, event_id);
