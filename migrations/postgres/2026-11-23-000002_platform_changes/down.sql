DROP TABLE platform_changes;
