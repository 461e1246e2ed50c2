-- Keys of e-mail addresses, for the personal fields a record holds about its subject rather
-- than its author (an invitation's invitee, a directory user), who may have no account yet.
-- Sealed values name a key by its id, never by the address; an address may have several keys
-- (two first uses at once), all deleted when the account with that address is erased.
CREATE TABLE address_keys (
    id               uuid PRIMARY KEY,
    email_normalized text NOT NULL,
    sealed_key       text NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX address_keys_email ON address_keys (email_normalized, created_at);
GRANT SELECT, INSERT, DELETE ON address_keys TO tenantry_service;
