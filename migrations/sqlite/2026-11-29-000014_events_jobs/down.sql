ALTER TABLE invitations DROP COLUMN delivery;
DROP TABLE jobs;
DROP TABLE events;
