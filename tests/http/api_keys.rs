//! API keys over HTTP: issued once, bound to their tenant and permissions, revocable.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

async fn create_key(app: &TestApp, bearer: &str, tenant: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/api-keys")
        .header("X-Tenant-ID", tenant)
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

app_tests! {
    async fn a_key_refused_elsewhere_is_not_marked_as_used(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        let created: Value = create_key(app, &owner, "acme", json!({"name": "ci", "permissions": ["members:read"]})).await.json().await.unwrap();
        let key = created["key"].as_str().unwrap().to_owned();
        let last_used = || async {
            let listed: Value = app.get("/api/v1/api-keys").header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
            listed[0]["last_used_at"].clone()
        };
        let res = app.get("/api/v1/members").header("X-Tenant-ID", "beta").header("X-API-Key", &key).send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        assert_eq!(last_used().await, Value::Null, "a refused key was not used");
        // Its own tenant's trail names the refusal, by the key.
        let trail: Value = app.get("/api/v1/audit-logs?action=api_key_denied").header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap().json().await.unwrap();
        let entry = &trail["items"][0];
        assert_eq!(entry["changes"]["reason"]["new"], "other_tenant", "{trail}");
        assert_eq!(entry["api_key_id"], created["id"], "{trail}");
        // Accepted at home: now it is.
        let res = app.get("/api/v1/members").header("X-Tenant-ID", "acme").header("X-API-Key", &key).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(last_used().await.is_string());
    }

    async fn keys_work_in_their_tenant_with_their_permissions(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        app.onboard("beta", "bob@beta.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        let res = create_key(app, &owner, "acme", json!({"name": "reporting", "permissions": ["members:read"]})).await;
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        let key = created["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with(&format!("tnt_{}_", created["prefix"].as_str().unwrap())), "{key}");
        assert_eq!(created["permissions"], json!(["members:read"]));

        // Listed without the secret.
        let listed: Value = app.request(Method::GET, "/api/v1/api-keys").header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert_eq!(listed.as_array().unwrap().len(), 1);
        // The secret is what follows `tnt_<prefix>_` (it may itself contain `_`).
        let secret = key.strip_prefix(&format!("tnt_{}_", created["prefix"].as_str().unwrap())).unwrap();
        assert!(!listed.to_string().contains(secret), "the secret is never listed");
        assert_eq!(listed[0]["last_used_at"], Value::Null);

        let members = |headers: &[(&str, String)], tenant: &str| {
            let mut r = app.get("/api/v1/members").header("X-Tenant-ID", tenant);
            for (k, v) in headers {
                r = r.header(*k, v);
            }
            r.send()
        };
        assert_eq!(members(&[("X-API-Key", key.clone())], "acme").await.unwrap().status(), 200);
        assert_eq!(members(&[("Authorization", format!("Bearer {key}"))], "acme").await.unwrap().status(), 200);
        // Another tenant, by header or by host: 401.
        problem(members(&[("X-API-Key", key.clone())], "beta").await.unwrap(), 401, "unauthorized").await;
        let res = app.get_as_host("beta.localhost", "/api/v1/members").header("X-API-Key", &key).send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        // Beyond its permissions: 403.
        let res = app.request(Method::POST, "/api/v1/roles").header("X-Tenant-ID", "acme").header("X-API-Key", &key).json(&json!({"name": "x1", "permissions": []})).send().await.unwrap();
        problem(res, 403, "permission_denied").await;
        // Not a person: the account routes refuse it.
        problem(app.get("/api/v1/auth/me").bearer_auth(&key).send().await.unwrap(), 401, "unauthorized").await;
        // Forged secrets with a real prefix, and garbage.
        let forged = format!("tnt_{}_{}", created["prefix"].as_str().unwrap(), "A".repeat(43));
        problem(members(&[("X-API-Key", forged)], "acme").await.unwrap(), 401, "unauthorized").await;
        problem(members(&[("X-API-Key", "tnt_nope".into())], "acme").await.unwrap(), 401, "unauthorized").await;

        let listed: Value = app.request(Method::GET, "/api/v1/api-keys").header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        assert!(listed[0]["last_used_at"].is_string(), "use is recorded");

        // Revoked: 401 at once.
        let id = created["id"].as_str().unwrap();
        let res = app.request(Method::DELETE, &format!("/api/v1/api-keys/{id}")).header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap();
        assert_eq!(res.status(), 204);
        problem(members(&[("X-API-Key", key.clone())], "acme").await.unwrap(), 401, "unauthorized").await;
        let res = app.request(Method::DELETE, &format!("/api/v1/api-keys/{id}")).header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap();
        problem(res, 404, "api_key_not_found").await;
    }

    async fn keys_expire(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let owner = a["session"]["access_token"].as_str().unwrap().to_owned();
        let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
        let created: Value = create_key(app, &owner, "acme", json!({"name": "short", "permissions": ["members:read"], "expires_at": soon})).await.json().await.unwrap();
        let key = created["key"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/api/v1/members").header("X-Tenant-ID", "acme").header("X-API-Key", &key).send().await.unwrap().status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        let res = app.get("/api/v1/members").header("X-Tenant-ID", "acme").header("X-API-Key", &key).send().await.unwrap();
        problem(res, 401, "unauthorized").await;
        let past = chrono::Utc::now() - chrono::Duration::minutes(1);
        let res = create_key(app, &owner, "acme", json!({"name": "old", "permissions": [], "expires_at": past})).await;
        assert_eq!(problem(res, 422, "validation_failed").await["errors"][0]["field"], "expires_at");
    }

    async fn keys_grant_only_what_their_creator_has(app) {
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let tenant = a["tenant"]["id"].as_str().unwrap().to_owned();
        let admin = app.create_user("adam@acme.test", PASSWORD).await;
        app.add_member(&tenant, admin.id, "admin").await;
        let adam = app.login("adam@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = create_key(app, &adam, "acme", json!({"name": "too much", "permissions": ["tenant:manage"]})).await;
        let body = problem(res, 422, "validation_failed").await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("tenant:manage"));
        let res = create_key(app, &adam, "acme", json!({"name": "bad", "permissions": ["no:such"]})).await;
        problem(res, 422, "validation_failed").await;
        assert_eq!(create_key(app, &adam, "acme", json!({"name": "fine", "permissions": ["members:read", "audit:read"]})).await.status(), 201);
        let viewer = app.create_user("vic@acme.test", PASSWORD).await;
        app.add_member(&tenant, viewer.id, "viewer").await;
        let vic = app.login("vic@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = create_key(app, &vic, "acme", json!({"name": "v", "permissions": []})).await;
        problem(res, 403, "permission_denied").await;
    }
}
