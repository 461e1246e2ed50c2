DROP TABLE platform_admins;
