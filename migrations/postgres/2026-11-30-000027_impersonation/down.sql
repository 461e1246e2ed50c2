ALTER TABLE security_events DROP COLUMN detail;
ALTER TABLE audit_entries DROP COLUMN impersonator_id;
