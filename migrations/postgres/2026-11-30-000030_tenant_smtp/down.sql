DROP TABLE tenant_smtp;
