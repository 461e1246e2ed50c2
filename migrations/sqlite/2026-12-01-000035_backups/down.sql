DROP TABLE backups;
UPDATE plans SET features = json_remove(features, '$.backup_retention_days');
