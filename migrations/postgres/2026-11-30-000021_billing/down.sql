DROP TABLE tenant_quotas;
DROP TABLE subscriptions;
DROP TABLE plans;
