//! A session that ends takes its access tokens with it at once, on every instance: logout,
//! a password change (for the other sessions), refresh-token reuse, and removal from a
//! tenant.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, problem};

const PASSWORD: &str = "correct horse battery";

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/auth/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn members(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/api/v1/members")
        .header("X-Tenant-ID", "acme")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Waits (a bounded time) until `probe` answers `want`: what another instance sees after its
/// next poll of the change counters.
pub(crate) async fn eventually<F, Fut>(want: u16, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = Instant::now();
    loop {
        let got = probe().await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {got}, not {want}, after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn access(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

app_tests! {
    async fn logout_ends_the_access_token_at_once_on_every_instance(app) {
        let other = app.another_instance();
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let session = &a["session"];
        let token = access(session);
        let other_session = app.login("ann@acme.test", PASSWORD).await;
        // Both instances accept the token, and have checked (and cached) it.
        assert_eq!(me(app, &token).await, 200);
        assert_eq!(me(&other, &token).await, 200);
        assert_eq!(members(&other, &token).await.status(), 200);

        let res = app.request(Method::POST, "/api/v1/auth/logout").json(&json!({"refresh_token": session["refresh_token"]})).send().await.unwrap();
        assert_eq!(res.status(), 204);
        // Here: at once, on account and tenant routes alike.
        problem(app.get("/api/v1/auth/me").bearer_auth(&token).send().await.unwrap(), 401, "unauthorized").await;
        problem(members(app, &token).await, 401, "unauthorized").await;
        // There: within a poll of the change counter.
        let waited = eventually(401, || me(&other, &token)).await;
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        problem(members(&other, &token).await, 401, "unauthorized").await;
        // The same account's other session is untouched.
        assert_eq!(me(app, &access(&other_session)).await, 200);
        assert_eq!(me(&other, &access(&other_session)).await, 200);
        // A new instance started now learns the revocation on its first look.
        let third = app.another_instance();
        assert!(eventually(401, || me(&third, &token)).await < Duration::from_secs(2));
    }

    async fn a_password_change_ends_the_other_sessions_access_tokens(app) {
        let other = app.another_instance();
        app.create_user("ann@example.com", PASSWORD).await;
        let here = access(&app.login("ann@example.com", PASSWORD).await);
        let elsewhere = access(&app.login("ann@example.com", PASSWORD).await);
        assert_eq!(me(&other, &elsewhere).await, 200);
        let res = app.request(Method::POST, "/api/v1/auth/password").bearer_auth(&here).json(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})).send().await.unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(me(app, &elsewhere).await, 401);
        assert_eq!(me(app, &here).await, 200, "the session that changed it goes on");
        eventually(401, || me(&other, &elsewhere)).await;
        assert_eq!(me(&other, &here).await, 200);
    }

    async fn refresh_token_reuse_ends_the_whole_family_s_access_tokens(app) {
        let other = app.another_instance();
        app.create_user("ann@example.com", PASSWORD).await;
        let s1 = app.login("ann@example.com", PASSWORD).await;
        let refresh = |token: &Value| app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": token})).send();
        let s2: Value = refresh(&s1["refresh_token"]).await.unwrap().json().await.unwrap();
        assert_eq!(me(&other, &access(&s2)).await, 200);
        // The old refresh token again (a thief, or the victim): the family is revoked.
        problem(refresh(&s1["refresh_token"]).await.unwrap(), 401, "invalid_refresh_token").await;
        for token in [access(&s1), access(&s2)] {
            assert_eq!(me(app, &token).await, 401);
            eventually(401, || me(&other, &token)).await;
        }
    }

    async fn a_disabled_account_s_sessions_end_at_once_on_every_instance(app) {
        let other = app.another_instance();
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let user = a["session"]["user"]["id"].as_str().unwrap().to_owned();
        let first = access(&a["session"]);
        let second = app.login("ann@acme.test", PASSWORD).await;
        // Her API key stops with her account, and works again when it is enabled.
        let key: Value = app.request(Method::POST, "/api/v1/api-keys").header("X-Tenant-ID", "acme").bearer_auth(&first).json(&json!({"name": "ci", "permissions": ["members:read"]})).send().await.unwrap().json().await.unwrap();
        let key = key["key"].as_str().unwrap().to_owned();
        let by_key = |app: &TestApp| app.get("/api/v1/members").header("X-Tenant-ID", "acme").header("X-API-Key", &key).send();
        assert_eq!(by_key(&other).await.unwrap().status(), 200);
        for token in [&first, &access(&second)] {
            assert_eq!(members(&other, token).await.status(), 200);
        }
        let res = app.operator(Method::POST, &format!("/api/v1/platform/users/{user}/disable")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], "disabled");
        for token in [first.clone(), access(&second)] {
            problem(members(app, &token).await, 401, "unauthorized").await;
            eventually(401, || async { members(&other, &token).await.status().as_u16() }).await;
        }
        problem(by_key(&other).await.unwrap(), 401, "unauthorized").await;
        let refresh = app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": second["refresh_token"]})).send().await.unwrap();
        problem(refresh, 401, "invalid_refresh_token").await;
        let login = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@acme.test", "password": PASSWORD})).send().await.unwrap();
        problem(login, 401, "invalid_credentials").await;
        let events: Value = app.operator(Method::GET, &format!("/api/v1/platform/security-events?user_id={user}&kind=account_disabled")).send().await.unwrap().json().await.unwrap();
        assert_eq!(events["items"].as_array().unwrap().len(), 1);

        // Enabled again: a new login works; the ended sessions stay ended.
        let res = app.operator(Method::POST, &format!("/api/v1/platform/users/{user}/enable")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let fresh = access(&app.login("ann@acme.test", PASSWORD).await);
        assert_eq!(members(&other, &fresh).await.status(), 200);
        assert_eq!(members(&other, &first).await.status(), 401);
        assert_eq!(by_key(&other).await.unwrap().status(), 200);
        let unknown = uuid::Uuid::now_v7();
        problem(app.operator(Method::POST, &format!("/api/v1/platform/users/{unknown}/disable")).send().await.unwrap(), 404, "user_not_found").await;
        problem(app.request(Method::POST, &format!("/api/v1/platform/users/{user}/disable")).send().await.unwrap(), 401, "unauthorized").await;
    }

    async fn a_removed_member_is_refused_at_once_on_every_instance(app) {
        let other = app.another_instance();
        let a = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let owner = access(&a["session"]);
        let bob = app.create_user("bob@example.com", PASSWORD).await;
        app.add_member(a["tenant"]["id"].as_str().unwrap(), bob.id, "member").await;
        let bob_token = access(&app.login("bob@example.com", PASSWORD).await);
        // Both instances have Bob's membership cached.
        assert_eq!(members(app, &bob_token).await.status(), 200);
        assert_eq!(members(&other, &bob_token).await.status(), 200);

        // A role change: the other instance applies the new role within a poll too.
        let roles: Value = app.get("/api/v1/roles").header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap().json::<Value>().await.unwrap()["items"].take();
        let role_id = |name: &str| roles.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].clone();
        let create = |app: &TestApp, n: u32| app.request(Method::POST, "/api/v1/projects").header("X-Tenant-ID", "acme").bearer_auth(&bob_token).json(&json!({"name": format!("p{n}")})).send();
        assert_eq!(create(&other, 1).await.unwrap().status(), 201, "a member may write projects");
        let res = app.request(Method::PATCH, &format!("/api/v1/members/{}", bob.id)).header("X-Tenant-ID", "acme").bearer_auth(&owner).json(&json!({"role_id": role_id("viewer")})).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let mut n = 1;
        let (other, create) = (&other, &create);
        let waited = eventually(403, || {
            n += 1;
            let n = n;
            async move { create(other, n).await.unwrap().status().as_u16() }
        })
        .await;
        assert!(waited < Duration::from_secs(2), "{waited:?}");

        let res = app.request(Method::DELETE, &format!("/api/v1/members/{}", bob.id)).header("X-Tenant-ID", "acme").bearer_auth(&owner).send().await.unwrap();
        assert_eq!(res.status(), 204);
        problem(members(app, &bob_token).await, 403, "not_a_member").await;
        let waited = eventually(403, || async { members(other, &bob_token).await.status().as_u16() }).await;
        assert!(waited < Duration::from_secs(2), "{waited:?}, not the cache's 5 s TTL");
        // Bob's account and session live on (he may belong elsewhere).
        assert_eq!(me(other, &bob_token).await, 200);
    }
}
