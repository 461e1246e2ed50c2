-- Products: the catalogue resource. Tenant-led keys and an index per list order; full-text
-- search through a generated tsvector with a GIN index. Punctuation is folded to spaces
-- before parsing so that e-mail-like or hyphenated text splits into the same words the
-- service's query tokenizer produces (and SQLite's unicode61 tokenizer).
CREATE TABLE products (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    name        text NOT NULL,
    sku         text NOT NULL,
    description text NOT NULL,
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status      text NOT NULL CHECK (status IN ('active', 'archived')),
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', regexp_replace(name || ' ' || sku || ' ' || description,
                                             '[^[:alnum:]]+', ' ', 'g'))
    ) STORED,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, sku)
);
CREATE INDEX products_by_created ON products (tenant_id, created_at, id);
CREATE INDEX products_by_name ON products (tenant_id, name, id);
CREATE INDEX products_by_price ON products (tenant_id, price_minor, id);
CREATE INDEX products_search ON products USING gin (search_vector);
-- Word frequencies fine enough for prefix searches: with them the planner reads a page of
-- frequent words in list order and stops early (see docs/decisions/0013-search.md).
ALTER TABLE products ALTER COLUMN search_vector SET STATISTICS 1000;

ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON products
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON products TO tenantry_service;

-- Members are searched by name and e-mail (users is a platform table; the tenant comes
-- from the membership the search joins).
ALTER TABLE users ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', regexp_replace(display_name || ' ' || email, '[^[:alnum:]]+', ' ', 'g'))
) STORED;
CREATE INDEX users_search ON users USING gin (search_vector);
ALTER TABLE users ALTER COLUMN search_vector SET STATISTICS 1000;
