//! The tenant's edge: who the client is (the peer, or what a trusted proxy says), the IP
//! allowlist.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, PASSWORD, TestApp, app_tests, call, ok, owner, problem};

/// Behind a proxy on loopback, as the tests' client is.
fn behind_proxy() -> Options {
    Options {
        trusted_proxies: "127.0.0.1/32, ::1",
        ..Options::default()
    }
}

/// The IP the audit trail recorded for the tenant's last product change.
async fn audited_ip(app: &TestApp, t: &str) -> Value {
    let trail = ok(
        call(
            app,
            "acme",
            Method::GET,
            "/api/v1/audit-logs?entity_type=product&limit=1",
            t,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    trail["items"][0]["ip"].clone()
}

async fn create_product(app: &TestApp, t: &str, sku: &str, forwarded_for: &str) {
    ok(
        call(app, "acme", Method::POST, "/api/v1/products", t)
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"name": "Kettle", "sku": sku, "price_minor": 1, "currency": "EUR"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
}

/// The address of the last failed login in the user's own security log.
async fn last_failed_login_ip(app: &TestApp, email: &str, forwarded_for: &str) -> Value {
    let res = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"email": email, "password": "wrong password entirely"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let session = app.login(email, PASSWORD).await;
    let token = session["access_token"].as_str().unwrap();
    let events = ok(
        app.get("/api/v1/auth/me/security-events?limit=10")
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"].as_str().is_some_and(|k| k.contains("fail")))
        .map(|e| e["ip"].clone())
        .unwrap_or(Value::Null)
}

app_tests! {
    async fn forwarding_headers_from_an_untrusted_peer_are_ignored(app) {
        let t = owner(app, "acme").await;
        create_product(app, &t, "S-1", "6.6.6.6").await;
        assert_eq!(audited_ip(app, &t).await, "127.0.0.1", "the peer, not the forged header");
        assert_eq!(last_failed_login_ip(app, "owner@acme.test", "6.6.6.6").await, "127.0.0.1");
    }

    async fn behind_a_trusted_proxy_the_client_is_the_right_most_untrusted_hop(app) with (behind_proxy()) {
        let t = owner(app, "acme").await;
        // The client forged a first hop; the proxy appended the address it saw.
        create_product(app, &t, "S-1", "6.6.6.6, 198.51.100.7").await;
        assert_eq!(audited_ip(app, &t).await, "198.51.100.7");
        // `Forwarded` is read too.
        ok(call(app, "acme", Method::POST, "/api/v1/products", &t)
            .header("Forwarded", r#"for="[2001:db8::7]:4711";proto=https"#)
            .json(&json!({"name": "Kettle", "sku": "S-2", "price_minor": 1, "currency": "EUR"}))
            .send().await.unwrap(), 201).await;
        assert_eq!(audited_ip(app, &t).await, "2001:db8::7");
        // The login throttle sees the same address.
        assert_eq!(last_failed_login_ip(app, "owner@acme.test", "198.51.100.9").await, "198.51.100.9");
    }

    async fn the_anonymous_limit_counts_the_client_behind_the_proxy(app) with (Options {
        rate_limits: tenantry_http::rate_limit::RateLimitConfig {
            anonymous_per_hour: Some(2),
            ..Default::default()
        },
        ..behind_proxy()
    }) {
        let anon = |ip: &'static str| app.get("/api/v1/plans").header("X-Forwarded-For", ip).send();
        assert_eq!(anon("198.51.100.1").await.unwrap().status(), 200);
        assert_eq!(anon("198.51.100.1").await.unwrap().status(), 200);
        problem(anon("198.51.100.1").await.unwrap(), 429, "rate_limited").await;
        assert_eq!(anon("198.51.100.2").await.unwrap().status(), 200, "another client has its own budget");
    }

    async fn an_untrusted_peer_cannot_escape_the_anonymous_limit_by_forging(app) with (Options {
        rate_limits: tenantry_http::rate_limit::RateLimitConfig {
            anonymous_per_hour: Some(2),
            ..Default::default()
        },
        ..Options::default()
    }) {
        for ip in ["198.51.100.1", "198.51.100.2"] {
            let res = app.get("/api/v1/plans").header("X-Forwarded-For", ip).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
        let res = app.get("/api/v1/plans").header("X-Forwarded-For", "198.51.100.3").send().await.unwrap();
        problem(res, 429, "rate_limited").await;
    }

    async fn the_ip_allowlist_admits_only_its_networks(app) with (behind_proxy()) {
        let t = owner(app, "acme").await;
        let from = |ip: &'static str, method: Method, path: &'static str| {
            call(app, "acme", method, path, &t).header("X-Forwarded-For", ip)
        };
        // A list that leaves out the caller would lock it out: refused, nothing saved.
        let res = from("203.0.113.9", Method::PATCH, "/api/v1/settings")
            .json(&json!({"security": {"ip_allowlist": ["198.51.100.0/24"]}}))
            .send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "security.ip_allowlist", "{body}");
        let s = ok(from("198.51.100.7", Method::PATCH, "/api/v1/settings")
            .json(&json!({"security": {"ip_allowlist": ["198.51.100.0/24", "2001:db8::/32"]}}))
            .send().await.unwrap(), 200).await;
        assert_eq!(s["security"]["ip_allowlist"], json!(["198.51.100.0/24", "2001:db8::/32"]));

        ok(from("198.51.100.8", Method::GET, "/api/v1/products").send().await.unwrap(), 200).await;
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").header("Forwarded", "for=\"[2001:db8::1]\"").send().await.unwrap();
        ok(res, 200).await;
        // Outside: 403, and nothing of the tenant in the answer but its brand (no profile, no
        // id, no data).
        let tenant_id = ok(from("198.51.100.7", Method::GET, "/api/v1/tenant").send().await.unwrap(), 200).await["id"].as_str().unwrap().to_owned();
        for (ip, path) in [("203.0.113.9", "/api/v1/products"), ("203.0.113.9", "/api/v1/tenant"), ("10.0.0.1", "/api/v1/settings")] {
            let res = from(ip, Method::GET, path).send().await.unwrap();
            let body = problem(res, 403, "ip_not_allowed").await;
            assert!(!body.to_string().contains(&tenant_id), "{body}");
            assert_eq!(body["tenant"]["display_name"], "acme Inc", "{body}");
            assert!(body.get("slug").is_none() && body.get("items").is_none(), "{body}");
        }
        // The refusal is in the tenant's trail, with the address.
        let trail = ok(from("198.51.100.7", Method::GET, "/api/v1/audit-logs?action=ip_not_allowed&limit=10").send().await.unwrap(), 200).await;
        let ips: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["ip"].as_str().unwrap_or_default()).collect();
        assert!(ips.contains(&"203.0.113.9"), "{trail}");
        // Platform staff are refused too unless the operator lets them through.
        use tenantry_identity::PlatformAdmins;
        let staff = app.create_user("staff@operator.test", PASSWORD).await;
        app.db().db().add_platform_admin(staff.id, chrono::Utc::now()).await.unwrap();
        let staff = app.login("staff@operator.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").header("X-Forwarded-For", "203.0.113.9").bearer_auth(&staff).send().await.unwrap();
        problem(res, 403, "ip_not_allowed").await;
        // Emptying the list opens the tenant again.
        ok(from("198.51.100.7", Method::PATCH, "/api/v1/settings")
            .json(&json!({"security": {"ip_allowlist": []}}))
            .send().await.unwrap(), 200).await;
        ok(from("203.0.113.9", Method::GET, "/api/v1/products").send().await.unwrap(), 200).await;
    }

    async fn the_operator_may_let_its_staff_through_allowlists(app) with (Options {
        allowlist_admin_bypass: true,
        ..behind_proxy()
    }) {
        use tenantry_identity::PlatformAdmins;
        let t = owner(app, "acme").await;
        ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .header("X-Forwarded-For", "198.51.100.7")
            .json(&json!({"security": {"ip_allowlist": ["198.51.100.7"]}}))
            .send().await.unwrap(), 200).await;
        let staff = app.create_user("staff@operator.test", PASSWORD).await;
        app.db().db().add_platform_admin(staff.id, chrono::Utc::now()).await.unwrap();
        let staff = app.login("staff@operator.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").header("X-Forwarded-For", "203.0.113.9").bearer_auth(&staff).send().await.unwrap();
        ok(res, 200).await;
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").header("X-Forwarded-For", "203.0.113.9").send().await.unwrap();
        problem(res, 403, "ip_not_allowed").await;
    }
}

/// Adds `portal.acme.example` to acme, verified by the operator, and makes it primary.
async fn portal_as_primary(app: &TestApp) {
    for (method, path) in [
        (Method::POST, "/api/v1/platform/tenants/acme/domains"),
        (
            Method::POST,
            "/api/v1/platform/tenants/acme/domains/portal.acme.example/verify",
        ),
        (
            Method::POST,
            "/api/v1/platform/tenants/acme/domains/portal.acme.example/primary",
        ),
    ] {
        let res = app
            .operator(method, path)
            .json(&json!({"hostname": "portal.acme.example"}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

app_tests! {
    async fn every_answer_carries_the_security_headers(app) with (behind_proxy()) {
        for res in [
            app.get("/healthz").send().await.unwrap(),
            app.get("/api/v1/nothing-here").send().await.unwrap(),
            app.get("/api/v1/tenant").header("X-Tenant-ID", "nobody").send().await.unwrap(),
        ] {
            assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
            assert_eq!(header(&res, "referrer-policy"), Some("no-referrer"));
            assert_eq!(header(&res, "x-frame-options"), Some("DENY"));
            assert_eq!(header(&res, "cross-origin-resource-policy"), Some("same-origin"));
            assert_eq!(header(&res, "content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
            assert_eq!(header(&res, "strict-transport-security"), None, "plain http");
        }
        // Over https, as the trusted proxy says: HSTS.
        let res = app.get("/healthz").header("X-Forwarded-Proto", "https").send().await.unwrap();
        assert_eq!(header(&res, "strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
        // Swagger UI keeps a policy it runs under.
        let res = app.get("/docs/").send().await.unwrap();
        assert!(header(&res, "content-security-policy").unwrap().contains("script-src 'self'"));
    }

    async fn hsts_only_on_a_trusted_proxys_word(app) {
        let res = app.get("/healthz").header("X-Forwarded-Proto", "https").send().await.unwrap();
        assert_eq!(header(&res, "strict-transport-security"), None);
    }

    async fn a_tenants_csp_is_on_its_answers_only(app) {
        let t = owner(app, "acme").await;
        owner(app, "beta").await;
        ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"security": {"csp": {"script_src": ["'self'", "https://cdn.acme.test"], "frame_ancestors": ["https://intranet.acme.test"]}}}))
            .send().await.unwrap(), 200).await;
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        let csp = header(&res, "content-security-policy").unwrap().to_owned();
        assert!(csp.contains("script-src 'self' https://cdn.acme.test"), "{csp}");
        assert!(csp.contains("frame-ancestors https://intranet.acme.test"), "{csp}");
        assert_eq!(header(&res, "x-frame-options"), None, "the tenant allows a framer");
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "beta").send().await.unwrap();
        assert_eq!(header(&res, "content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
    }

    async fn cors_admits_the_tenants_origins_and_its_own_hostnames(app) {
        let t = owner(app, "acme").await;
        owner(app, "beta").await;
        ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"security": {"cors_origins": ["https://app.acme.test"]}}))
            .send().await.unwrap(), 200).await;
        portal_as_primary(app).await;
        let preflight = |origin: &'static str, host: &'static str| {
            app.request(Method::OPTIONS, "/api/v1/products")
                .header("Host", host)
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization, content-type")
                .send()
        };
        for origin in ["https://app.acme.test", "https://portal.acme.example"] {
            let res = preflight(origin, "acme.localhost").await.unwrap();
            assert_eq!(res.status(), 204, "{origin}");
            assert_eq!(header(&res, "access-control-allow-origin"), Some(origin));
            assert!(header(&res, "access-control-allow-methods").unwrap().contains("POST"));
            assert_eq!(header(&res, "access-control-allow-headers"), Some("authorization, content-type"));
            assert!(header(&res, "access-control-max-age").is_some());
        }
        for (origin, host) in [("https://evil.test", "acme.localhost"), ("https://app.acme.test", "beta.localhost"), ("http://portal.acme.example", "acme.localhost")] {
            let res = preflight(origin, host).await.unwrap();
            assert_eq!(res.status(), 204);
            assert_eq!(header(&res, "access-control-allow-origin"), None, "{origin} on {host}");
        }
        // The answer itself names the origin it admits, and lets the page read the request id.
        let res = call(app, "acme", Method::GET, "/api/v1/products", &t).header("Origin", "https://app.acme.test").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "access-control-allow-origin"), Some("https://app.acme.test"));
        assert!(header(&res, "access-control-expose-headers").unwrap().contains("X-Request-Id"));
        let res = call(app, "acme", Method::GET, "/api/v1/products", &t).header("Origin", "https://evil.test").send().await.unwrap();
        assert_eq!(header(&res, "access-control-allow-origin"), None);
        // Signing in from the tenant's SPA works across origins too.
        let res = app.request(Method::POST, "/api/v1/auth/login").header("X-Tenant-ID", "acme").header("Origin", "https://app.acme.test")
            .json(&json!({"email": "owner@acme.test", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "access-control-allow-origin"), Some("https://app.acme.test"));
    }

    async fn browsers_on_other_hostnames_go_to_the_primary_one(app) {
        let t = owner(app, "acme").await;
        portal_as_primary(app).await;
        let port = app.addr.port();
        let res = app.get_as_host("acme.localhost", "/api/v1/tenant?x=1").send().await.unwrap();
        assert_eq!(res.status(), 301);
        assert_eq!(header(&res, "location").unwrap(), format!("http://portal.acme.example:{port}/api/v1/tenant?x=1"));
        // Over https (a trusted proxy's word is needed; here the peer is not one): no port.
        let res = app.get_as_host("portal.acme.example", "/api/v1/tenant").send().await.unwrap();
        assert_eq!(res.status(), 200, "the primary host itself");
        // Never for credentials, the opt-out header, or another method than GET/HEAD.
        let res = app.get_as_host("acme.localhost", "/api/v1/products").bearer_auth(&t).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res = app.get_as_host("acme.localhost", "/api/v1/tenant").header("X-Tenantry-No-Redirect", "1").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res = app.request(Method::POST, "/api/v1/products").header("Host", format!("acme.localhost:{port}")).json(&json!({})).send().await.unwrap();
        assert_eq!(res.status(), 401, "a POST is answered where it was sent");
        let res = app.request(Method::OPTIONS, "/api/v1/products").header("Host", format!("acme.localhost:{port}"))
            .header("Origin", "https://x.test").header("Access-Control-Request-Method", "GET").send().await.unwrap();
        assert_eq!(res.status(), 204, "a preflight is answered, not redirected");
        // Platform hosts are never redirected.
        assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
    }

    async fn the_gates_answer_branded_and_escaped(app) with (behind_proxy()) {
        let t = owner(app, "acme").await;
        ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"branding": {"display_name": "Acme <script>alert(1)</script>", "support_email": "help@acme.test", "support_url": "https://help.acme.test/?a=1&b=\"2\"", "primary_color": "#0055ff"},
                          "maintenance": {"enabled": true, "message": "Back at <b>noon</b>"}}))
            .send().await.unwrap(), 200).await;
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        let body = problem(res, 503, "tenant_maintenance").await;
        assert_eq!(body["tenant"]["display_name"], "Acme <script>alert(1)</script>");
        assert_eq!(body["tenant"]["support_email"], "help@acme.test");
        assert_eq!(body["tenant"]["primary_color"], "#0055ff");
        // A browser gets a page, every value escaped.
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8").send().await.unwrap();
        assert_eq!(res.status(), 503);
        assert!(header(&res, "content-type").unwrap().starts_with("text/html"));
        assert!(header(&res, "retry-after").is_some());
        let page = res.text().await.unwrap();
        assert!(page.contains("Acme &lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("Back at &lt;b&gt;noon&lt;/b&gt;"), "{page}");
        assert!(page.contains("href=\"https://help.acme.test/?a=1&amp;b=&quot;2&quot;\""), "{page}");
        assert!(page.contains("#0055ff"));
        // The IP gate too.
        ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"maintenance": {"enabled": false}, "security": {"ip_allowlist": ["127.0.0.1"]}}))
            .send().await.unwrap(), 200).await;
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").header("X-Forwarded-For", "203.0.113.9").send().await.unwrap();
        let body = problem(res, 403, "ip_not_allowed").await;
        assert_eq!(body["tenant"]["display_name"], "Acme <script>alert(1)</script>");
        // Problems that are not a tenant's gate stay plain.
        let res = app.get("/api/v1/nothing").header("Accept", "text/html").send().await.unwrap();
        assert_eq!(header(&res, "content-type"), Some("application/problem+json"));
    }
}
