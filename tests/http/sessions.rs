//! The caller's sessions: listed with where and how they started, ended one by one at once on
//! every instance.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{TestApp, app_tests, ok, problem};

const PASSWORD: &str = "correct horse battery";

async fn login_from(app: &TestApp, agent: &str, ip: &str) -> Value {
    let res = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("User-Agent", agent)
        .header("X-Forwarded-For", ip)
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    ok(res, 200).await
}

fn access(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

async fn sessions(app: &TestApp, token: &str, query: &str) -> Value {
    ok(
        app.get(&format!("/api/v1/auth/sessions{query}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

app_tests! {
    async fn sessions_are_listed_and_ended_one_by_one(app) with (tenantry_tests::Options { trusted_proxies: "127.0.0.1/32", ..Default::default() }) {
        app.create_user("ann@example.com", PASSWORD).await;
        let laptop = login_from(app, "Laptop/1.0", "203.0.113.7").await;
        let phone = login_from(app, "Phone/2.0", "198.51.100.9").await;
        let t = access(&laptop);

        let list = sessions(app, &t, "").await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{list}");
        assert_eq!(items[0]["user_agent"], "Laptop/1.0");
        assert_eq!(items[0]["ip"], "203.0.113.7");
        assert_eq!(items[0]["method"], "password");
        assert_eq!(items[0]["current"], true);
        assert_eq!(items[1]["user_agent"], "Phone/2.0");
        assert_eq!(items[1]["current"], false);
        assert!(list["next_cursor"].is_null());
        // Pages walk oldest first.
        let first = sessions(app, &t, "?limit=1").await;
        assert_eq!(first["items"][0]["user_agent"], "Laptop/1.0");
        let next = sessions(app, &t, &format!("?limit=1&cursor={}", first["next_cursor"].as_str().unwrap())).await;
        assert_eq!(next["items"][0]["user_agent"], "Phone/2.0");

        // A refresh stamps the session as used, from where it came.
        let before = items[1]["last_used_at"].as_str().unwrap().to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let res = app.request(Method::POST, "/api/v1/auth/refresh").header("User-Agent", "Phone/2.1").header("X-Forwarded-For", "198.51.100.10")
            .json(&json!({"refresh_token": phone["refresh_token"]})).send().await.unwrap();
        let phone = ok(res, 200).await;
        let list = sessions(app, &t, "").await;
        assert_eq!(list["items"][1]["user_agent"], "Phone/2.1");
        assert_eq!(list["items"][1]["ip"], "198.51.100.10");
        assert_ne!(list["items"][1]["last_used_at"].as_str().unwrap(), before);

        // Ending the phone's session: its access token stops at once, its refresh token too.
        let phone_id = list["items"][1]["id"].as_str().unwrap().to_owned();
        let res = app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{phone_id}")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(res.status(), 204);
        problem(app.get("/api/v1/auth/me").bearer_auth(access(&phone)).send().await.unwrap(), 401, "unauthorized").await;
        let res = app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": phone["refresh_token"]})).send().await.unwrap();
        problem(res, 401, "invalid_refresh_token").await;
        assert_eq!(sessions(app, &t, "").await["items"].as_array().unwrap().len(), 1);
        // Twice, unknown, malformed, or someone else's: not found.
        let res = app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{phone_id}")).bearer_auth(&t).send().await.unwrap();
        problem(res, 404, "session_not_found").await;
        let res = app.request(Method::DELETE, "/api/v1/auth/sessions/not-a-uuid").bearer_auth(&t).send().await.unwrap();
        problem(res, 404, "not_found").await;
        app.create_user("bob@example.com", PASSWORD).await;
        let bob = app.login("bob@example.com", PASSWORD).await;
        let bobs = sessions(app, &access(&bob), "").await;
        let bob_id = bobs["items"][0]["id"].as_str().unwrap();
        let res = app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{bob_id}")).bearer_auth(&t).send().await.unwrap();
        problem(res, 404, "session_not_found").await;
        ok(app.get("/api/v1/auth/me").bearer_auth(access(&bob)).send().await.unwrap(), 200).await;

        // Recorded in the caller's security events; ending the current session is a logout.
        let events: Value = app.get("/api/v1/auth/me/security-events").bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert!(events["items"].as_array().unwrap().iter().any(|e| e["kind"] == "session_revoked"), "{events}");
        let own = list["items"][0]["id"].as_str().unwrap().to_owned();
        let res = app.request(Method::DELETE, &format!("/api/v1/auth/sessions/{own}")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(res.status(), 204);
        problem(app.get("/api/v1/auth/sessions").bearer_auth(&t).send().await.unwrap(), 401, "unauthorized").await;
        problem(app.get("/api/v1/auth/sessions").send().await.unwrap(), 401, "unauthorized").await;
    }
}
