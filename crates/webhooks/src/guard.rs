//! The address guard (OWASP API7, server-side request forgery): webhooks reach only global
//! addresses, plus the networks the operator allows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Address ranges that are not globally reachable, each with the name a refusal reports.
/// IPv6 outside 2000::/3 is refused as a whole; these are the exceptions inside it and the
/// IPv4 ranges.
const BLOCKED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("2001::/23", "IETF protocol assignments (Teredo and others)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4 (embeds an IPv4 address)"),
    ("3fff::/20", "documentation"),
];

/// Why an address is refused, by the name of its range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{address} is not a public address ({range})")]
pub struct Blocked {
    pub address: IpAddr,
    pub range: &'static str,
}

/// Which addresses deliveries may reach: every global one, and the operator's allowed
/// networks (`TENANTRY_WEBHOOK_ALLOW_CIDRS`; nothing else opens the guard).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// Allowed networks, comma- or space-separated (`127.0.0.1/32, 10.1.0.0/16`); a bare
    /// address is one host.
    pub fn parse(list: &str) -> Result<Self, String> {
        let allowed = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| format!("'{s}' is not a network (CIDR) or an address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a delivery may connect to `address`.
    pub fn check(&self, address: IpAddr) -> Result<(), Blocked> {
        if self.allowed.iter().any(|n| n.contains(&address)) {
            return Ok(());
        }
        match blocked_range(address) {
            Some(range) => Err(Blocked { address, range }),
            None => Ok(()),
        }
    }
}

/// The non-global range `address` is in, if any.
pub fn blocked_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn listed(address: IpAddr) -> Option<&'static str> {
    BLOCKED.iter().find_map(|(net, name)| {
        net.parse::<IpNet>()
            .ok()
            .filter(|n| n.contains(&address))
            .map(|_| *name)
    })
}

fn v4_range(v4: Ipv4Addr) -> Option<&'static str> {
    if v4.is_broadcast() {
        return Some("broadcast");
    }
    listed(IpAddr::V4(v4))
}

fn v6_range(v6: Ipv6Addr) -> Option<&'static str> {
    let s = v6.segments();
    if v6.is_unspecified() {
        return Some("unspecified");
    }
    if v6.is_loopback() {
        return Some("loopback");
    }
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some("IPv4-mapped IPv6");
    }
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some("IPv4-translated IPv6");
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        return Some("IPv4/IPv6 translation (NAT64)");
    }
    // Outside global unicast (2000::/3): unique-local fc00::/7, link-local fe80::/10,
    // multicast ff00::/8, IPv4-compatible ::/96, discard-only 100::/64 and the rest.
    if s[0] & 0xe000 != 0x2000 {
        return Some(match s[0] {
            x if x & 0xfe00 == 0xfc00 => "unique-local",
            x if x & 0xffc0 == 0xfe80 => "link-local",
            x if x & 0xffc0 == 0xfec0 => "site-local",
            x if x & 0xff00 == 0xff00 => "multicast",
            _ => "not global unicast",
        });
    }
    listed(IpAddr::V6(v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_non_global_range_is_refused_by_name() {
        for (addr, range) in [
            ("0.0.0.0", "this network"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private"),
            ("100.64.0.1", "shared address space (CGNAT)"),
            ("100.127.255.254", "shared address space (CGNAT)"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF protocol assignments"),
            ("192.0.2.1", "documentation"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped IPv6"),
            ("::ffff:8.8.8.8", "IPv4-mapped IPv6"),
            ("::ffff:0:10.0.0.1", "IPv4-translated IPv6"),
            ("64:ff9b::a00:1", "IPv4/IPv6 translation (NAT64)"),
            ("64:ff9b:1::1", "IPv4/IPv6 translation (NAT64)"),
            ("::10.0.0.1", "not global unicast"),
            ("100::1", "not global unicast"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001::1", "IETF protocol assignments (Teredo and others)"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::1", "6to4 (embeds an IPv4 address)"),
            ("3fff::1", "documentation"),
        ] {
            assert_eq!(blocked_range(ip(addr)), Some(range), "{addr}");
            assert!(AddressPolicy::default().check(ip(addr)).is_err(), "{addr}");
        }
    }

    #[test]
    fn global_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
        ] {
            assert_eq!(blocked_range(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn only_the_operator_s_networks_open_the_guard() {
        let policy = AddressPolicy::parse("127.0.0.1/32, 10.1.0.0/16 ::1").unwrap();
        assert!(policy.check(ip("127.0.0.1")).is_ok());
        assert!(policy.check(ip("::1")).is_ok());
        assert!(policy.check(ip("10.1.200.3")).is_ok());
        let refused = policy.check(ip("127.0.0.2")).unwrap_err();
        assert_eq!(refused.range, "loopback");
        assert!(policy.check(ip("10.2.0.1")).is_err());
        assert!(
            policy.check(ip("::ffff:127.0.0.1")).is_err(),
            "mapped form of an allowed address"
        );
        assert!(AddressPolicy::parse("10.0.0.0/33").is_err());
        assert!(AddressPolicy::parse("localhost").is_err());
        assert_eq!(AddressPolicy::parse("").unwrap(), AddressPolicy::default());
    }
}
