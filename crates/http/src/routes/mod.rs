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
use utoipa::openapi::path::Paths;
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa_actix_web::OpenApiFactory;

/// Where [`configure`] registers the routes: a worker's actix configuration, which only
/// routes, or the OpenAPI document's [`Document`], which only collects each route's path and
/// schemas. Each HTTP worker builds its own application, so building the whole document
/// there too cost every worker the document's allocations at start-up (bench/README.md,
/// "Sixth results"); the document is built once, by [`crate::openapi`].
pub trait Routes: Sized {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, route: F) -> &mut Self;

    /// Registers `routes` under the static `prefix`; their own paths are relative to it.
    /// A request tries a scope's routes only when its path starts with the prefix (a
    /// string comparison), and each route's expression is shorter (decision 0065).
    fn scope(&mut self, prefix: &'static str, routes: impl FnOnce(&mut Self)) -> &mut Self;
}

impl Routes for actix_web::web::ServiceConfig {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, route: F) -> &mut Self {
        actix_web::web::ServiceConfig::service(self, route)
    }

    fn scope(&mut self, prefix: &'static str, routes: impl FnOnce(&mut Self)) -> &mut Self {
        actix_web::web::ServiceConfig::service(
            self,
            actix_web::web::scope(prefix).configure(routes),
        )
    }
}

/// The document's side of [`configure`]: every route's operations under its full path (its
/// scopes' prefixes joined to its own path), and the schemas they name.
#[derive(Default)]
pub struct Document {
    prefix: String,
    /// Paths registered outside any scope (see the tests).
    unscoped: Vec<String>,
    pub paths: Paths,
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

impl Routes for Document {
    fn service<F: HttpServiceFactory + OpenApiFactory + 'static>(&mut self, route: F) -> &mut Self {
        let mut paths = route.paths();
        if self.prefix.is_empty() {
            self.unscoped.extend(paths.paths.keys().cloned());
        }
        paths.paths = std::mem::take(&mut paths.paths)
            .into_iter()
            .map(|(path, item)| (format!("{}{path}", self.prefix), item))
            .collect();
        self.paths.merge(paths);
        route.schemas(&mut self.schemas);
        self
    }

    fn scope(&mut self, prefix: &'static str, routes: impl FnOnce(&mut Self)) -> &mut Self {
        let outer = self.prefix.len();
        self.prefix.push_str(prefix);
        routes(self);
        self.prefix.truncate(outer);
        self
    }
}

/// Every operation. A path under `/api/v1/<segment>` is registered in that segment's scope,
/// and its handler's attribute names the rest of the path (`#[get("/{id}")]` in
/// `/api/v1/products` serves `/api/v1/products/{id}`; `#[get("")]` the prefix itself). Who
/// may call a route is its handler's arguments' business: none (sign-in, sign-up, the public
/// catalogues), a `TenantScope` (the tenant resolved and gated), a `Member` (the permission
/// each handler declares, `x-permission`, see `crate::permissions`) or an `Operator`.
pub fn configure<C: Routes>(cfg: &mut C) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(auth::jwks)
        .scope("/api/v1/api-keys", |s| {
            s.service(api_keys::list_api_keys)
                .service(api_keys::create_api_key)
                .service(api_keys::revoke_api_key);
        })
        .scope("/api/v1/audit-logs", |s| {
            s.service(audit::list_audit_logs)
                .service(audit::verify_audit_logs);
        })
        .scope("/api/v1/auth", |s| {
            s.service(auth::login)
                .service(auth::logout)
                .service(auth::me)
                .service(auth::update_me)
                .service(auth::delete_me)
                .service(auth::my_security_events)
                .service(mfa::mfa_status)
                .service(mfa::regenerate_recovery_codes)
                .service(mfa::start_totp)
                .service(mfa::confirm_totp)
                .service(mfa::disable_totp)
                .service(mfa::verify_mfa)
                .service(auth::change_password)
                .service(auth::refresh)
                .service(auth::my_sessions)
                .service(auth::end_my_session)
                .service(sso::sso_exchange)
                .service(auth::my_tenants);
        })
        .scope("/api/v1/billing", |s| {
            s.service(billing::change_plan)
                .service(billing::get_subscription)
                .service(billing::stripe_webhook);
        })
        .scope("/api/v1/domains", |s| {
            s.service(domains::list_tenant_domains)
                .service(domains::add_tenant_domain)
                .service(domains::get_tenant_domain)
                .service(domains::remove_tenant_domain)
                .service(domains::set_primary_tenant_domain)
                .service(domains::verify_tenant_domain);
        })
        .scope("/api/v1/event-types", |s| {
            s.service(events::event_types);
        })
        .scope("/api/v1/events", |s| {
            s.service(events::list_events)
                .service(events::get_event)
                .service(webhooks::list_event_attempts);
        })
        .scope("/api/v1/exports", |s| {
            s.service(exports::list_exports)
                .service(exports::create_export)
                .service(exports::get_export)
                .service(exports::download_export);
        })
        .scope("/api/v1/files", |s| {
            s.service(files::list_files)
                .service(files::upload_file)
                .service(files::get_file)
                .service(files::delete_file)
                .service(files::file_content)
                .service(files::file_link);
        })
        .scope("/api/v1/invitations", |s| {
            s.service(invitations::list_invitations)
                .service(invitations::invite)
                .service(invitations::accept_invitation)
                .service(invitations::lookup_invitation)
                .service(invitations::revoke_invitation)
                .service(invitations::resend_invitation);
        })
        .scope("/api/v1/members", |s| {
            s.service(team::list_members)
                .service(team::update_member)
                .service(team::remove_member);
        })
        .scope("/api/v1/onboard", |s| {
            s.service(onboard::onboard);
        })
        .scope("/api/v1/permissions", |s| {
            s.service(onboard::permissions);
        })
        .scope("/api/v1/plans", |s| {
            s.service(billing::public_plans);
        })
        .scope("/api/v1/platform", |s| {
            s.service(platform::impersonate)
                .service(jobs::queue)
                .service(usage::list_metrics)
                .service(usage::create_metric)
                .service(billing::list_plans)
                .service(billing::create_plan)
                .service(billing::get_plan)
                .service(billing::update_plan)
                .service(billing::delete_plan)
                .service(deletion::list_purges)
                .service(platform::security_events)
                .service(usage::period_usage)
                .service(platform::delete_user)
                .service(platform::disable_user)
                .service(platform::enable_user)
                .scope("/tenants", |s| {
                    s.service(platform::list_tenants)
                        .service(platform::create_tenant)
                        .service(imports::provision_tenants)
                        .service(imports::import_tenant)
                        .service(platform::show_tenant)
                        .service(platform::rename_tenant)
                        .service(platform::get_branding)
                        .service(platform::update_branding)
                        .service(billing::platform_change_plan)
                        .service(deletion::cancel_tenant_deletion)
                        .service(platform::list_domains)
                        .service(platform::add_domain)
                        .service(platform::set_primary_domain)
                        .service(platform::verify_domain)
                        .service(platform::set_maintenance)
                        .service(billing::platform_quotas)
                        .service(billing::override_quota)
                        .service(billing::clear_quota_override)
                        .service(platform::resume_tenant)
                        .service(storage::get_tenant_storage)
                        .service(storage::put_tenant_storage)
                        .service(storage::delete_tenant_storage)
                        .service(billing::platform_subscription)
                        .service(billing::update_subscription)
                        .service(platform::suspend_tenant);
                });
        })
        .scope("/api/v1/products", |s| {
            s.service(products::list_products)
                .service(products::create_product)
                .service(products::bulk_import)
                .service(products::get_product)
                .service(products::update_product)
                .service(products::delete_product)
                .service(files::list_images)
                .service(files::attach_image)
                .service(files::detach_image);
        })
        .scope("/api/v1/projects", |s| {
            s.service(projects::list_projects)
                .service(projects::create_project)
                .service(projects::get_project)
                .service(projects::update_project)
                .service(projects::delete_project)
                .service(projects::list_tasks)
                .service(projects::create_task);
        })
        .scope("/api/v1/quotas", |s| {
            s.service(billing::list_quotas);
        })
        .scope("/api/v1/roles", |s| {
            s.service(team::list_roles)
                .service(team::create_role)
                .service(team::update_role)
                .service(team::delete_role);
        })
        .scope("/api/v1/scim", |s| {
            s.service(scim::list_scim_tokens)
                .service(scim::create_scim_token)
                .service(scim::revoke_scim_token);
        })
        .scope("/api/v1/search", |s| {
            s.service(search::search);
        })
        .scope("/api/v1/settings", |s| {
            s.service(settings::get_settings)
                .service(settings::update_settings)
                .service(deletion::get_deletion)
                .service(deletion::request_deletion)
                .service(deletion::cancel_deletion)
                .service(smtp::get_smtp)
                .service(smtp::put_smtp)
                .service(smtp::delete_smtp)
                .service(smtp::test_smtp)
                .service(storage::get_storage)
                .service(storage::put_storage)
                .service(storage::delete_storage);
        })
        .scope("/api/v1/sso", |s| {
            s.service(sso::sso_callback)
                .service(sso::list_sso_providers)
                .service(sso::create_sso_provider)
                .service(sso::get_sso_provider)
                .service(sso::replace_sso_provider)
                .service(sso::delete_sso_provider)
                .service(sso::sso_authorize);
        })
        .scope("/api/v1/tasks", |s| {
            s.service(projects::get_task)
                .service(projects::update_task)
                .service(projects::delete_task)
                .service(projects::toggle_task);
        })
        .scope("/api/v1/tenant", |s| {
            s.service(tenant::get_tenant);
        })
        .scope("/api/v1/usage", |s| {
            s.service(usage::get_usage);
        })
        .scope("/api/v1/usage-events", |s| {
            s.service(usage::report_usage);
        })
        .scope("/api/v1/webhooks", |s| {
            s.service(webhooks::list_webhooks)
                .service(webhooks::create_webhook)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::list_webhook_attempts)
                .service(webhooks::resend_webhook_event)
                .service(webhooks::recover_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::webhook_stats)
                .service(webhooks::test_webhook);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scope answers every path under its prefix (unmatched ones with the 404/405
    /// fallback), so a route under `/api/v1/<segment>` registered outside that segment's
    /// scope would never be reached.
    #[test]
    fn every_api_route_is_in_its_segment_s_scope() {
        let mut document = Document::default();
        configure(&mut document);
        let stray: Vec<_> = document
            .unscoped
            .iter()
            .filter(|p| p.starts_with("/api/"))
            .collect();
        assert!(
            stray.is_empty(),
            "register these in their segment's scope: {stray:?}"
        );
        assert!(
            document.paths.paths.len() > 100,
            "the routes were collected"
        );
    }

    /// The document holds one schema per name, so two types of one name would show one of
    /// them for both, whichever route came last.
    #[test]
    fn no_two_schemas_share_a_name() {
        let mut document = Document::default();
        configure(&mut document);
        let mut seen = std::collections::BTreeMap::new();
        for (name, schema) in &document.schemas {
            if let Some(first) = seen.insert(name, schema) {
                assert!(first == schema, "two different schemas are named {name}");
            }
        }
    }
}
