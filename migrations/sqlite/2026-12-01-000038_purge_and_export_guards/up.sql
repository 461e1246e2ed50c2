-- See the PostgreSQL migration of the same name.
UPDATE exports SET status = 'failed', error = 'another export of the tenant was requested at the same time'
WHERE status IN ('queued', 'running')
  AND EXISTS (SELECT 1 FROM exports n WHERE n.tenant_id = exports.tenant_id
              AND n.status IN ('queued', 'running') AND n.id > exports.id);
CREATE UNIQUE INDEX exports_one_pending ON exports (tenant_id) WHERE status IN ('queued', 'running');

ALTER TABLE tenant_deletions ADD COLUMN purge_started_at TEXT;
CREATE UNIQUE INDEX purges_tenant ON purges (tenant_id);
