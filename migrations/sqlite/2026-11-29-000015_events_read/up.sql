-- A new permission, events:read, for the event log. Every tenant's owner role has every
-- permission, and an admin role that may read the audit trail may read the events too.
UPDATE roles
SET permissions = replace(permissions, 'audit:read', 'audit:read events:read')
WHERE system_role IN ('owner', 'admin')
  AND ' ' || permissions || ' ' LIKE '% audit:read %'
  AND ' ' || permissions || ' ' NOT LIKE '% events:read %';
