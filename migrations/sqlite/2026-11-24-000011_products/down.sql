DROP TABLE users_fts;
DROP TABLE users_search;
DROP TABLE products_fts;
DROP TABLE products_search;
DROP TABLE products;
