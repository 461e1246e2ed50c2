DROP TABLE exports;
UPDATE roles SET permissions = trim(replace(' ' || permissions || ' ', ' data:export ', ' '));
