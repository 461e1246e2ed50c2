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
}

impl From<&crate::Branding> for BrandingView {
    fn from(b: &crate::Branding) -> Self {
        Self {
            display_name: b.display_name.as_ref().map(|v| v.as_str().to_owned()),
            logo_url: b.logo_url.as_ref().map(|v| v.as_str().to_owned()),
            primary_color: b.primary_color.as_ref().map(|v| v.as_str().to_owned()),
            support_email: b.support_email.as_ref().map(|v| v.as_str().to_owned()),
        }
    }
}

/// The tenant's settings as `tenant.*` events carry them: its id, branding and last change.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TenantSettingsView {
    pub id: uuid::Uuid,
    pub branding: BrandingView,
    pub updated_at: DateTime<Utc>,
}

impl From<&crate::TenantSettings> for TenantSettingsView {
    fn from(s: &crate::TenantSettings) -> Self {
        Self {
            id: *s.tenant_id.as_uuid(),
            branding: (&s.branding).into(),
            updated_at: s.updated_at,
        }
    }
}
