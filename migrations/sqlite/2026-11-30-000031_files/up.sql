-- Tenants' files and product images (see the PostgreSQL migration of the same name).
CREATE TABLE files (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    sha256       TEXT NOT NULL,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX files_by_type ON files (tenant_id, content_type, id);

CREATE TABLE product_images (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    product_id  TEXT NOT NULL,
    file_id     TEXT NOT NULL,
    position    INTEGER NOT NULL,
    attached_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product_id, file_id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, file_id) REFERENCES files (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX product_images_by_file ON product_images (tenant_id, file_id);

UPDATE plans SET quotas = json_set(quotas, '$.storage_bytes',
    CASE code WHEN 'starter' THEN 1073741824 WHEN 'professional' THEN 107374182400 ELSE json('null') END)
 WHERE code IN ('starter', 'professional', 'enterprise') AND json_type(quotas, '$.storage_bytes') IS NULL;
UPDATE plans SET features = json_set(features, '$.max_file_bytes',
    CASE code WHEN 'starter' THEN 26214400 WHEN 'professional' THEN 1073741824 ELSE 5368709120 END)
 WHERE code IN ('starter', 'professional', 'enterprise') AND json_type(features, '$.max_file_bytes') IS NULL;

-- New permissions: files:read for the system roles that see products, files:write for those
-- that change them.
UPDATE roles SET permissions = permissions || ' files:read'
WHERE system_role IS NOT NULL
  AND ' ' || permissions || ' ' LIKE '% products:read %'
  AND ' ' || permissions || ' ' NOT LIKE '% files:read %';
UPDATE roles SET permissions = permissions || ' files:write'
WHERE system_role IS NOT NULL
  AND ' ' || permissions || ' ' LIKE '% products:write %'
  AND ' ' || permissions || ' ' NOT LIKE '% files:write %';
