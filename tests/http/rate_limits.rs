//! Request limits per plan tier, per caller and per anonymous address, with the IETF
//! `RateLimit-Policy` / `RateLimit` headers.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_http::rate_limit::RateLimitConfig;
use tenantry_tests::{Options, PASSWORD, TestApp, app_tests, owner, problem};

fn get(app: &TestApp, slug: &str, token: &str) -> reqwest::RequestBuilder {
    app.get("/api/v1/products")
        .header("X-Tenant-ID", slug)
        .bearer_auth(token)
}

/// A hidden plan with `per_hour` requests, and `slug` moved onto it.
async fn tier(app: &TestApp, slug: &str, code: &str, per_hour: Value) {
    let res = app
        .operator(Method::POST, "/api/v1/platform/plans")
        .json(&json!({
            "code": code, "name": code, "currency": "EUR", "price_monthly_minor": 0,
            "price_yearly_minor": 0, "requests_per_hour": per_hour, "public": false,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .operator(
            Method::POST,
            &format!("/api/v1/platform/tenants/{slug}/change-plan"),
        )
        .json(&json!({"plan": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

fn headers(res: &reqwest::Response) -> (String, String) {
    let h = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (h("ratelimit-policy"), h("ratelimit"))
}

app_tests! {
    async fn a_tenant_s_tier_is_counted_and_announced(app) {
        let t = owner(app, "acme").await;
        let other = owner(app, "beta").await;
        tier(app, "acme", "tiny", json!(3)).await;
        for left in [2, 1, 0] {
            let res = get(app, "acme", &t).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let (policy, state) = headers(&res);
            assert_eq!(policy, "\"tenant\";q=3;w=3600");
            assert!(state.starts_with(&format!("\"tenant\";r={left};t=")), "{state}");
        }
        let res = get(app, "acme", &t).send().await.unwrap();
        let (policy, state) = headers(&res);
        assert_eq!(res.headers()["retry-after"], "1200", "one request every 20 minutes");
        assert_eq!(policy, "\"tenant\";q=3;w=3600");
        assert!(state.starts_with("\"tenant\";r=0;t="), "{state}");
        let body = problem(res, 429, "rate_limited").await;
        assert!(body["detail"].as_str().unwrap().contains("tenant limit of 3"), "{body}");
        // Another tenant has its own budget (enterprise, 10,000 an hour).
        let res = get(app, "beta", &other).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(headers(&res).0, "\"tenant\";q=10000;w=3600");
        // A tier without a limit: no limit, no headers.
        tier(app, "beta", "boundless", Value::Null).await;
        let res = get(app, "beta", &other).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("ratelimit").is_none());
    }

    async fn each_caller_may_use_only_its_share(app) with (Options {
        rate_limits: RateLimitConfig { caller_percent: 50, anonymous_per_hour: None, ..Default::default() },
        ..Options::default()
    }) {
        let t = owner(app, "acme").await;
        tier(app, "acme", "small", json!(4)).await;
        let key = |name: &str| app.request(Method::POST, "/api/v1/api-keys").header("X-Tenant-ID", "acme").bearer_auth(&t).json(&json!({"name": name, "permissions": ["products:read"]})).send();
        // Creating keys spends the owner's share: two calls.
        let k1: Value = key("one").await.unwrap().json().await.unwrap();
        let k2: Value = key("two").await.unwrap().json().await.unwrap();
        let (k1, k2) = (k1["key"].as_str().unwrap().to_owned(), k2["key"].as_str().unwrap().to_owned());
        let res = get(app, "acme", &t).send().await.unwrap();
        assert_eq!(headers(&res).0, "\"caller\";q=2;w=3600", "refused by its share, the tenant's budget untouched");
        let body = problem(res, 429, "rate_limited").await;
        assert!(body["detail"].as_str().unwrap().contains("caller limit of 2"), "{body}");
        // The first key has its own share, and uses the rest of the tenant's.
        let with_key = |k: &str| app.get("/api/v1/products").header("X-Tenant-ID", "acme").header("X-API-Key", k).send();
        assert_eq!(with_key(&k1).await.unwrap().status(), 200);
        assert_eq!(with_key(&k1).await.unwrap().status(), 200);
        // Now the tenant's four are spent: the second key is refused by the tenant's limit.
        let res = with_key(&k2).await.unwrap();
        assert_eq!(headers(&res).0, "\"caller\";q=2;w=3600, \"tenant\";q=4;w=3600");
        let body = problem(res, 429, "rate_limited").await;
        assert!(body["detail"].as_str().unwrap().contains("tenant limit"), "{body}");
    }

    async fn anonymous_calls_are_limited_per_address_sign_in_is_not(app) with (Options {
        rate_limits: RateLimitConfig { anonymous_per_hour: Some(3), ..Default::default() },
        ..Options::default()
    }) {
        let t = owner(app, "acme").await;
        for left in [2, 1, 0] {
            let res = app.get("/api/v1/plans").send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(headers(&res), ("\"anonymous\";q=3;w=3600".to_owned(), format!("\"anonymous\";r={left};t={}", (3 - left) * 1200)));
        }
        let res = app.get("/api/v1/plans").send().await.unwrap();
        assert!(res.headers().get("retry-after").is_some());
        problem(res, 429, "rate_limited").await;
        // Sign-in keeps its own throttle; a member's call is the tenant's, not anonymous.
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "owner@acme.test", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let res = get(app, "acme", &t).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(headers(&res).0, "\"tenant\";q=10000;w=3600");
        // Health and the documentation are never limited.
        assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
        assert_eq!(app.get("/openapi.json").send().await.unwrap().status(), 200);
    }
}

/// Two instances count against one budget through Redis; with Redis gone they serve on (no
/// limit, no headers, the failure counted), and limit again once it is back.
async fn instances_share_limits_through_redis_and_serve_on_without_it(
    db: tenantry_store::testing::TestDb,
) {
    let Some(mut redis) = tenantry_tests::RedisServer::start() else {
        return;
    };
    let options = Options {
        redis_url: Some(redis.url()),
        ..Options::default()
    };
    let a = TestApp::start(db, options).await;
    let b = a.another_instance();
    let t = owner(&a, "acme").await;
    tier(&a, "acme", "tiny", json!(3)).await;
    let mut states = Vec::new();
    for app in [&a, &b, &a] {
        let res = get(app, "acme", &t).send().await.unwrap();
        assert_eq!(res.status(), 200);
        states.push(headers(&res).1);
    }
    for (state, left) in states.iter().zip([2, 1, 0]) {
        assert!(
            state.starts_with(&format!("\"tenant\";r={left};t=")),
            "{states:?}"
        );
    }
    for app in [&b, &a] {
        problem(
            get(app, "acme", &t).send().await.unwrap(),
            429,
            "rate_limited",
        )
        .await;
    }

    // A burst at both instances at once: exactly the tier's quota gets through, each request
    // with its own place in it (checks that arrive together go to Redis together).
    let u = owner(&a, "burst").await;
    tier(&a, "burst", "ten", json!(10)).await;
    let burst = (0..30).map(|i| get(if i % 2 == 0 { &a } else { &b }, "burst", &u).send());
    let mut left = Vec::new();
    let mut refused = 0;
    for res in futures_util::future::join_all(burst).await {
        let res = res.unwrap();
        match res.status().as_u16() {
            200 => {
                let state = headers(&res).1;
                let r = state
                    .split_once("r=")
                    .and_then(|(_, rest)| rest.split(';').next())
                    .and_then(|r| r.parse::<u64>().ok());
                left.push(r.unwrap_or_else(|| panic!("{state}")));
            }
            429 => refused += 1,
            other => panic!("status {other}"),
        }
    }
    left.sort_unstable();
    assert_eq!(left, (0..10).collect::<Vec<u64>>());
    assert_eq!(refused, 20);

    redis.stop();
    for app in [&a, &b] {
        let res = get(app, "acme", &t).send().await.unwrap();
        assert_eq!(res.status(), 200, "fail open");
        assert!(res.headers().get("ratelimit").is_none());
    }
    let metrics = reqwest::get(format!("http://{}/metrics", a.internal_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tenantry_rate_limit_errors_total") && !l.ends_with(" 0")),
        "{metrics}"
    );

    redis.restart();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut limited = false;
    for _ in 0..6 {
        let res = get(&a, "acme", &t).send().await.unwrap();
        if res.status() == 429 {
            limited = true;
            break;
        }
        assert!(res.headers().get("ratelimit").is_some() || res.status() == 200);
    }
    assert!(limited, "limits are back with Redis");
}

#[tokio::test]
async fn redis_limits_on_sqlite() {
    instances_share_limits_through_redis_and_serve_on_without_it(
        tenantry_store::testing::TestDb::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn redis_limits_on_postgres() {
    if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
        instances_share_limits_through_redis_and_serve_on_without_it(db).await;
    }
}
