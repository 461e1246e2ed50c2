//! Which tenant a request reaches, and whether it may enter.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{app_tests, problem};

async fn profile(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

app_tests! {
    async fn by_subdomain(app) {
        app.create_tenant("acme", "Acme Inc").await;
        app.create_tenant("beta", "Beta Ltd").await;
        let body = profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        assert_eq!(body["slug"], "acme");
        assert_eq!(body["name"], "Acme Inc");
        let body = profile(app.get_as_host("BETA.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        assert_eq!(body["slug"], "beta");
        // A subdomain names its tenant even when a header names another.
        let res = app.get_as_host("acme.localhost", "/api/v1/tenant").header("X-Tenant-ID", "beta").send().await.unwrap();
        assert_eq!(profile(res).await["slug"], "acme");
        let res = app.get_as_host("nobody.localhost", "/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        problem(res, 404, "tenant_not_found").await;
    }

    async fn by_header(app) {
        let created = app.create_tenant("acme", "Acme Inc").await;
        let by_slug = profile(app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap()).await;
        assert_eq!(by_slug["id"], created["id"]);
        let id = created["id"].as_str().unwrap();
        let by_id = profile(app.get("/api/v1/tenant").header("X-Tenant-ID", id).send().await.unwrap()).await;
        assert_eq!(by_id["slug"], "acme");
        for unknown in ["nobody", "NOT A SLUG", "0192aaaa-0000-7000-8000-000000000000"] {
            let res = app.get("/api/v1/tenant").header("X-Tenant-ID", unknown).send().await.unwrap();
            problem(res, 404, "tenant_not_found").await;
        }
        // Neither host nor header: no tenant.
        problem(app.get("/api/v1/tenant").send().await.unwrap(), 404, "tenant_not_found").await;
        // Reserved labels under the base domain are the platform's, not a tenant's.
        let res = app.get_as_host("api.localhost", "/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        assert_eq!(profile(res).await["slug"], "acme");
    }

    async fn by_custom_domain_only_when_verified(app) {
        app.create_tenant("acme", "Acme Inc").await;
        let res = app
            .operator(Method::POST, "/api/v1/platform/tenants/acme/domains")
            .json(&json!({"hostname": "Shop.Acme.TEST"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let domain: Value = res.json().await.unwrap();
        assert_eq!(domain["hostname"], "shop.acme.test");
        assert_eq!(domain["status"], "pending");

        // Pending: does not resolve.
        problem(app.get_as_host("shop.acme.test", "/api/v1/tenant").send().await.unwrap(), 404, "tenant_not_found").await;

        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/domains/shop.acme.test/verify").send().await.unwrap();
        assert_eq!(res.status(), 200);
        // A browser (no credentials) is sent to the primary hostname; anything else is served.
        let res = app.get_as_host("shop.acme.test", "/api/v1/tenant").send().await.unwrap();
        assert_eq!(res.status(), 301);
        assert!(res.headers()["location"].to_str().unwrap().starts_with("http://acme.localhost:"));
        let body = profile(app.get_as_host("shop.acme.test", "/api/v1/tenant").header("X-Tenantry-No-Redirect", "1").send().await.unwrap()).await;
        assert_eq!(body["slug"], "acme");

        // An unknown custom host falls back to the header (a proxy's own name, say).
        let res = app.get_as_host("proxy.internal.test", "/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        assert_eq!(profile(res).await["slug"], "acme");
    }

    async fn suspended_tenants_are_refused(app) {
        app.create_tenant("acme", "Acme Inc").await;
        // Resolve once so the cache holds the active tenant.
        profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/suspend").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body = problem(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap(), 403, "tenant_inactive").await;
        assert_eq!(body["instance"], "/api/v1/tenant");
        problem(app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap(), 403, "tenant_inactive").await;
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/suspend").send().await.unwrap();
        problem(res, 409, "already_suspended").await;
        app.operator(Method::POST, "/api/v1/platform/tenants/acme/resume").send().await.unwrap();
        profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
    }

    async fn maintenance_answers_503_with_retry_after(app) {
        app.create_tenant("acme", "Acme Inc").await;
        profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        let res = app
            .operator(Method::PUT, "/api/v1/platform/tenants/acme/maintenance")
            .json(&json!({"enabled": true, "message": "Upgrading, back at 14:00 UTC"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap();
        assert_eq!(res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()).as_deref(), Some("300"));
        let body = problem(res, 503, "tenant_maintenance").await;
        assert_eq!(body["maintenance_message"], "Upgrading, back at 14:00 UTC");
        assert_eq!(body["detail"], "Upgrading, back at 14:00 UTC");

        let res = app
            .operator(Method::PUT, "/api/v1/platform/tenants/acme/maintenance")
            .json(&json!({"enabled": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
    }

    async fn profile_shows_branding_from_tenant_settings(app) {
        app.create_tenant("acme", "Acme Inc").await;
        app.create_tenant("beta", "Beta Ltd").await;
        let res = app
            .operator(Method::PATCH, "/api/v1/platform/tenants/acme/branding")
            .json(&json!({"display_name": "ACME", "primary_color": "#FF0066", "support_email": "help@acme.test", "logo_url": "https://cdn.acme.test/l.png"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        assert_eq!(body["branding"], json!({
            "display_name": "ACME",
            "logo_url": "https://cdn.acme.test/l.png",
            "primary_color": "#ff0066",
            "support_email": "help@acme.test",
            "support_url": null,
        }));
        let other = profile(app.get_as_host("beta.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        assert_eq!(other["branding"]["display_name"], Value::Null);

        // Invalid fields are all reported and nothing changes.
        let res = app
            .operator(Method::PATCH, "/api/v1/platform/tenants/acme/branding")
            .json(&json!({"display_name": null, "primary_color": "pink", "support_email": "nope"}))
            .send()
            .await
            .unwrap();
        let body = problem(res, 422, "validation_failed").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["primary_color", "support_email"]);
        let body = profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        assert_eq!(body["branding"]["display_name"], "ACME");

        // null clears.
        let res = app
            .operator(Method::PATCH, "/api/v1/platform/tenants/acme/branding")
            .json(&json!({"logo_url": null}))
            .send()
            .await
            .unwrap();
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["logo_url"], Value::Null);
        assert_eq!(b["display_name"], "ACME");
    }

    async fn changes_by_another_process_are_seen_within_a_second(app) {
        app.create_tenant("acme", "Acme Inc").await;
        profile(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap()).await;
        // Another process (the CLI, another instance): its own pool, no access to our cache.
        let other_db = tenantry_store::Db::connect(&tenantry_store::DbConfig::new(app.db().url())).unwrap();
        let other = tenantry_tenancy::TenantService::new(
            other_db,
            std::sync::Arc::new(tenantry_kernel::SystemClock),
            tenantry_tenancy::BaseDomain::parse("localhost").unwrap(),
            std::sync::Arc::new(tenantry_tenancy::NoListener),
            tenantry_kernel::Edges::for_tests(),
        );
        other.suspend(&tenantry_tenancy::TenantRef::parse("acme").unwrap()).await.unwrap();
        let started = std::time::Instant::now();
        loop {
            let res = app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap();
            if res.status() == 403 {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_millis(2500),
                "suspension not seen after 2.5 s (the cache lives 5 s: the change counter is not followed)"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
