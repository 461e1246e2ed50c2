//! The operator API.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, app_tests, problem};

app_tests! {
    async fn requires_the_operator_token(app) {
        problem(app.get("/api/v1/platform/tenants").send().await.unwrap(), 401, "unauthorized").await;
        let res = app.get("/api/v1/platform/tenants").bearer_auth("wrong").send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        // Auth comes before the body is even read, and before the query is judged.
        let res = app.request(Method::POST, "/api/v1/platform/tenants").body("not json").send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        problem(app.get("/api/v1/platform/tenants?limit=abc").send().await.unwrap(), 401, "unauthorized").await;
        problem(app.get("/api/v1/platform/security-events?limit=abc").send().await.unwrap(), 401, "unauthorized").await;
    }

    async fn without_a_configured_token_only_admins_get_in(app) with (Options { operator_token: None, ..Options::default() }) {
        let res = app.get("/api/v1/platform/tenants").bearer_auth("anything").send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        let res = app.get("/api/v1/platform/tenants").bearer_auth(tenantry_tests::OPERATOR_TOKEN).send().await.unwrap();
        problem(res, 401, "unauthorized").await;
    }

    async fn platform_administrators(app) {
        use tenantry_identity::PlatformAdmins;
        let admin = app.create_user("staff@operator.test", "correct horse battery").await;
        app.db().db().add_platform_admin(admin.id, chrono::Utc::now()).await.unwrap();
        let staff = app.login("staff@operator.test", "correct horse battery").await["access_token"].as_str().unwrap().to_owned();
        let a = app.onboard("acme", "ann@acme.test", "correct horse battery").await;
        let ann = a["session"]["access_token"].as_str().unwrap().to_owned();

        let page: Value = app.get("/api/v1/platform/tenants").bearer_auth(&staff).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["items"][0]["slug"], "acme");
        let res = app.request(Method::POST, "/api/v1/platform/tenants").bearer_auth(&staff).json(&json!({"slug": "beta", "name": "Beta"})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        // An ordinary user, even a tenant owner, is not platform staff.
        problem(app.get("/api/v1/platform/tenants").bearer_auth(&ann).send().await.unwrap(), 403, "platform_admin_required").await;

        // Maintenance: staff and the tenant's administrators pass, members do not;
        // suspension stops everyone.
        let member = app.create_user("mo@acme.test", "correct horse battery").await;
        app.add_member(a["tenant"]["id"].as_str().unwrap(), member.id, "member").await;
        let mo = app.login("mo@acme.test", "correct horse battery").await["access_token"].as_str().unwrap().to_owned();
        let res = app.request(Method::PUT, "/api/v1/platform/tenants/acme/maintenance").bearer_auth(&staff).json(&json!({"enabled": true})).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(app.get_as_host("acme.localhost", "/api/v1/tenant").bearer_auth(&staff).send().await.unwrap().status(), 200);
        assert_eq!(app.get_as_host("acme.localhost", "/api/v1/tenant").bearer_auth(&ann).send().await.unwrap().status(), 200, "the owner");
        problem(app.get_as_host("acme.localhost", "/api/v1/tenant").bearer_auth(&mo).send().await.unwrap(), 503, "tenant_maintenance").await;
        problem(app.get_as_host("acme.localhost", "/api/v1/tenant").send().await.unwrap(), 503, "tenant_maintenance").await;
        app.request(Method::POST, "/api/v1/platform/tenants/acme/suspend").bearer_auth(&staff).send().await.unwrap();
        problem(app.get_as_host("acme.localhost", "/api/v1/tenant").bearer_auth(&staff).send().await.unwrap(), 403, "tenant_inactive").await;
        problem(app.get_as_host("acme.localhost", "/api/v1/tenant").bearer_auth(&ann).send().await.unwrap(), 403, "tenant_inactive").await;
    }

    async fn create_show_rename(app) {
        let created = app.create_tenant("acme", "Acme Inc").await;
        assert_eq!(created["status"], "active");
        assert_eq!(created["maintenance"], false);
        let id = created["id"].as_str().unwrap();
        for key in ["acme", id] {
            let res = app.operator(Method::GET, &format!("/api/v1/platform/tenants/{key}")).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.json::<Value>().await.unwrap()["id"], id);
        }
        problem(app.operator(Method::GET, "/api/v1/platform/tenants/nobody").send().await.unwrap(), 404, "tenant_not_found").await;

        let res = app.operator(Method::PATCH, "/api/v1/platform/tenants/acme").json(&json!({"name": "Acme Group"})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["name"], "Acme Group");

        let domains: Value = app.operator(Method::GET, "/api/v1/platform/tenants/acme/domains").send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(domains[0]["hostname"], "acme.localhost");
        assert_eq!(domains[0]["kind"], "subdomain");
        assert_eq!(domains[0]["is_primary"], true);
    }

    async fn duplicate_slug_is_409_and_writes_nothing(app) {
        app.create_tenant("acme", "Acme Inc").await;
        let res = app.operator(Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "acme", "name": "Other"})).send().await.unwrap();
        problem(res, 409, "slug_taken").await;
        let page: Value = app.operator(Method::GET, "/api/v1/platform/tenants").send().await.unwrap().json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0]["name"], "Acme Inc");
    }

    async fn list_pages_and_filters(app) {
        for slug in ["aaa", "bbb", "ccc"] {
            app.create_tenant(slug, slug).await;
        }
        app.operator(Method::POST, "/api/v1/platform/tenants/bbb/suspend").send().await.unwrap();
        let p1: Value = app.operator(Method::GET, "/api/v1/platform/tenants?limit=2").send().await.unwrap().json().await.unwrap();
        assert_eq!(p1["items"].as_array().unwrap().len(), 2);
        let cursor = p1["next_cursor"].as_str().unwrap();
        let p2: Value = app
            .operator(Method::GET, &format!("/api/v1/platform/tenants?limit=2&cursor={cursor}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p2["items"][0]["slug"], "ccc");
        assert_eq!(p2["next_cursor"], Value::Null);
        let suspended: Value = app.operator(Method::GET, "/api/v1/platform/tenants?status=suspended").send().await.unwrap().json().await.unwrap();
        assert_eq!(suspended["items"].as_array().unwrap().len(), 1);
        assert_eq!(suspended["items"][0]["slug"], "bbb");

        problem(app.operator(Method::GET, "/api/v1/platform/tenants?limit=0").send().await.unwrap(), 400, "invalid_query").await;
        problem(app.operator(Method::GET, "/api/v1/platform/tenants?limit=abc").send().await.unwrap(), 400, "invalid_query").await;
        problem(app.operator(Method::GET, "/api/v1/platform/tenants?status=deleted").send().await.unwrap(), 400, "invalid_query").await;
        problem(app.operator(Method::GET, "/api/v1/platform/tenants?cursor=%2A%2A").send().await.unwrap(), 400, "invalid_cursor").await;
    }

    async fn domains_lifecycle(app) {
        app.create_tenant("acme", "Acme Inc").await;
        app.create_tenant("beta", "Beta Ltd").await;
        let add = |tenant: &'static str, host: &'static str| {
            app.operator(Method::POST, &format!("/api/v1/platform/tenants/{tenant}/domains")).json(&json!({"hostname": host})).send()
        };
        assert_eq!(add("acme", "shop.acme.test").await.unwrap().status(), 201);
        // A pending claim does not block another tenant's: the first verified wins.
        assert_eq!(add("beta", "SHOP.acme.test").await.unwrap().status(), 201);
        problem(add("acme", "shop.acme.test").await.unwrap(), 409, "domain_exists").await;
        problem(add("beta", "beta2.localhost").await.unwrap(), 422, "hostname_reserved").await;
        problem(add("beta", "not a host").await.unwrap(), 422, "validation_failed").await;

        let primary = |tenant: &str, host: &str| {
            app.operator(Method::POST, &format!("/api/v1/platform/tenants/{tenant}/domains/{host}/primary")).send()
        };
        problem(primary("acme", "shop.acme.test").await.unwrap(), 409, "domain_not_verified").await;
        problem(primary("beta", "shop.acme.test").await.unwrap(), 409, "domain_not_verified").await;
        problem(primary("beta", "other.acme.test").await.unwrap(), 404, "domain_not_found").await;
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/domains/shop.acme.test/verify").send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "verified");
        let res = primary("acme", "shop.acme.test").await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["is_primary"], true);
        let domains: Value = app.operator(Method::GET, "/api/v1/platform/tenants/acme/domains").send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let primaries: Vec<&Value> = domains.as_array().unwrap().iter().filter(|d| d["is_primary"] == true).collect();
        assert_eq!(primaries.len(), 1);
        assert_eq!(primaries[0]["hostname"], "shop.acme.test");
        // Verified by acme: beta's claim cannot be verified, and nobody may add it now.
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/beta/domains/shop.acme.test/verify").send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "pending");
        app.create_tenant("gamma", "Gamma").await;
        problem(add("gamma", "shop.acme.test").await.unwrap(), 409, "hostname_taken").await;
    }
}

app_tests! {
    async fn tenants_created_by_the_operator_are_audited_as_the_operator(app) {
        use tenantry_audit::AuditRepository;
        let created = app.create_tenant("acme", "Acme Inc").await;
        let tenant: tenantry_kernel::TenantId = created["id"].as_str().unwrap().parse().unwrap();
        let page = app
            .db()
            .db()
            .list(&tenantry_kernel::TenantCtx::for_tests(tenant), &Default::default(), &Default::default())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2, "the tenant's settings and subscription");
        let types: Vec<&str> = page.items.iter().map(|e| e.entity_type.as_str()).collect();
        assert_eq!(types, ["subscription", "tenant_settings"], "newest first");
        for entry in &page.items {
            assert_eq!(entry.actor_type, "operator");
            assert!(entry.request_id.is_some());
        }
    }
}
