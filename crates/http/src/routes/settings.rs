//! The current tenant's settings (`settings:manage`): branding, locale and time zone,
//! maintenance, and the security policy its edge enforces (IP allowlist, CSP, CORS origins).
//! Changes are audited and evented (`tenant.updated`).

use actix_web::{HttpRequest, get, patch, web};
use serde::Deserialize;
use tenantry_tenancy::{
    BrandingPatch, Color, CorsOrigin, Csp, InvalidValue, IpAllowlist, Locale, Maintenance,
    MaintenanceMessage, SecurityPatch, SettingsPatch, TenantName, TenantSettingsView, TimeZone,
    WebUrl,
};
use utoipa::ToSchema;

use crate::client::ClientAddr;
use crate::guard::Member;
use crate::json::{ApiJson, present};
use crate::problem::{Fields, Problem};
use crate::responses::{BodyErrors, MemberErrors};
use crate::state::AppState;

type Data = web::Data<AppState>;

/// Branding fields: absent stays, `null` clears, a value sets.
#[derive(Deserialize, ToSchema)]
pub struct BrandingPatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub display_name: Option<Option<String>>,
    /// An absolute https URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2048, example = "https://cdn.acme.com/logo.svg")]
    pub logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "#0055ff", pattern = "^#[0-9A-Fa-f]{6}$")]
    pub primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub support_email: Option<Option<String>>,
    /// An absolute https URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2048, example = "https://help.acme.com")]
    pub support_url: Option<Option<String>>,
}

impl BrandingPatchBody {
    /// Parses each present field, recording the invalid ones under `prefix`.
    pub(crate) fn parse(self, f: &mut Fields, prefix: &str) -> BrandingPatch {
        let name = |field: &str| format!("{prefix}{field}");
        BrandingPatch {
            display_name: f.nullable(&name("display_name"), self.display_name, TenantName::parse),
            logo_url: f.nullable(&name("logo_url"), self.logo_url, WebUrl::parse),
            primary_color: f.nullable(&name("primary_color"), self.primary_color, Color::parse),
            support_email: f.nullable(
                &name("support_email"),
                self.support_email,
                tenantry_kernel::Email::parse,
            ),
            support_url: f.nullable(&name("support_url"), self.support_url, WebUrl::parse),
        }
    }
}

// Maintenance mode, set by the tenant (`PATCH /api/v1/settings`) or by the operator
// (`PUT /api/v1/platform/tenants/{tenant}/maintenance`): one struct for both, as the document
// holds one schema per name. While it is on, everyone but the tenant's administrators (those
// who may manage settings) and the operator's staff gets 503 `tenant_maintenance`. (Not a doc
// comment: that would become the schema's description.)
#[derive(Deserialize, ToSchema)]
pub struct MaintenanceBody {
    /// Turn maintenance on (`true`) or off.
    pub enabled: bool,
    /// Shown to clients while maintenance is on (1–500 characters).
    #[schema(min_length = 1, max_length = 500)]
    pub message: Option<String>,
}

/// A Content-Security-Policy: each directive a list of CSP sources (keywords such as
/// `'self'`, nonces and hashes, schemes such as `https:`, hosts such as
/// `https://cdn.acme.com` or `*.acme.com`). No wildcards in `script_src`; `'unsafe-eval'`
/// only with `allow_unsafe_eval`.
#[derive(Deserialize, ToSchema)]
pub struct CspBody {
    #[serde(default)]
    #[schema(max_items = 30, example = json!(["'self'", "https://cdn.acme.com"]))]
    pub script_src: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 30)]
    pub style_src: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 30)]
    pub img_src: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 30)]
    pub connect_src: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 30)]
    pub frame_src: Vec<String>,
    /// Who may frame the tenant's pages; empty: nobody.
    #[serde(default)]
    #[schema(max_items = 30)]
    pub frame_ancestors: Vec<String>,
    #[serde(default)]
    pub allow_unsafe_eval: bool,
}

/// Each present part replaces the stored one.
#[derive(Deserialize, ToSchema)]
pub struct SecurityPatchBody {
    /// CIDR ranges or addresses allowed to reach the tenant; `[]`: everyone. Refusals are
    /// 403 `ip_not_allowed`.
    #[schema(max_items = 100, example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub ip_allowlist: Option<Vec<String>>,
    /// `null` goes back to the default policy.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CspBody>)]
    pub csp: Option<Option<CspBody>>,
    /// Browser origins allowed to call the API (`https://app.acme.com`).
    #[schema(max_items = 50, example = json!(["https://app.acme.com"]))]
    pub cors_origins: Option<Vec<String>>,
    /// Members must have a second factor (TOTP): those without one get 403
    /// `mfa_enrollment_required` on this tenant's routes until they enrol.
    pub require_mfa: Option<bool>,
    /// Whether the operator's staff may act as a member for support (recorded in the audit
    /// trail and the member's security events). On by default.
    pub allow_impersonation: Option<bool>,
}

/// A change to the settings: absent parts stay.
#[derive(Deserialize, ToSchema)]
pub struct SettingsPatchBody {
    pub branding: Option<BrandingPatchBody>,
    /// A language tag (`en`, `pt-BR`); `null` clears.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "en-GB", pattern = "^[A-Za-z]{2,3}([-_][A-Za-z]{4})?([-_]([A-Za-z]{2}|[0-9]{3}))?$")]
    pub locale: Option<Option<String>>,
    /// An IANA time zone (`Europe/London`); `null` clears.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Europe/London")]
    pub time_zone: Option<Option<String>>,
    pub maintenance: Option<MaintenanceBody>,
    pub security: Option<SecurityPatchBody>,
}

impl SettingsPatchBody {
    fn parse(self) -> Result<SettingsPatch, Problem> {
        let mut f = Fields::default();
        let branding = self
            .branding
            .map(|b| b.parse(&mut f, "branding."))
            .unwrap_or_default();
        let locale = f.nullable("locale", self.locale, Locale::parse);
        let time_zone = f.nullable("time_zone", self.time_zone, TimeZone::parse);
        let maintenance = self.maintenance.and_then(|m| {
            let message = match m.message.filter(|s| !s.trim().is_empty()) {
                None => Some(None),
                Some(raw) => f
                    .take("maintenance.message", MaintenanceMessage::parse(&raw))
                    .map(Some),
            }?;
            Some(Maintenance {
                enabled: m.enabled,
                message,
            })
        });
        let security = match self.security {
            None => SecurityPatch::default(),
            Some(s) => SecurityPatch {
                ip_allowlist: s
                    .ip_allowlist
                    .and_then(|l| f.take("security.ip_allowlist", IpAllowlist::parse(&l))),
                csp: match s.csp {
                    None => None,
                    Some(None) => Some(None),
                    Some(Some(c)) => {
                        let csp = Csp {
                            script_src: c.script_src,
                            style_src: c.style_src,
                            img_src: c.img_src,
                            connect_src: c.connect_src,
                            frame_src: c.frame_src,
                            frame_ancestors: c.frame_ancestors,
                            allow_unsafe_eval: c.allow_unsafe_eval,
                        };
                        f.take("security.csp", csp.validate().map(|()| csp))
                            .map(Some)
                    }
                },
                cors_origins: s.cors_origins.and_then(|list| {
                    if list.len() > tenantry_tenancy::MAX_ORIGINS {
                        let too_many: Result<Vec<CorsOrigin>, _> = Err(InvalidValue(format!(
                            "at most {} origins",
                            tenantry_tenancy::MAX_ORIGINS
                        )));
                        return f.take("security.cors_origins", too_many);
                    }
                    f.take(
                        "security.cors_origins",
                        list.iter()
                            .map(|o| CorsOrigin::parse(o))
                            .collect::<Result<Vec<_>, _>>(),
                    )
                }),
                require_mfa: s.require_mfa,
                allow_impersonation: s.allow_impersonation,
            },
        };
        f.finish()?;
        Ok(SettingsPatch {
            branding,
            locale,
            time_zone,
            maintenance,
            security,
        })
    }
}

/// The tenant's settings.
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    responses(
        (status = 200, description = "The settings", body = TenantSettingsView),
        MemberErrors,
    )
)]
#[get("")]
pub async fn get_settings(
    m: Member,
    state: Data,
) -> Result<web::Json<TenantSettingsView>, Problem> {
    let settings = state.settings.get(&m.ctx).await?;
    Ok(web::Json(TenantSettingsView::from(&settings)))
}

/// Change the tenant's settings: each present part replaces the stored one (branding field
/// by field). The security policy takes effect on the next request, on every instance
/// within a second.
#[utoipa::path(
    extensions(("x-permission" = json!("settings:manage"))),
    tag = "tenant", security(("bearer_token" = [])),
    request_body = SettingsPatchBody,
    responses(
        (status = 200, description = "The settings as saved", body = TenantSettingsView),
        MemberErrors,
        BodyErrors,
    )
)]
#[patch("")]
pub async fn update_settings(
    m: Member,
    req: HttpRequest,
    state: Data,
    body: ApiJson<SettingsPatchBody>,
) -> Result<web::Json<TenantSettingsView>, Problem> {
    let patch = body.0.parse()?;
    // An allowlist that leaves out the address changing it would lock its author out.
    if let (Some(list), Some(client)) = (&patch.security.ip_allowlist, ClientAddr::of(&req))
        && !list.allows(client.ip)
    {
        let mut f = Fields::default();
        f.take::<(), _>(
            "security.ip_allowlist",
            Err(format!(
                "it leaves out your own address ({}): you would lock yourself out",
                client.ip
            )),
        );
        f.finish()?;
    }
    // Requiring MFA without a second factor of one's own would lock its author out too.
    if patch.security.require_mfa == Some(true) && !m.mfa {
        let mut f = Fields::default();
        f.take::<(), _>(
            "security.require_mfa",
            Err(
                "enrol a second factor (/api/v1/auth/mfa/totp) and log in with it first: \
                 you would lock yourself out",
            ),
        );
        f.finish()?;
    }
    let settings = state.settings.update(&m.ctx, patch).await?;
    Ok(web::Json(TenantSettingsView::from(&settings)))
}
