-- An invitation may come from the platform (a tenant provisioned by the operator invites its
-- owner): no inviting account. An inviter's account going away no longer takes their
-- invitations with it.
ALTER TABLE invitations ALTER COLUMN invited_by DROP NOT NULL;
ALTER TABLE invitations DROP CONSTRAINT invitations_invited_by_fkey;
ALTER TABLE invitations ADD CONSTRAINT invitations_invited_by_fkey
    FOREIGN KEY (invited_by) REFERENCES users (id) ON DELETE SET NULL;
