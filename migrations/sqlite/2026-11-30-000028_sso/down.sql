UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' sso:manage ', ' '));
ALTER TABLE sessions DROP COLUMN sso_tenant_id;
DROP TABLE user_identities;
DROP TABLE sso_codes;
DROP TABLE sso_logins;
DROP TABLE sso_providers;
