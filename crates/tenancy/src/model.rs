//! Tenancy value types (valid by construction) and entities.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantry_kernel::{Email, TenantId};
use thiserror::Error;

/// Why a value was refused. The message is meant for the API client.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// Subdomain labels that can never name a tenant: they are used by the platform itself or
/// would mislead people (`admin.example.com`).
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "dashboard",
    "dev",
    "docs",
    "ftp",
    "help",
    "imap",
    "internal",
    "localhost",
    "login",
    "mail",
    "mx",
    "ns1",
    "ns2",
    "platform",
    "pop",
    "root",
    "signup",
    "smtp",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "tenantry",
    "test",
    "webhooks",
    "www",
];

/// A tenant's short name: 3–63 characters of `a-z0-9-`, no leading or trailing `-`, not
/// reserved. It is a DNS label, so `<slug>.<base domain>` is always a valid hostname.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw;
        if !(3..=63).contains(&s.len()) {
            return Err(invalid("slug must be 3 to 63 characters long"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "slug may contain only lower-case letters, digits and '-'",
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(invalid("slug must not start or end with '-'"));
        }
        // `ab--…` labels are reserved for IDNA (`xn--`): browsers would not send them as typed.
        if s.get(2..4) == Some("--") {
            return Err(invalid(
                "slug must not have '--' as its third and fourth characters",
            ));
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(invalid(format!("slug '{s}' is reserved")));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks `value` is 1..=`max` characters after trimming, without control characters.
fn bounded_text(raw: &str, what: &str, max: usize) -> Result<String, InvalidValue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if s.chars().count() > max {
        return Err(invalid(format!("{what} must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}

/// A tenant's display name: 1–100 characters, trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "name", 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message shown to clients while a tenant is in maintenance: 1–500 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MaintenanceMessage(String);

impl MaintenanceMessage {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text(raw, "maintenance message", 500).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fully qualified host name in ASCII (IDNA) form, lower-cased, without trailing dot,
/// with at least two labels and not an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ascii = to_ascii_host(raw)?;
        if !ascii.contains('.') {
            return Err(invalid("hostname must have at least two labels"));
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when this host is `base` itself or lies under it.
    pub fn is_within(&self, base: &BaseDomain) -> bool {
        self.0 == base.0 || self.0.ends_with(&format!(".{}", base.0))
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The domain tenants' subdomains hang off (`localhost` in development, `example.com` in
/// production). Unlike [`Hostname`] it may be a single label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaseDomain(String);

impl BaseDomain {
    /// Leaves room for a 63-character label in front: every subdomain is a valid hostname.
    pub const MAX_LEN: usize = 253 - 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ascii = to_ascii_host(raw)?;
        if ascii.len() > Self::MAX_LEN {
            return Err(invalid(format!(
                "base domain must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hostname of a tenant's subdomain.
    pub fn subdomain(&self, slug: &Slug) -> Hostname {
        Hostname(format!("{}.{}", slug.as_str(), self.0))
    }
}

/// IDNA-normalises `raw` and checks it is a DNS name: labels of 1–63 `a-z0-9-` characters
/// without leading or trailing `-`, at most 253 characters in all, not an IPv4 address.
fn to_ascii_host(raw: &str) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(invalid("hostname must not be empty"));
    }
    let ascii = idna::domain_to_ascii(trimmed)
        .map_err(|_| invalid("hostname is not a valid internationalised domain name"))?;
    if ascii.len() > 253 {
        return Err(invalid("hostname must be at most 253 characters"));
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid("each hostname label must be 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "hostname labels may contain only letters, digits and '-'",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("hostname labels must not start or end with '-'"));
        }
    }
    let last = ascii.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("an IP address is not a hostname"));
    }
    Ok(ascii)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// Why a request may not enter a tenant right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Inactive,
    Maintenance { message: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TransitionError {
    #[error("tenant is already suspended")]
    AlreadySuspended,
    #[error("tenant is already active")]
    AlreadyActive,
}

/// An organisation using the SaaS product. A platform record: read before any tenant is
/// known (resolution), so it is not itself tenant-owned data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: Slug,
    pub name: TenantName,
    pub status: TenantStatus,
    pub maintenance: bool,
    pub maintenance_message: Option<MaintenanceMessage>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Counts saves; a save must name the revision it read (optimistic concurrency).
    pub revision: i64,
}

impl Tenant {
    pub fn new(slug: Slug, name: TenantName, now: DateTime<Utc>) -> Self {
        Self {
            id: TenantId::new(),
            slug,
            name,
            status: TenantStatus::Active,
            maintenance: false,
            maintenance_message: None,
            created_at: now,
            updated_at: now,
            revision: 0,
        }
    }

    pub fn rename(&mut self, name: TenantName, now: DateTime<Utc>) {
        self.name = name;
        self.updated_at = now;
    }

    pub fn suspend(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.status == TenantStatus::Suspended {
            return Err(TransitionError::AlreadySuspended);
        }
        self.status = TenantStatus::Suspended;
        self.updated_at = now;
        Ok(())
    }

    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if self.status == TenantStatus::Active {
            return Err(TransitionError::AlreadyActive);
        }
        self.status = TenantStatus::Active;
        self.updated_at = now;
        Ok(())
    }

    /// Turns maintenance on, or replaces the message if it is already on.
    pub fn start_maintenance(&mut self, message: Option<MaintenanceMessage>, now: DateTime<Utc>) {
        self.maintenance = true;
        self.maintenance_message = message;
        self.updated_at = now;
    }

    /// Turns maintenance off; doing so when it is off changes nothing.
    pub fn end_maintenance(&mut self, now: DateTime<Utc>) {
        if self.maintenance {
            self.maintenance = false;
            self.maintenance_message = None;
            self.updated_at = now;
        }
    }

    /// Whether requests may enter: suspension wins over maintenance.
    pub fn gate(&self) -> Result<(), Gate> {
        if self.status == TenantStatus::Suspended {
            return Err(Gate::Inactive);
        }
        if self.maintenance {
            return Err(Gate::Maintenance {
                message: self
                    .maintenance_message
                    .as_ref()
                    .map(|m| m.as_str().to_owned()),
            });
        }
        Ok(())
    }
}

/// A CSS colour in `#rrggbb` form, lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Color(String);

impl Color {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        let hex = s.strip_prefix('#').unwrap_or("");
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("colour must be of the form #rrggbb"));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute `https` URL of at most 2,048 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebUrl(String);

impl WebUrl {
    /// An absolute `https` URL (what settings accept: a logo or a support page served over
    /// plain http would be blocked as mixed content, or read by anyone on the way).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if !s.starts_with("https://") {
            return Err(invalid("must be an https URL"));
        }
        Self::stored(s)
    }

    /// An absolute `http(s)` URL, as values saved before https was required may be.
    pub fn stored(raw: &str) -> Result<Self, InvalidValue> {
        use validator::ValidateUrl;
        let s = raw.trim();
        let scheme_ok = s.starts_with("https://") || s.starts_with("http://");
        if s.len() > 2048 || !scheme_ok || !s.validate_url() {
            return Err(invalid(
                "must be an absolute https URL of at most 2048 characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a tenant presents itself to its own users.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Branding {
    /// Shown instead of the tenant's name where set.
    pub display_name: Option<TenantName>,
    pub logo_url: Option<WebUrl>,
    pub primary_color: Option<Color>,
    pub support_email: Option<Email>,
    pub support_url: Option<WebUrl>,
}

/// A change to branding: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrandingPatch {
    pub display_name: Option<Option<TenantName>>,
    pub logo_url: Option<Option<WebUrl>>,
    pub primary_color: Option<Option<Color>>,
    pub support_email: Option<Option<Email>>,
    pub support_url: Option<Option<WebUrl>>,
}

impl Branding {
    pub fn apply(&mut self, patch: BrandingPatch) {
        let BrandingPatch {
            display_name,
            logo_url,
            primary_color,
            support_email,
            support_url,
        } = patch;
        if let Some(v) = display_name {
            self.display_name = v;
        }
        if let Some(v) = logo_url {
            self.logo_url = v;
        }
        if let Some(v) = primary_color {
            self.primary_color = v;
        }
        if let Some(v) = support_email {
            self.support_email = v;
        }
        if let Some(v) = support_url {
            self.support_url = v;
        }
    }
}

/// A BCP 47 language tag as people write them: `en`, `pt-BR`, `zh-Hant-TW`, `es-419`
/// (language, optional script, optional region), in canonical case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let bad = || invalid("locale must be a language tag such as 'en', 'pt-BR' or 'zh-Hant-TW'");
        let mut parts = raw.trim().split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(bad());
        }
        let mut out = language.to_ascii_lowercase();
        let mut next = parts.next();
        if let Some(script) =
            next.filter(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            out.push('-');
            out.push_str(&script[..1].to_ascii_uppercase());
            out.push_str(&script[1..].to_ascii_lowercase());
            next = parts.next();
        }
        if let Some(region) = next {
            let alpha = region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic());
            let digits = region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit());
            if !(alpha || digits) {
                return Err(bad());
            }
            out.push('-');
            out.push_str(&region.to_ascii_uppercase());
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name (`Europe/Berlin`, `America/Sao_Paulo`, `UTC`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZone(String);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let tz: chrono_tz::Tz = raw
            .trim()
            .parse()
            .map_err(|_| invalid("time zone must be an IANA name such as 'Europe/Berlin'"))?;
        Ok(Self(tz.name().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether the tenant is closed for maintenance, and what its users are told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    pub enabled: bool,
    pub message: Option<MaintenanceMessage>,
}

/// A change to the settings: each present part replaces the stored one (branding field by
/// field).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub branding: BrandingPatch,
    pub locale: Option<Option<Locale>>,
    pub time_zone: Option<Option<TimeZone>>,
    pub maintenance: Option<Maintenance>,
    pub security: crate::security::SecurityPatch,
}

impl SettingsPatch {
    /// Applies the patch to the settings as they are.
    pub fn apply_to(self, settings: &mut TenantSettings) {
        settings.branding.apply(self.branding);
        if let Some(v) = self.locale {
            settings.locale = v;
        }
        if let Some(v) = self.time_zone {
            settings.time_zone = v;
        }
        if let Some(v) = self.maintenance {
            settings.maintenance = v;
        }
        settings.security.apply(self.security);
    }
}

/// Per-tenant configuration: the first tenant-owned record. Only reachable with a
/// `TenantCtx` for its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSettings {
    pub tenant_id: TenantId,
    pub branding: Branding,
    pub locale: Option<Locale>,
    pub time_zone: Option<TimeZone>,
    /// Kept on the tenant's own record (resolution reads it before any settings).
    pub maintenance: Maintenance,
    pub security: crate::security::SecurityPolicy,
    pub updated_at: DateTime<Utc>,
}

impl TenantSettings {
    /// A new tenant's settings: nothing set, open, no restrictions.
    pub fn empty(tenant_id: TenantId, now: DateTime<Utc>) -> Self {
        Self {
            tenant_id,
            branding: Branding::default(),
            locale: None,
            time_zone: None,
            maintenance: Maintenance::default(),
            security: crate::security::SecurityPolicy::default(),
            updated_at: now,
        }
    }
}

impl tenantry_audit::Audited for TenantSettings {
    const ENTITY: &'static str = "tenant_settings";
    const EVENT_PREFIX: &'static str = "tenant";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::UPDATED,
    ];
    type View = crate::view::TenantSettingsView;

    fn audit_id(&self) -> String {
        self.tenant_id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        let b = &self.branding;
        serde_json::json!({
            "display_name": b.display_name.as_ref().map(TenantName::as_str),
            "logo_url": b.logo_url.as_ref().map(WebUrl::as_str),
            "primary_color": b.primary_color.as_ref().map(Color::as_str),
            "support_email": b.support_email.as_ref().map(|e| e.as_str()),
            "support_url": b.support_url.as_ref().map(WebUrl::as_str),
            "locale": self.locale.as_ref().map(Locale::as_str),
            "time_zone": self.time_zone.as_ref().map(TimeZone::as_str),
            "maintenance": self.maintenance.enabled,
            "maintenance_message": self.maintenance.message.as_ref().map(MaintenanceMessage::as_str),
            "security": serde_json::to_value(&self.security).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        for ok in ["acme", "a-1", "abc", &"x".repeat(63), "0day"] {
            assert!(Slug::parse(ok).is_ok(), "{ok:?} should be a valid slug");
        }
        for bad in [
            "",
            "ab",
            "Acme",
            "ac_me",
            "-acme",
            "acme-",
            "ac.me",
            "ac me",
            "www",
            "api",
            "admin",
            "app",
            "mail",
            "ümlaut",
            "xn--bcher-kva",
            "ab--c",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Slug::parse(&"x".repeat(64)).is_err());
    }

    #[test]
    fn hostname_rules() {
        let h = Hostname::parse(" Shop.Example.COM. ").unwrap();
        assert_eq!(h.as_str(), "shop.example.com");
        let idn = Hostname::parse("Bücher.example").unwrap();
        assert_eq!(idn.as_str(), "xn--bcher-kva.example");
        for bad in [
            "",
            "localhost",
            "-a.example.com",
            "a-.example.com",
            "a..b",
            "a_b.example.com",
            "1.2.3.4",
            "exa mple.com",
            "http://x.com",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(Hostname::parse(&long_label).is_err());
        let too_long = format!("{}com", "abcdefghi.".repeat(26));
        assert!(Hostname::parse(&too_long).is_err());
    }

    #[test]
    fn hostname_within_base() {
        let base = BaseDomain::parse("example.com").unwrap();
        assert!(Hostname::parse("a.example.com").unwrap().is_within(&base));
        assert!(Hostname::parse("example.com").unwrap().is_within(&base));
        assert!(!Hostname::parse("badexample.com").unwrap().is_within(&base));
        let slug = Slug::parse("acme").unwrap();
        assert_eq!(base.subdomain(&slug).as_str(), "acme.example.com");
        assert_eq!(
            BaseDomain::parse("LocalHost").unwrap().as_str(),
            "localhost"
        );
        let longest = format!("{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(61));
        let base = BaseDomain::parse(&longest).unwrap();
        let sub = base.subdomain(&Slug::parse(&"s".repeat(63)).unwrap());
        assert_eq!(
            Hostname::parse(sub.as_str()).unwrap(),
            sub,
            "always a valid hostname"
        );
        assert!(BaseDomain::parse(&format!("x{longest}")).is_err());
    }

    #[test]
    fn lifecycle_transitions() {
        let now = chrono::Utc::now();
        let mut t = Tenant::new(
            Slug::parse("acme").unwrap(),
            TenantName::parse("Acme").unwrap(),
            now,
        );
        assert_eq!(t.gate(), Ok(()));
        t.suspend(now).unwrap();
        assert_eq!(t.suspend(now), Err(TransitionError::AlreadySuspended));
        assert_eq!(t.gate(), Err(Gate::Inactive));
        t.resume(now).unwrap();
        assert_eq!(t.resume(now), Err(TransitionError::AlreadyActive));

        let msg = MaintenanceMessage::parse("Upgrading").unwrap();
        t.start_maintenance(Some(msg), now);
        assert_eq!(
            t.gate(),
            Err(Gate::Maintenance {
                message: Some("Upgrading".into())
            })
        );
        t.suspend(now).unwrap();
        assert_eq!(
            t.gate(),
            Err(Gate::Inactive),
            "suspension wins over maintenance"
        );
        t.resume(now).unwrap();
        t.end_maintenance(now);
        assert_eq!(t.gate(), Ok(()));
        assert_eq!(t.maintenance_message, None);
    }

    #[test]
    fn names_colours_urls() {
        assert_eq!(
            TenantName::parse("  Acme Inc  ").unwrap().as_str(),
            "Acme Inc"
        );
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"n".repeat(101)).is_err());
        assert!(TenantName::parse("a\u{0}b").is_err());
        assert_eq!(Color::parse("#AABBCC").unwrap().as_str(), "#aabbcc");
        assert!(Color::parse("red").is_err());
        assert!(Color::parse("#abc").is_err());
        assert!(WebUrl::parse("https://cdn.example.com/logo.png").is_ok());
        assert!(WebUrl::parse("javascript:alert(1)").is_err());
        assert!(WebUrl::parse("ftp://x.example.com/a").is_err());
        assert!(WebUrl::parse("http://x.example.com/a").is_err());
        assert!(WebUrl::stored("http://x.example.com/a").is_ok());
        assert_eq!(Locale::parse("pt_br").unwrap().as_str(), "pt-BR");
        assert_eq!(Locale::parse("zh-hant-tw").unwrap().as_str(), "zh-Hant-TW");
        assert_eq!(Locale::parse("es-419").unwrap().as_str(), "es-419");
        for bad in ["", "e", "english", "en-", "en-USA", "en-US-x", "12"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TimeZone::parse("Europe/Berlin").unwrap().as_str(),
            "Europe/Berlin"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn branding_patch_sets_clears_and_keeps() {
        let mut b = Branding {
            display_name: Some(TenantName::parse("Old").unwrap()),
            primary_color: Some(Color::parse("#000000").unwrap()),
            ..Branding::default()
        };
        b.apply(BrandingPatch {
            display_name: Some(None),
            logo_url: Some(Some(WebUrl::parse("https://x.example/l.png").unwrap())),
            ..BrandingPatch::default()
        });
        assert_eq!(b.display_name, None);
        assert!(b.logo_url.is_some());
        assert_eq!(b.primary_color, Some(Color::parse("#000000").unwrap()));
    }
}
