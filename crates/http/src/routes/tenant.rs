//! Routes inside the resolved tenant.

use actix_web::{get, web};
use serde::Serialize;
use tenantry_tenancy::BrandingView;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::Problem;
use crate::resolve::TenantScope;

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

/// The current tenant's public profile: name, slug and branding.
///
/// The tenant is named by the host (`<slug>.<base domain>` or a verified custom domain) or,
/// when the host names none, by the `X-Tenant-ID` header (id or slug).
#[utoipa::path(
    tag = "tenant",
    params(("X-Tenant-ID" = Option<String>, Header, description = "Tenant id or slug, when the host does not name the tenant")),
    responses(
        (status = 200, description = "The tenant's public profile", body = TenantProfile),
        (status = 404, description = "No tenant matches (`tenant_not_found`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Tenant suspended (`tenant_inactive`), or the client's address is outside the tenant's allowlist (`ip_not_allowed`)", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "Tenant in maintenance (`tenant_maintenance`), with `Retry-After`", body = crate::problem::ProblemBody, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn get_tenant(scope: TenantScope) -> Result<web::Json<TenantProfile>, Problem> {
    // The settings resolution cached: the profile costs no database call.
    let settings = &scope.settings;
    Ok(web::Json(TenantProfile {
        id: *scope.tenant.id.as_uuid(),
        slug: scope.tenant.slug.to_string(),
        name: scope.tenant.name.as_str().to_owned(),
        branding: BrandingView::from(&settings.branding),
    }))
}
