//! SCIM 2.0 provisioning: the tenant's tokens, two published compliance checkers run against
//! the endpoint (scim2-tester on the scim2-client library, and scim-sanity's probe), and what
//! a directory's writes do to people — requests written from RFC 7644's examples.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{OidcProvider, TestApp, app_tests, call, ok, problem};

use crate::sso::{CALLBACK, exchange, query, sign_in};

const PASSWORD: &str = "correct horse battery";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn python() -> String {
    std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the published checkers are installed (CI installs them; locally the test says
/// loudly that it skipped them).
fn checkers_available() -> bool {
    let ok = std::process::Command::new(python())
        .args(["-c", "import scim2_tester, scim_sanity"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "\n*** SCIM compliance checkers SKIPPED: pip install scim2-tester scim-sanity ***\n"
        );
    }
    ok
}

/// Runs a checker to completion off the async runtime; its output, and whether it passed.
async fn run_checker(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(python())
            .args(&args)
            .output()
            .expect("python runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

/// A tenant on the enterprise plan (SSO and SCIM) with its owner's token.
async fn enterprise(app: &TestApp, slug: &str, email: &str) -> (String, Value) {
    let owner = app.onboard(slug, email, PASSWORD).await;
    ok(
        app.operator(
            Method::POST,
            &format!("/api/v1/platform/tenants/{slug}/change-plan"),
        )
        .json(&json!({"plan": "enterprise"}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let token = owner["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, owner)
}

async fn scim_token(app: &TestApp, slug: &str, owner: &str) -> Value {
    ok(
        call(app, slug, Method::POST, "/api/v1/scim/tokens", owner)
            .json(&json!({"name": "Directory"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await
}

fn scim(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.request(method, &format!("/scim/v2{path}"))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
}

/// The SCIM answer: its status, its content type, and its body.
async fn answer(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, "application/scim+json", "{body}");
    body
}

/// A SCIM error body of this status (and `scimType`, when the RFC names one).
async fn scim_error(res: reqwest::Response, status: u16, scim_type: Option<&str>) -> Value {
    let body = answer(res, status).await;
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], status.to_string());
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    body
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

async fn member_emails(app: &TestApp, slug: &str, token: &str) -> Vec<String> {
    let members = ok(
        call(app, slug, Method::GET, "/api/v1/members?limit=100", token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect()
}

app_tests! {
    async fn published_scim_checkers_pass(app) {
        if !checkers_available() {
            return;
        }
        ok(app.operator(Method::PATCH, "/api/v1/platform/plans/starter").json(&json!({"default": true})).send().await.unwrap(), 200).await;
        let (ot, _) = enterprise(app, "acme", "ann@acme.test").await;
        let token = scim_token(app, "acme", &ot).await["token"].as_str().unwrap().to_owned();
        let base = app.url("/scim/v2");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/scim/check.py");
        let (passed, out) = run_checker(vec![script.into(), base.clone(), token.clone()]).await;
        assert!(passed, "scim2-tester:\n{out}");
        let (passed, out) = run_checker(vec![
            "-m".into(), "scim_sanity".into(), "probe".into(), base, "--token".into(), token,
            "--i-accept-side-effects".into(),
        ])
        .await;
        assert!(passed && out.contains("All tests passed"), "scim-sanity:\n{out}");
    }

    async fn a_directory_provisions_and_deprovisions_members(app) {
        ok(app.operator(Method::PATCH, "/api/v1/platform/plans/starter").json(&json!({"default": true})).send().await.unwrap(), 200).await;
        let owner = app.onboard("acme", "ann@acme.test", PASSWORD).await;
        let ot = owner["session"]["access_token"].as_str().unwrap().to_owned();
        // The plan must include SSO (SCIM comes with it).
        let res = call(app, "acme", Method::POST, "/api/v1/scim/tokens", &ot).json(&json!({"name": "Okta"})).send().await.unwrap();
        problem(res, 403, "feature_not_in_plan").await;
        ok(app.operator(Method::POST, "/api/v1/platform/tenants/acme/change-plan").json(&json!({"plan": "enterprise"})).send().await.unwrap(), 200).await;
        let res = call(app, "acme", Method::POST, "/api/v1/scim/tokens", &ot).json(&json!({"name": "", "default_role": "nobody"})).send().await.unwrap();
        let p = problem(res, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "name");
        let res = call(app, "acme", Method::POST, "/api/v1/scim/tokens", &ot).json(&json!({"name": "n".repeat(101)})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
        let res = call(app, "acme", Method::POST, "/api/v1/scim/tokens", &ot).json(&json!({"name": "n".repeat(100)})).send().await.unwrap();
        let longest = ok(res, 201).await;
        let res = call(app, "acme", Method::DELETE, &format!("/api/v1/scim/tokens/{}", longest["id"].as_str().unwrap()), &ot).send().await.unwrap();
        assert_eq!(res.status(), 204);
        let res = call(app, "acme", Method::POST, "/api/v1/scim/tokens", &ot).json(&json!({"name": "Okta", "default_role": "nobody"})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
        // An administrator cannot hand the directory a role above their own.
        let admin = app.create_user("adam@acme.test", PASSWORD).await;
        app.add_member(owner["tenant"]["id"].as_str().unwrap(), admin.id, "admin").await;
        let at = app.login("adam@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        let res = call(app, "acme", Method::POST, "/api/v1/scim/tokens", &at).json(&json!({"name": "Okta", "default_role": "owner"})).send().await.unwrap();
        let p = problem(res, 422, "validation_failed").await;
        // The first owner's permission an administrator lacks (data:export, tenant:manage).
        assert!(p["errors"][0]["message"].as_str().unwrap().contains("data:export"), "{p}");
        let created = scim_token(app, "acme", &ot).await;
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("scim_"));
        assert_eq!(created["base_url"], app.url("/scim/v2"));
        assert_eq!(created["default_role"], "member");
        let listed = ok(call(app, "acme", Method::GET, "/api/v1/scim/tokens", &ot).send().await.unwrap(), 200).await;
        assert_eq!(listed["items"][0]["id"], created["id"]);
        assert!(!listed.to_string().contains(&token[token.len() - 20..]), "the secret is never shown again");

        // RFC 7644 §3.3's example: a new person gets an account and a membership.
        let bjensen = json!({
            "schemas": [USER_SCHEMA], "userName": "bjensen@acme.test", "externalId": "bjensen",
            "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
            "emails": [{"value": "bjensen@acme.test", "type": "work", "primary": true}],
        });
        let res = scim(app, Method::POST, "/Users", &token).json(&bjensen).send().await.unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let b = answer(res, 201).await;
        let b_id = b["id"].as_str().unwrap().to_owned();
        assert_eq!(location, app.url(&format!("/scim/v2/Users/{b_id}")));
        assert_eq!(b["meta"]["resourceType"], "User");
        assert_eq!(b["meta"]["location"], location.as_str());
        assert_eq!(b["name"]["givenName"], "Barbara");
        assert!(member_emails(app, "acme", &ot).await.contains(&"bjensen@acme.test".to_owned()));
        // userName is unique, whatever its case.
        let mut again = bjensen.clone();
        again["userName"] = json!("BJensen@ACME.test");
        again["emails"] = json!([]);
        scim_error(scim(app, Method::POST, "/Users", &token).json(&again).send().await.unwrap(), 409, Some("uniqueness")).await;
        // The filter directories use before creating.
        let found = answer(scim(app, Method::GET, "/Users?filter=userName%20eq%20%22BJENSEN@acme.test%22", &token).send().await.unwrap(), 200).await;
        assert_eq!(found["totalResults"], 1);
        assert_eq!(found["Resources"][0]["id"], b_id.as_str());
        let none = answer(scim(app, Method::GET, "/Users?filter=userName%20eq%20%22nobody%22", &token).send().await.unwrap(), 200).await;
        assert_eq!((none["totalResults"].clone(), none["Resources"].clone()), (json!(0), json!([])));
        let by_external = answer(scim(app, Method::GET, "/Users?filter=externalId%20eq%20%22bjensen%22&attributes=userName", &token).send().await.unwrap(), 200).await;
        assert_eq!(by_external["Resources"][0], json!({"schemas": [USER_SCHEMA], "id": b_id, "userName": "bjensen@acme.test"}));
        scim_error(scim(app, Method::GET, "/Users?filter=userName%20co%20%22b%22", &token).send().await.unwrap(), 400, Some("invalidFilter")).await;

        // Carol has an account and another tenant already: linked by her e-mail, never touched
        // elsewhere.
        let (gt, globex) = enterprise(app, "globex", "gus@globex.test").await;
        let carol = app.create_user("carol@acme.test", PASSWORD).await;
        app.add_member(globex["tenant"]["id"].as_str().unwrap(), carol.id, "member").await;
        let c = answer(scim(app, Method::POST, "/Users", &token).json(&json!({
            "schemas": [USER_SCHEMA], "userName": "carol", "emails": [{"value": "carol@acme.test", "primary": true}],
        })).send().await.unwrap(), 201).await;
        let c_path = format!("/Users/{}", c["id"].as_str().unwrap());
        let carol_password = app.login("carol@acme.test", PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        ok(call(app, "acme", Method::GET, "/api/v1/products", &carol_password).send().await.unwrap(), 200).await;
        // She signs in to acme through its identity provider too.
        let sso_session = match OidcProvider::start("tenantry", "s3cret", CALLBACK) {
            Some(idp) => {
                let provider = ok(call(app, "acme", Method::POST, "/api/v1/sso/providers", &ot).json(&json!({
                    "name": "Acme IdP", "issuer": idp.issuer, "client_id": "tenantry", "client_secret": "s3cret",
                    "allowed_domains": ["acme.test"], "redirect_uris": [crate::sso::SPA],
                })).send().await.unwrap(), 201).await;
                let back = sign_in(app, provider["id"].as_str().unwrap(), "carol@acme.test").await;
                let s = ok(exchange(app, &query(&back, "code").unwrap()).await, 200).await;
                Some((idp, s))
            }
            None => None,
        };

        // Okta deactivates with a replace without path: her membership here goes, and the
        // sessions acme's identity provider opened; her account and globex stay.
        let off = answer(scim(app, Method::PATCH, &c_path, &token).json(&patch(json!([{"op": "replace", "value": {"active": false}}]))).send().await.unwrap(), 200).await;
        assert_eq!(off["active"], false);
        assert!(!member_emails(app, "acme", &ot).await.contains(&"carol@acme.test".to_owned()));
        problem(call(app, "acme", Method::GET, "/api/v1/products", &carol_password).send().await.unwrap(), 403, "not_a_member").await;
        ok(call(app, "globex", Method::GET, "/api/v1/products", &carol_password).send().await.unwrap(), 200).await;
        if let Some((_idp, s)) = &sso_session {
            let res = app.request(Method::POST, "/api/v1/auth/refresh").json(&json!({"refresh_token": s["refresh_token"]})).send().await.unwrap();
            assert_eq!(res.status(), 401, "the acme SSO session ended");
            let res = app.get("/api/v1/auth/me").bearer_auth(s["access_token"].as_str().unwrap()).send().await.unwrap();
            assert_eq!(res.status(), 401, "its access token too");
        }
        ok(app.get("/api/v1/auth/me").bearer_auth(&carol_password).send().await.unwrap(), 200).await;
        // Entra ID reactivates with a path and a string: a member again, with the token's role.
        let on = answer(scim(app, Method::PATCH, &c_path, &token).json(&patch(json!([{"op": "Replace", "path": "active", "value": "True"}]))).send().await.unwrap(), 200).await;
        assert_eq!(on["active"], true);
        ok(call(app, "acme", Method::GET, "/api/v1/products", &carol_password).send().await.unwrap(), 200).await;
        // PUT replaces what the directory wrote; the account is the person's and stays hers.
        let put = answer(scim(app, Method::PUT, &c_path, &token).json(&json!({
            "schemas": [USER_SCHEMA], "userName": "carol.w", "displayName": "Carol W",
            "emails": [{"value": "carol.w@acme.test", "primary": true}],
        })).send().await.unwrap(), 200).await;
        assert_eq!((put["userName"].clone(), put["displayName"].clone()), (json!("carol.w"), json!("Carol W")));
        assert!(member_emails(app, "acme", &ot).await.contains(&"carol@acme.test".to_owned()));
        // DELETE: the membership goes, never the account.
        let res = scim(app, Method::DELETE, &c_path, &token).send().await.unwrap();
        assert_eq!(res.status(), 204);
        scim_error(scim(app, Method::GET, &c_path, &token).send().await.unwrap(), 404, None).await;
        problem(call(app, "acme", Method::GET, "/api/v1/products", &carol_password).send().await.unwrap(), 403, "not_a_member").await;
        assert!(app.login("carol@acme.test", PASSWORD).await["access_token"].is_string());

        // The tenant's last owner cannot be deprovisioned; nothing is written.
        let a = answer(scim(app, Method::POST, "/Users", &token).json(&json!({"userName": "ann@acme.test"})).send().await.unwrap(), 201).await;
        let a_path = format!("/Users/{}", a["id"].as_str().unwrap());
        scim_error(scim(app, Method::PATCH, &a_path, &token).json(&patch(json!([{"op": "replace", "path": "active", "value": false}]))).send().await.unwrap(), 409, Some("mutability")).await;
        assert_eq!(answer(scim(app, Method::GET, &a_path, &token).send().await.unwrap(), 200).await.get("active"), None);
        ok(call(app, "acme", Method::GET, "/api/v1/tenant", &ot).send().await.unwrap(), 200).await;

        // The directory removes only people it could have made: an administrator linked by
        // address stays, whatever the record says (the token's role is `member`).
        let adam = answer(scim(app, Method::POST, "/Users", &token).json(&json!({"userName": "adam@acme.test"})).send().await.unwrap(), 201).await;
        let adam_path = format!("/Users/{}", adam["id"].as_str().unwrap());
        scim_error(scim(app, Method::PATCH, &adam_path, &token).json(&patch(json!([{"op": "replace", "path": "active", "value": false}]))).send().await.unwrap(), 409, Some("mutability")).await;
        scim_error(scim(app, Method::DELETE, &adam_path, &token).send().await.unwrap(), 409, Some("mutability")).await;
        assert!(member_emails(app, "acme", &ot).await.contains(&"adam@acme.test".to_owned()));

        // A record without an address provisions nobody until one arrives.
        let d = answer(scim(app, Method::POST, "/Users", &token).json(&json!({"userName": "e5f1c0de"})).send().await.unwrap(), 201).await;
        let members = member_emails(app, "acme", &ot).await.len();
        answer(scim(app, Method::PATCH, &format!("/Users/{}", d["id"].as_str().unwrap()), &token)
            .json(&patch(json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "dave@acme.test"}])))
            .send().await.unwrap(), 200).await;
        assert_eq!(member_emails(app, "acme", &ot).await.len(), members + 1);

        // Bad requests: SCIM errors, nothing written.
        scim_error(scim(app, Method::POST, "/Users", &token).body("{not json").send().await.unwrap(), 400, Some("invalidSyntax")).await;
        scim_error(scim(app, Method::POST, "/Users", &token).json(&json!({"emails": []})).send().await.unwrap(), 400, Some("invalidValue")).await;
        scim_error(scim(app, Method::POST, "/Users", &token).json(&json!({"userName": "x", "emails": [{"value": "not-an-address"}]})).send().await.unwrap(), 400, Some("invalidValue")).await;
        scim_error(scim(app, Method::PATCH, &a_path, &token).json(&json!({"Operations": []})).send().await.unwrap(), 400, Some("invalidSyntax")).await;
        // Entra ID sends attributes this service does not keep beside real changes: those are
        // ignored, the rest applies.
        let entra = answer(scim(app, Method::PATCH, &a_path, &token).json(&patch(json!([
            {"op": "Replace", "path": "title", "value": "CEO"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
            {"op": "Replace", "path": "displayName", "value": "Ann A"},
        ]))).send().await.unwrap(), 200).await;
        assert_eq!(entra["displayName"], "Ann A");
        scim_error(scim(app, Method::PATCH, &a_path, &token).json(&patch(json!([{"op": "replace", "path": "id", "value": "x"}]))).send().await.unwrap(), 400, Some("mutability")).await;
        scim_error(scim(app, Method::GET, "/Users/not-an-id", &token).send().await.unwrap(), 404, None).await;
        scim_error(scim(app, Method::GET, "/Groups", &token).send().await.unwrap(), 404, None).await;
        scim_error(scim(app, Method::PUT, "/ServiceProviderConfig", &token).send().await.unwrap(), 405, None).await;
        scim_error(scim(app, Method::POST, "/.search", &token).json(&json!({})).send().await.unwrap(), 501, None).await;

        // Hostile bodies: a SCIM error, never a failure of the server, nothing written.
        let before = answer(scim(app, Method::GET, "/Users?count=0", &token).send().await.unwrap(), 200).await["totalResults"].clone();
        let long = "x".repeat(70_000);
        let many: Vec<Value> = (0..21).map(|n| json!({"value": format!("u{n}@acme.test")})).collect();
        for body in [
            json!(null), json!([]), json!("userName"), json!({"userName": 7}), json!({"userName": ["a"]}),
            json!({"userName": {"a": 1}}), json!({"userName": long}), json!({"userName": "a\u{0}b"}),
            json!({"userName": "ok1", "emails": "a@acme.test"}), json!({"userName": "ok2", "emails": [7]}),
            json!({"userName": "ok3", "emails": [{"value": null}]}), json!({"userName": "ok4", "emails": many}),
            json!({"userName": "ok5", "emails": [{"value": "a@acme.test", "primary": true}, {"value": "b@acme.test", "primary": true}]}),
            json!({"userName": "ok6", "active": 1}), json!({"userName": "ok7", "name": "Ann"}),
            json!({"userName": "ok8", "name": {"givenName": 5}}), json!({"userName": "ok9", "externalId": long}),
            json!({"userName": "ok10", "emails": [{"value": "a@acme.test", "type": long}]}),
        ] {
            let res = scim(app, Method::POST, "/Users", &token).json(&body).send().await.unwrap();
            let e = answer(res, 400).await;
            assert!(e["scimType"].is_string() && e["status"] == "400", "{body}: {e}");
        }
        for ops in [
            json!("replace"), json!([7]), json!([{"op": "frobnicate", "path": "active", "value": true}]),
            json!([{"op": "add", "path": 7, "value": true}]), json!([{"op": "remove"}]),
            json!([{"op": "replace", "path": "emails[type co \"x\"].value", "value": "a@acme.test"}]),
            json!([{"op": "replace", "path": "emails[type eq \"none\"].value", "value": "a@acme.test"}]),
            json!([{"op": "replace", "path": "name", "value": "flat"}]), json!([{"op": "replace", "path": "emails[", "value": 1}]),
            json!([{"op": "remove", "path": "userName"}]), json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            json!([{"op": "add", "value": 7}]),
        ] {
            let res = scim(app, Method::PATCH, &a_path, &token).json(&patch(ops.clone())).send().await.unwrap();
            let e = answer(res, 400).await;
            assert!(e["scimType"].is_string() && e["status"] == "400", "{ops}: {e}");
        }
        let after = answer(scim(app, Method::GET, "/Users?count=0", &token).send().await.unwrap(), 200).await["totalResults"].clone();
        assert_eq!(before, after);

        // Credentials: none, forged, another tenant's name on this secret, revoked.
        let res = app.get("/scim/v2/Users").send().await.unwrap();
        assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        scim_error(res, 401, None).await;
        scim_error(scim(app, Method::GET, "/Users", "scim_x_y").send().await.unwrap(), 401, None).await;
        let globex_id = ok(call(app, "globex", Method::GET, "/api/v1/tenant", &gt).send().await.unwrap(), 200).await["id"].as_str().unwrap().replace('-', "");
        let secret = token.rsplit('_').next().unwrap();
        scim_error(scim(app, Method::GET, "/Users", &format!("scim_{globex_id}_{secret}")).send().await.unwrap(), 401, None).await;
        // Globex's directory sees only globex.
        let globex_token = scim_token(app, "globex", &gt).await["token"].as_str().unwrap().to_owned();
        let theirs = answer(scim(app, Method::GET, "/Users", &globex_token).send().await.unwrap(), 200).await;
        assert_eq!(theirs["totalResults"], 0);
        scim_error(scim(app, Method::GET, &format!("/Users/{b_id}"), &globex_token).send().await.unwrap(), 404, None).await;
        scim_error(scim(app, Method::DELETE, &format!("/Users/{b_id}"), &globex_token).send().await.unwrap(), 404, None).await;
        answer(scim(app, Method::GET, &format!("/Users/{b_id}"), &token).send().await.unwrap(), 200).await;

        // Every change is on the record, as the directory's.
        let trail = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?entity_type=scim_user&limit=100", &ot).send().await.unwrap(), 200).await;
        let entries = trail["items"].as_array().unwrap();
        assert!(entries.len() >= 7, "{trail}");
        assert!(entries.iter().all(|e| e["actor_type"] == "directory"), "{trail}");
        ok(call(app, "acme", Method::GET, "/api/v1/audit-logs/verify", &ot).send().await.unwrap(), 200).await;

        // A revoked token stops at once.
        let res = call(app, "acme", Method::DELETE, &format!("/api/v1/scim/tokens/{}", created["id"].as_str().unwrap()), &ot).send().await.unwrap();
        assert_eq!(res.status(), 204);
        scim_error(scim(app, Method::GET, "/Users", &token).send().await.unwrap(), 401, None).await;
        let res = call(app, "acme", Method::DELETE, &format!("/api/v1/scim/tokens/{}", created["id"].as_str().unwrap()), &ot).send().await.unwrap();
        problem(res, 404, "scim_token_not_found").await;
    }
}
