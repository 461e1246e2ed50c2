DROP TABLE platform_keys;
DROP TABLE mfa_tickets;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
DROP TABLE sessions;
