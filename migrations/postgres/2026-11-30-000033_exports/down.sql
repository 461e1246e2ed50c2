DROP TABLE exports;
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' data:export ', ' '));
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
