-- Dispatchers claim each endpoint's oldest due deliveries by walking this index (the claim
-- first lists the endpoints with due rows, then takes a share of each).
CREATE INDEX webhook_deliveries_endpoint_due
    ON webhook_deliveries (tenant_id, endpoint_id, state, next_attempt_at);
