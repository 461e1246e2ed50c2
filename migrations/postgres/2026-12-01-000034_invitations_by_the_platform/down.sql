DELETE FROM invitations WHERE invited_by IS NULL;
ALTER TABLE invitations DROP CONSTRAINT invitations_invited_by_fkey;
ALTER TABLE invitations ADD CONSTRAINT invitations_invited_by_fkey
    FOREIGN KEY (invited_by) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE invitations ALTER COLUMN invited_by SET NOT NULL;
