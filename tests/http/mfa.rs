//! TOTP second factors over HTTP, checked against a published authenticator (pyotp): enrolment
//! and its QR code, recovery codes, the login's second step, replays, the lockout, turning it
//! off, onboarding an account that has it, and a tenant that requires it.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Authenticator, TestApp, app_tests, call, jwt_claims, ok, problem};

const PASSWORD: &str = "correct horse battery";

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.request(Method::POST, path)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn access(session: &Value) -> String {
    session["access_token"].as_str().unwrap().to_owned()
}

/// Enrols a TOTP authenticator for the session's user; the authenticator and the recovery
/// codes.
async fn enrol(app: &TestApp, token: &str) -> (Authenticator, Vec<String>) {
    let e = ok(
        post(app, "/api/v1/auth/mfa/totp", token, json!({})).await,
        200,
    )
    .await;
    let mut totp = Authenticator::from_uri(e["otpauth_uri"].as_str().unwrap());
    let res = post(
        app,
        "/api/v1/auth/mfa/totp/confirm",
        token,
        json!({"code": totp.next_code().await}),
    )
    .await;
    let codes = ok(res, 200).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (totp, codes)
}

/// The login's first step for an account with MFA on: its ticket.
async fn ticket(app: &TestApp, email: &str) -> String {
    let res = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 401, "mfa_required").await;
    assert!(p["mfa_ticket_expires_at"].is_string(), "{p}");
    assert!(p.get("access_token").is_none());
    p["mfa_ticket"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/auth/mfa/verify")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn refresh(app: &TestApp, session: &Value) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .unwrap()
}

fn amr(token: &str) -> Value {
    jwt_claims(token)["amr"].clone()
}

async fn security_kinds(app: &TestApp, token: &str) -> Vec<String> {
    let page: Value = app
        .get("/api/v1/auth/me/security-events?limit=100")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

app_tests! {
    async fn totp_enrolment_login_replay_and_recovery_codes(app) {
        if !Authenticator::available() { return; }
        app.create_user("ann@example.com", PASSWORD).await;
        let here = app.login("ann@example.com", PASSWORD).await;
        let elsewhere = app.login("ann@example.com", PASSWORD).await;
        let t = access(&here);
        let status: Value = app.get("/api/v1/auth/mfa").bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(status, json!({"totp_enabled": false, "totp_pending": false, "enabled_at": null, "recovery_codes_left": 0}));
        problem(post(app, "/api/v1/auth/mfa/totp/confirm", &t, json!({"code": "123456"})).await, 409, "mfa_enrollment_not_started").await;

        let e = ok(post(app, "/api/v1/auth/mfa/totp", &t, json!({})).await, 200).await;
        assert!(e["qr_code"].as_str().unwrap().starts_with("data:image/png;base64,iVBORw0KGgo"), "a PNG data URL");
        let mut totp = Authenticator::from_uri(e["otpauth_uri"].as_str().unwrap());
        // The app reads what an authenticator needs from the URI.
        assert_eq!(totp.parsed(), ("Tenantry".into(), "ann@example.com".into(), 6, 30, e["secret"].as_str().unwrap().into()));
        let status: Value = app.get("/api/v1/auth/mfa").bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!(status["totp_pending"], true);
        // Pending: logins still need only the password.
        app.login("ann@example.com", PASSWORD).await;

        problem(post(app, "/api/v1/auth/mfa/totp/confirm", &t, json!({"code": "000000"})).await, 403, "invalid_mfa_code").await;
        let res = post(app, "/api/v1/auth/mfa/totp/confirm", &t, json!({"code": totp.next_code().await})).await;
        let codes: Vec<String> = ok(res, 200).await["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 19), "{codes:?}");
        problem(post(app, "/api/v1/auth/mfa/totp", &t, json!({})).await, 409, "mfa_already_enabled").await;
        // Enabling ended the other sessions; this one goes on, and counts as MFA once renewed.
        problem(refresh(app, &elsewhere).await, 401, "invalid_refresh_token").await;
        problem(app.get("/api/v1/auth/me").bearer_auth(access(&elsewhere)).send().await.unwrap(), 401, "unauthorized").await;
        let renewed = ok(refresh(app, &here).await, 200).await;
        assert_eq!(amr(&access(&renewed)), json!(["pwd", "otp", "mfa"]));

        // The password alone gets a ticket, not a session.
        let first = ticket(app, "ann@example.com").await;
        // The code that confirmed the enrolment is spent: a replay is refused.
        problem(verify(app, json!({"ticket": first, "code": totp.last_code()})).await, 403, "invalid_mfa_code").await;
        problem(verify(app, json!({"ticket": first})).await, 422, "validation_failed").await;
        problem(verify(app, json!({"ticket": "not-a-ticket", "code": "123456"})).await, 401, "invalid_mfa_ticket").await;
        let code = totp.next_code().await;
        let s = ok(verify(app, json!({"ticket": first, "code": code})).await, 200).await;
        assert_eq!(amr(&access(&s)), json!(["pwd", "otp", "mfa"]));
        assert_eq!(s["user"]["email"], "ann@example.com");
        // The ticket worked once, and so did the code.
        problem(verify(app, json!({"ticket": first, "code": totp.next_code().await})).await, 401, "invalid_mfa_ticket").await;
        let second = ticket(app, "ann@example.com").await;
        problem(verify(app, json!({"ticket": second, "code": code})).await, 403, "invalid_mfa_code").await;

        // A recovery code works once, typed in any case and with or without dashes.
        let typed = codes[0].to_uppercase().replace('-', " ");
        ok(verify(app, json!({"ticket": second, "recovery_code": typed})).await, 200).await;
        let third = ticket(app, "ann@example.com").await;
        problem(verify(app, json!({"ticket": third, "recovery_code": codes[0]})).await, 403, "invalid_mfa_code").await;
        let s = ok(verify(app, json!({"ticket": third, "recovery_code": codes[1]})).await, 200).await;
        let t = access(&s);
        let status: Value = app.get("/api/v1/auth/mfa").bearer_auth(&t).send().await.unwrap().json().await.unwrap();
        assert_eq!((status["totp_enabled"].clone(), status["recovery_codes_left"].clone()), (json!(true), json!(8)));

        // New recovery codes replace the old ones.
        let fresh = ok(post(app, "/api/v1/auth/mfa/recovery-codes", &t, json!({"code": codes[2]})).await, 200).await;
        let fresh: Vec<String> = fresh["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        let fourth = ticket(app, "ann@example.com").await;
        problem(verify(app, json!({"ticket": fourth, "recovery_code": codes[3]})).await, 403, "invalid_mfa_code").await;
        ok(verify(app, json!({"ticket": fourth, "recovery_code": fresh[0]})).await, 200).await;

        let kinds = security_kinds(app, &t).await;
        for kind in ["mfa_enabled", "mfa_failed", "recovery_code_used", "recovery_codes_regenerated"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
        }
    }

    async fn wrong_codes_count_with_failed_logins_toward_the_lock(app) {
        if !Authenticator::available() { return; }
        app.create_user("ann@example.com", PASSWORD).await;
        let t = access(&app.login("ann@example.com", PASSWORD).await);
        let (mut totp, _) = enrol(app, &t).await;
        let ticket = ticket(app, "ann@example.com").await;
        for _ in 0..5 {
            problem(verify(app, json!({"ticket": ticket, "code": "000000"})).await, 403, "invalid_mfa_code").await;
        }
        // Locked: the right code is refused too, and so is the password.
        let res = verify(app, json!({"ticket": ticket, "code": totp.next_code().await})).await;
        assert!(res.headers().get("retry-after").is_some());
        problem(res, 429, "account_locked").await;
        let res = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@example.com", "password": PASSWORD})).send().await.unwrap();
        problem(res, 429, "account_locked").await;
    }

    async fn turning_totp_off_needs_the_password_and_a_code(app) {
        if !Authenticator::available() { return; }
        app.create_user("ann@example.com", PASSWORD).await;
        let here = app.login("ann@example.com", PASSWORD).await;
        let t = access(&here);
        let (mut totp, codes) = enrol(app, &t).await;
        let t = access(&ok(refresh(app, &here).await, 200).await);
        let elsewhere = ok(verify(app, json!({"ticket": ticket(app, "ann@example.com").await, "recovery_code": codes[0]})).await, 200).await;
        let off = |password: &'static str, code: String| post(app, "/api/v1/auth/mfa/totp/disable", &t, json!({"password": password, "code": code}));
        problem(off("wrong password!", "000000".into()).await, 403, "wrong_password").await;
        problem(off(PASSWORD, "000000".into()).await, 403, "invalid_mfa_code").await;
        let res = off(PASSWORD, totp.next_code().await).await;
        assert_eq!(res.status(), 204);
        problem(off(PASSWORD, "000000".into()).await, 409, "mfa_not_enabled").await;
        // The other session ended; the password alone logs in again.
        problem(refresh(app, &elsewhere).await, 401, "invalid_refresh_token").await;
        app.login("ann@example.com", PASSWORD).await;
        assert!(security_kinds(app, &t).await.iter().any(|k| k == "mfa_disabled"));
    }

    async fn an_existing_account_with_mfa_onboards_with_a_code(app) {
        if !Authenticator::available() { return; }
        app.create_user("ann@example.com", PASSWORD).await;
        let t = access(&app.login("ann@example.com", PASSWORD).await);
        let (mut totp, _) = enrol(app, &t).await;
        let body = |code: Option<String>| json!({
            "organisation_name": "Acme", "slug": "acme", "owner_email": "ann@example.com",
            "owner_name": "Ann", "password": PASSWORD, "mfa_code": code,
        });
        let res = app.request(Method::POST, "/api/v1/onboard").json(&body(None)).send().await.unwrap();
        problem(res, 401, "mfa_required").await;
        let res = app.request(Method::POST, "/api/v1/onboard").json(&body(Some("000000".into()))).send().await.unwrap();
        problem(res, 403, "invalid_mfa_code").await;
        // Nothing was created by the refusals.
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        problem(res, 404, "tenant_not_found").await;
        let res = app.request(Method::POST, "/api/v1/onboard").json(&body(Some(totp.next_code().await))).send().await.unwrap();
        let done = ok(res, 201).await;
        assert_eq!(done["owner_created"], false);
        assert_eq!(amr(&access(&done["session"])), json!(["pwd", "otp", "mfa"]));
    }

    async fn a_tenant_requiring_mfa_refuses_members_without_it(app) {
        if !Authenticator::available() { return; }
        let owner = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let ot = access(&owner["session"]);
        let tenant = owner["tenant"]["id"].as_str().unwrap().to_owned();
        let bob = app.create_user("bob@acme.test", PASSWORD).await;
        app.add_member(&tenant, bob.id, "member").await;
        let key = ok(call(app, "acme", Method::POST, "/api/v1/api-keys", &ot).json(&json!({"name": "ci", "permissions": ["products:read"]})).send().await.unwrap(), 201).await;
        let key = key["key"].as_str().unwrap().to_owned();

        // Requiring MFA without one's own second factor would lock the author out: refused.
        let require = json!({"security": {"require_mfa": true}});
        let res = call(app, "acme", Method::PATCH, "/api/v1/settings", &ot).json(&require).send().await.unwrap();
        let p = problem(res, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "security.require_mfa");
        let owner_session = app.login("ann@acme.test", PASSWORD).await;
        let (_, codes) = enrol(app, &access(&owner_session)).await;
        let ot = access(&ok(refresh(app, &owner_session).await, 200).await);
        let saved = ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &ot).json(&require).send().await.unwrap(), 200).await;
        assert_eq!(saved["security"]["require_mfa"], true);

        // Bob has no second factor: the tenant's routes refuse him, his own account does not.
        let bob_session = app.login("bob@acme.test", PASSWORD).await;
        let bt = access(&bob_session);
        let res = call(app, "acme", Method::GET, "/api/v1/products", &bt).send().await.unwrap();
        let p = problem(res, 403, "mfa_enrollment_required").await;
        assert_eq!(p["tenant"]["display_name"], "acme Inc", "branded");
        ok(app.get("/api/v1/auth/me").bearer_auth(&bt).send().await.unwrap(), 200).await;
        // An API key is no person: it goes on working.
        let res = app.get("/api/v1/products").header("X-Tenant-ID", "acme").header("X-API-Key", &key).send().await.unwrap();
        ok(res, 200).await;
        // Another tenant of Bob's is not concerned; enrolling (then renewing) lets him in.
        enrol(app, &bt).await;
        let bt = access(&ok(refresh(app, &bob_session).await, 200).await);
        ok(call(app, "acme", Method::GET, "/api/v1/products", &bt).send().await.unwrap(), 200).await;
        // The owner logging in with a recovery code passes too.
        let s = ok(verify(app, json!({"ticket": ticket(app, "ann@acme.test").await, "recovery_code": codes[0]})).await, 200).await;
        ok(call(app, "acme", Method::GET, "/api/v1/settings", &access(&s)).send().await.unwrap(), 200).await;
    }

    async fn erasing_an_account_with_mfa_takes_a_code(app) {
        if !Authenticator::available() { return; }
        app.create_user("ann@example.com", PASSWORD).await;
        let t = access(&app.login("ann@example.com", PASSWORD).await);
        let e = ok(post(app, "/api/v1/auth/mfa/totp", &t, json!({})).await, 200).await;
        let mut totp = Authenticator::from_uri(e["otpauth_uri"].as_str().unwrap());
        let res = post(app, "/api/v1/auth/mfa/totp/confirm", &t, json!({"code": totp.next_code().await})).await;
        let codes: Vec<String> = ok(res, 200).await["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        let erase = |body: Value| app.request(Method::DELETE, "/api/v1/auth/me").bearer_auth(&t).json(&body).send();
        // The password alone is not enough; a wrong code neither; a recovery code is.
        problem(erase(json!({"password": PASSWORD})).await.unwrap(), 401, "mfa_required").await;
        problem(erase(json!({"password": PASSWORD, "mfa_code": "000000"})).await.unwrap(), 403, "invalid_mfa_code").await;
        let done = erase(json!({"password": PASSWORD, "mfa_code": codes[0]})).await.unwrap();
        assert_eq!(done.status(), 204);
        problem(app.get("/api/v1/auth/me").bearer_auth(&t).send().await.unwrap(), 401, "unauthorized").await;
        let login = app.request(Method::POST, "/api/v1/auth/login").json(&json!({"email": "ann@example.com", "password": PASSWORD})).send().await.unwrap();
        assert_eq!(login.status(), 401);
    }
}
