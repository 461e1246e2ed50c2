DROP TABLE person_keys;
