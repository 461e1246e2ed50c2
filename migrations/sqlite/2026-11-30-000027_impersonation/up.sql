-- See the PostgreSQL migration of the same name.
ALTER TABLE audit_entries ADD COLUMN impersonator_id TEXT;
ALTER TABLE security_events ADD COLUMN detail TEXT;
