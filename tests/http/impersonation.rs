//! Support impersonation: a platform administrator acts as a member, inside one tenant, for
//! minutes, on the record — and cannot touch the member's credentials.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{OPERATOR_TOKEN, TestApp, app_tests, call, jwt_claims, ok, problem};

const PASSWORD: &str = "correct horse battery";

async fn staff(app: &TestApp) -> (tenantry_identity::User, String) {
    use tenantry_identity::PlatformAdmins;
    let admin = app.create_user("staff@operator.test", PASSWORD).await;
    app.db()
        .db()
        .add_platform_admin(admin.id, chrono::Utc::now())
        .await
        .unwrap();
    let token = app.login("staff@operator.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (admin, token)
}

async fn impersonate(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/platform/impersonations")
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

app_tests! {
    async fn an_administrator_acts_as_a_member_on_the_record(app) {
        let owner = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let ot = owner["session"]["access_token"].as_str().unwrap().to_owned();
        let ann_id = owner["session"]["user"]["id"].as_str().unwrap().to_owned();
        app.onboard("globex", "gus@globex.test", PASSWORD).await;
        let (admin, st) = staff(app).await;

        // Only an administrator's own token, for a member, with a reason.
        let body = json!({"user_id": ann_id, "tenant": "acme", "reason": "Ticket #4711: the export fails", "minutes": 10});
        problem(impersonate(app, OPERATOR_TOKEN, body.clone()).await, 403, "platform_admin_required").await;
        problem(impersonate(app, &ot, body.clone()).await, 403, "platform_admin_required").await;
        let p = problem(impersonate(app, &st, json!({"user_id": ann_id, "tenant": "acme", "reason": " ", "minutes": 31})).await, 422, "validation_failed").await;
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["reason", "minutes"]);
        let p = problem(impersonate(app, &st, json!({"user_id": ann_id, "tenant": "acme", "reason": "r".repeat(501), "minutes": 0})).await, 422, "validation_failed").await;
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["reason", "minutes"]);
        // At the bounds: accepted (a 500-character reason, one minute).
        let at_bounds = ok(impersonate(app, &st, json!({"user_id": ann_id, "tenant": "acme", "reason": "r".repeat(500), "minutes": 1})).await, 201).await;
        assert!((50..=60).contains(&at_bounds["expires_in"].as_i64().unwrap()));
        problem(impersonate(app, &st, json!({"user_id": ann_id, "tenant": "globex", "reason": "x"})).await, 404, "member_not_found").await;
        problem(impersonate(app, &st, json!({"user_id": ann_id, "tenant": "nope", "reason": "x"})).await, 404, "tenant_not_found").await;

        let imp = ok(impersonate(app, &st, body.clone()).await, 201).await;
        let it = imp["access_token"].as_str().unwrap().to_owned();
        assert_eq!(imp["user"]["email"], "ann@acme.test");
        assert_eq!(imp["impersonator_id"], admin.id.to_string());
        assert!((590..=600).contains(&imp["expires_in"].as_i64().unwrap()), "{imp}");
        let c = jwt_claims(&it);
        assert_eq!(c["sub"], ann_id);
        assert_eq!(c["act"]["sub"], admin.id.to_string());
        assert_eq!(c["tid"], imp["tenant_id"]);

        // It works in that tenant, as Ann, and every change names both.
        let res = call(app, "acme", Method::POST, "/api/v1/products", &it).json(&json!({"name": "Widget", "sku": "W-1", "price_minor": 100, "currency": "EUR"})).send().await.unwrap();
        let product = ok(res, 201).await;
        let trail = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?entity_type=product", &ot).send().await.unwrap(), 200).await;
        let entry = &trail["items"][0];
        assert_eq!(entry["entity_id"], product["id"]);
        assert_eq!(entry["actor_id"], ann_id);
        assert_eq!(entry["impersonator_id"], admin.id.to_string());
        let started = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?action=impersonation_started", &ot).send().await.unwrap(), 200).await;
        assert_eq!(started["items"][0]["changes"]["reason"]["new"], "Ticket #4711: the export fails");
        let verified = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs/verify", &ot).send().await.unwrap(), 200).await;
        assert_eq!(verified["ok"], true, "{verified}");
        // Ann's own changes name no one else.
        let res = call(app, "acme", Method::POST, "/api/v1/products", &ot).json(&json!({"name": "Gadget", "sku": "G-1", "price_minor": 100, "currency": "EUR"})).send().await.unwrap();
        ok(res, 201).await;
        let trail = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?entity_type=product", &ot).send().await.unwrap(), 200).await;
        assert!(trail["items"][0]["impersonator_id"].is_null());

        // Ann sees who and why.
        let events = ok(app.get("/api/v1/auth/me/security-events?kind=impersonated").bearer_auth(&ot).send().await.unwrap(), 200).await;
        assert_eq!(events["items"][0]["detail"], "impersonated by staff@operator.test in acme because: Ticket #4711: the export fails");

        // Not in another tenant, not as the platform, not the credentials.
        let res = call(app, "globex", Method::GET, "/api/v1/products", &it).send().await.unwrap();
        problem(res, 403, "impersonation_out_of_scope").await;
        problem(app.get("/api/v1/platform/tenants").bearer_auth(&it).send().await.unwrap(), 403, "platform_admin_required").await;
        let res = app.request(Method::POST, "/api/v1/auth/password").bearer_auth(&it).json(&json!({"current_password": PASSWORD, "new_password": "another good passphrase"})).send().await.unwrap();
        problem(res, 403, "not_while_impersonating").await;
        problem(app.request(Method::POST, "/api/v1/auth/mfa/totp").bearer_auth(&it).send().await.unwrap(), 403, "not_while_impersonating").await;
        let res = call(app, "acme", Method::POST, "/api/v1/api-keys", &it).json(&json!({"name": "sneaky", "permissions": []})).send().await.unwrap();
        problem(res, 403, "not_while_impersonating").await;
        // No refresh token to keep it going.
        assert!(imp.get("refresh_token").is_none());

        // The tenant forbids it: the token stops working, and no new one is issued.
        let res = call(app, "acme", Method::PATCH, "/api/v1/settings", &ot).json(&json!({"security": {"allow_impersonation": false}})).send().await.unwrap();
        assert_eq!(ok(res, 200).await["security"]["allow_impersonation"], false);
        problem(call(app, "acme", Method::GET, "/api/v1/products", &it).send().await.unwrap(), 403, "impersonation_forbidden").await;
        problem(impersonate(app, &st, body).await, 403, "impersonation_forbidden").await;
    }
}
