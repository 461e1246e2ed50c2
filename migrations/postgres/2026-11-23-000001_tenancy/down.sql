DROP TABLE tenant_settings;
DROP TABLE domains;
DROP TABLE tenants;
