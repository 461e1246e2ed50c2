DROP TABLE backups;
UPDATE plans SET features = (features::jsonb - 'backup_retention_days')::text;
