ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' sso:manage ', ' '));
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions DROP COLUMN sso_tenant_id;
DROP TABLE user_identities;
DROP TABLE sso_codes;
DROP TABLE sso_logins;
DROP TABLE sso_providers;
