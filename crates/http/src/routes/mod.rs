//! The route table: every operation, registered once for both actix and the OpenAPI spec.

pub mod auth;
pub mod health;
pub mod platform;
pub mod tenant;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        // Sessions and the caller's account (no tenant).
        .service(auth::jwks)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::me)
        .service(auth::update_me)
        .service(auth::change_password)
        // Tenant-scoped: a `TenantScope` argument resolves and gates the tenant.
        .service(tenant::get_tenant)
        // Operator API: an `Operator` argument requires the operator token.
        .service(platform::list_tenants)
        .service(platform::create_tenant)
        .service(platform::show_tenant)
        .service(platform::rename_tenant)
        .service(platform::suspend_tenant)
        .service(platform::resume_tenant)
        .service(platform::set_maintenance)
        .service(platform::list_domains)
        .service(platform::add_domain)
        .service(platform::verify_domain)
        .service(platform::set_primary_domain)
        .service(platform::get_branding)
        .service(platform::update_branding);
}
