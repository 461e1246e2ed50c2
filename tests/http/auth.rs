//! Sessions over HTTP: login, tokens, refresh rotation, lockout, the caller's account.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tenantry_identity::{AccessClaims, AccessTokens, FamilyId};
use tenantry_tests::{app_tests, problem};

const PASSWORD: &str = "correct horse battery";

fn without_ids(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("request_id");
    v
}

app_tests! {
    async fn login_me_refresh_logout(app) {
        let user = app.create_user("ann@example.com", PASSWORD).await;
        let s = app.login("Ann@Example.COM", PASSWORD).await;
        assert_eq!(s["token_type"], "Bearer");
        assert_eq!(s["expires_in"], 900);
        assert_eq!(s["user"]["id"], user.id.to_string());
        assert!(s["user"]["last_login_at"].is_string());
        let access = s["access_token"].as_str().unwrap();

        let me: Value = app.get("/api/v1/auth/me").bearer_auth(access).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["email"], "ann@example.com");

        let r = app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": s["refresh_token"]})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let s2: Value = r.json().await.unwrap();
        assert_ne!(s2["refresh_token"], s["refresh_token"]);

        let res = app.request(Method::POST, "/api/v1/auth/logout").json(&json!({"refresh_token": s2["refresh_token"]})).send().await.unwrap();
        assert_eq!(res.status(), 204);
        let res = app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": s2["refresh_token"]})).send().await.unwrap();
        problem(res, 401, "invalid_refresh_token").await;
    }

    async fn reusing_a_refresh_token_revokes_its_family(app) {
        app.create_user("ann@example.com", PASSWORD).await;
        let s1 = app.login("ann@example.com", PASSWORD).await;
        let refresh = |token: Value| app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": token})).send();
        let s2: Value = refresh(s1["refresh_token"].clone()).await.unwrap().json().await.unwrap();
        problem(refresh(s1["refresh_token"].clone()).await.unwrap(), 401, "invalid_refresh_token").await;
        problem(refresh(s2["refresh_token"].clone()).await.unwrap(), 401, "invalid_refresh_token").await;
    }

    async fn unknown_e_mail_and_wrong_password_answer_alike(app) {
        app.create_user("ann@example.com", PASSWORD).await;
        let post = |email: &'static str, password: &'static str| {
            app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": email, "password": password})).send()
        };
        let unknown = problem(post("nobody@example.com", PASSWORD).await.unwrap(), 401, "invalid_credentials").await;
        let wrong = problem(post("ann@example.com", "wrong password!").await.unwrap(), 401, "invalid_credentials").await;
        assert_eq!(without_ids(unknown), without_ids(wrong));
    }

    async fn password_checks_with_a_stolen_token_are_throttled_like_logins(app) {
        app.create_user("ann@example.com", PASSWORD).await;
        let access = app.login("ann@example.com", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let change = |current: String| {
            app.request(Method::POST, "/api/v1/auth/password").bearer_auth(&access).json(&json!({"current_password": current, "new_password": "a brand new passphrase"})).send()
        };
        // Five wrong guesses through the password route lock the account for logins too.
        for i in 0..5 {
            problem(change(format!("wrong guess number {i}")).await.unwrap(), 403, "wrong_password").await;
        }
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@example.com", "password": "wrong password!"})).send().await.unwrap();
        problem(res, 429, "account_locked").await;
        // Locked: even the right password is refused, with Retry-After, and nothing changes.
        let res = change(PASSWORD.to_owned()).await.unwrap();
        let retry: u64 = res.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((890..=900).contains(&retry), "{retry}");
        problem(res, 429, "account_locked").await;
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@example.com", "password": PASSWORD})).send().await.unwrap();
        problem(res, 429, "account_locked").await;
    }

    async fn five_failures_lock_the_account(app) {
        app.create_user("ann@example.com", PASSWORD).await;
        for _ in 0..5 {
            let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@example.com", "password": "wrong password!"})).send().await.unwrap();
            problem(res, 401, "invalid_credentials").await;
        }
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@example.com", "password": PASSWORD})).send().await.unwrap();
        let retry: u64 = res.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
        assert!((890..=900).contains(&retry), "{retry}");
        problem(res, 429, "account_locked").await;
    }

    async fn access_tokens_are_checked(app) {
        let user = app.create_user("ann@example.com", PASSWORD).await;
        let res = app.get("/api/v1/auth/me").send().await.unwrap();
        assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
        problem(res, 401, "unauthorized").await;

        let s = app.login("ann@example.com", PASSWORD).await;
        let good = s["access_token"].as_str().unwrap().to_owned();
        let (header, rest) = good.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let hs_header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let mut claims: Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
        claims["sub"] = json!(tenantry_kernel::UserId::new().to_string());
        let other_sub = b64.encode(serde_json::to_vec(&claims).unwrap());

        let now = Utc::now();
        let expired = app
            .crypto
            .tokens
            .sign_token(
                &AccessClaims { user_id: user.id, issued_at: now - Duration::minutes(30), expires_at: now - Duration::minutes(15), jti: "old".into() , mfa: false, impersonation: None, sso_tenant: None },
                FamilyId::new(),
            )
            .unwrap();
        let other_key = tenantry_crypto::Crypto::new(&tenantry_crypto::SigningKeyMaterial::generate(), tenantry_tests::TOKEN_ISSUER)
            .unwrap()
            .tokens
            .sign_token(
                &AccessClaims { user_id: user.id, issued_at: now, expires_at: now + Duration::minutes(15), jti: "x".into(), mfa: false, impersonation: None, sso_tenant: None },
                FamilyId::new(),
            )
            .unwrap();
        for (what, token) in [
            ("alg none", format!("{none_header}.{payload}.")),
            ("alg none, signed", format!("{none_header}.{payload}.{signature}")),
            ("HS256", format!("{hs_header}.{payload}.{signature}")),
            ("bad signature", format!("{header}.{other_sub}.{signature}")),
            ("expired", expired),
            ("another key", other_key),
            ("garbage", "garbage".to_owned()),
        ] {
            let res = app.get("/api/v1/auth/me").bearer_auth(&token).send().await.unwrap();
            assert_eq!(res.status(), 401, "{what}");
        }
        let res = app.get("/api/v1/auth/me").bearer_auth(&good).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }

    async fn jwks_verifies_issued_tokens(app) {
        app.create_user("ann@example.com", PASSWORD).await;
        let s = app.login("ann@example.com", PASSWORD).await;
        let jwks: Value = app.get("/.well-known/jwks.json").send().await.unwrap().json().await.unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["alg"], "EdDSA");
        assert!(key.get("d").is_none());
        let decoding = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&[tenantry_tests::TOKEN_ISSUER]);
        let data = jsonwebtoken::decode::<Value>(s["access_token"].as_str().unwrap(), &decoding, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), key["kid"].as_str());
        for claim in ["sub", "iat", "exp", "jti", "iss"] {
            assert!(data.claims.get(claim).is_some(), "claim {claim}");
        }
    }

    async fn profile_and_password(app) {
        app.create_user("ann@example.com", PASSWORD).await;
        let here = app.login("ann@example.com", PASSWORD).await;
        let elsewhere = app.login("ann@example.com", PASSWORD).await;
        let access = here["access_token"].as_str().unwrap();

        let res = app.request(Method::PATCH, "/api/v1/auth/me").bearer_auth(access).json(&json!({"display_name": "Ann Lee"})).send().await.unwrap();
        assert_eq!(res.json::<Value>().await.unwrap()["display_name"], "Ann Lee");
        let res = app.request(Method::PATCH, "/api/v1/auth/me").bearer_auth(access).json(&json!({"display_name": "  "})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "display_name");

        let change = |current: &'static str, new: &'static str| {
            app.request(Method::POST, "/api/v1/auth/password").bearer_auth(access).json(&json!({"current_password": current, "new_password": new})).send()
        };
        problem(change("nope nope nope", "a brand new passphrase").await.unwrap(), 403, "wrong_password").await;
        let body = problem(change(PASSWORD, "password123").await.unwrap(), 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "new_password");
        assert_eq!(change(PASSWORD, "a brand new passphrase").await.unwrap().status(), 204);

        let refresh = |token: &Value| app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": token})).send();
        assert_eq!(refresh(&here["refresh_token"]).await.unwrap().status(), 200, "this session goes on");
        problem(refresh(&elsewhere["refresh_token"]).await.unwrap(), 401, "invalid_refresh_token").await;
        app.login("ann@example.com", "a brand new passphrase").await;
    }
}
