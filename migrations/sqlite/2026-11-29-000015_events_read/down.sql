UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' events:read ', ' '));
UPDATE api_keys SET permissions = trim(replace(' ' || permissions || ' ', ' events:read ', ' '));
