ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' settings:manage ', ' '));
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' domains:manage ', ' '));
ALTER TABLE roles FORCE ROW LEVEL SECURITY;

ALTER TABLE tenant_settings DROP COLUMN security;
ALTER TABLE tenant_settings DROP COLUMN time_zone;
ALTER TABLE tenant_settings DROP COLUMN locale;
ALTER TABLE tenant_settings DROP COLUMN support_url;

DROP INDEX domains_due;
DROP INDEX domains_verified_hostname;
DROP INDEX domains_tenant_hostname;
DELETE FROM domains WHERE status <> 'verified';
ALTER TABLE domains DROP COLUMN revision;
ALTER TABLE domains DROP COLUMN cname_target;
ALTER TABLE domains DROP COLUMN lost_at;
ALTER TABLE domains DROP COLUMN check_error;
ALTER TABLE domains DROP COLUMN last_checked_at;
ALTER TABLE domains DROP COLUMN next_check_at;
ALTER TABLE domains DROP COLUMN pending_since;
ALTER TABLE domains DROP COLUMN verification_token;
ALTER TABLE domains DROP CONSTRAINT domains_status_check;
ALTER TABLE domains ADD CONSTRAINT domains_status_check CHECK (status IN ('pending', 'verified'));
ALTER TABLE domains ADD CONSTRAINT domains_hostname_key UNIQUE (hostname);
