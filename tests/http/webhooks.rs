//! Webhook endpoints over HTTP: the secret shown once and sealed at rest, the target rules,
//! rotation with an overlap, and every change audited and evented.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

async fn owner(app: &TestApp) -> String {
    owner_of(app).await.0
}

/// The owner's token and the tenant's id.
async fn owner_of(app: &TestApp) -> (String, tenantry_kernel::TenantId) {
    let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
    (
        a["session"]["access_token"].as_str().unwrap().to_owned(),
        a["tenant"]["id"].as_str().unwrap().parse().unwrap(),
    )
}

fn call(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-ID", "acme")
        .bearer_auth(token)
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let code = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

app_tests! {
    async fn an_endpoint_s_secret_is_shown_once_and_sealed_at_rest(app) {
        let (t, tenant) = owner_of(app).await;
        let created = json_of(call(app, Method::POST, "/api/v1/webhooks", &t)
            .json(&json!({
                "url": "https://hooks.example.com/in",
                "description": "CRM sync",
                "event_types": ["product.*", "member.created", "product.*"],
                "headers": {"X-Api-Key": "receiver-key"},
                "rate_limit": 50,
            }))
            .send().await.unwrap(), 201).await;
        let secret = created["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["event_types"], json!(["product.*", "member.created"]));
        assert_eq!(created["headers"], json!({"x-api-key": "receiver-key"}));
        assert_eq!((created["enabled"].clone(), created["rate_limit"].clone()), (json!(true), json!(50)));

        // Never again: not in a read, a list, an event or the audit trail.
        let one = json_of(call(app, Method::GET, &format!("/api/v1/webhooks/{id}"), &t).send().await.unwrap(), 200).await;
        let list = json_of(call(app, Method::GET, "/api/v1/webhooks", &t).send().await.unwrap(), 200).await;
        let events = json_of(call(app, Method::GET, "/api/v1/events?type=webhook_endpoint.*", &t).send().await.unwrap(), 200).await;
        let audit = json_of(call(app, Method::GET, "/api/v1/audit-logs?entity_type=webhook_endpoint", &t).send().await.unwrap(), 200).await;
        assert_eq!(one.get("secret"), None);
        assert_eq!(list["items"][0]["id"], id.as_str());
        assert_eq!(events["items"][0]["type"], "webhook_endpoint.created");
        assert_eq!(events["items"][0]["data"]["object"]["url"], "https://hooks.example.com/in");
        assert_eq!(audit["items"][0]["action"], "created");
        let key = &secret["whsec_".len()..];
        for (what, v) in [("read", &one), ("list", &list), ("events", &events), ("audit", &audit)] {
            assert!(!v.to_string().contains(key), "the secret leaked into the {what}");
        }
        // At rest: sealed, not the secret.
        let db = app.db().db();
        let stored = db.column_values(tenant, "webhook_endpoints", "secret").await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(stored[0].starts_with("v1:") && !stored[0].contains(key), "{}", stored[0]);

        // Rotation: a new secret, the old one still sent for 24 hours.
        let rotated = json_of(call(app, Method::POST, &format!("/api/v1/webhooks/{id}/rotate-secret"), &t).send().await.unwrap(), 200).await;
        let new = rotated["secret"].as_str().unwrap();
        assert!(new.starts_with("whsec_") && new != secret);
        let rotated_at: chrono::DateTime<chrono::Utc> = rotated["secret_rotated_at"].as_str().unwrap().parse().unwrap();
        let until: chrono::DateTime<chrono::Utc> = rotated["previous_secret_expires_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(until - rotated_at, chrono::Duration::hours(24));
        let events = json_of(call(app, Method::GET, "/api/v1/events?type=webhook_endpoint.secret_rotated", &t).send().await.unwrap(), 200).await;
        assert_eq!(events["items"].as_array().unwrap().len(), 1);
        assert!(!events.to_string().contains(&new["whsec_".len()..]));
        let previous = db.column_values(tenant, "webhook_endpoints", "previous_secret").await.unwrap();
        assert!(previous[0].starts_with("v1:") && !previous[0].contains(key));
    }

    async fn bad_endpoints_are_refused_field_by_field_and_nothing_is_written(app) {
        let t = owner(app).await;
        let res = call(app, Method::POST, "/api/v1/webhooks", &t)
            .json(&json!({
                "url": "http://hooks.example.com/in",
                "event_types": ["product"],
                "headers": {"Host": "evil.test"},
                "rate_limit": 0,
                "description": "x".repeat(1001),
            }))
            .send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["url", "description", "event_types", "headers", "rate_limit"]);
        for url in [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.1.2.3/hook",
            "https://[fd00::1]/hook",
            "https://user:pass@hooks.example.com/",
            "ftp://hooks.example.com/",
        ] {
            let res = call(app, Method::POST, "/api/v1/webhooks", &t).json(&json!({"url": url})).send().await.unwrap();
            let body = problem(res, 422, "validation_failed").await;
            assert_eq!(body["errors"][0]["field"], "url", "{url}");
        }
        for header in ["connection", "Transfer-Encoding", "webhook-signature", "X-Hub-Signature-256", "content-length"] {
            let res = call(app, Method::POST, "/api/v1/webhooks", &t)
                .json(&json!({"url": "https://hooks.example.com/", "headers": {header: "x"}}))
                .send().await.unwrap();
            problem(res, 422, "validation_failed").await;
        }
        let list = json_of(call(app, Method::GET, "/api/v1/webhooks", &t).send().await.unwrap(), 200).await;
        assert_eq!(list["items"], json!([]));
        // An unknown endpoint.
        let ghost = uuid::Uuid::now_v7();
        for (method, path) in [
            (Method::GET, format!("/api/v1/webhooks/{ghost}")),
            (Method::DELETE, format!("/api/v1/webhooks/{ghost}")),
            (Method::POST, format!("/api/v1/webhooks/{ghost}/rotate-secret")),
        ] {
            problem(call(app, method, &path, &t).send().await.unwrap(), 404, "webhook_not_found").await;
        }
    }

    async fn patch_and_delete_are_audited_and_evented(app) {
        let t = owner(app).await;
        let created = json_of(call(app, Method::POST, "/api/v1/webhooks", &t)
            .json(&json!({"url": "https://hooks.example.com/in", "rate_limit": 10}))
            .send().await.unwrap(), 201).await;
        let id = created["id"].as_str().unwrap();
        let path = format!("/api/v1/webhooks/{id}");
        let off = json_of(call(app, Method::PATCH, &path, &t)
            .json(&json!({"enabled": false, "rate_limit": null, "event_types": ["project.*"]}))
            .send().await.unwrap(), 200).await;
        assert_eq!((off["enabled"].clone(), off["disabled_reason"].clone(), off["rate_limit"].clone()), (json!(false), json!("manual"), Value::Null));
        let on = json_of(call(app, Method::PATCH, &path, &t).json(&json!({"enabled": true})).send().await.unwrap(), 200).await;
        assert_eq!((on["enabled"].clone(), on["disabled_reason"].clone()), (json!(true), Value::Null));
        // An unchanged patch changes nothing and records nothing.
        json_of(call(app, Method::PATCH, &path, &t).json(&json!({"enabled": true})).send().await.unwrap(), 200).await;
        assert_eq!(call(app, Method::DELETE, &path, &t).send().await.unwrap().status(), 204);
        problem(call(app, Method::GET, &path, &t).send().await.unwrap(), 404, "webhook_not_found").await;
        let events = json_of(call(app, Method::GET, "/api/v1/events?type=webhook_endpoint.*", &t).send().await.unwrap(), 200).await;
        let types: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["webhook_endpoint.deleted", "webhook_endpoint.updated", "webhook_endpoint.updated", "webhook_endpoint.created"]);
        assert_eq!(events["items"][2]["data"]["previous_attributes"]["enabled"], true);
        let audit = json_of(call(app, Method::GET, "/api/v1/audit-logs?entity_type=webhook_endpoint", &t).send().await.unwrap(), 200).await;
        assert_eq!(audit["items"].as_array().unwrap().len(), 4);
        assert_eq!(audit["items"][2]["changes"]["rate_limit"], json!({"old": 10, "new": null}));
    }

    async fn http_targets_and_loopback_need_the_operator_s_consent(app) with (Options {
        webhook_rules: tenantry_webhooks::TargetRules {
            allow_http: true,
            addresses: tenantry_webhooks::AddressPolicy::parse("127.0.0.1/32").unwrap(),
        },
        ..Options::default()
    }) {
        let t = owner(app).await;
        let ok = call(app, Method::POST, "/api/v1/webhooks", &t).json(&json!({"url": "http://127.0.0.1:9/hook"})).send().await.unwrap();
        assert_eq!(ok.status(), 201);
        for url in ["http://127.0.0.2:9/hook", "http://[::1]:9/hook", "http://10.0.0.1/"] {
            let res = call(app, Method::POST, "/api/v1/webhooks", &t).json(&json!({"url": url})).send().await.unwrap();
            problem(res, 422, "validation_failed").await;
        }
    }
}

/// Deliveries reach loopback receivers over plain HTTP in these tests.
fn loopback() -> Options {
    Options {
        webhook_rules: tenantry_webhooks::TargetRules {
            allow_http: true,
            addresses: tenantry_webhooks::AddressPolicy::parse("127.0.0.1/32").unwrap(),
        },
        ..Options::default()
    }
}

app_tests! {
    async fn a_change_is_delivered_signed_to_the_endpoints_that_want_it(app) with (loopback()) {
        let (t, tenant) = owner_of(app).await;
        let sink = tenantry_telemetry::testing::HttpSink::start();
        let created = json_of(call(app, Method::POST, "/api/v1/webhooks", &t)
            .json(&json!({"url": format!("{}/hook", sink.url()), "event_types": ["product.*"], "headers": {"X-Api-Key": "k-1"}}))
            .send().await.unwrap(), 201).await;
        let secret = tenantry_webhooks::WebhookSecret::parse(created["secret"].as_str().unwrap()).unwrap();
        call(app, Method::POST, "/api/v1/projects", &t).json(&json!({"name": "Not wanted"})).send().await.unwrap();
        let product = json_of(call(app, Method::POST, "/api/v1/products", &t)
            .json(&json!({"name": "Kettle", "sku": "K-1", "price_minor": 100, "currency": "EUR"}))
            .send().await.unwrap(), 201).await;
        let waiter = sink.clone();
        let got = tokio::task::spawn_blocking(move || waiter.wait_for(std::time::Duration::from_secs(10), |p| !p.is_empty())).await.unwrap();
        assert_eq!(got.len(), 1, "one event wanted: {:?}", got.iter().map(|p| String::from_utf8_lossy(&p.body).into_owned()).collect::<Vec<_>>());
        let post = &got[0];
        assert_eq!(post.path, "/hook");
        let event = json_of(call(app, Method::GET, "/api/v1/events?type=product.created", &t).send().await.unwrap(), 200).await["items"][0].clone();
        assert_eq!(post.header("webhook-id"), event["id"].as_str());
        assert_eq!(post.header("content-type"), Some("application/json"));
        assert_eq!(post.header("x-api-key"), Some("k-1"));
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body, event, "the body is the event as the pull API shows it");
        assert_eq!(body["data"]["object"]["id"], product["id"]);
        assert_eq!(body["tenant_id"], tenant.to_string());
        let ts: i64 = post.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 30);
        let expected = tenantry_webhooks::sign(event["id"].as_str().unwrap(), ts, &post.body, &[&secret]);
        assert_eq!(post.header("webhook-signature"), Some(expected.standard.as_str()));
        assert_eq!(post.header("x-hub-signature-256"), Some(expected.hub.as_str()));
        // Logged, and gone from the queue.
        let db = app.db().db();
        for _ in 0..100 {
            if db.unfiltered_count(Some(tenant), "webhook_attempts").await.unwrap() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(db.unfiltered_count(Some(tenant), "webhook_attempts WHERE succeeded").await.unwrap(), 1);
        assert_eq!(db.unfiltered_count(None, "webhook_deliveries").await.unwrap(), 0);

        // After a rotation, deliveries carry both signatures, the new secret's first.
        let id = created["id"].as_str().unwrap();
        let rotated = json_of(call(app, Method::POST, &format!("/api/v1/webhooks/{id}/rotate-secret"), &t).send().await.unwrap(), 200).await;
        let new = tenantry_webhooks::WebhookSecret::parse(rotated["secret"].as_str().unwrap()).unwrap();
        let pid = product["id"].as_str().unwrap();
        json_of(call(app, Method::PATCH, &format!("/api/v1/products/{pid}"), &t).json(&json!({"name": "Tea kettle"})).send().await.unwrap(), 200).await;
        let got = tokio::task::spawn_blocking(move || sink.wait_for(std::time::Duration::from_secs(10), |p| p.len() >= 2)).await.unwrap();
        assert_eq!(got.len(), 2);
        let post = &got[1];
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body["type"], "product.updated");
        let ts: i64 = post.header("webhook-timestamp").unwrap().parse().unwrap();
        let both = tenantry_webhooks::sign(body["id"].as_str().unwrap(), ts, &post.body, &[&new, &secret]);
        assert_eq!(post.header("webhook-signature"), Some(both.standard.as_str()));
        assert_eq!(post.header("x-hub-signature-256"), Some(both.hub.as_str()));
        assert_ne!(both.hub, expected.hub, "the GitHub-style signature uses the new secret");
    }
}
