-- Tenants' files: the content is an object under tenants/<tenant>/<id> in storage; this is
-- what the database knows about it. Images are attached to products by a link table.
CREATE TABLE files (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    -- The client's name, metadata only (never part of the object's key).
    name         text NOT NULL,
    -- Sniffed from the content.
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX files_by_type ON files (tenant_id, content_type, id);

CREATE TABLE product_images (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    product_id  uuid NOT NULL,
    file_id     uuid NOT NULL,
    position    integer NOT NULL,
    attached_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, product_id, file_id),
    -- Deleting the product or the file detaches the image.
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, file_id) REFERENCES files (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX product_images_by_file ON product_images (tenant_id, file_id);

ALTER TABLE files ENABLE ROW LEVEL SECURITY;
ALTER TABLE files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON files
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE product_images ENABLE ROW LEVEL SECURITY;
ALTER TABLE product_images FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON product_images
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON files, product_images TO tenantry_service;

-- The seeded plans learn the storage quota and the largest file (a plan an operator already
-- gave either keeps its own).
UPDATE plans SET quotas = (quotas::jsonb || jsonb_build_object('storage_bytes',
    CASE code WHEN 'starter' THEN to_jsonb(1073741824::bigint)
              WHEN 'professional' THEN to_jsonb(107374182400::bigint)
              ELSE 'null'::jsonb END))::text
 WHERE code IN ('starter', 'professional', 'enterprise') AND NOT quotas::jsonb ? 'storage_bytes';
UPDATE plans SET features = (features::jsonb || jsonb_build_object('max_file_bytes',
    CASE code WHEN 'starter' THEN 26214400::bigint
              WHEN 'professional' THEN 1073741824::bigint
              ELSE 5368709120::bigint END))::text
 WHERE code IN ('starter', 'professional', 'enterprise') AND NOT features::jsonb ? 'max_file_bytes';

-- New permissions: files:read for the system roles that see products, files:write for those
-- that change them.
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles SET permissions = permissions || ' files:read'
WHERE system_role IS NOT NULL
  AND ' ' || permissions || ' ' LIKE '% products:read %'
  AND ' ' || permissions || ' ' NOT LIKE '% files:read %';
UPDATE roles SET permissions = permissions || ' files:write'
WHERE system_role IS NOT NULL
  AND ' ' || permissions || ' ' LIKE '% products:write %'
  AND ' ' || permissions || ' ' NOT LIKE '% files:write %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
