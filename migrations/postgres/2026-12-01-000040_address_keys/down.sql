DROP TABLE address_keys;
