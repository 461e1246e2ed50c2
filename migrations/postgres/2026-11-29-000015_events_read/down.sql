ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' events:read ', ' '));
UPDATE api_keys SET permissions = trim(replace(' ' || permissions || ' ', ' events:read ', ' '));
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
