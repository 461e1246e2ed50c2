DROP TABLE memberships;
DROP TABLE roles;
