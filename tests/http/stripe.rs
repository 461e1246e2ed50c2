//! Stripe's webhook: payloads signed by an independent implementation (Python's standard
//! `hmac`, as Stripe's own libraries sign), verified, applied once, mapped to subscriptions.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{STRIPE_SECRET, TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";
const ENDPOINT: &str = "/api/v1/billing/webhooks/stripe";

/// `t=…,v1=…` for `payload` at `t`, computed by Python.
fn python_signature(secret: &str, t: i64, payload: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac, hashlib, sys; \
             print(hmac.new(sys.argv[1].encode(), (sys.argv[2] + '.' + sys.argv[3]).encode(), hashlib.sha256).hexdigest())",
            secret,
            &t.to_string(),
            payload,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("t={t},v1={}", String::from_utf8(out.stdout).unwrap().trim())
}

async fn send(app: &TestApp, payload: &Value, signature: &str) -> reqwest::Response {
    app.request(Method::POST, ENDPOINT)
        .header("Content-Type", "application/json")
        .header("Stripe-Signature", signature)
        .body(payload.to_string())
        .send()
        .await
        .unwrap()
}

async fn signed(app: &TestApp, payload: &Value) -> Value {
    let sig = python_signature(
        STRIPE_SECRET,
        chrono::Utc::now().timestamp(),
        &payload.to_string(),
    );
    let res = send(app, payload, &sig).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}})
}

async fn subscription(app: &TestApp, t: &str) -> Value {
    app.get("/api/v1/billing/subscription")
        .header("X-Tenant-ID", "acme")
        .bearer_auth(t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

app_tests! {
    async fn stripe_events_move_subscriptions_once_and_forged_ones_move_nothing(app) {
        let body = app.onboard("acme", "owner@acme.test", PASSWORD).await;
        let t = body["session"]["access_token"].as_str().unwrap().to_owned();
        let tenant_id = body["tenant"]["id"].as_str().unwrap().to_owned();
        let period_end = chrono::Utc::now().timestamp() + 30 * 86_400;
        let updated = event("evt_1", "customer.subscription.updated", json!({
            "id": "sub_1", "object": "subscription", "status": "active", "cancel_at_period_end": true,
            "items": {"data": [{"current_period_end": period_end}]},
            "metadata": {"tenant_id": tenant_id, "plan": "professional"},
        }));

        // Forged, stale and unsigned payloads: 400, nothing recorded.
        let forged = python_signature("whsec_someone_else", chrono::Utc::now().timestamp(), &updated.to_string());
        problem(send(app, &updated, &forged).await, 400, "invalid_signature").await;
        let stale = python_signature(STRIPE_SECRET, chrono::Utc::now().timestamp() - 600, &updated.to_string());
        problem(send(app, &updated, &stale).await, 400, "invalid_signature").await;
        problem(send(app, &updated, "").await, 400, "invalid_signature").await;
        let mut tampered = updated.clone();
        tampered["data"]["object"]["metadata"]["plan"] = json!("enterprise");
        let good_for_original = python_signature(STRIPE_SECRET, chrono::Utc::now().timestamp(), &updated.to_string());
        problem(send(app, &tampered, &good_for_original).await, 400, "invalid_signature").await;
        assert_eq!(subscription(app, &t).await["plan"], "enterprise", "unchanged");

        // Signed (with a wrong v1 beside the right one, as during a rotation): applied.
        let now = chrono::Utc::now().timestamp();
        let sig = python_signature(STRIPE_SECRET, now, &updated.to_string());
        let res = send(app, &updated, &format!("t={now},v1=00ff00,{}", sig.split_once(',').unwrap().1)).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"received": true, "duplicate": false, "applied": true}));
        let sub = subscription(app, &t).await;
        assert_eq!((sub["plan"].as_str(), sub["status"].as_str()), (Some("professional"), Some("active")));
        assert_eq!(sub["cancel_at_period_end"], true);
        assert_eq!(chrono::DateTime::parse_from_rfc3339(sub["current_period_end"].as_str().unwrap()).unwrap().timestamp(), period_end);
        // Stripe retries: the same id is not applied twice.
        assert_eq!(signed(app, &updated).await, json!({"received": true, "duplicate": true, "applied": false}));
        let events: Value = app.get("/api/v1/events?type=subscription.updated").header("X-Tenant-ID", "acme").bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        let from_stripe = events["items"].as_array().unwrap().iter().filter(|e| e["data"]["object"]["cancel_at_period_end"] == true).count();
        assert_eq!(from_stripe, 1, "{events}");

        // Payments: failed → past due; paid → active; deleted → canceled.
        let invoice = |id: &str, kind: &str| event(id, kind, json!({"object": "invoice",
            "parent": {"subscription_details": {"metadata": {"tenant_id": "acme"}}}}));
        signed(app, &invoice("evt_2", "invoice.payment_failed")).await;
        assert_eq!(subscription(app, &t).await["status"], "past_due");
        signed(app, &invoice("evt_3", "invoice.paid")).await;
        assert_eq!(subscription(app, &t).await["status"], "active");
        signed(app, &event("evt_4", "customer.subscription.deleted", json!({"object": "subscription", "metadata": {"tenant_id": "acme"}}))).await;
        assert_eq!(subscription(app, &t).await["status"], "canceled");

        // A type Tenantry does not follow, and a tenant nobody has: received, not applied.
        assert_eq!(signed(app, &event("evt_5", "customer.created", json!({"metadata": {"tenant_id": "acme"}}))).await["applied"], false);
        assert_eq!(signed(app, &event("evt_6", "invoice.paid", json!({"metadata": {"tenant_id": "nobody"}}))).await["applied"], false);
        // Not a Stripe event at all.
        let junk = json!({"hello": "world"});
        let sig = python_signature(STRIPE_SECRET, chrono::Utc::now().timestamp(), &junk.to_string());
        problem(send(app, &junk, &sig).await, 400, "malformed_json").await;
    }
}
