-- Support impersonation on the record: an audit entry names the platform administrator who
-- acted as its user (hashed only when present, so older entries keep their hash), and a
-- security event can say why ("impersonated by … because …").
ALTER TABLE audit_entries ADD COLUMN impersonator_id uuid;
ALTER TABLE security_events ADD COLUMN detail text;
