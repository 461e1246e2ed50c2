DROP INDEX domains_hostname;
