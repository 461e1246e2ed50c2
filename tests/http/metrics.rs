//! The Prometheus listener: the families an operator's dashboard reads, a request moving its
//! counter, and labels that stay bounded (route patterns, never raw paths or tenants).

use reqwest::Method;
use serde_json::json;
use tenantry_tests::{TestApp, app_tests};

async fn scrape(app: &TestApp) -> String {
    let res = reqwest::get(format!("http://{}/metrics", app.internal_addr))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    res.text().await.unwrap()
}

/// The value of the first sample whose line starts with `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

app_tests! {
    async fn metrics_name_what_operators_watch_and_requests_move_them(app) {
        let a = app.onboard("acme", "ann@acme.test", "correct horse battery").await;
        let token = a["session"]["access_token"].as_str().unwrap();
        let call = |method: Method, path: &str| app.request(method, path).header("X-Tenant-ID", "acme").bearer_auth(token);
        // A job in the queue, a failed login, a cached tenant, a product read by id.
        call(Method::POST, "/api/v1/invitations").json(&json!({"email": "bob@acme.test", "role": "member"})).send().await.unwrap();
        app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@acme.test", "password": "wrong password!"})).send().await.unwrap();
        let product = uuid::Uuid::now_v7();
        let series = r#"tenantry_http_requests_total{method="GET",route="/api/v1/products/{id}",status="404"}"#;
        let before = value(&scrape(app).await, series);
        assert_eq!(call(Method::GET, &format!("/api/v1/products/{product}")).send().await.unwrap().status(), 404);
        call(Method::GET, "/api/v1/members").send().await.unwrap();

        let text = scrape(app).await;
        assert!(value(&text, series) >= before + 1.0, "the request moved its counter:\n{series}");
        for family in [
            "# TYPE tenantry_http_requests_total counter",
            "# TYPE tenantry_http_request_duration_seconds histogram",
            "# TYPE tenantry_db_pool_connections gauge",
            "# TYPE tenantry_db_pool_waiting gauge",
            "# TYPE tenantry_db_pool_wait_seconds histogram",
            "# TYPE tenantry_jobs gauge",
            "# TYPE tenantry_jobs_oldest_wait_seconds gauge",
            "# TYPE tenantry_cache_lookups_total counter",
            "# TYPE tenantry_logins_total counter",
        ] {
            assert!(text.contains(family), "{family} missing from:\n{text}");
        }
        assert!(text.contains(r#"tenantry_http_request_duration_seconds_bucket{method="GET",route="/api/v1/members",le="0.005"}"#), "{text}");
        assert!(value(&text, r#"tenantry_logins_total{outcome="invalid_credentials"}"#) >= 1.0);
        assert!(text.contains(r#"tenantry_jobs{kind="invitation_mail",state="dead"} 0"#), "{text}");
        for _ in 0..50 {
            if value(&scrape(app).await, r#"tenantry_jobs_finished_total{kind="invitation_mail",outcome="done"}"#) >= 1.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(value(&scrape(app).await, r#"tenantry_jobs_finished_total{kind="invitation_mail",outcome="done"}"#) >= 1.0, "the worker's run is counted");
        assert!(value(&text, r#"tenantry_cache_lookups_total{cache="member",result="hit"}"#) >= 1.0);
        assert!(value(&text, r#"tenantry_db_pool_connections{state="max"}"#) >= 1.0);
        // Bounded labels: the route's pattern, never the id in the path, nor a tenant.
        assert!(!text.contains(&product.to_string()));
        assert!(!text.contains("acme"), "no per-tenant series by default");
        // The API's own listener does not serve the metrics.
        assert_eq!(app.get("/metrics").send().await.unwrap().status(), 404);
    }
}

app_tests! {
    async fn the_tls_proxy_may_ask_only_for_our_names(app) {
        let ask = |domain: &str| {
            let url = format!("http://{}/internal/tls/ask?domain={domain}", app.internal_addr);
            async move { reqwest::get(url).await.unwrap().status().as_u16() }
        };
        app.onboard("acme", "ann@acme.test", "correct horse battery").await;
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/domains").json(&json!({"hostname": "portal.acme.example"})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(ask("acme.localhost").await, 200, "a tenant's subdomain");
        assert_eq!(ask("localhost").await, 200, "the platform's own host");
        assert_eq!(ask("nobody.localhost").await, 404, "no such tenant");
        assert_eq!(ask("portal.acme.example").await, 404, "a custom domain still pending");
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/domains/portal.acme.example/verify").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(ask("portal.acme.example").await, 200, "once verified");
        assert_eq!(ask("evil.example").await, 404);
        // Only an active tenant's names: suspended, its domains get no certificate.
        let res = app.operator(Method::POST, "/api/v1/platform/tenants/acme/suspend").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(ask("portal.acme.example").await, 404);
        assert_eq!(ask("acme.localhost").await, 404);
        assert_eq!(app.get("/internal/tls/ask?domain=acme.localhost").send().await.unwrap().status(), 404, "not on the API's listener");
    }
}
