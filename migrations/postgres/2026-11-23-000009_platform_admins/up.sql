-- The operator's own staff: they may administer every tenant through the platform API.
CREATE TABLE platform_admins (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, DELETE ON platform_admins TO tenantry_service;
