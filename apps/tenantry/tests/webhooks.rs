//! Webhook deliveries as operators run them: the real binary killed with `kill -9` while a
//! receiver holds a delivery — the next process delivers it after the lease ends; the
//! receiver may see the `webhook-id` twice, never lose it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Launch, client, onboard};
use serde_json::{Value, json};
use tenantry_store::testing::TestDb;
use tenantry_telemetry::testing::HttpSink;

async fn killed_mid_delivery(db: TestDb) {
    let sink = HttpSink::start();
    // The receiver keeps the first request past the kill.
    sink.reply_after(Duration::from_secs(20));
    let launch = Launch::new(db.url(), db.owner_url())
        .env("TENANTRY_WEBHOOK_ALLOW_HTTP", "true")
        .env("TENANTRY_WEBHOOK_ALLOW_CIDRS", "127.0.0.1/32")
        // A lease of 2 × (1 s + 2 s) + 3 s = 9 s.
        .env("TENANTRY_WEBHOOK_TIMEOUT_SECS", "2");
    let server = launch.start().await;
    let http = client();
    let tenant = onboard(&http, &server, "acme").await;
    let res = tenant
        .post(&http, &format!("{}/api/v1/webhooks", server.url))
        .json(&json!({"url": format!("{}/hook", sink.url()), "event_types": ["product.*"]}))
        .send()
        .await
        .unwrap();
    let endpoint: Value = res.json().await.unwrap();
    assert!(endpoint["secret"].is_string(), "{endpoint}");
    let res = tenant
        .post(&http, &format!("{}/api/v1/products", server.url))
        .json(&json!({"name": "Kettle", "sku": "K-1", "price_minor": 100, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let waiter = sink.clone();
    let first = tokio::task::spawn_blocking(move || {
        waiter.wait_for(Duration::from_secs(10), |p| !p.is_empty())
    })
    .await
    .unwrap();
    assert_eq!(first.len(), 1, "the delivery reached the receiver");
    let id = first[0].header("webhook-id").unwrap().to_owned();

    // kill -9 while the receiver holds the request: no attempt is recorded, the claim stays.
    let dir = server.crash();
    let killed = Instant::now();
    sink.reply_after(Duration::ZERO);
    let server = launch.start_in(dir).await;
    let waiter = sink.clone();
    let got = tokio::task::spawn_blocking(move || {
        waiter.wait_for(Duration::from_secs(30), |p| p.len() >= 2)
    })
    .await
    .unwrap();
    assert_eq!(got.len(), 2, "delivered again after the lease");
    assert_eq!(
        got[1].header("webhook-id"),
        Some(id.as_str()),
        "the same event"
    );
    let after = killed.elapsed();
    assert!(
        after >= Duration::from_secs(5),
        "not before the lease ended: {after:?}"
    );
    // Recorded once delivered: the attempt numbers count the lost one.
    let log_url = format!(
        "{}/api/v1/webhooks/{}/attempts",
        server.url,
        endpoint["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = tenant.get_json(&http, &log_url).await;
        if !log["items"].as_array().unwrap().is_empty() || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    assert_eq!(items[0]["succeeded"], true);
    assert_eq!(
        items[0]["attempt"], 2,
        "the claim the killed process held counts"
    );
    assert_eq!(
        db.db()
            .unfiltered_count(None, "webhook_deliveries")
            .await
            .unwrap(),
        0
    );
    eprintln!("redelivered {after:?} after kill -9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_delivers_after_the_lease_sqlite() {
    killed_mid_delivery(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_delivers_after_the_lease_postgres() {
    if let Some(db) = TestDb::postgres().await {
        killed_mid_delivery(db).await;
    }
}
