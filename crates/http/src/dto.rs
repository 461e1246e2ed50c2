//! Request and response bodies, as the API (and its OpenAPI description) shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use tenantry_kernel::Page;
use tenantry_tenancy::{Domain, DomainKind, DomainStatus, Tenant, TenantStatus};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Views that events carry too live beside their domain; re-exported for the routes.
pub use tenantry_identity::{ApiKeyView, InvitationView};
pub use tenantry_rbac::RoleView;
pub use tenantry_tenancy::BrandingView;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatusDto {
    Active,
    Suspended,
}

impl From<TenantStatus> for TenantStatusDto {
    fn from(s: TenantStatus) -> Self {
        match s {
            TenantStatus::Active => Self::Active,
            TenantStatus::Suspended => Self::Suspended,
        }
    }
}

impl From<TenantStatusDto> for TenantStatus {
    fn from(s: TenantStatusDto) -> Self {
        match s {
            TenantStatusDto::Active => Self::Active,
            TenantStatusDto::Suspended => Self::Suspended,
        }
    }
}

/// A tenant as platform operators see it.
#[derive(Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "Acme Inc")]
    pub name: String,
    pub status: TenantStatusDto,
    pub maintenance: bool,
    pub maintenance_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: *t.id.as_uuid(),
            slug: t.slug.to_string(),
            name: t.name.as_str().to_owned(),
            status: t.status.into(),
            maintenance: t.maintenance,
            maintenance_message: t
                .maintenance_message
                .as_ref()
                .map(|m| m.as_str().to_owned()),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One page of tenants.
#[derive(Serialize, ToSchema)]
pub struct TenantPage {
    pub items: Vec<TenantView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Tenant>> for TenantPage {
    fn from(p: Page<Tenant>) -> Self {
        Self {
            items: p.items.iter().map(TenantView::from).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// What a tenant's own users (and anonymous visitors of its host) may know about it.
#[derive(Serialize, ToSchema)]
pub struct TenantProfile {
    pub id: Uuid,
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "Acme Inc")]
    pub name: String,
    pub branding: BrandingView,
}

#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainKindDto {
    Subdomain,
    Custom,
}

#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatusDto {
    Pending,
    Verified,
}

#[derive(Serialize, ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    #[schema(example = "shop.acme.org")]
    pub hostname: String,
    pub kind: DomainKindDto,
    pub status: DomainStatusDto,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<&Domain> for DomainView {
    fn from(d: &Domain) -> Self {
        Self {
            id: *d.id.as_uuid(),
            hostname: d.hostname.to_string(),
            kind: match d.kind {
                DomainKind::Subdomain => DomainKindDto::Subdomain,
                DomainKind::Custom => DomainKindDto::Custom,
            },
            status: match d.status {
                DomainStatus::Pending => DomainStatusDto::Pending,
                DomainStatus::Verified => DomainStatusDto::Verified,
            },
            is_primary: d.is_primary,
            created_at: d.created_at,
            verified_at: d.verified_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTenantBody {
    /// 3–63 characters of `a-z0-9-`; becomes the subdomain.
    #[schema(
        example = "acme",
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$",
        min_length = 3,
        max_length = 63
    )]
    pub slug: String,
    #[schema(example = "Acme Inc", min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RenameTenantBody {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct MaintenanceBody {
    /// Turn maintenance on (`true`) or off.
    pub enabled: bool,
    /// Shown to clients while maintenance is on (1–500 characters).
    #[schema(min_length = 1, max_length = 500)]
    pub message: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct AddDomainBody {
    #[schema(example = "shop.acme.org")]
    pub hostname: String,
}

/// Absent field: unchanged; `null`: cleared; a value: set.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
pub struct BrandingPatchBody {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub display_name: Option<Option<String>>,
    /// An absolute http(s) URL.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 2048)]
    pub logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "#0055ff", pattern = "^#[0-9A-Fa-f]{6}$")]
    pub primary_color: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub support_email: Option<Option<String>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTenantsQuery {
    /// Only tenants with this status.
    pub status: Option<TenantStatusDto>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    #[schema(example = "postgres")]
    pub database: &'static str,
    /// Migrations this binary carries that the database lacks (empty when ready).
    pub pending_migrations: Vec<String>,
}

#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatusDto {
    Active,
    Disabled,
}

/// A person, as they see themselves.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    #[schema(example = "ann@example.com")]
    pub email: String,
    #[schema(example = "Ann Lee")]
    pub display_name: String,
    pub status: UserStatusDto,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<&tenantry_identity::User> for UserView {
    fn from(u: &tenantry_identity::User) -> Self {
        Self {
            id: *u.id.as_uuid(),
            email: u.email.as_str().to_owned(),
            display_name: u.display_name.as_str().to_owned(),
            status: match u.status {
                tenantry_identity::UserStatus::Active => UserStatusDto::Active,
                tenantry_identity::UserStatus::Disabled => UserStatusDto::Disabled,
            },
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    #[schema(example = "ann@example.com")]
    pub email: String,
    pub password: String,
}

/// A new session: a short-lived access token and the refresh token that renews it.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// An EdDSA-signed JWT (verify with `/.well-known/jwks.json`).
    pub access_token: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    pub access_expires_at: DateTime<Utc>,
    /// Opaque; exchange it at `/api/v1/auth/refresh`. Each one works once.
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
    pub user: UserView,
}

impl SessionView {
    pub fn new(s: &tenantry_identity::Session) -> Self {
        Self {
            token_type: "Bearer",
            access_token: s.access_token.clone(),
            expires_in: (s.access_expires_at - s.issued_at).num_seconds().max(0),
            access_expires_at: s.access_expires_at,
            refresh_token: s.refresh_token.0.clone(),
            refresh_expires_at: s.refresh_expires_at,
            user: UserView::from(&s.user),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMeBody {
    #[schema(example = "Ann Lee", min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    pub current_password: String,
    /// 10–128 characters, not a common password, not your e-mail address.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// The public keys that verify access tokens (RFC 7517).
#[derive(Serialize, ToSchema)]
pub struct JwksView {
    pub keys: Vec<JwkView>,
}

#[derive(Serialize, ToSchema)]
pub struct JwkView {
    #[schema(example = "OKP")]
    pub kty: String,
    #[schema(example = "Ed25519")]
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
    #[schema(example = "EdDSA")]
    pub alg: String,
}

#[derive(Serialize, ToSchema)]
pub struct PermissionView {
    #[schema(example = "members:read")]
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateRoleBody {
    #[schema(
        example = "billing",
        min_length = 2,
        max_length = 50,
        pattern = "^[a-z0-9_-]+$"
    )]
    pub name: String,
    #[schema(example = json!(["tenant:read", "audit:read"]))]
    pub permissions: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateRoleBody {
    #[schema(min_length = 2, max_length = 50, pattern = "^[a-z0-9_-]+$")]
    pub name: Option<String>,
    pub permissions: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
    pub role: String,
    #[schema(example = "active")]
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
}

impl From<&tenantry_rbac::Member> for MemberView {
    fn from(m: &tenantry_rbac::Member) -> Self {
        Self {
            user_id: *m.membership.user_id.as_uuid(),
            email: m.email.clone(),
            display_name: m.display_name.clone(),
            role_id: *m.membership.role_id.as_uuid(),
            role: m.role_name.as_str().to_owned(),
            status: m.membership.status.as_str(),
            created_at: m.membership.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMemberBody {
    pub role_id: Uuid,
}

#[derive(Deserialize, ToSchema)]
pub struct OnboardBody {
    #[schema(example = "Acme Inc", min_length = 1, max_length = 100)]
    pub organisation_name: String,
    /// 3–63 characters of `a-z0-9-`; becomes the subdomain.
    #[schema(
        example = "acme",
        pattern = "^[a-z0-9][a-z0-9-]*[a-z0-9]$",
        min_length = 3,
        max_length = 63
    )]
    pub slug: String,
    #[schema(example = "ann@acme.test", format = Email, max_length = 254)]
    pub owner_email: String,
    #[schema(example = "Ann Lee", min_length = 1, max_length = 100)]
    pub owner_name: String,
    /// For a new account: 10–128 characters, not common, not the e-mail. For an existing
    /// account: its current password.
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct OnboardedView {
    pub tenant: TenantView,
    #[schema(example = "acme.example.com")]
    pub primary_domain: String,
    /// False when an existing account became the owner.
    pub owner_created: bool,
    pub session: SessionView,
}

/// A tenant the caller belongs to.
#[derive(Serialize, ToSchema)]
pub struct UserTenantView {
    pub id: Uuid,
    #[schema(example = "Acme Inc")]
    pub name: String,
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "active")]
    pub status: String,
    #[schema(example = "acme.example.com")]
    pub primary_domain: Option<String>,
    #[schema(example = "owner")]
    pub role: String,
}

impl From<&tenantry_rbac::UserTenant> for UserTenantView {
    fn from(t: &tenantry_rbac::UserTenant) -> Self {
        Self {
            id: *t.tenant_id.as_uuid(),
            name: t.name.clone(),
            slug: t.slug.clone(),
            status: t.status.clone(),
            primary_domain: t.primary_domain.clone(),
            role: t.role_name.clone(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct InviteBody {
    #[schema(example = "bob@acme.test", format = Email, max_length = 254)]
    pub email: String,
    /// The name of one of this tenant's roles.
    #[schema(example = "member")]
    pub role: String,
}

/// What an invitee sees before accepting.
#[derive(Serialize, ToSchema)]
pub struct InvitationPreviewView {
    #[schema(example = "Acme Inc")]
    pub tenant_name: String,
    #[schema(example = "Ann Lee")]
    pub inviter_name: String,
    #[schema(example = "member")]
    pub role: String,
    pub expires_at: DateTime<Utc>,
}

/// Sign-up details, when accepting without an account.
#[derive(Deserialize, ToSchema, Default)]
pub struct AcceptBody {
    #[schema(min_length = 1, max_length = 100)]
    pub display_name: Option<String>,
    /// 10–128 characters, not a common password, not the invited e-mail address.
    #[schema(min_length = 10, max_length = 128)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    pub tenant_id: Uuid,
    pub role_id: Uuid,
    /// A session for a user who signed up while accepting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionView>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreateApiKeyBody {
    #[schema(example = "CI deploys", min_length = 1, max_length = 100)]
    pub name: String,
    /// A subset of the caller's own permissions.
    #[schema(example = json!(["products:read"]))]
    pub permissions: Vec<String>,
    pub expires_at: Option<crate::dates::Timestamp>,
}

/// A new key: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKeyView {
    /// `tnt_<prefix>_<secret>`: send it as `X-API-Key` or `Authorization: Bearer`.
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyView,
}
