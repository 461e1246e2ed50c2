-- One key per person for the personal fields of append-only records: the IP and user agent
-- of the audit entries a person made, the e-mail, IP and user agent of their security events.
-- The key is sealed under the platform's data key (so a master-key rotation never touches it)
-- and goes with the account: deleting it erases those fields everywhere they were copied,
-- while the records, and the audit chain's hashes over them, stay as they were.
CREATE TABLE person_keys (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_key text NOT NULL,
    created_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, DELETE ON person_keys TO tenantry_service;
