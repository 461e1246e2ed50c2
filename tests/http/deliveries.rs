//! Webhook deliveries against real receivers on loopback: the delivery log and its stats,
//! resend, recovery and tests by hand; a receiver down then up (each event exactly once), a
//! 410 and days of failures (disabled, the owners told by e-mail), a rolled-back change
//! (nothing sent), two tenants (never each other's events), one tenant's flood (the other's
//! deliveries go through meanwhile), and the address guard at delivery time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_telemetry::testing::{HttpSink, Posted};
use tenantry_tests::{Options, SmtpSink, TestApp, app_tests, call, owner, problem};

/// Deliveries reach loopback receivers over plain HTTP, retried after 100 ms then 200 ms.
fn loopback() -> Options {
    Options {
        webhook_rules: tenantry_webhooks::TargetRules {
            allow_http: true,
            addresses: tenantry_webhooks::AddressPolicy::parse("127.0.0.1/32").unwrap(),
        },
        ..Options::default()
    }
}

/// With a longer schedule: 300 ms, 600 ms, 1 s, 2 s (five attempts over about 4 s).
fn patient() -> Options {
    let mut o = loopback();
    o.webhook_delivery.schedule =
        tenantry_webhooks::RetrySchedule::parse("300ms,600ms,1s,2s").unwrap();
    o
}

async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let code = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

/// Registers an endpoint at `url` for `types` and returns its id.
async fn endpoint(app: &TestApp, slug: &str, t: &str, url: &str, types: Value) -> String {
    let created = json_of(
        call(app, slug, Method::POST, "/api/v1/webhooks", t)
            .json(&json!({"url": url, "event_types": types}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn product(app: &TestApp, slug: &str, t: &str, sku: &str) -> Value {
    json_of(
        call(app, slug, Method::POST, "/api/v1/products", t)
            .json(&json!({"name": format!("Product {sku}"), "sku": sku, "price_minor": 100, "currency": "EUR"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await
}

/// Waits (up to `secs`) until `done` holds for the GET of `path`, and returns it.
async fn poll(
    app: &TestApp,
    slug: &str,
    t: &str,
    path: &str,
    secs: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let v = json_of(
            call(app, slug, Method::GET, path, t).send().await.unwrap(),
            200,
        )
        .await;
        if done(&v) || std::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn received(
    sink: &HttpSink,
    within: Duration,
    done: impl Fn(&[Posted]) -> bool + Send + 'static,
) -> Vec<Posted> {
    let sink = sink.clone();
    tokio::task::spawn_blocking(move || sink.wait_for(within, done))
        .await
        .unwrap()
}

fn body_of(p: &Posted) -> Value {
    serde_json::from_slice(&p.body).unwrap()
}

/// How many times each `webhook-id` arrived.
fn arrivals(posted: &[Posted]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for p in posted {
        *seen
            .entry(p.header("webhook-id").unwrap().to_owned())
            .or_default() += 1;
    }
    seen
}

app_tests! {
    async fn the_log_the_stats_and_resend_recover_and_test_by_hand(app) with (loopback()) {
        let t = owner(app, "acme").await;
        let sink = HttpSink::start();
        sink.reply_with(500, &[]);
        let id = endpoint(app, "acme", &t, &format!("{}/hook", sink.url()), json!(["product.*"])).await;
        let other = HttpSink::start();
        endpoint(app, "acme", &t, &format!("{}/all", other.url()), json!([])).await;
        let p = product(app, "acme", &t, "LOG-1").await;

        // Three attempts (the first and two retries), all failing: the delivery fails for good.
        let stats = poll(app, "acme", &t, &format!("/api/v1/webhooks/{id}/stats"), 10, |s| s["failed_deliveries"] == 1).await;
        assert_eq!(stats["attempts"], 3, "{stats}");
        assert_eq!(stats["succeeded"], 0);
        assert_eq!(stats["success_rate"], 0.0);
        assert_eq!(stats["latency"]["responses"], 3);
        assert!(stats["latency"]["p50_ms"].as_u64().unwrap() <= stats["latency"]["max_ms"].as_u64().unwrap());
        assert_eq!(stats["pending_deliveries"], 0);
        let log = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts"), &t).send().await.unwrap(), 200).await;
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.iter().map(|a| a["attempt"].as_u64().unwrap()).collect::<Vec<_>>(), [3, 2, 1], "newest first");
        for a in items {
            assert_eq!(a["trigger"], "scheduled");
            assert_eq!(a["succeeded"], false);
            assert_eq!(a["status_code"], 500);
            assert_eq!(a["response_body"], "ok");
            assert_eq!(a["event_type"], "product.created");
            assert_eq!(a["endpoint_id"], id.as_str());
        }
        let event = items[0]["event_id"].as_str().unwrap().to_owned();
        // Filters and pages.
        let ok = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts?status=succeeded"), &t).send().await.unwrap(), 200).await;
        assert_eq!(ok["items"], json!([]));
        let first = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts?status=failed&limit=2"), &t).send().await.unwrap(), 200).await;
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_str().unwrap();
        let rest = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts?status=failed&limit=2&cursor={cursor}"), &t).send().await.unwrap(), 200).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1);
        assert_eq!(rest["items"][0]["attempt"], 1);
        assert_eq!(rest["next_cursor"], Value::Null);
        problem(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts?status=maybe"), &t).send().await.unwrap(), 400, "invalid_query").await;
        // The event's attempts, to every endpoint (the catch-all one got it at once).
        let by_event = poll(app, "acme", &t, &format!("/api/v1/events/{event}/attempts"), 5, |v| v["items"].as_array().unwrap().len() == 4).await;
        assert_eq!(by_event["items"].as_array().unwrap().iter().filter(|a| a["succeeded"] == true).count(), 1, "{by_event}");
        problem(call(app, "acme", Method::GET, &format!("/api/v1/events/{}/attempts", uuid::Uuid::now_v7()), &t).send().await.unwrap(), 404, "event_not_found").await;

        // The receiver is fixed: a recovery sends the failed delivery again, once.
        sink.reply_with(204, &[]);
        let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        let recovered = json_of(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/recover"), &t).json(&json!({"since": since})).send().await.unwrap(), 202).await;
        assert_eq!(recovered, json!({"queued": 1}));
        let got = received(&sink, Duration::from_secs(10), |p| p.len() >= 4).await;
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].header("webhook-id"), Some(event.as_str()));
        let stats = poll(app, "acme", &t, &format!("/api/v1/webhooks/{id}/stats"), 5, |s| s["succeeded"] == 1).await;
        assert_eq!(stats["attempts"], 4);
        assert_eq!(stats["success_rate"], 0.25);
        assert_eq!(stats["failed_deliveries"], 0);
        let latest = &json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts?limit=1"), &t).send().await.unwrap(), 200).await["items"][0];
        assert_eq!(latest["trigger"], "manual");
        assert_eq!(latest["attempt"], 4, "manual attempts continue the count");
        assert_eq!(latest["succeeded"], true);
        // Nothing failed since now: nothing to recover.
        let now = chrono::Utc::now().to_rfc3339();
        assert_eq!(json_of(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/recover"), &t).json(&json!({"since": now})).send().await.unwrap(), 202).await, json!({"queued": 0}));
        problem(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/recover"), &t).json(&json!({"since": "yesterday"})).send().await.unwrap(), 422, "validation_failed").await;

        // A resend of a delivered event: one more manual attempt.
        let resent = json_of(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/events/{event}/resend"), &t).send().await.unwrap(), 202).await;
        assert_eq!(resent, json!({"result": "queued"}));
        let got = received(&sink, Duration::from_secs(10), |p| p.len() >= 5).await;
        assert_eq!(got[4].header("webhook-id"), Some(event.as_str()));
        assert_eq!(body_of(&got[4])["data"]["object"]["id"], p["id"]);
        problem(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/events/{}/resend", uuid::Uuid::now_v7()), &t).send().await.unwrap(), 404, "event_not_found").await;
        let project = json_of(call(app, "acme", Method::POST, "/api/v1/projects", &t).json(&json!({"name": "Elsewhere"})).send().await.unwrap(), 201).await;
        let project_event = json_of(call(app, "acme", Method::GET, "/api/v1/events?type=project.created", &t).send().await.unwrap(), 200).await["items"][0]["id"].as_str().unwrap().to_owned();
        assert!(!project_event.is_empty(), "{project}");
        problem(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/events/{project_event}/resend"), &t).send().await.unwrap(), 409, "event_not_subscribed").await;

        // A test: to this endpoint only, whatever it subscribes to.
        let test = json_of(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/test"), &t).send().await.unwrap(), 202).await;
        let test_id = test["event_id"].as_str().unwrap().to_owned();
        let got = received(&sink, Duration::from_secs(10), |p| p.len() >= 6).await;
        let sent = body_of(&got[5]);
        assert_eq!(got[5].header("webhook-id"), Some(test_id.as_str()));
        assert_eq!(sent["type"], "webhook.test");
        assert_eq!(sent["data"]["object"]["webhook_endpoint_id"], id.as_str());
        let attempts = poll(app, "acme", &t, &format!("/api/v1/events/{test_id}/attempts"), 5, |v| v["items"].as_array().unwrap().len() == 1).await;
        assert_eq!(attempts["items"][0]["trigger"], "manual");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(other.received().iter().all(|p| body_of(p)["type"] != "webhook.test"), "the test went to its endpoint only");

        // Each is on record in the audit trail.
        let audit = json_of(call(app, "acme", Method::GET, "/api/v1/audit-logs?limit=100", &t).send().await.unwrap(), 200).await;
        let actions: BTreeSet<String> = audit["items"].as_array().unwrap().iter()
            .filter(|e| e["entity_id"] == id.as_str())
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        for action in ["recovered", "event_resent", "test_sent"] {
            assert!(actions.contains(action), "{action} missing from {actions:?}");
        }

        // A disabled endpoint takes nothing by hand.
        json_of(call(app, "acme", Method::PATCH, &format!("/api/v1/webhooks/{id}"), &t).json(&json!({"enabled": false})).send().await.unwrap(), 200).await;
        problem(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/test"), &t).send().await.unwrap(), 409, "webhook_disabled").await;
        problem(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/events/{event}/resend"), &t).send().await.unwrap(), 409, "webhook_disabled").await;
        problem(call(app, "acme", Method::POST, &format!("/api/v1/webhooks/{id}/recover"), &t).json(&json!({"since": since})).send().await.unwrap(), 409, "webhook_disabled").await;
        let ghost = uuid::Uuid::now_v7();
        problem(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{ghost}/stats"), &t).send().await.unwrap(), 404, "webhook_not_found").await;
        problem(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{ghost}/attempts"), &t).send().await.unwrap(), 404, "webhook_not_found").await;
    }

    async fn a_receiver_down_then_up_gets_each_event_exactly_once(app) with (patient()) {
        let t = owner(app, "acme").await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let id = endpoint(app, "acme", &t, &format!("http://127.0.0.1:{port}/hook"), json!(["product.*"])).await;
        for n in 0..5 {
            product(app, "acme", &t, &format!("DOWN-{n}")).await;
        }
        // Down: the first attempts are refused.
        let failed = poll(app, "acme", &t, &format!("/api/v1/webhooks/{id}/attempts?limit=100"), 5, |v| v["items"].as_array().unwrap().len() >= 5).await;
        assert!(failed["items"].as_array().unwrap().iter().all(|a| a["error"] == "connection_refused"), "{failed}");
        // Up, where it was.
        let sink = HttpSink::start_on(port);
        received(&sink, Duration::from_secs(15), |p| arrivals(p).len() == 5).await;
        // Long enough for any duplicate retry to arrive.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got = sink.received();
        let seen = arrivals(&got);
        assert_eq!(seen.len(), 5, "every event arrived");
        assert!(seen.values().all(|n| *n == 1), "each exactly once: {seen:?}");
        let log = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{id}/attempts?limit=100"), &t).send().await.unwrap(), 200).await;
        let mut per_event: BTreeMap<String, u64> = BTreeMap::new();
        for a in log["items"].as_array().unwrap() {
            let n = per_event.entry(a["event_id"].as_str().unwrap().to_owned()).or_default();
            *n = (*n).max(a["attempt"].as_u64().unwrap());
        }
        assert!(per_event.values().all(|n| *n <= 5), "within the schedule's five attempts: {per_event:?}");
        assert_eq!(app.db().db().unfiltered_count(None, "webhook_deliveries").await.unwrap(), 0);
    }

    async fn a_rolled_back_change_sends_nothing(app) with (loopback()) {
        let t = owner(app, "acme").await;
        let sink = HttpSink::start();
        endpoint(app, "acme", &t, &format!("{}/hook", sink.url()), json!(["product.*"])).await;
        product(app, "acme", &t, "TAKEN").await;
        received(&sink, Duration::from_secs(10), |p| !p.is_empty()).await;
        // Two new rows and a taken SKU: the import's transaction rolls back whole.
        let rows = json!([
            {"name": "One", "sku": "NEW-1", "price_minor": 1, "currency": "EUR"},
            {"name": "Two", "sku": "NEW-2", "price_minor": 1, "currency": "EUR"},
            {"name": "Three", "sku": "TAKEN", "price_minor": 1, "currency": "EUR"},
        ]);
        let res = call(app, "acme", Method::POST, "/api/v1/products/bulk-import", &t).json(&rows).send().await.unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.received().len(), 1, "only the first product's event");
        assert_eq!(app.db().db().unfiltered_count(None, "webhook_deliveries").await.unwrap(), 0);
    }

    async fn two_tenants_never_receive_each_other_s_events(app) with (loopback()) {
        let mut sinks = BTreeMap::new();
        for slug in ["acme", "beta"] {
            let t = owner(app, slug).await;
            let sink = HttpSink::start();
            endpoint(app, slug, &t, &format!("{}/{slug}", sink.url()), json!([])).await;
            // A change of every kind of entity, each producing its events.
            let p = product(app, slug, &t, &format!("{slug}-1")).await;
            let pid = p["id"].as_str().unwrap();
            json_of(call(app, slug, Method::PATCH, &format!("/api/v1/products/{pid}"), &t).json(&json!({"name": "Renamed"})).send().await.unwrap(), 200).await;
            call(app, slug, Method::DELETE, &format!("/api/v1/products/{pid}"), &t).send().await.unwrap();
            let project = json_of(call(app, slug, Method::POST, "/api/v1/projects", &t).json(&json!({"name": "Plan"})).send().await.unwrap(), 201).await;
            let prid = project["id"].as_str().unwrap();
            let task = json_of(call(app, slug, Method::POST, &format!("/api/v1/projects/{prid}/tasks"), &t).json(&json!({"title": "Do"})).send().await.unwrap(), 201).await;
            call(app, slug, Method::POST, &format!("/api/v1/tasks/{}/toggle", task["id"].as_str().unwrap()), &t).send().await.unwrap();
            json_of(call(app, slug, Method::POST, "/api/v1/roles", &t).json(&json!({"name": "auditor", "permissions": ["audit:read"]})).send().await.unwrap(), 201).await;
            json_of(call(app, slug, Method::POST, "/api/v1/invitations", &t).json(&json!({"email": format!("new@{slug}.test"), "role": "member"})).send().await.unwrap(), 201).await;
            let key = json_of(call(app, slug, Method::POST, "/api/v1/api-keys", &t).json(&json!({"name": "ci", "permissions": []})).send().await.unwrap(), 201).await;
            call(app, slug, Method::DELETE, &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()), &t).send().await.unwrap();
            let second = endpoint(app, slug, &t, "https://hooks.example.com/second", json!(["task.*"])).await;
            call(app, slug, Method::POST, &format!("/api/v1/webhooks/{second}/rotate-secret"), &t).send().await.unwrap();
            call(app, slug, Method::DELETE, &format!("/api/v1/webhooks/{second}"), &t).send().await.unwrap();
            sinks.insert(slug, (t, sink));
        }
        for (slug, (t, sink)) in &sinks {
            let events = json_of(call(app, slug, Method::GET, "/api/v1/events?limit=100", t).send().await.unwrap(), 200).await;
            let items = events["items"].as_array().unwrap();
            // Every event from the catch-all endpoint's own creation on (ids are time-ordered).
            let start = items.iter()
                .find(|e| e["type"] == "webhook_endpoint.created" && e["data"]["object"]["url"].as_str().unwrap().ends_with(&format!("/{slug}")))
                .unwrap()["id"].as_str().unwrap().to_owned();
            let ours: BTreeMap<String, String> = items.iter()
                .map(|e| (e["id"].as_str().unwrap().to_owned(), e["type"].as_str().unwrap().to_owned()))
                .collect();
            let owed: BTreeSet<String> = ours.keys().filter(|id| **id >= start).cloned().collect();
            let n = owed.len();
            received(sink, Duration::from_secs(15), move |p| arrivals(p).len() >= n).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let got = sink.received();
            let tenant = &items[0]["tenant_id"];
            let mut types = BTreeSet::new();
            for p in &got {
                let body = body_of(p);
                assert_eq!(&body["tenant_id"], tenant, "{slug} received another tenant's event: {body}");
                let id = p.header("webhook-id").unwrap();
                assert!(ours.contains_key(id), "{slug} received an event it does not have: {body}");
                types.insert(body["type"].as_str().unwrap().to_owned());
            }
            let delivered: BTreeSet<String> = arrivals(&got).into_keys().collect();
            assert_eq!(delivered, owed, "{slug}: every event owed, and nothing else");
            for t in ["product.created", "product.updated", "product.deleted", "project.created", "task.created", "task.toggled", "role.created", "invitation.created", "api_key.created", "api_key.revoked", "webhook_endpoint.created", "webhook_endpoint.secret_rotated", "webhook_endpoint.deleted"] {
                assert!(types.contains(t), "{slug}: {t} was not delivered ({types:?})");
            }
        }
    }

    async fn one_tenant_s_flood_does_not_hold_up_another_s_deliveries(app) with (loopback()) {
        let flood_owner = owner(app, "flood").await;
        let quiet_owner = owner(app, "quiet").await;
        let flood = HttpSink::start();
        // A slow receiver: each delivery takes 100 ms, at most 50 in flight (about 2 s for all).
        flood.reply_after(Duration::from_millis(100));
        endpoint(app, "flood", &flood_owner, &format!("{}/flood", flood.url()), json!(["product.*"])).await;
        let quiet = HttpSink::start();
        endpoint(app, "quiet", &quiet_owner, &format!("{}/quiet", quiet.url()), json!(["product.*"])).await;
        // 1,000 events in one change (fanned out in three statements of at most 400).
        let rows: Vec<Value> = (0..1000).map(|n| json!({"name": format!("Bulk {n}"), "sku": format!("B-{n}"), "price_minor": 1, "currency": "EUR"})).collect();
        let res = call(app, "flood", Method::POST, "/api/v1/products/bulk-import", &flood_owner).json(&rows).send().await.unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
        product(app, "quiet", &quiet_owner, "Q-1").await;
        let got = received(&quiet, Duration::from_secs(10), |p| !p.is_empty()).await;
        assert_eq!(got.len(), 1);
        let flooded = flood.received().len();
        assert!(flooded < 1000, "the quiet tenant's delivery went through while the flood was still going ({flooded} of 1000 delivered)");
        // And the flood is delivered in full, each event once.
        let all = received(&flood, Duration::from_secs(60), |p| arrivals(p).len() == 1000).await;
        let seen = arrivals(&all);
        assert_eq!(seen.len(), 1000);
        assert!(seen.values().all(|n| *n == 1));
        // Counted for the operator's dashboard (once each batch is recorded; the recorder is
        // the process's, so tests running beside this one may add to it).
        let (mut metrics, mut delivered) = (String::new(), 0.0);
        for _ in 0..100 {
            metrics = reqwest::get(format!("http://{}/metrics", app.internal_addr)).await.unwrap().text().await.unwrap();
            delivered = metrics.lines()
                .find(|l| l.starts_with(r#"tenantry_webhook_attempts_total{outcome="delivered"}"#))
                .and_then(|l| l.rsplit(' ').next())
                .map_or(0.0, |v| v.parse().unwrap());
            if delivered >= 1001.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(delivered >= 1001.0, "{metrics}");
        assert!(metrics.contains("tenantry_webhook_attempt_seconds_bucket"), "{metrics}");
    }

    async fn a_rate_limited_endpoint_is_paced(app) with (loopback()) {
        let t = owner(app, "acme").await;
        let sink = HttpSink::start();
        let created = json_of(call(app, "acme", Method::POST, "/api/v1/webhooks", &t)
            .json(&json!({"url": format!("{}/slow", sink.url()), "event_types": ["product.*"], "rate_limit": 5}))
            .send().await.unwrap(), 201).await;
        assert_eq!(created["rate_limit"], 5);
        let rows: Vec<Value> = (0..10).map(|n| json!({"name": format!("Paced {n}"), "sku": format!("P-{n}"), "price_minor": 1, "currency": "EUR"})).collect();
        let res = call(app, "acme", Method::POST, "/api/v1/products/bulk-import", &t).json(&rows).send().await.unwrap();
        assert!(res.status().is_success());
        let started = std::time::Instant::now();
        let got = received(&sink, Duration::from_secs(15), |p| arrivals(p).len() == 10).await;
        let took = started.elapsed();
        assert_eq!(arrivals(&got).len(), 10);
        // Ten deliveries at five a second: about 1.8 s from the first to the last.
        assert!(took >= Duration::from_millis(1500), "paced: {took:?}");
        let log = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{}/attempts?limit=100", created["id"].as_str().unwrap()), &t).send().await.unwrap(), 200).await;
        assert!(log["items"].as_array().unwrap().iter().all(|a| a["attempt"] == 1), "a delivery sent back for its turn is not an attempt: {log}");
    }

    async fn the_address_guard_holds_at_delivery_time(app) with (Options {
        webhook_rules: tenantry_webhooks::TargetRules { allow_http: true, ..Default::default() },
        ..Options::default()
    }) {
        let t = owner(app, "acme").await;
        // A hostname is not checked at registration; at delivery it resolves to loopback.
        let sink = HttpSink::start();
        let id = endpoint(app, "acme", &t, &format!("http://localhost:{}/hook", sink.address.port()), json!(["product.*"])).await;
        product(app, "acme", &t, "SSRF-1").await;
        let log = poll(app, "acme", &t, &format!("/api/v1/webhooks/{id}/attempts"), 10, |v| !v["items"].as_array().unwrap().is_empty()).await;
        let a = &log["items"][0];
        assert_eq!(a["error"], "ssrf_blocked", "{a}");
        assert_eq!(a["status_code"], Value::Null);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(sink.received().is_empty(), "nothing reached the loopback receiver");
    }
}

app_tests! {
    async fn a_redirect_is_not_followed(app) with (loopback()) {
        let t = owner(app, "acme").await;
        let sink = HttpSink::start();
        sink.reply_with(302, &[("location", "http://169.254.169.254/latest/meta-data/")]);
        let id = endpoint(app, "acme", &t, &format!("{}/hook", sink.url()), json!(["product.*"])).await;
        product(app, "acme", &t, "REDIRECT-1").await;
        let log = poll(app, "acme", &t, &format!("/api/v1/webhooks/{id}/attempts"), 10, |v| !v["items"].as_array().unwrap().is_empty()).await;
        let a = &log["items"][0];
        assert_eq!(a["status_code"], 302, "the redirect is the answer, a failure: {a}");
        assert_eq!(a["succeeded"], false);
        assert_eq!(a["error"], Value::Null);
    }

    async fn a_410_disables_the_endpoint_at_once(app) with (loopback()) {
        let t = owner(app, "acme").await;
        let sink = HttpSink::start();
        sink.reply_with(410, &[]);
        let id = endpoint(app, "acme", &t, &format!("{}/hook", sink.url()), json!(["product.*"])).await;
        product(app, "acme", &t, "GONE-1").await;
        let w = poll(app, "acme", &t, &format!("/api/v1/webhooks/{id}"), 10, |w| w["enabled"] == false).await;
        assert_eq!(w["disabled_reason"], "gone");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.received().len(), 1, "no retry after 410");
        let events = json_of(call(app, "acme", Method::GET, "/api/v1/events?type=webhook_endpoint.disabled", &t).send().await.unwrap(), 200).await;
        assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
        // Enabled again, it receives new events.
        sink.reply_with(200, &[]);
        json_of(call(app, "acme", Method::PATCH, &format!("/api/v1/webhooks/{id}"), &t).json(&json!({"enabled": true})).send().await.unwrap(), 200).await;
        product(app, "acme", &t, "GONE-2").await;
        received(&sink, Duration::from_secs(10), |p| p.len() >= 2).await;
    }

    async fn an_endpoint_deleted_mid_flight_leaves_the_batch_recorded(app) with (loopback()) {
        let t = owner(app, "acme").await;
        let slow = HttpSink::start();
        slow.reply_after(Duration::from_millis(1500));
        let gone = endpoint(app, "acme", &t, &format!("{}/slow", slow.url()), json!(["product.*"])).await;
        let fast = HttpSink::start();
        let kept = endpoint(app, "acme", &t, &format!("{}/fast", fast.url()), json!(["product.*"])).await;
        product(app, "acme", &t, "FLIGHT-1").await;
        // Both deliveries are in one batch; the slow one is in flight when its endpoint goes.
        received(&slow, Duration::from_secs(10), |p| !p.is_empty()).await;
        let res = call(app, "acme", Method::DELETE, &format!("/api/v1/webhooks/{gone}"), &t).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 204);
        // The batch is recorded without the deleted endpoint's attempt: the other's delivery
        // is logged once, delivered, and not sent again.
        let log = poll(app, "acme", &t, &format!("/api/v1/webhooks/{kept}/attempts"), 10, |v| !v["items"].as_array().unwrap().is_empty()).await;
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{log}");
        assert_eq!(items[0]["succeeded"], true, "{log}");
        let stats = json_of(call(app, "acme", Method::GET, &format!("/api/v1/webhooks/{kept}/stats"), &t).send().await.unwrap(), 200).await;
        assert_eq!(stats["pending_deliveries"], 0, "{stats}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(fast.received().len(), 1);
        assert_eq!(slow.received().len(), 1);
    }
}

/// An endpoint whose deliveries fail for longer than the policy allows (here 1 s) is
/// disabled, its pending deliveries failed, and the tenant's owners receive an e-mail through
/// a real SMTP server.
async fn failing_for_days_disables_and_tells_the_owners(db: tenantry_store::testing::TestDb) {
    let smtp = SmtpSink::start().await;
    let mut options = patient();
    options.smtp_url = Some(smtp.url.clone());
    options.webhook_delivery.disable = tenantry_webhooks::DisablePolicy {
        failing_for: chrono::Duration::seconds(1),
    };
    let app = TestApp::start(db, options).await;
    let t = owner(&app, "acme").await;
    let sink = HttpSink::start();
    sink.reply_with(503, &[]);
    let id = endpoint(
        &app,
        "acme",
        &t,
        &format!("{}/hook", sink.url()),
        json!(["product.*"]),
    )
    .await;
    product(&app, "acme", &t, "FAIL-1").await;
    let w = poll(
        &app,
        "acme",
        &t,
        &format!("/api/v1/webhooks/{id}"),
        15,
        |w| w["enabled"] == false,
    )
    .await;
    assert_eq!(w["disabled_reason"], "failing", "{w}");
    assert!(w["failing_since"].is_string());
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["owner@acme.test"]);
    let text = mails[0].text();
    assert!(text.contains(&id) && text.contains("/recover"), "{text}");
    let events = json_of(
        call(
            &app,
            "acme",
            Method::GET,
            "/api/v1/events?type=webhook_endpoint.disabled",
            &t,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        events["items"][0]["data"]["object"]["disabled_reason"],
        "failing"
    );
    let stats = json_of(
        call(
            &app,
            "acme",
            Method::GET,
            &format!("/api/v1/webhooks/{id}/stats"),
            &t,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(stats["pending_deliveries"], 0);
    assert_eq!(stats["failed_deliveries"], 1);
}

mod failing_for_days {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        failing_for_days_disables_and_tells_the_owners(
            tenantry_store::testing::TestDb::sqlite().await,
        )
        .await;
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
            failing_for_days_disables_and_tells_the_owners(db).await;
        }
    }
}
