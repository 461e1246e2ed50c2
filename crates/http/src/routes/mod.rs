//! The route table: every operation, registered once for both actix and the OpenAPI spec.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod deletion;
pub mod domains;
pub mod events;
pub mod exports;
pub mod files;
pub mod health;
pub mod imports;
pub mod invitations;
pub mod jobs;
pub mod mfa;
pub mod onboard;
pub mod platform;
pub mod products;
pub mod projects;
pub mod scim;
pub mod search;
pub mod settings;
pub mod smtp;
pub mod sso;
pub mod storage;
pub mod team;
pub mod tenant;
pub mod usage;
pub mod webhooks;

use actix_web::dev::HttpServiceFactory;
use utoipa_actix_web::OpenApiFactory;

/// Where [`configure`] registers the routes: the OpenAPI document's builder, which also
/// collects each route's paths and schemas, or a worker's plain actix configuration, which
/// only routes. Each HTTP worker builds its own application, so building the whole document
/// there too cost every worker the document's allocations at start-up (bench/README.md,
/// "Sixth results"); the document is built once, by [`crate::openapi`].
pub trait Routes {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, route: F) -> &mut Self;
}

impl Routes for utoipa_actix_web::service_config::ServiceConfig<'_> {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, route: F) -> &mut Self {
        utoipa_actix_web::service_config::ServiceConfig::service(self, route)
    }
}

impl Routes for actix_web::web::ServiceConfig {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, route: F) -> &mut Self {
        actix_web::web::ServiceConfig::service(self, route)
    }
}

pub fn configure<C: Routes>(cfg: &mut C) {
    cfg.service(health::healthz)
        .service(health::readyz)
        // Sessions and the caller's account (no tenant).
        .service(auth::jwks)
        .service(auth::login)
        .service(auth::refresh)
        .service(auth::logout)
        .service(auth::me)
        .service(auth::update_me)
        .service(auth::delete_me)
        .service(auth::change_password)
        .service(auth::my_tenants)
        .service(auth::my_security_events)
        .service(auth::my_sessions)
        .service(auth::end_my_session)
        .service(mfa::mfa_status)
        .service(mfa::start_totp)
        .service(mfa::confirm_totp)
        .service(mfa::disable_totp)
        .service(mfa::regenerate_recovery_codes)
        .service(mfa::verify_mfa)
        .service(sso::sso_exchange)
        // Single sign-on: the browser's way in (a tenant's provider, the one callback).
        .service(sso::sso_callback)
        .service(sso::sso_authorize)
        // Sign-up and the permission catalogue (no tenant, no token).
        .service(onboard::onboard)
        .service(onboard::permissions)
        // The public price list (no tenant, no token).
        .service(billing::public_plans)
        // The billing provider's webhook (its signature is its credential).
        .service(billing::stripe_webhook)
        // Tenant-scoped: a `TenantScope` argument resolves and gates the tenant.
        .service(tenant::get_tenant)
        // Members (or API keys) only: a `Member` argument checks the permission each
        // handler declares (`x-permission`, see `crate::permissions`).
        .service(team::list_members)
        .service(team::update_member)
        .service(team::remove_member)
        .service(team::list_roles)
        .service(team::create_role)
        .service(team::update_role)
        .service(team::delete_role)
        .service(invitations::invite)
        .service(invitations::list_invitations)
        .service(invitations::resend_invitation)
        .service(invitations::revoke_invitation)
        .service(sso::list_sso_providers)
        .service(sso::create_sso_provider)
        .service(sso::get_sso_provider)
        .service(sso::replace_sso_provider)
        .service(sso::delete_sso_provider)
        .service(scim::list_scim_tokens)
        .service(scim::create_scim_token)
        .service(scim::revoke_scim_token)
        .service(settings::get_settings)
        .service(settings::update_settings)
        .service(deletion::request_deletion)
        .service(deletion::get_deletion)
        .service(deletion::cancel_deletion)
        .service(deletion::cancel_tenant_deletion)
        .service(deletion::list_purges)
        .service(smtp::get_smtp)
        .service(smtp::put_smtp)
        .service(smtp::delete_smtp)
        .service(smtp::test_smtp)
        .service(storage::get_storage)
        .service(storage::put_storage)
        .service(storage::delete_storage)
        .service(storage::get_tenant_storage)
        .service(storage::put_tenant_storage)
        .service(storage::delete_tenant_storage)
        .service(domains::list_tenant_domains)
        .service(domains::add_tenant_domain)
        .service(domains::get_tenant_domain)
        .service(domains::verify_tenant_domain)
        .service(domains::set_primary_tenant_domain)
        .service(domains::remove_tenant_domain)
        .service(billing::get_subscription)
        .service(billing::change_plan)
        .service(billing::list_quotas)
        .service(usage::report_usage)
        .service(usage::get_usage)
        .service(api_keys::create_api_key)
        .service(api_keys::list_api_keys)
        .service(api_keys::revoke_api_key)
        .service(webhooks::list_webhooks)
        .service(webhooks::create_webhook)
        .service(webhooks::get_webhook)
        .service(webhooks::update_webhook)
        .service(webhooks::delete_webhook)
        .service(webhooks::rotate_webhook_secret)
        .service(webhooks::list_webhook_attempts)
        .service(webhooks::list_event_attempts)
        .service(webhooks::webhook_stats)
        .service(webhooks::resend_webhook_event)
        .service(webhooks::recover_webhook)
        .service(webhooks::test_webhook)
        .service(products::list_products)
        .service(products::create_product)
        .service(products::bulk_import)
        .service(products::get_product)
        .service(products::update_product)
        .service(products::delete_product)
        .service(files::attach_image)
        .service(files::list_images)
        .service(files::detach_image)
        .service(files::upload_file)
        .service(files::list_files)
        .service(files::get_file)
        .service(files::file_content)
        .service(files::file_link)
        .service(files::delete_file)
        .service(exports::create_export)
        .service(exports::list_exports)
        .service(exports::get_export)
        .service(exports::download_export)
        .service(projects::list_projects)
        .service(projects::create_project)
        .service(projects::get_project)
        .service(projects::update_project)
        .service(projects::delete_project)
        .service(projects::list_tasks)
        .service(projects::create_task)
        .service(projects::get_task)
        .service(projects::update_task)
        .service(projects::delete_task)
        .service(projects::toggle_task)
        .service(search::search)
        .service(audit::list_audit_logs)
        .service(audit::verify_audit_logs)
        .service(events::list_events)
        .service(events::get_event)
        // The event-type catalogue (no tenant, no token).
        .service(events::event_types)
        // Invitation links: by token, before any tenant (no `Member`).
        .service(invitations::lookup_invitation)
        .service(invitations::accept_invitation)
        // Operator API: an `Operator` argument requires the operator token.
        .service(platform::impersonate)
        .service(platform::list_tenants)
        .service(imports::import_tenant)
        .service(imports::provision_tenants)
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
        .service(platform::update_branding)
        .service(platform::security_events)
        .service(platform::disable_user)
        .service(platform::delete_user)
        .service(platform::enable_user)
        .service(billing::list_plans)
        .service(billing::create_plan)
        .service(billing::get_plan)
        .service(billing::update_plan)
        .service(billing::delete_plan)
        .service(billing::platform_subscription)
        .service(billing::update_subscription)
        .service(billing::platform_change_plan)
        .service(billing::platform_quotas)
        .service(billing::override_quota)
        .service(billing::clear_quota_override)
        .service(usage::list_metrics)
        .service(usage::create_metric)
        .service(usage::period_usage)
        .service(jobs::queue);
}
