-- One export of a tenant queued or running at a time, held by the database: two requests at
-- once both passed the service's check before. Duplicates that race left are failed first
-- (the newest stays pending).
ALTER TABLE exports NO FORCE ROW LEVEL SECURITY;
UPDATE exports e SET status = 'failed', error = 'another export of the tenant was requested at the same time'
WHERE e.status IN ('queued', 'running')
  AND EXISTS (SELECT 1 FROM exports n WHERE n.tenant_id = e.tenant_id
              AND n.status IN ('queued', 'running') AND n.id > e.id);
ALTER TABLE exports FORCE ROW LEVEL SECURITY;
CREATE UNIQUE INDEX exports_one_pending ON exports (tenant_id) WHERE status IN ('queued', 'running');

-- A purge under way can no longer be cancelled (its objects are being deleted), and a tenant
-- is purged once.
ALTER TABLE tenant_deletions ADD COLUMN purge_started_at timestamptz;
CREATE UNIQUE INDEX purges_tenant ON purges (tenant_id);
