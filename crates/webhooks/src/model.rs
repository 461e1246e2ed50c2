//! The webhook endpoint and its value types.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use tenantry_audit::EventTypePattern;
use tenantry_kernel::{TenantId, TextShape, WebhookId};

use crate::guard::AddressPolicy;

/// Why a value was refused: the message names the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// The longest target URL.
pub const MAX_URL_LEN: usize = 2048;

/// What registration checks about targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetRules {
    /// `http://` targets too (local development; `TENANTRY_WEBHOOK_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Literal addresses outside it are refused at registration (host names are checked at
    /// each delivery, after resolving them).
    pub addresses: AddressPolicy,
}

/// Where deliveries go: an absolute `https://` URL (or `http://` where the operator allows
/// it), without credentials or fragment, whose host is not a literal address the guard
/// refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(raw: &str, rules: &TargetRules) -> Result<Self, InvalidValue> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_URL_LEN {
            return Err(invalid(format!(
                "url must be 1 to {MAX_URL_LEN} characters long"
            )));
        }
        let url = url::Url::parse(raw).map_err(|e| invalid(format!("url is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if rules.allow_http => {}
            "http" => {
                return Err(invalid(
                    "url must be https:// (http:// only where the operator allows it)",
                ));
            }
            _ => return Err(invalid("url must be an https:// URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "url must not carry credentials; send them in a custom header",
            ));
        }
        if url.fragment().is_some() {
            return Err(invalid("url must not have a fragment (#…)"));
        }
        let ip = match url.host() {
            None => return Err(invalid("url must name a host")),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        };
        if let Some(ip) = ip {
            rules
                .addresses
                .check(ip)
                .map_err(|b| invalid(format!("url: {b}")))?;
        }
        Ok(Self(url))
    }

    /// For values read back from storage (checked when they were written).
    pub fn stored(raw: &str) -> Result<Self, InvalidValue> {
        url::Url::parse(raw)
            .map(Self)
            .map_err(|e| invalid(format!("url: {e}")))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

/// Up to 1,000 characters (may be empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        tenantry_kernel::bounded_text(raw, "description", 1000, TextShape::Block)
            .map(Self)
            .map_err(InvalidValue)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most event types one endpoint lists.
pub const MAX_EVENT_TYPES: usize = 100;

/// Which events an endpoint receives: exact types and `entity.*` families; empty means all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventTypes(Vec<EventTypePattern>);

impl EventTypes {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, InvalidValue> {
        if raw.len() > MAX_EVENT_TYPES {
            return Err(invalid(format!(
                "event_types lists at most {MAX_EVENT_TYPES} types"
            )));
        }
        let mut out: Vec<EventTypePattern> = Vec::with_capacity(raw.len());
        for s in raw {
            let p = EventTypePattern::parse(s.as_ref().trim())
                .map_err(|e| invalid(format!("event_types: {e}")))?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(Self(out))
    }

    /// All events.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.matches(event_type))
    }

    pub fn patterns(&self) -> &[EventTypePattern] {
        &self.0
    }

    /// As the API shows them: `product.created`, `product.*`.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|p| match p {
                EventTypePattern::Exact(t) => t.clone(),
                EventTypePattern::Prefix(p) => format!("{p}.*"),
            })
            .collect()
    }
}

/// The most custom headers one endpoint sends.
pub const MAX_HEADERS: usize = 20;

/// Header names a tenant may not set: the host, hop-by-hop headers, the body's framing and
/// the signature headers Tenantry sends.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "content-encoding",
    "expect",
    "user-agent",
    "x-hub-signature-256",
];

/// Extra headers sent with every delivery (an API key of the receiver, a routing tag).
/// Names are kept lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomHeaders(BTreeMap<String, String>);

impl CustomHeaders {
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, InvalidValue> {
        if raw.len() > MAX_HEADERS {
            return Err(invalid(format!(
                "headers holds at most {MAX_HEADERS} headers"
            )));
        }
        let mut out = BTreeMap::new();
        for (name, value) in raw {
            let lower = name.trim().to_ascii_lowercase();
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if lower.is_empty() || lower.len() > 100 || !lower.bytes().all(token) {
                return Err(invalid(format!(
                    "headers: '{name}' is not a header name (1 to 100 of letters, digits and !#$%&'*+-.^_`|~)"
                )));
            }
            if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
                return Err(invalid(format!(
                    "headers: '{name}' is set by Tenantry or the connection and cannot be overridden"
                )));
            }
            let visible = |c: char| c == ' ' || c == '\t' || (c.is_ascii_graphic());
            if value.len() > 1000 || !value.chars().all(visible) {
                return Err(invalid(format!(
                    "headers: the value of '{name}' must be up to 1000 visible ASCII characters"
                )));
            }
            if out.insert(lower, value.trim().to_owned()).is_some() {
                return Err(invalid(format!("headers: '{name}' is given twice")));
            }
        }
        Ok(Self(out))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// The most deliveries per second an endpoint may be given (at most 10,000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit(u32);

impl RateLimit {
    pub const MAX: u32 = 10_000;

    pub fn parse(per_second: i64) -> Result<Self, InvalidValue> {
        u32::try_from(per_second)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Self)
            .ok_or_else(|| {
                invalid(format!(
                    "rate_limit must be 1 to {} deliveries per second",
                    Self::MAX
                ))
            })
    }

    pub const fn per_second(self) -> u32 {
        self.0
    }
}

/// Why an endpoint stopped receiving deliveries without anyone turning it off.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// Turned off through the API (`enabled: false`).
    Manual,
    /// The receiver answered 410 Gone.
    Gone,
    /// Every delivery failed for the configured stretch (5 days by default).
    Failing,
}

impl DisabledReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Gone => "gone",
            Self::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(Self::Manual),
            "gone" => Some(Self::Gone),
            "failing" => Some(Self::Failing),
            _ => None,
        }
    }
}

/// The signing secrets as stored: sealed (see `tenantry_kernel::SecretCipher`), never
/// readable from here. After a rotation the previous one stays valid until it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecrets {
    pub current: String,
    pub previous: Option<(String, DateTime<Utc>)>,
}

/// A tenant's webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub tenant_id: TenantId,
    pub url: WebhookUrl,
    pub description: Description,
    pub event_types: EventTypes,
    /// `None` while enabled.
    pub disabled: Option<DisabledReason>,
    pub headers: CustomHeaders,
    pub rate_limit: Option<RateLimit>,
    pub secrets: SealedSecrets,
    /// When the last rotation happened (`None`: the secret is the one it was created with).
    pub secret_rotated_at: Option<DateTime<Utc>>,
    /// Since when every delivery has failed (`None` after a success).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    pub fn enabled(&self) -> bool {
        self.disabled.is_none()
    }
}

/// The event types of webhook endpoints' own events.
pub mod actions {
    pub const SECRET_ROTATED: &str = "secret_rotated";
    pub const DISABLED: &str = "disabled";
}

impl tenantry_audit::Audited for Webhook {
    const QUOTA: Option<&'static str> = Some("webhooks");
    const ENTITY: &'static str = "webhook_endpoint";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::UPDATED,
        tenantry_audit::actions::DELETED,
        actions::SECRET_ROTATED,
        actions::DISABLED,
    ];
    type View = crate::view::WebhookView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    /// The fields as the API shows them (never a secret), less the id and creation time.
    fn audit_fields(&self) -> serde_json::Value {
        tenantry_audit::without(self.event_object(), &["id", "created_at", "updated_at"])
    }
}

/// An endpoint to create: every field already valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub description: Description,
    pub event_types: EventTypes,
    pub enabled: bool,
    pub headers: CustomHeaders,
    pub rate_limit: Option<RateLimit>,
}

/// A partial update: `None` leaves a field alone; `rate_limit: Some(None)` removes the limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    pub url: Option<WebhookUrl>,
    pub description: Option<Description>,
    pub event_types: Option<EventTypes>,
    pub enabled: Option<bool>,
    pub headers: Option<CustomHeaders>,
    pub rate_limit: Option<Option<RateLimit>>,
}

impl WebhookPatch {
    /// The endpoint after this patch. Enabling one that was disabled (by hand, a 410 or
    /// failures) starts it afresh: not failing.
    pub fn apply(&self, old: &Webhook, now: DateTime<Utc>) -> Webhook {
        let mut new = old.clone();
        if let Some(v) = &self.url {
            new.url = v.clone();
        }
        if let Some(v) = &self.description {
            new.description = v.clone();
        }
        if let Some(v) = &self.event_types {
            new.event_types = v.clone();
        }
        if let Some(v) = &self.headers {
            new.headers = v.clone();
        }
        if let Some(v) = self.rate_limit {
            new.rate_limit = v;
        }
        match self.enabled {
            Some(true) if old.disabled.is_some() => {
                new.disabled = None;
                new.failing_since = None;
            }
            Some(false) if old.disabled.is_none() => new.disabled = Some(DisabledReason::Manual),
            _ => {}
        }
        if new != *old {
            new.updated_at = now;
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TargetRules {
        TargetRules::default()
    }

    #[test]
    fn targets_are_https_without_credentials_or_blocked_literals() {
        assert!(WebhookUrl::parse("https://hooks.example.com/in?x=1", &rules()).is_ok());
        for bad in [
            "",
            "not a url",
            "ftp://example.com/",
            "http://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5:8443/",
            "https://[::ffff:10.0.0.5]/",
        ] {
            assert!(WebhookUrl::parse(bad, &rules()).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(WebhookUrl::parse(&long, &rules()).is_err());
        let dev = TargetRules {
            allow_http: true,
            addresses: AddressPolicy::parse("127.0.0.1/32").unwrap_or_default(),
        };
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", &dev).is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.2:9000/hook", &dev).is_err());
    }

    #[test]
    fn event_types_take_exact_types_and_families() {
        let t = EventTypes::parse(&["product.created", "project.*", "product.created"])
            .unwrap_or_default();
        assert_eq!(t.to_strings(), ["product.created", "project.*"]);
        assert!(t.matches("product.created"));
        assert!(t.matches("project.deleted"));
        assert!(!t.matches("product.deleted"));
        assert!(!t.matches("projects.created"));
        assert!(EventTypes::all().matches("anything.at_all"));
        assert!(EventTypes::parse(&["*"]).is_err());
        assert!(EventTypes::parse(&["Product.created"]).is_err());
        let many: Vec<String> = (0..=MAX_EVENT_TYPES)
            .map(|i| format!("e{i}.created"))
            .collect();
        assert!(EventTypes::parse(&many).is_err());
    }

    #[test]
    fn custom_headers_cannot_touch_the_host_framing_or_signatures() {
        let ok = BTreeMap::from([("X-Api-Key".to_owned(), "abc 123".to_owned())]);
        let h = CustomHeaders::parse(&ok).unwrap_or_default();
        assert_eq!(h.iter().collect::<Vec<_>>(), [("x-api-key", "abc 123")]);
        for name in [
            "Host",
            "connection",
            "Transfer-Encoding",
            "content-length",
            "webhook-signature",
            "Webhook-Id",
            "X-Hub-Signature-256",
            "bad name",
            "",
        ] {
            let raw = BTreeMap::from([(name.to_owned(), "v".to_owned())]);
            assert!(CustomHeaders::parse(&raw).is_err(), "{name}");
        }
        let crlf = BTreeMap::from([("x-a".to_owned(), "v\r\nx-b: injected".to_owned())]);
        assert!(CustomHeaders::parse(&crlf).is_err());
        let twice = BTreeMap::from([
            ("x-a".to_owned(), "1".to_owned()),
            ("X-A".to_owned(), "2".to_owned()),
        ]);
        assert!(CustomHeaders::parse(&twice).is_err());
    }

    #[test]
    fn rate_limits_are_bounded() {
        assert_eq!(RateLimit::parse(5).map(RateLimit::per_second), Ok(5));
        for bad in [0, -1, i64::from(RateLimit::MAX) + 1] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
