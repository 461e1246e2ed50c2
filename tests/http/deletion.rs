//! An organisation deleted (GDPR): the owner asks with the slug typed back and their password,
//! the tenant is suspended at once, cancelling brings it back (owner or operator), and once
//! the grace period is over the worker purges it — rows, files, exports, its data key, the
//! accounts that belonged to it alone — leaving a certificate that a published JWT library
//! verifies against the platform's JWKS.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_store::testing::TestDb;
use tenantry_tests::{Options, PASSWORD, TOKEN_ISSUER, TestApp, call, ok, problem};

use crate::files::{png, put_file, stored};

fn options(dir: &Path, grace: chrono::Duration) -> Options {
    Options {
        files: tenantry_objects::Backend::local(dir).unwrap(),
        purge_grace: grace,
        ..Options::default()
    }
}

fn files_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "tenantry-purge-files-{}",
        uuid::Uuid::now_v7().simple()
    ))
}

async fn request(app: &TestApp, slug: &str, token: &str, body: Value) -> reqwest::Response {
    call(app, slug, Method::POST, "/api/v1/settings/deletion", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Waits for the worker to purge the tenant; its certificate.
async fn purged(app: &TestApp, tenant: &str) -> Value {
    for _ in 0..300 {
        let page = ok(
            app.operator(Method::GET, "/api/v1/platform/purges")
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        if let Some(p) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["tenant_id"] == tenant)
        {
            return p.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("tenant {tenant} was not purged");
}

/// Checks the certificate with PyJWT (a published JOSE implementation) against the key the
/// platform serves at `/.well-known/jwks.json`; what it verified.
fn verified_by_pyjwt(certificate: &str, jwks: &Value) -> Option<Value> {
    let python = std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import json, sys
import jwt
token, jwks, issuer = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
kid = jwt.get_unverified_header(token)["kid"]
key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
claims = jwt.decode(token, key=key, algorithms=["EdDSA"], issuer=issuer,
                    options={"require": ["iss", "sub", "jti", "iat"]})
print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}))
"#;
    let has_pyjwt = std::process::Command::new(&python)
        .args(["-c", "import jwt, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pyjwt {
        eprintln!("skipping the PyJWT check: {python} has no jwt (PyJWT[crypto])");
        return None;
    }
    let out = std::process::Command::new(&python)
        .args(["-c", script, certificate, &jwks.to_string(), TOKEN_ISSUER])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused the certificate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

async fn tenant_rows(db: &tenantry_store::Db, tenant: &str) -> Vec<(String, i64)> {
    let mut left = vec![];
    for t in db.tables_with_tenant_rows().await.unwrap() {
        let n = db
            .unfiltered_count(
                tenant.parse().ok(),
                &format!("{t} WHERE tenant_id = '{tenant}'"),
            )
            .await
            .unwrap();
        if n > 0 {
            left.push((t, n));
        }
    }
    left
}

async fn deletes_an_organisation(db: TestDb) {
    let dir = files_dir();
    // A week's grace first (the cancellations), then none (the purge).
    let app = TestApp::start(db, options(&dir, chrono::Duration::days(7))).await;
    let body = app.onboard("doomed", "owner@doomed.test", PASSWORD).await;
    let token = body["session"]["access_token"].as_str().unwrap().to_owned();
    let tenant = body["tenant"]["id"].as_str().unwrap().to_owned();
    let other = app.onboard("stays", "owner@stays.test", PASSWORD).await;
    let other_token = other["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Two more people in the doomed tenant: one only there, one also elsewhere.
    let only = app.create_user("only@doomed.test", PASSWORD).await;
    app.add_member(&tenant, only.id, "member").await;
    let both = app.create_user("both@doomed.test", PASSWORD).await;
    app.add_member(&tenant, both.id, "admin").await;
    app.add_member(other["tenant"]["id"].as_str().unwrap(), both.id, "member")
        .await;
    let post = |path: &str, body: Value| {
        call(&app, "doomed", Method::POST, path, &token)
            .json(&body)
            .send()
    };
    ok(
        post(
            "/api/v1/products",
            json!({"name": "Kettle", "sku": "K-1", "price_minor": 100, "currency": "EUR"}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    put_file(&app, "doomed", &token, "logo.png", &png(10)).await;
    // A webhook: its signing secret is sealed under the tenant's data key.
    ok(
        post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/in", "enabled": false}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    assert!(!stored(&dir).is_empty());

    // Refusals, each writing nothing: the wrong slug, a wrong password, a member without
    // the owners' permission.
    let p = problem(
        request(
            &app,
            "doomed",
            &token,
            json!({"slug": "stays", "password": PASSWORD}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "slug");
    problem(
        request(
            &app,
            "doomed",
            &token,
            json!({"slug": "doomed", "password": "wrong one"}),
        )
        .await,
        403,
        "wrong_password",
    )
    .await;
    let admin = app.login("both@doomed.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(
        request(
            &app,
            "doomed",
            &admin,
            json!({"slug": "doomed", "password": PASSWORD}),
        )
        .await,
        403,
        "permission_denied",
    )
    .await;
    problem(
        call(
            &app,
            "doomed",
            Method::GET,
            "/api/v1/settings/deletion",
            &token,
        )
        .send()
        .await
        .unwrap(),
        404,
        "no_deletion_pending",
    )
    .await;

    // Asked for: suspended at once; the owner sees the deletion and cancels it.
    let deletion = ok(
        request(
            &app,
            "doomed",
            &token,
            json!({"slug": "doomed", "password": PASSWORD}),
        )
        .await,
        202,
    )
    .await;
    assert_eq!(deletion["tenant_id"], tenant.as_str());
    let products = || call(&app, "doomed", Method::GET, "/api/v1/products", &token).send();
    problem(products().await.unwrap(), 403, "tenant_inactive").await;
    problem(
        request(
            &app,
            "doomed",
            &token,
            json!({"slug": "doomed", "password": PASSWORD}),
        )
        .await,
        403,
        "tenant_inactive",
    )
    .await;
    let seen = ok(
        call(
            &app,
            "doomed",
            Method::GET,
            "/api/v1/settings/deletion",
            &token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(seen["purge_after"], deletion["purge_after"]);
    let requested: chrono::DateTime<chrono::Utc> =
        deletion["requested_at"].as_str().unwrap().parse().unwrap();
    let after: chrono::DateTime<chrono::Utc> =
        deletion["purge_after"].as_str().unwrap().parse().unwrap();
    assert_eq!(after - requested, chrono::Duration::days(7));
    // The operator may not simply resume it: the purge would still be scheduled.
    problem(
        app.operator(Method::POST, "/api/v1/platform/tenants/doomed/resume")
            .send()
            .await
            .unwrap(),
        409,
        "deletion_pending",
    )
    .await;
    let res = call(
        &app,
        "doomed",
        Method::DELETE,
        "/api/v1/settings/deletion",
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    ok(products().await.unwrap(), 200).await;

    // Again, cancelled by the operator this time.
    ok(
        request(
            &app,
            "doomed",
            &token,
            json!({"slug": "doomed", "password": PASSWORD}),
        )
        .await,
        202,
    )
    .await;
    let res = app
        .operator(Method::DELETE, "/api/v1/platform/tenants/doomed/deletion")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    ok(products().await.unwrap(), 200).await;
    problem(
        app.operator(Method::DELETE, "/api/v1/platform/tenants/doomed/deletion")
            .send()
            .await
            .unwrap(),
        404,
        "no_deletion_pending",
    )
    .await;
    let trail = ok(
        call(
            &app,
            "doomed",
            Method::GET,
            "/api/v1/audit-logs?entity_type=deletion",
            &token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["cancelled", "requested", "cancelled", "requested"]
    );
    let mut first = app;
    first.stop();

    // The same database with no grace period: asked for, purged by the worker.
    let app = first.another_instance_configured(|o| o.purge_grace = chrono::Duration::zero());
    let key_rows = tenant_rows(first.db().db(), &tenant).await;
    assert!(
        key_rows.iter().any(|(t, _)| t == "tenant_keys"),
        "the tenant sealed a secret: {key_rows:?}"
    );
    let other_before = tenant_rows(first.db().db(), other["tenant"]["id"].as_str().unwrap()).await;
    ok(
        request(
            &app,
            "doomed",
            &token,
            json!({"slug": "doomed", "password": PASSWORD}),
        )
        .await,
        202,
    )
    .await;
    let purge = purged(&app, &tenant).await;
    assert_eq!(purge["slug"], "doomed");
    assert_eq!(purge["requested_by"], body["session"]["user"]["id"]);
    assert_eq!(purge["rows"]["products"], 1);
    assert_eq!(purge["rows"]["tenants"], 1);
    assert_eq!(purge["rows"]["memberships"], 3);
    assert!(purge["rows"]["audit_entries"].as_u64().unwrap() > 5);
    assert_eq!(purge["rows"]["tenant_keys"], 1);
    assert_eq!(purge["objects"], 1, "the file's content");
    // The owner's and the member's accounts went; the one also elsewhere stayed.
    assert_eq!(purge["accounts"], 2);

    // Nothing of the tenant is left: no row anywhere, no object, and the other tenant is as
    // it was.
    assert_eq!(tenant_rows(first.db().db(), &tenant).await, vec![]);
    assert!(stored(&dir).is_empty(), "objects left: {:?}", stored(&dir));
    assert_eq!(
        tenant_rows(first.db().db(), other["tenant"]["id"].as_str().unwrap()).await,
        other_before
    );
    problem(
        call(&app, "doomed", Method::GET, "/api/v1/products", &token)
            .send()
            .await
            .unwrap(),
        404,
        "tenant_not_found",
    )
    .await;
    let res = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "owner@doomed.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    problem(res, 401, "invalid_credentials").await;
    let res = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "only@doomed.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    problem(res, 401, "invalid_credentials").await;
    let kept = app.login("both@doomed.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = ok(
        app.get("/api/v1/auth/tenants")
            .bearer_auth(&kept)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let slugs: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["stays"]);
    ok(
        call(&app, "stays", Method::GET, "/api/v1/products", &other_token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    // The certificate: a JWS under the platform's published key, stating what went.
    let jwks = ok(app.get("/.well-known/jwks.json").send().await.unwrap(), 200).await;
    if let Some(v) = verified_by_pyjwt(purge["certificate"].as_str().unwrap(), &jwks) {
        assert_eq!(v["header"]["typ"], "tenantry-purge-certificate+jwt");
        assert_eq!(v["claims"]["sub"], tenant.as_str());
        assert_eq!(v["claims"]["jti"], purge["id"]);
        assert_eq!(v["claims"]["slug"], "doomed");
        assert_eq!(v["claims"]["rows"], purge["rows"]);
        assert_eq!(v["claims"]["accounts"], 2);
    }
    // It is no access token.
    let res = app
        .get("/api/v1/auth/me")
        .bearer_auth(purge["certificate"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Only the operator lists purges.
    let res = app
        .get("/api/v1/platform/purges")
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_deletes_the_organisation_on_sqlite() {
    deletes_an_organisation(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_deletes_the_organisation_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        deletes_an_organisation(db).await;
    }
}

/// Once the purge began deleting, neither the owner nor the operator can call it off; a purge
/// that stopped part-way begins again with the next worker, and finishes.
async fn a_purge_under_way_stays(db: TestDb) {
    use tenantry_archive::DeletionRepository;
    let dir = files_dir();
    let first = TestApp::start(
        db,
        Options {
            worker: None,
            ..options(&dir, chrono::Duration::zero())
        },
    )
    .await;
    let body = first.onboard("going", "owner@going.test", PASSWORD).await;
    let token = body["session"]["access_token"].as_str().unwrap().to_owned();
    let tenant: tenantry_kernel::TenantId = body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    ok(
        request(
            &first,
            "going",
            &token,
            json!({"slug": "going", "password": PASSWORD}),
        )
        .await,
        202,
    )
    .await;
    // What the job does first (then it stopped, say the worker was killed).
    let ctx = tenantry_kernel::TenantCtx::for_tests(tenant);
    let started = first
        .db()
        .db()
        .start_purge(&ctx, chrono::Utc::now())
        .await
        .unwrap()
        .expect("due");
    assert!(started.purge_started_at.is_some());
    let seen = ok(
        call(
            &first,
            "going",
            Method::GET,
            "/api/v1/settings/deletion",
            &token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert!(seen["purge_started_at"].is_string());
    problem(
        call(
            &first,
            "going",
            Method::DELETE,
            "/api/v1/settings/deletion",
            &token,
        )
        .send()
        .await
        .unwrap(),
        409,
        "purge_under_way",
    )
    .await;
    problem(
        first
            .operator(Method::DELETE, "/api/v1/platform/tenants/going/deletion")
            .send()
            .await
            .unwrap(),
        409,
        "purge_under_way",
    )
    .await;
    let worker = first.another_instance_with(tenantry_tests::test_worker());
    let purge = purged(&worker, &tenant.to_string()).await;
    assert_eq!(purge["slug"], "going");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_under_way_cannot_be_cancelled() {
    a_purge_under_way_stays(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        a_purge_under_way_stays(db).await;
    }
}
