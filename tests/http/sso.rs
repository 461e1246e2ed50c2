//! Single sign-on against a real OpenID provider (the certified `oidc-provider`, started on
//! loopback): the whole browser-less flow, linking and just-in-time provisioning, enforcement,
//! and every refusal — wrong nonce, wrong audience, expired ID token, unverified e-mail, a
//! domain not allowed, a redirect URI not allowed, a replayed state, a replayed code — each
//! with its code and in the security log.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Browser, OidcProvider, TestApp, app_tests, call, jwt_claims, ok, problem};

const PASSWORD: &str = "correct horse battery";
pub(crate) const CALLBACK: &str = "https://app.example.test/api/v1/sso/callback";
pub(crate) const SPA: &str = "https://spa.acme.test/sso/done";

fn provider_body(issuer: &str) -> Value {
    json!({
        "name": "Acme IdP", "issuer": issuer, "client_id": "tenantry", "client_secret": "s3cret",
        "allowed_domains": ["acme.test"], "redirect_uris": [SPA], "jit": true, "default_role": "member",
    })
}

pub(crate) fn query(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A person signs in through the provider: authorize, the provider's pages (the browser's
/// cookie jar), the callback. The URL the client is finally sent to.
pub(crate) async fn sign_in(app: &TestApp, provider: &str, email: &str) -> reqwest::Url {
    let (url, _) = callback_url(app, provider, email).await;
    let res = app
        .get(&format!("{}?{}", url.path(), url.query().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{url}");
    reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
}

/// Up to the provider's redirect back to Tenantry's callback (not yet followed).
async fn callback_url(app: &TestApp, provider: &str, email: &str) -> (reqwest::Url, String) {
    // The client knows who is signing in: the provider is told (login_hint).
    let res = app
        .get(&format!(
            "/api/v1/sso/{provider}/authorize?redirect_uri={SPA}&login_hint={email}"
        ))
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let to_idp = res.headers()["location"].to_str().unwrap().to_owned();
    let parsed = reqwest::Url::parse(&to_idp).unwrap();
    assert_eq!(
        query(&parsed, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query(&parsed, "nonce").is_some() && query(&parsed, "state").is_some());
    assert_eq!(query(&parsed, "login_hint").as_deref(), Some(email));
    let state = query(&parsed, "state").unwrap();
    let back = Browser::default().follow(&to_idp, CALLBACK).await;
    (back, state)
}

pub(crate) async fn exchange(app: &TestApp, code: &str) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/auth/sso/exchange")
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
}

app_tests! {
    async fn sso_sign_in_with_a_real_openid_provider(app) {
        let Some(idp) = OidcProvider::start("tenantry", "s3cret", CALLBACK) else { return };
        // New tenants start on the starter plan (no SSO).
        ok(app.operator(Method::PATCH, "/api/v1/platform/plans/starter").json(&json!({"default": true})).send().await.unwrap(), 200).await;
        let owner = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let ot = owner["session"]["access_token"].as_str().unwrap().to_owned();
        let ann_id = owner["session"]["user"]["id"].as_str().unwrap().to_owned();
        let tenant_id = owner["tenant"]["id"].as_str().unwrap().to_owned();

        // The plan must include SSO.
        let res = call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&provider_body(&idp.issuer)).send().await.unwrap();
        problem(res, 403, "feature_not_in_plan").await;
        ok(app.operator(Method::POST, "/api/v1/platform/tenants/acme/change-plan").json(&json!({"plan": "enterprise"})).send().await.unwrap(), 200).await;

        // Bad settings are refused field by field; an issuer without discovery too.
        let mut bad = provider_body("http://idp.acme.test");
        bad["client_secret"] = Value::Null;
        bad["redirect_uris"] = json!(["javascript:alert(1)"]);
        bad["allowed_domains"] = json!([]);
        let p = problem(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&bad).send().await.unwrap(), 422, "validation_failed").await;
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["issuer", "client_secret", "allowed_domains", "redirect_uris"]);
        let unreachable = provider_body("http://127.0.0.1:9");
        let p = problem(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&unreachable).send().await.unwrap(), 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "issuer");
        let mut no_role = provider_body(&idp.issuer);
        no_role["default_role"] = json!("nobody");
        let p = problem(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&no_role).send().await.unwrap(), 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "default_role");

        // The declared bounds are the server's: past them refused, at them accepted.
        let over = json!({
            "name": "n".repeat(101), "issuer": format!("https://{}", "a".repeat(493)),
            "client_id": "c".repeat(256), "client_secret": "s".repeat(513),
            "scopes": (0..21).map(|n| format!("s{n}")).collect::<Vec<_>>(),
            "allowed_domains": (0..51).map(|n| format!("d{n}.acme.test")).collect::<Vec<_>>(),
            "redirect_uris": (0..21).map(|n| format!("https://spa.acme.test/{n}")).collect::<Vec<_>>(),
        });
        let p = problem(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&over).send().await.unwrap(), 422, "validation_failed").await;
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["name", "issuer", "client_id", "client_secret", "scopes", "allowed_domains", "redirect_uris"]);
        let under = json!({"name": "", "issuer": idp.issuer, "client_id": "", "client_secret": "", "allowed_domains": ["acme.test"], "redirect_uris": []});
        let p = problem(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&under).send().await.unwrap(), 422, "validation_failed").await;
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["name", "client_id", "client_secret", "redirect_uris"]);
        let at = json!({
            "name": "n".repeat(100), "issuer": idp.issuer, "client_id": "c".repeat(255), "client_secret": "s".repeat(512),
            "scopes": (0..20).map(|n| format!("s{n}")).collect::<Vec<_>>(),
            "allowed_domains": (0..50).map(|n| format!("d{n}.acme.test")).collect::<Vec<_>>(),
            "redirect_uris": (0..20).map(|n| format!("https://spa.acme.test/{n}")).collect::<Vec<_>>(),
        });
        let at_bounds = ok(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&at).send().await.unwrap(), 201).await;
        let res = call(app, "acme", Method::DELETE, &format!("/api/v1/sso/providers/{}", at_bounds["id"].as_str().unwrap()), &ot).send().await.unwrap();
        assert_eq!(res.status(), 204);

        let created = ok(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&provider_body(&idp.issuer)).send().await.unwrap(), 201).await;
        assert_eq!(created["has_client_secret"], true);
        assert!(created.get("client_secret").is_none() && !created.to_string().contains("s3cret"));
        let id = created["id"].as_str().unwrap().to_owned();
        let listed = ok(call(app, "acme", Method::GET, "/api/v1/sso/providers", &ot).send().await.unwrap(), 200).await;
        assert_eq!(listed["items"][0]["id"], id.as_str());

        // A redirect URI not on the list is refused before the provider is involved.
        let res = app.get(&format!("/api/v1/sso/{id}/authorize?redirect_uri=https://evil.test/cb")).header("X-Tenant-ID", "acme").send().await.unwrap();
        problem(res, 400, "sso_redirect_uri_not_allowed").await;

        // Bob is new: just-in-time, an account and a membership; the code is exchanged once.
        let back = sign_in(app, &id, "bob@acme.test").await;
        assert!(back.as_str().starts_with(SPA), "{back}");
        let code = query(&back, "code").expect("a one-time code");
        assert!(query(&back, "access_token").is_none(), "no token in a URL");
        let s = ok(exchange(app, &code).await, 200).await;
        assert_eq!(s["user"]["email"], "bob@acme.test");
        let bt = s["access_token"].as_str().unwrap().to_owned();
        assert_eq!(jwt_claims(&bt)["sso_tid"], tenant_id.as_str());
        ok(call(app, "acme", Method::GET, "/api/v1/products", &bt).send().await.unwrap(), 200).await;
        problem(exchange(app, &code).await, 401, "sso_code_invalid").await;
        // A renewed session is still the SSO one.
        let r = ok(app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": s["refresh_token"]})).send().await.unwrap(), 200).await;
        assert_eq!(jwt_claims(r["access_token"].as_str().unwrap())["sso_tid"], tenant_id.as_str());
        // No password opens Bob's account.
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "bob@acme.test", "password": "!sso"})).send().await.unwrap();
        problem(res, 401, "invalid_credentials").await;

        // Ann has a password account here: her verified e-mail links it, the same user.
        let back = sign_in(app, &id, "ann@acme.test").await;
        let s = ok(exchange(app, &query(&back, "code").unwrap()).await, 200).await;
        assert_eq!(s["user"]["id"], ann_id.as_str());
        let ann_sso = s["access_token"].as_str().unwrap().to_owned();

        // A replayed state (the same callback twice) is refused.
        let (url, _) = callback_url(app, &id, "bob@acme.test").await;
        let path = format!("{}?{}", url.path(), url.query().unwrap());
        assert_eq!(app.get(&path).send().await.unwrap().status(), 302);
        problem(app.get(&path).send().await.unwrap(), 400, "sso_state_invalid").await;

        // The provider's tokens that must not pass: each sends the client back with its code.
        for (email, code) in [
            ("unverified@acme.test", "sso_email_unverified"),
            ("wrongaud@acme.test", "sso_audience_mismatch"),
            ("expired@acme.test", "sso_token_expired"),
            ("badnonce@acme.test", "sso_nonce_mismatch"),
            ("carol@other.test", "sso_domain_not_allowed"),
        ] {
            let back = sign_in(app, &id, email).await;
            assert!(back.as_str().starts_with(SPA));
            assert_eq!(query(&back, "error").as_deref(), Some(code), "{email}: {back}");
            assert!(query(&back, "code").is_none());
        }
        let log = ok(app.operator(Method::GET, "/api/v1/platform/security-events?kind=sso_login_failed&limit=100").send().await.unwrap(), 200).await;
        let details: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
        for code in ["sso_email_unverified", "sso_audience_mismatch", "sso_token_expired", "sso_nonce_mismatch",
                     "sso_domain_not_allowed", "sso_redirect_uri_not_allowed", "sso_state_invalid", "sso_code_invalid"] {
            assert!(details.iter().any(|d| d.starts_with(code)), "{code} in {details:?}");
        }
        // Nobody was created by the refusals.
        let members = ok(call(app, "acme", Method::GET, "/api/v1/members?limit=100", &ot).send().await.unwrap(), 200).await;
        assert_eq!(members["items"].as_array().unwrap().len(), 2, "Ann and Bob");

        // Without just-in-time provisioning, a newcomer is refused.
        let mut strict = provider_body(&idp.issuer);
        strict["jit"] = json!(false);
        strict.as_object_mut().unwrap().remove("client_secret");
        ok(call(app, "acme", Method::PUT, &format!("/api/v1/sso/providers/{id}"), &ot).json(&strict).send().await.unwrap(), 200).await;
        let back = sign_in(app, &id, "dave@acme.test").await;
        assert_eq!(query(&back, "error").as_deref(), Some("sso_not_provisioned"));
        // The secret was kept: known people still get in.
        let back = sign_in(app, &id, "bob@acme.test").await;
        assert!(query(&back, "code").is_some(), "{back}");

        // Enforced: people of acme.test use this tenant through SSO only — on every instance
        // within a poll of the access counter (another one has the tenant's answer cached).
        let other = app.another_instance();
        let products = |app: &TestApp| call(app, "acme", Method::GET, "/api/v1/products", &ot).send();
        ok(products(&other).await.unwrap(), 200).await;
        strict["enforce"] = json!(true);
        ok(call(app, "acme", Method::PUT, &format!("/api/v1/sso/providers/{id}"), &ot).json(&strict).send().await.unwrap(), 200).await;
        let res = call(app, "acme", Method::GET, "/api/v1/products", &ot).send().await.unwrap();
        problem(res, 403, "sso_required").await;
        let waited = crate::revocation::eventually(403, || async { products(&other).await.unwrap().status().as_u16() }).await;
        assert!(waited < std::time::Duration::from_secs(2), "{waited:?}");
        problem(products(&other).await.unwrap(), 403, "sso_required").await;
        ok(call(app, "acme", Method::GET, "/api/v1/products", &ann_sso).send().await.unwrap(), 200).await;
        // Removing the provider lifts it, there too.
        let res = call(app, "acme", Method::DELETE, &format!("/api/v1/sso/providers/{id}"), &ann_sso).send().await.unwrap();
        assert_eq!(res.status(), 204);
        ok(call(app, "acme", Method::GET, "/api/v1/products", &ot).send().await.unwrap(), 200).await;
        let waited = crate::revocation::eventually(200, || async { products(&other).await.unwrap().status().as_u16() }).await;
        assert!(waited < std::time::Duration::from_secs(2), "{waited:?}");
        let trail = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?entity_type=sso_provider", &ot).send().await.unwrap(), 200).await;
        let actions: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["deleted", "updated", "updated", "created", "deleted", "created"]);
        assert!(!trail.to_string().contains("s3cret"));
    }
}
