//! How a request names its tenant: by host (a subdomain of the base domain or a custom
//! domain) or, failing that, by an explicit id-or-slug header.

use std::str::FromStr;

use tenantry_kernel::TenantId;

use crate::model::{BaseDomain, Hostname, Slug};

/// A reference to a tenant given by an operator or client: its id or its slug.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TenantRef {
    Id(TenantId),
    Slug(Slug),
}

impl TenantRef {
    /// `None` when the text is neither a uuid nor a valid slug (so it cannot name a tenant).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(id) = TenantId::from_str(raw) {
            return Some(Self::Id(id));
        }
        Slug::parse(raw).ok().map(Self::Slug)
    }
}

/// What a request's host says about its tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostClass {
    /// `<slug>.<base domain>`: the tenant with that slug (or none).
    Subdomain(Slug),
    /// Any other host name: the tenant whose verified custom domain it is (or none).
    Custom(Hostname),
    /// The base domain itself, a reserved label under it (`api.`, `www.`), an IP address or a
    /// host that is no valid name: look at the header instead.
    Platform,
}

/// Classifies a `Host` header value (port allowed) against the base domain.
pub fn classify_host(host: &str, base: &BaseDomain) -> HostClass {
    let without_port = strip_port(host);
    let Ok(hostname) = Hostname::parse(without_port) else {
        return HostClass::Platform;
    };
    // The label before `.<base>`, if the name ends so.
    let label = hostname
        .as_str()
        .strip_suffix(base.as_str())
        .and_then(|rest| rest.strip_suffix('.'));
    match label {
        Some(label) if !label.contains('.') => match Slug::parse(label) {
            Ok(slug) => HostClass::Subdomain(slug),
            Err(_) => HostClass::Platform,
        },
        // Deeper names under the base domain are never custom domains (refused on add).
        Some(_) => HostClass::Platform,
        None if hostname.as_str() == base.as_str() => HostClass::Platform,
        None => HostClass::Custom(hostname),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: never a tenant host.
        return host;
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> BaseDomain {
        BaseDomain::parse(s).unwrap()
    }

    #[test]
    fn subdomains_of_the_base() {
        let b = base("localhost");
        assert_eq!(
            classify_host("acme.localhost:8080", &b),
            HostClass::Subdomain(Slug::parse("acme").unwrap())
        );
        assert_eq!(
            classify_host("ACME.localhost", &b),
            HostClass::Subdomain(Slug::parse("acme").unwrap())
        );
        assert_eq!(classify_host("localhost:8080", &b), HostClass::Platform);
        assert_eq!(
            classify_host("api.localhost", &b),
            HostClass::Platform,
            "reserved"
        );
        assert_eq!(classify_host("a.b.localhost", &b), HostClass::Platform);
        assert_eq!(classify_host("127.0.0.1:8080", &b), HostClass::Platform);
        assert_eq!(classify_host("[::1]:8080", &b), HostClass::Platform);
        assert_eq!(classify_host("", &b), HostClass::Platform);
    }

    #[test]
    fn custom_hosts() {
        let b = base("example.com");
        assert_eq!(
            classify_host("shop.acme.org", &b),
            HostClass::Custom(Hostname::parse("shop.acme.org").unwrap())
        );
        assert_eq!(
            classify_host("notexample.com", &b),
            HostClass::Custom(Hostname::parse("notexample.com").unwrap())
        );
    }

    #[test]
    fn tenant_refs() {
        let id = TenantId::new();
        assert_eq!(TenantRef::parse(&id.to_string()), Some(TenantRef::Id(id)));
        assert_eq!(
            TenantRef::parse("acme"),
            Some(TenantRef::Slug(Slug::parse("acme").unwrap()))
        );
        assert_eq!(TenantRef::parse("Not A Slug"), None);
    }
}
