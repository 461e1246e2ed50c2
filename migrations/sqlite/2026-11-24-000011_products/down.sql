DROP TRIGGER users_fts_insert;
DROP TRIGGER users_fts_update;
DROP TRIGGER users_fts_delete;
DROP TABLE users_fts;
DROP TABLE users_search;
DROP TABLE products_fts;
DROP TABLE products_search;
DROP TABLE products;
