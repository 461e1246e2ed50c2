-- Custom domains verified by their owners over DNS: a pending claim no longer blocks the
-- hostname (first verified wins), each domain carries its challenge token and check schedule,
-- and a domain that never verifies ends `failed`.
ALTER TABLE domains DROP CONSTRAINT domains_hostname_key;
ALTER TABLE domains DROP CONSTRAINT domains_status_check;
ALTER TABLE domains ADD CONSTRAINT domains_status_check
    CHECK (status IN ('pending', 'verified', 'failed'));
ALTER TABLE domains ADD COLUMN verification_token text;
-- Since when the domain waits for its proof: creation, or the moment a verified domain lost
-- its record for good (the 30 days before `failed` count from here).
ALTER TABLE domains ADD COLUMN pending_since timestamptz;
ALTER TABLE domains ADD COLUMN next_check_at timestamptz;
ALTER TABLE domains ADD COLUMN last_checked_at timestamptz;
ALTER TABLE domains ADD COLUMN check_error text;
-- A verified domain whose record disappeared: when it was first missed (it keeps routing
-- through the grace period).
ALTER TABLE domains ADD COLUMN lost_at timestamptz;
ALTER TABLE domains ADD COLUMN cname_target text;
-- Moves on with every change: a check's result is saved only over the state it judged.
ALTER TABLE domains ADD COLUMN revision bigint NOT NULL DEFAULT 0;
UPDATE domains SET pending_since = created_at WHERE status = 'pending';
CREATE UNIQUE INDEX domains_tenant_hostname ON domains (tenant_id, hostname);
-- Resolution and the TLS ask read through this one.
CREATE UNIQUE INDEX domains_verified_hostname ON domains (hostname) WHERE status = 'verified';
CREATE INDEX domains_due ON domains (next_check_at) WHERE next_check_at IS NOT NULL;

-- Settings a tenant manages itself: support URL, locale, time zone and its security policy
-- (IP allowlist, CSP, CORS origins) as one validated JSON document.
ALTER TABLE tenant_settings ADD COLUMN support_url text;
ALTER TABLE tenant_settings ADD COLUMN locale text;
ALTER TABLE tenant_settings ADD COLUMN time_zone text;
ALTER TABLE tenant_settings ADD COLUMN security text NOT NULL DEFAULT '{}';

-- settings:manage and domains:manage for owners and admins.
ALTER TABLE roles NO FORCE ROW LEVEL SECURITY;
UPDATE roles
SET permissions = permissions || ' settings:manage'
WHERE system_role IN ('owner', 'admin') AND ' ' || permissions || ' ' NOT LIKE '% settings:manage %';
UPDATE roles
SET permissions = permissions || ' domains:manage'
WHERE system_role IN ('owner', 'admin') AND ' ' || permissions || ' ' NOT LIKE '% domains:manage %';
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
