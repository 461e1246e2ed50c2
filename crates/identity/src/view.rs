//! Invitations and API keys as the API returns them and as their events carry them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::invitations::Delivery;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: uuid::Uuid,
    pub email: String,
    pub role_id: uuid::Uuid,
    /// Who invited (null: the platform, provisioning the tenant).
    pub invited_by: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub accepted_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Where the e-mail stands: `pending` (queued or being retried), `sent`, or `failed`
    /// after every attempt (`resend` tries again with a new link).
    pub delivery: Delivery,
}

impl From<&crate::Invitation> for InvitationView {
    fn from(i: &crate::Invitation) -> Self {
        Self {
            id: *i.id.as_uuid(),
            email: i.email.as_str().to_owned(),
            role_id: *i.role_id.as_uuid(),
            invited_by: i.invited_by.map(|u| *u.as_uuid()),
            created_at: i.created_at,
            expires_at: i.expires_at,
            accepted_at: i.accepted_at,
            revoked_at: i.revoked_at,
            delivery: i.delivery,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: uuid::Uuid,
    pub name: String,
    /// The public part, for telling keys apart.
    pub prefix: String,
    pub permissions: Vec<String>,
    pub created_by: uuid::Uuid,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&crate::ApiKey> for ApiKeyView {
    fn from(k: &crate::ApiKey) -> Self {
        Self {
            id: *k.id.as_uuid(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            permissions: k.permissions.clone(),
            created_by: *k.created_by.as_uuid(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A tenant's SSO provider as its administrators see it (and as its events carry it): never
/// the client secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SsoProviderView {
    pub id: uuid::Uuid,
    #[schema(example = "Acme Okta")]
    pub name: String,
    #[schema(example = "https://acme.okta.com")]
    pub issuer: String,
    #[schema(example = "0oa1b2c3d4")]
    pub client_id: String,
    /// Requested besides `openid`.
    #[schema(example = json!(["email", "profile"]))]
    pub scopes: Vec<String>,
    #[schema(example = json!(["acme.com"]))]
    pub allowed_domains: Vec<String>,
    #[schema(example = json!(["https://app.acme.com/sso/done"]))]
    pub redirect_uris: Vec<String>,
    #[schema(example = "member")]
    pub default_role: String,
    pub jit: bool,
    pub enforce: bool,
    /// Always true: a secret is stored (sealed), and never returned.
    pub has_client_secret: bool,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&crate::SsoProvider> for SsoProviderView {
    fn from(p: &crate::SsoProvider) -> Self {
        Self {
            id: *p.id.as_uuid(),
            name: p.name.clone(),
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            scopes: p.scopes.clone(),
            allowed_domains: p.allowed_domains.clone(),
            redirect_uris: p.redirect_uris.clone(),
            default_role: p.default_role.clone(),
            jit: p.jit,
            enforce: p.enforce,
            has_client_secret: true,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A tenant's SCIM token as its administrators see it (and as its events carry it): never the
/// secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ScimTokenView {
    pub id: uuid::Uuid,
    #[schema(example = "Okta provisioning")]
    pub name: String,
    /// The role of the members the directory provisions.
    #[schema(example = "member")]
    pub default_role: String,
    pub created_by: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339_opt")]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&crate::ScimToken> for ScimTokenView {
    fn from(t: &crate::ScimToken) -> Self {
        Self {
            id: *t.id.as_uuid(),
            name: t.name.clone(),
            default_role: t.default_role.clone(),
            created_by: t.created_by.map(|u| *u.as_uuid()),
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A user of the tenant's directory as its events carry it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ScimUserView {
    pub id: uuid::Uuid,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub formatted_name: Option<String>,
    pub emails: Vec<String>,
    /// Unset: the directory did not say (counts as active).
    pub active: Option<bool>,
    /// The Tenantry account the record provisions (none until an e-mail address is known).
    pub user_id: Option<uuid::Uuid>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "tenantry_kernel::instant::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<&crate::ScimUser> for ScimUserView {
    fn from(u: &crate::ScimUser) -> Self {
        Self {
            id: *u.id.as_uuid(),
            user_name: u.user_name.clone(),
            external_id: u.external_id.clone(),
            display_name: u.display_name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            formatted_name: u.formatted_name.clone(),
            emails: u.emails.iter().map(|e| e.value.clone()).collect(),
            active: u.active,
            user_id: u.user_id.map(|id| *id.as_uuid()),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}
