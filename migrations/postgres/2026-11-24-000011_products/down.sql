DROP INDEX users_search;
ALTER TABLE users DROP COLUMN search_vector;
DROP TABLE products;
