//! Tenant settings as the API returns them and as `tenant.*` events carry them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct BrandingView {
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    #[schema(example = "#0055ff")]
    pub primary_color: Option<String>,
    pub support_email: Option<String>,
    pub support_url: Option<String>,
}

impl From<&crate::Branding> for BrandingView {
    fn from(b: &crate::Branding) -> Self {
        Self {
            display_name: b.display_name.as_ref().map(|v| v.as_str().to_owned()),
            logo_url: b.logo_url.as_ref().map(|v| v.as_str().to_owned()),
            primary_color: b.primary_color.as_ref().map(|v| v.as_str().to_owned()),
            support_email: b.support_email.as_ref().map(|v| v.as_str().to_owned()),
            support_url: b.support_url.as_ref().map(|v| v.as_str().to_owned()),
        }
    }
}

/// Whether the tenant is closed for maintenance.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MaintenanceView {
    pub enabled: bool,
    /// Shown to the tenant's users while it is closed.
    pub message: Option<String>,
}

/// The tenant's Content-Security-Policy directives (each a list of CSP sources).
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct CspView {
    #[schema(example = json!(["'self'", "https://cdn.acme.com"]))]
    pub script_src: Vec<String>,
    pub style_src: Vec<String>,
    pub img_src: Vec<String>,
    pub connect_src: Vec<String>,
    pub frame_src: Vec<String>,
    /// Who may frame the tenant's pages; empty: nobody.
    pub frame_ancestors: Vec<String>,
    pub allow_unsafe_eval: bool,
}

/// The tenant's security policy at the edge.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct SecurityView {
    /// Networks allowed to reach the tenant (CIDR); empty: everyone.
    #[schema(example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub ip_allowlist: Vec<String>,
    /// Emitted as `Content-Security-Policy` on the tenant's responses; `null`: the default.
    pub csp: Option<CspView>,
    /// Browser origins allowed to call the API (CORS).
    #[schema(example = json!(["https://app.acme.com"]))]
    pub cors_origins: Vec<String>,
    /// Members without a second factor get 403 `mfa_enrollment_required`.
    pub require_mfa: bool,
    /// The operator's staff may act as a member for support (each time on the record).
    pub allow_impersonation: bool,
}

impl From<&crate::SecurityPolicy> for SecurityView {
    fn from(p: &crate::SecurityPolicy) -> Self {
        Self {
            ip_allowlist: p
                .ip_allowlist
                .networks()
                .iter()
                .map(ToString::to_string)
                .collect(),
            csp: p.csp.as_ref().map(|c| CspView {
                script_src: c.script_src.clone(),
                style_src: c.style_src.clone(),
                img_src: c.img_src.clone(),
                connect_src: c.connect_src.clone(),
                frame_src: c.frame_src.clone(),
                frame_ancestors: c.frame_ancestors.clone(),
                allow_unsafe_eval: c.allow_unsafe_eval,
            }),
            cors_origins: p
                .cors_origins
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            require_mfa: p.require_mfa,
            allow_impersonation: p.allow_impersonation,
        }
    }
}

/// The tenant's settings, as the API returns them and `tenant.*` events carry them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TenantSettingsView {
    pub id: uuid::Uuid,
    pub branding: BrandingView,
    #[schema(example = "en-GB")]
    pub locale: Option<String>,
    #[schema(example = "Europe/London")]
    pub time_zone: Option<String>,
    pub maintenance: MaintenanceView,
    pub security: SecurityView,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&crate::TenantSettings> for TenantSettingsView {
    fn from(s: &crate::TenantSettings) -> Self {
        Self {
            id: *s.tenant_id.as_uuid(),
            branding: (&s.branding).into(),
            locale: s.locale.as_ref().map(|v| v.as_str().to_owned()),
            time_zone: s.time_zone.as_ref().map(|v| v.as_str().to_owned()),
            maintenance: MaintenanceView {
                enabled: s.maintenance.enabled,
                message: s
                    .maintenance
                    .message
                    .as_ref()
                    .map(|m| m.as_str().to_owned()),
            },
            security: (&s.security).into(),
            updated_at: s.updated_at,
        }
    }
}

/// A domain as the API returns it and as `domain.*` events carry it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DomainView {
    pub id: uuid::Uuid,
    #[schema(example = "portal.acme.com")]
    pub hostname: String,
    pub kind: crate::DomainKind,
    /// `pending` (waiting for its proof, not routing), `verified` (routing) or `failed` (not
    /// proven within 30 days; checked again only when asked).
    pub status: crate::DomainStatus,
    pub is_primary: bool,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub verified_at: Option<DateTime<Utc>>,
    /// The challenge to publish (custom domains only).
    pub verification_token: Option<String>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub last_checked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub next_check_at: Option<DateTime<Utc>>,
    /// Why the last check did not find the challenge.
    pub check_error: Option<String>,
    /// A verified domain whose challenge disappeared: when it was first missed (it routes
    /// until the grace period ends).
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub lost_at: Option<DateTime<Utc>>,
    /// Where the hostname's CNAME pointed at the last check.
    pub cname_target: Option<String>,
}

impl From<&crate::Domain> for DomainView {
    fn from(d: &crate::Domain) -> Self {
        Self {
            id: *d.id.as_uuid(),
            hostname: d.hostname.to_string(),
            kind: d.kind,
            status: d.status,
            is_primary: d.is_primary,
            created_at: d.created_at,
            verified_at: d.verified_at,
            verification_token: d.verification_token.clone(),
            last_checked_at: d.last_checked_at,
            next_check_at: d.next_check_at,
            check_error: d.check_error.clone(),
            lost_at: d.lost_at,
            cname_target: d.cname_target.clone(),
        }
    }
}

/// The tenant's own mail server, as its administrators see it (and `smtp_settings.*` events
/// carry it): never the password.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SmtpSettingsView {
    /// The tenant's id.
    pub id: uuid::Uuid,
    #[schema(example = "smtp.acme.com")]
    pub host: String,
    #[schema(example = 587)]
    pub port: u16,
    /// `starttls` (required), `tls` (from the first byte) or `none` (a private relay only).
    #[schema(example = "starttls")]
    pub tls: String,
    #[schema(example = "mailer@acme.com")]
    pub username: Option<String>,
    /// Whether a password is stored (sealed; never returned).
    pub has_password: bool,
    #[schema(example = "no-reply@acme.com")]
    pub from_address: String,
    #[schema(example = "Acme")]
    pub from_name: Option<String>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&crate::smtp::SmtpSettings> for SmtpSettingsView {
    fn from(s: &crate::smtp::SmtpSettings) -> Self {
        Self {
            id: *s.tenant_id.as_uuid(),
            host: s.host.clone(),
            port: s.port,
            tls: s.tls.as_str().to_owned(),
            username: s.username.clone(),
            has_password: s.has_password,
            from_address: s.from_address.as_str().to_owned(),
            from_name: s.from_name.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}
