//! A tenant's security policy at the edge: which networks may reach it, the
//! Content-Security-Policy its responses carry, and the browser origins allowed to call it.
//! Valid by construction; stored as one JSON document with the tenant's settings.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::model::InvalidValue;

/// The most networks an allowlist holds, origins a CORS list holds, sources a CSP directive
/// holds: enough for an enterprise's offices and apps, small enough to check per request.
pub const MAX_NETWORKS: usize = 100;
pub const MAX_ORIGINS: usize = 50;
pub const MAX_SOURCES: usize = 30;

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// A set of IP networks as people write them: CIDR ranges (`203.0.113.0/24`,
/// `2001:db8::/32`) or single addresses; host bits are cleared (`10.1.2.3/8` is
/// `10.0.0.0/8`), duplicates dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, InvalidValue> {
        let mut nets = Vec::with_capacity(items.len());
        for raw in items {
            let s = raw.as_ref().trim();
            let net = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| invalid(format!("'{s}' is not a network (CIDR) or an address")))?
                .trunc();
            if !nets.contains(&net) {
                nets.push(net);
            }
        }
        Ok(Self(nets))
    }

    /// A comma- or space-separated list (a configuration value).
    pub fn parse_list(list: &str) -> Result<Self, InvalidValue> {
        let items: Vec<&str> = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        Self::parse(&items)
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address); never when there are none.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[IpNet] {
        &self.0
    }
}

/// Networks allowed to reach the tenant; empty means everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IpAllowlist(Networks);

impl IpAllowlist {
    /// At most [`MAX_NETWORKS`] networks (see [`Networks::parse`]).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, InvalidValue> {
        if items.len() > MAX_NETWORKS {
            return Err(invalid(format!("at most {MAX_NETWORKS} networks")));
        }
        Networks::parse(items).map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn networks(&self) -> &[IpNet] {
        self.0.as_slice()
    }

    /// Whether `ip` may reach the tenant.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.contains(ip)
    }
}

/// The directives a tenant sets; each is a list of CSP source expressions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Csp {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script_src: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub style_src: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub img_src: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_src: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frame_src: Vec<String>,
    /// Who may frame the tenant's pages; empty means nobody (`'none'`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frame_ancestors: Vec<String>,
    /// `'unsafe-eval'` is refused unless this is set.
    #[serde(default)]
    pub allow_unsafe_eval: bool,
}

const KEYWORDS: &[&str] = &[
    "'self'",
    "'none'",
    "'unsafe-inline'",
    "'unsafe-eval'",
    "'strict-dynamic'",
    "'unsafe-hashes'",
    "'wasm-unsafe-eval'",
    "'report-sample'",
];

impl Csp {
    /// Checks every source: keywords, nonces and hashes, schemes (`https:`, `data:`) and
    /// hosts (`https://cdn.example.com`, `*.example.com`); no `'unsafe-eval'` unless
    /// allowed, no wildcard in `script-src`, nothing that could end a directive or a header.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        for (name, sources) in self.directives() {
            if sources.len() > MAX_SOURCES {
                return Err(invalid(format!("{name}: at most {MAX_SOURCES} sources")));
            }
            for s in sources {
                check_source(name, s)?;
                if s == "'unsafe-eval'" && !self.allow_unsafe_eval {
                    return Err(invalid(format!(
                        "{name}: 'unsafe-eval' needs allow_unsafe_eval"
                    )));
                }
                if name == "script-src" && s.contains('*') {
                    return Err(invalid(
                        "script-src: wildcards are not allowed (name each host)",
                    ));
                }
                if name == "script-src" && matches!(s.as_str(), "https:" | "http:" | "data:") {
                    return Err(invalid(format!(
                        "script-src: '{s}' allows scripts from anywhere"
                    )));
                }
            }
        }
        Ok(())
    }

    fn directives(&self) -> [(&'static str, &Vec<String>); 6] {
        [
            ("script-src", &self.script_src),
            ("style-src", &self.style_src),
            ("img-src", &self.img_src),
            ("connect-src", &self.connect_src),
            ("frame-src", &self.frame_src),
            ("frame-ancestors", &self.frame_ancestors),
        ]
    }

    /// The header value: `default-src 'self'`, each directive the tenant set (`'self'` for
    /// those it left empty), `frame-ancestors`, `object-src 'none'` and `base-uri 'self'`.
    pub fn header_value(&self) -> String {
        let mut out = String::from("default-src 'self'");
        for (name, sources) in self.directives() {
            out.push_str("; ");
            out.push_str(name);
            if sources.is_empty() {
                out.push_str(if name == "frame-ancestors" {
                    " 'none'"
                } else {
                    " 'self'"
                });
            }
            for s in sources {
                out.push(' ');
                out.push_str(s);
            }
        }
        out.push_str("; object-src 'none'; base-uri 'self'");
        out
    }
}

fn check_source(directive: &str, s: &str) -> Result<(), InvalidValue> {
    let bad = || invalid(format!("{directive}: '{s}' is not a CSP source"));
    if s.is_empty() || s.len() > 300 {
        return Err(bad());
    }
    if s.starts_with('\'') {
        let keyword = KEYWORDS.contains(&s);
        let nonce_or_hash = ["'nonce-", "'sha256-", "'sha384-", "'sha512-"]
            .iter()
            .any(|p| s.starts_with(p))
            && s.ends_with('\'')
            && s[1..s.len() - 1].bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
            });
        return if keyword || nonce_or_hash {
            Ok(())
        } else {
            Err(bad())
        };
    }
    // Schemes alone (`https:`, `data:`, `blob:`, `wss:`).
    if let Some(scheme) = s.strip_suffix(':') {
        return if ["https", "http", "data", "blob", "wss", "ws", "mediastream"].contains(&scheme) {
            Ok(())
        } else {
            Err(bad())
        };
    }
    // A host source: [scheme://]host[:port][/path], the host possibly `*.`-prefixed.
    let rest = match s.split_once("://") {
        Some((scheme, rest)) if ["https", "http", "wss", "ws"].contains(&scheme) => rest,
        Some(_) => return Err(bad()),
        None => s,
    };
    let ok = rest.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b':' | b'/' | b'_' | b'~')
    });
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    let star_ok =
        host == "*" || !host.contains('*') || host.starts_with("*.") && !host[2..].contains('*');
    if ok && !host.is_empty() && star_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A browser origin allowed to call the tenant's API: `https://app.acme.com` (or
/// `http://localhost:3000` style origins for development), no path, no wildcard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorsOrigin(String);

impl CorsOrigin {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim().trim_end_matches('/').to_ascii_lowercase();
        let bad = || {
            invalid(format!(
                "'{raw}' is not an origin (scheme://host[:port], no path)"
            ))
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        if scheme != "https" && scheme != "http" {
            return Err(bad());
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        if let Some(p) = port
            && p.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(bad());
        }
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if !host_ok {
            return Err(bad());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The security part of a tenant's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPolicy {
    #[serde(default, skip_serializing_if = "IpAllowlist::is_empty")]
    pub ip_allowlist: IpAllowlist,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csp: Option<Csp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<CorsOrigin>,
    /// Members must have a second factor: those without one get 403
    /// `mfa_enrollment_required` on this tenant's routes (API keys are not people).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
    /// The operator's staff may act as a member for support (on the record). On by default.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub allow_impersonation: bool,
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_true(v: &bool) -> bool {
    *v
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        Self {
            ip_allowlist: IpAllowlist::default(),
            csp: None,
            cors_origins: Vec::new(),
            require_mfa: false,
            allow_impersonation: true,
        }
    }
}

/// A change to the security policy: each present part replaces the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityPatch {
    pub ip_allowlist: Option<IpAllowlist>,
    pub csp: Option<Option<Csp>>,
    pub cors_origins: Option<Vec<CorsOrigin>>,
    pub require_mfa: Option<bool>,
    pub allow_impersonation: Option<bool>,
}

impl SecurityPolicy {
    /// As stored; a document this version cannot read is reported, not guessed at.
    pub fn from_json(raw: &str) -> Result<Self, InvalidValue> {
        serde_json::from_str(raw).map_err(|e| invalid(format!("security policy: {e}")))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn apply(&mut self, patch: SecurityPatch) {
        if let Some(v) = patch.ip_allowlist {
            self.ip_allowlist = v;
        }
        if let Some(v) = patch.csp {
            self.csp = v;
        }
        if let Some(v) = patch.cors_origins {
            self.cors_origins = v;
        }
        if let Some(v) = patch.require_mfa {
            self.require_mfa = v;
        }
        if let Some(v) = patch.allow_impersonation {
            self.allow_impersonation = v;
        }
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.cors_origins
            .iter()
            .any(|o| o.0.eq_ignore_ascii_case(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists() {
        let list = IpAllowlist::parse(&["10.1.2.3/8", "2001:db8::/32", "203.0.113.7"]).unwrap();
        assert_eq!(list.networks()[0].to_string(), "10.0.0.0/8");
        assert!(list.allows("10.200.0.1".parse().unwrap()));
        assert!(
            list.allows("::ffff:10.0.0.1".parse().unwrap()),
            "mapped IPv4"
        );
        assert!(list.allows("2001:db8::1".parse().unwrap()));
        assert!(list.allows("203.0.113.7".parse().unwrap()));
        assert!(!list.allows("203.0.113.8".parse().unwrap()));
        assert!(!list.allows("192.168.0.1".parse().unwrap()));
        assert!(IpAllowlist::default().allows("192.168.0.1".parse().unwrap()));
        assert!(IpAllowlist::parse(&["10.0.0.0/33"]).is_err());
        assert!(IpAllowlist::parse(&["example.com"]).is_err());
    }

    #[test]
    fn csp_rules() {
        let ok = Csp {
            script_src: vec!["'self'".into(), "https://cdn.acme.com".into()],
            img_src: vec!["*.acme.com".into(), "data:".into()],
            connect_src: vec!["wss://rt.acme.com:443".into()],
            ..Csp::default()
        };
        ok.validate().unwrap();
        assert_eq!(
            ok.header_value(),
            "default-src 'self'; script-src 'self' https://cdn.acme.com; style-src 'self'; \
             img-src *.acme.com data:; connect-src wss://rt.acme.com:443; frame-src 'self'; \
             frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
        );
        let bad = |f: fn(&mut Csp)| {
            let mut c = Csp::default();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(bad(|c| c.script_src = vec!["'unsafe-eval'".into()]));
        assert!(bad(|c| c.script_src = vec!["*.acme.com".into()]));
        assert!(bad(|c| c.script_src = vec!["*".into()]));
        assert!(bad(|c| c.script_src = vec!["https:".into()]));
        assert!(bad(|c| c.img_src = vec!["a.com; script-src *".into()]));
        assert!(bad(|c| c.img_src = vec!["a.com\r\nX: y".into()]));
        assert!(bad(|c| c.img_src = vec!["'unsafe-everything'".into()]));
        assert!(bad(|c| c.img_src = vec!["javascript:".into()]));
        let mut eval = Csp {
            script_src: vec!["'unsafe-eval'".into()],
            allow_unsafe_eval: true,
            ..Csp::default()
        };
        eval.validate().unwrap();
        eval.script_src.push("'nonce-abc123=='".into());
        eval.validate().unwrap();
    }

    #[test]
    fn origins() {
        assert_eq!(
            CorsOrigin::parse("https://App.Acme.com/").unwrap().as_str(),
            "https://app.acme.com"
        );
        assert!(CorsOrigin::parse("http://localhost:3000").is_ok());
        for bad in [
            "app.acme.com",
            "https://app.acme.com/path",
            "https://*.acme.com",
            "ftp://x.com",
            "https://x.com:0",
            "https://x.com:99999",
            "null",
        ] {
            assert!(CorsOrigin::parse(bad).is_err(), "{bad}");
        }
        let policy = SecurityPolicy {
            cors_origins: vec![CorsOrigin::parse("https://app.acme.com").unwrap()],
            ..SecurityPolicy::default()
        };
        assert!(policy.allows_origin("https://app.acme.com"));
        assert!(!policy.allows_origin("https://evil.com"));
    }

    #[test]
    fn stored_form_round_trips() {
        let policy = SecurityPolicy {
            ip_allowlist: IpAllowlist::parse(&["10.0.0.0/8"]).unwrap(),
            csp: Some(Csp::default()),
            cors_origins: vec![],
            require_mfa: true,
            allow_impersonation: false,
        };
        let json = policy.to_json();
        assert_eq!(SecurityPolicy::from_json(&json).unwrap(), policy);
        assert_eq!(
            SecurityPolicy::from_json("{}").unwrap(),
            SecurityPolicy::default()
        );
    }
}
