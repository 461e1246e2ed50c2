//! Who is calling, as far as the network says: the client's address and whether it reached
//! the edge over https. The socket's peer, unless the peer is one of the operator's trusted
//! proxies (`TENANTRY_TRUSTED_PROXIES`): then the right-most address in `Forwarded` (or
//! `X-Forwarded-For`) that is not a trusted proxy. Headers from any other peer are ignored —
//! a client cannot choose its own address. Computed once per request; the login throttle,
//! the audit trail, the anonymous rate limit and the IP allowlist all read this one.

use std::net::IpAddr;

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use tenantry_tenancy::Networks;

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Networks);

impl TrustedProxies {
    /// Networks or addresses, comma- or space-separated (`10.0.0.0/8, 127.0.0.1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        Networks::parse_list(list).map(Self).map_err(|e| e.0)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The request's client, in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// The client reached the edge over https (a trusted proxy said so).
    pub https: bool,
}

impl ClientAddr {
    /// Of a request whose middleware ran (`None` outside one, e.g. in a unit test).
    pub fn of(req: &impl HttpMessage) -> Option<Self> {
        req.extensions().get::<Self>().copied()
    }
}

/// Works out and records the request's client (the request-context middleware calls it).
pub fn record(req: &ServiceRequest, proxies: &TrustedProxies) {
    if let Some(peer) = req.peer_addr() {
        let client = client_of(peer.ip(), req.headers(), proxies);
        req.extensions_mut().insert(client);
    }
}

/// The client of a request from `peer` carrying `headers`.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, proxies: &TrustedProxies) -> ClientAddr {
    let peer = canonical(peer);
    if !proxies.trusts(peer) {
        return ClientAddr {
            ip: peer,
            https: false,
        };
    }
    let (hops, proto) = forwarded(headers);
    // Right to left: the first hop that is not one of ours is the client. A hop that cannot
    // be read (`unknown`, an obfuscated name) ends the walk at the last address known.
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if proxies.trusts(*ip) => client = *ip,
            Some(ip) => {
                client = *ip;
                break;
            }
            None => break,
        }
    }
    ClientAddr {
        ip: client,
        https: proto.is_some_and(|p| p.eq_ignore_ascii_case("https")),
    }
}

/// The hops (`for=` of `Forwarded`, else `X-Forwarded-For`), left to right, and the
/// protocol the nearest proxy reports (`proto=` of the last element, else the last
/// `X-Forwarded-Proto`).
fn forwarded(headers: &HeaderMap) -> (Vec<Option<IpAddr>>, Option<String>) {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let elements = values("forwarded");
    if !elements.is_empty() {
        let mut hops = Vec::with_capacity(elements.len());
        let mut proto = None;
        for element in &elements {
            let mut hop = None;
            let mut this_proto = None;
            for pair in element.split(';') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => hop = Some(node_ip(value)),
                    "proto" => this_proto = Some(value.to_owned()),
                    _ => {}
                }
            }
            hops.push(hop.flatten());
            proto = this_proto;
        }
        return (hops, proto);
    }
    let hops = values("x-forwarded-for")
        .iter()
        .map(|h| node_ip(h))
        .collect();
    (hops, values("x-forwarded-proto").pop())
}

/// The address of a node as `Forwarded` or `X-Forwarded-For` write it: `192.0.2.1`,
/// `192.0.2.1:4711`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse().ok().map(canonical);
    }
    let (ip, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=5.6.7.8;proto=https"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = client_of(ip("203.0.113.9"), &h, &proxies);
        assert_eq!(
            c,
            ClientAddr {
                ip: ip("203.0.113.9"),
                https: false
            }
        );
        // No proxies configured: nobody is believed.
        let c = client_of(ip("10.0.0.1"), &h, &TrustedProxies::default());
        assert_eq!(c.ip, ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        // A client that forged a first hop: the forgery is left of the real address.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")]);
        let c = client_of(ip("192.168.1.1"), &h, &proxies);
        assert_eq!(c.ip, ip("198.51.100.7"));
        // Forwarded wins over X-Forwarded-For, quoted IPv6 with a port, proto from the
        // nearest proxy.
        let h = headers(&[
            (
                "forwarded",
                r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=http"#,
            ),
            ("forwarded", "for=10.1.1.1;proto=https"),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        let c = client_of(ip("10.0.0.2"), &h, &proxies);
        assert_eq!(
            c,
            ClientAddr {
                ip: ip("2001:db8::7"),
                https: true
            }
        );
        // Every hop ours: the left-most.
        let h = headers(&[
            ("x-forwarded-for", "10.9.9.9, 10.0.0.3"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = client_of(ip("10.0.0.2"), &h, &proxies);
        assert_eq!(
            c,
            ClientAddr {
                ip: ip("10.9.9.9"),
                https: true
            }
        );
        // An unreadable hop ends the walk at the last known address.
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.5")]);
        assert_eq!(client_of(ip("10.0.0.2"), &h, &proxies).ip, ip("10.0.0.5"));
        // No header from a trusted peer: the peer.
        assert_eq!(
            client_of(ip("10.0.0.2"), &HeaderMap::new(), &proxies).ip,
            ip("10.0.0.2")
        );
        // A mapped IPv4 peer counts as its IPv4 address.
        let h = headers(&[("x-forwarded-for", "198.51.100.8")]);
        assert_eq!(
            client_of(ip("::ffff:10.0.0.2"), &h, &proxies).ip,
            ip("198.51.100.8")
        );
    }

    #[test]
    fn proxy_lists() {
        assert!(TrustedProxies::parse("10.0.0.0/8 127.0.0.1,::1").is_ok());
        assert!(TrustedProxies::parse("nope").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
