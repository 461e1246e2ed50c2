-- Products (see the PostgreSQL migration of the same name). Full-text search is an FTS5
-- table kept in step by triggers. FTS rows are addressed through products_search, whose
-- integer key is stable (a composite-key table's implicit rowid may change on VACUUM).
CREATE TABLE products (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    sku         TEXT NOT NULL,
    description TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    currency    TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
    status      TEXT NOT NULL CHECK (status IN ('active', 'archived')),
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, sku)
);
CREATE INDEX products_by_created ON products (tenant_id, created_at, id);
CREATE INDEX products_by_name ON products (tenant_id, name, id);
CREATE INDEX products_by_price ON products (tenant_id, price_minor, id);

CREATE TABLE products_search (
    fts_rowid  INTEGER PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    product_id TEXT NOT NULL,
    UNIQUE (tenant_id, product_id)
);
CREATE VIRTUAL TABLE products_fts USING fts5(
    name, sku, description, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_search (tenant_id, product_id) VALUES (new.tenant_id, new.id);
    INSERT INTO products_fts (rowid, name, sku, description)
        VALUES (last_insert_rowid(), new.name, new.sku, new.description);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE OF name, sku, description ON products BEGIN
    DELETE FROM products_fts WHERE rowid =
        (SELECT fts_rowid FROM products_search WHERE tenant_id = old.tenant_id AND product_id = old.id);
    INSERT INTO products_fts (rowid, name, sku, description)
        SELECT fts_rowid, new.name, new.sku, new.description FROM products_search
        WHERE tenant_id = new.tenant_id AND product_id = new.id;
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    DELETE FROM products_fts WHERE rowid =
        (SELECT fts_rowid FROM products_search WHERE tenant_id = old.tenant_id AND product_id = old.id);
    DELETE FROM products_search WHERE tenant_id = old.tenant_id AND product_id = old.id;
END;

-- Members are searched by name and e-mail (the same stable-key arrangement).
CREATE TABLE users_search (
    fts_rowid INTEGER PRIMARY KEY,
    user_id   TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE users_fts USING fts5(
    display_name, email, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO users_search (user_id) SELECT id FROM users;
INSERT INTO users_fts (rowid, display_name, email)
    SELECT s.fts_rowid, u.display_name, u.email FROM users u JOIN users_search s ON s.user_id = u.id;
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (user_id) VALUES (new.id);
    INSERT INTO users_fts (rowid, display_name, email)
        VALUES (last_insert_rowid(), new.display_name, new.email);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF display_name, email ON users BEGIN
    DELETE FROM users_fts WHERE rowid = (SELECT fts_rowid FROM users_search WHERE user_id = old.id);
    INSERT INTO users_fts (rowid, display_name, email)
        SELECT fts_rowid, new.display_name, new.email FROM users_search WHERE user_id = new.id;
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_fts WHERE rowid = (SELECT fts_rowid FROM users_search WHERE user_id = old.id);
    DELETE FROM users_search WHERE user_id = old.id;
END;
