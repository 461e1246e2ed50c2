-- Optimistic concurrency: every save of a tenant must name the revision it read, so two
-- concurrent changes (a rename and a suspension, say) cannot silently undo each other.
ALTER TABLE tenants ADD COLUMN revision bigint NOT NULL DEFAULT 0;
