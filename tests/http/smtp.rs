//! A tenant's own mail server, against real SMTP servers (aiosmtpd, requiring AUTH): each
//! tenant's mail reaches only its own server, tenants without one use the platform's, and a
//! failing tenant server is retried — never replaced by the platform's.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, SmtpServer, SmtpSink, TestApp, call, ok, problem};

const PASSWORD: &str = "correct horse battery";

fn relay(server: &SmtpServer, user: &str, password: &str, from: &str) -> Value {
    json!({
        "host": "127.0.0.1", "port": server.port, "tls": "none", "username": user,
        "password": password, "from_address": from, "from_name": "Mailer",
    })
}

async fn invite(app: &TestApp, slug: &str, owner: &str, email: &str) -> Value {
    ok(
        call(app, slug, Method::POST, "/api/v1/invitations", owner)
            .json(&json!({"email": email, "role": "member"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await
}

/// Saves a tenant's mail server: the settings as answered.
async fn put_smtp(app: &TestApp, slug: &str, owner: &str, body: &Value) -> Value {
    let res = call(app, slug, Method::PUT, "/api/v1/settings/smtp", owner)
        .json(body)
        .send()
        .await
        .unwrap();
    ok(res, 200).await
}

/// The test message's outcome: `{delivered, answer}`.
async fn test_message(app: &TestApp, slug: &str, owner: &str) -> Value {
    let res = call(app, slug, Method::POST, "/api/v1/settings/smtp/test", owner)
        .json(&json!({"to": "someone@example.test"}))
        .send()
        .await
        .unwrap();
    ok(res, 200).await
}

async fn delivery(app: &TestApp, slug: &str, owner: &str) -> String {
    let list = ok(
        call(app, slug, Method::GET, "/api/v1/invitations", owner)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    list["items"][0]["delivery"].as_str().unwrap().to_owned()
}

async fn each_tenant_mails_through_its_own_server(db: tenantry_store::testing::TestDb) {
    let (Some(acme_mx), Some(globex_mx)) = (
        SmtpServer::start("acme-mailer", "acme-secret"),
        SmtpServer::start("globex-mailer", "globex-secret"),
    ) else {
        return;
    };
    let platform = SmtpSink::start().await;
    let options = Options {
        smtp_url: Some(platform.url.clone()),
        webhook_rules: tenantry_webhooks::TargetRules {
            allow_http: false,
            addresses: tenantry_webhooks::AddressPolicy::parse("127.0.0.1/32").unwrap(),
        },
        ..Options::default()
    };
    let app = &TestApp::start(db, options).await;
    let token = |v: &Value| v["session"]["access_token"].as_str().unwrap().to_owned();
    let acme = token(&app.onboard("acme", "ann@acme.test", PASSWORD).await);
    let globex = token(&app.onboard("globex", "gus@globex.test", PASSWORD).await);
    let initech = token(&app.onboard("initech", "ian@initech.test", PASSWORD).await);

    // Nothing set: the platform's server.
    problem(
        call(app, "acme", Method::GET, "/api/v1/settings/smtp", &acme)
            .send()
            .await
            .unwrap(),
        404,
        "smtp_not_configured",
    )
    .await;
    // Bad settings, field by field.
    let bad = json!({"host": "smtp://mx.acme.test", "port": 0, "tls": "none", "username": "", "password": "", "from_address": "nobody"});
    let p = problem(
        call(app, "acme", Method::PUT, "/api/v1/settings/smtp", &acme)
            .json(&bad)
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["host", "port", "username", "password", "from_address"]
    );

    let saved = put_smtp(
        app,
        "acme",
        &acme,
        &relay(&acme_mx, "acme-mailer", "acme-secret", "no-reply@acme.test"),
    )
    .await;
    assert_eq!(
        (saved["has_password"].clone(), saved["tls"].clone()),
        (json!(true), json!("none"))
    );
    assert!(
        !saved.to_string().contains("acme-secret"),
        "the password is never returned"
    );
    let read = ok(
        call(app, "acme", Method::GET, "/api/v1/settings/smtp", &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(read, saved);
    put_smtp(
        app,
        "globex",
        &globex,
        &relay(
            &globex_mx,
            "globex-mailer",
            "globex-secret",
            "no-reply@globex.test",
        ),
    )
    .await;

    // The test message reports the server's answer, and reaches that server only.
    let answer = test_message(app, "acme", &acme).await;
    assert!(
        answer["delivered"] == true && answer["answer"].as_str().unwrap().starts_with("250"),
        "{answer}"
    );
    let got = acme_mx.wait_for(1).await;
    assert_eq!(
        (got[0]["login"].clone(), got[0]["from"].clone()),
        (json!("acme-mailer"), json!("no-reply@acme.test"))
    );
    problem(
        call(
            app,
            "initech",
            Method::POST,
            "/api/v1/settings/smtp/test",
            &initech,
        )
        .json(&json!({"to": "ian@initech.test"}))
        .send()
        .await
        .unwrap(),
        404,
        "smtp_not_configured",
    )
    .await;

    // Each tenant's invitations go through its own server; initech's through the platform's.
    invite(app, "acme", &acme, "bob@example.test").await;
    invite(app, "globex", &globex, "gina@example.test").await;
    invite(app, "initech", &initech, "ivy@example.test").await;
    let a = acme_mx.wait_for(2).await;
    let g = globex_mx.wait_for(1).await;
    let p = platform.wait_for(1).await;
    assert_eq!(a[1]["to"], json!(["bob@example.test"]));
    assert!(a[1]["data"].as_str().unwrap().contains("invited you"));
    assert_eq!(
        (g.len(), g[0]["to"].clone(), g[0]["login"].clone()),
        (1, json!(["gina@example.test"]), json!("globex-mailer"))
    );
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].to, ["ivy@example.test"]);

    // A wrong password: the test says what the server answered; the invitation's mail is
    // retried, and neither the platform's server nor anyone else sends it meanwhile.
    let mut wrong = relay(
        &acme_mx,
        "acme-mailer",
        "not-the-secret",
        "no-reply@acme.test",
    );
    let s = put_smtp(app, "acme", &acme, &wrong).await;
    assert_eq!(s["has_password"], true);
    let t = test_message(app, "acme", &acme).await;
    assert_eq!(t["delivered"], false);
    assert!(t["answer"].as_str().unwrap().contains("535"), "{t}");
    invite(app, "acme", &acme, "carl@example.test").await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(delivery(app, "acme", &acme).await, "pending", "retrying");
    assert_eq!(
        platform.received().len(),
        1,
        "no fallback to the platform's server"
    );
    assert_eq!(acme_mx.received().len(), 2);
    // Fixed: the retry goes out through acme's server, once.
    wrong["password"] = json!("acme-secret");
    put_smtp(app, "acme", &acme, &wrong).await;
    let a = acme_mx.wait_for(3).await;
    assert_eq!(a[2]["to"], json!(["carl@example.test"]));
    for _ in 0..100 {
        if delivery(app, "acme", &acme).await == "sent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(delivery(app, "acme", &acme).await, "sent");

    // The same account on the same server keeps its password when none is sent; another
    // server does not get it (an administrator cannot redirect the stored password).
    let mut same = relay(&acme_mx, "acme-mailer", "x", "no-reply@acme.test");
    same.as_object_mut().unwrap().remove("password");
    let s = put_smtp(app, "acme", &acme, &same).await;
    assert_eq!(s["has_password"], true);
    let mut other = same.clone();
    other["host"] = json!("mx.elsewhere.example");
    let s = put_smtp(app, "acme", &acme, &other).await;
    assert_eq!(s["has_password"], false);

    // On the record, without the password.
    let trail = ok(
        call(
            app,
            "acme",
            Method::GET,
            "/api/v1/audit-logs?entity_type=smtp_settings",
            &acme,
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
        ["updated", "updated", "updated", "updated", "created"]
    );
    assert!(!trail.to_string().contains("secret"));

    // Removed: back to the platform's server.
    assert_eq!(
        call(app, "acme", Method::DELETE, "/api/v1/settings/smtp", &acme)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    problem(
        call(app, "acme", Method::DELETE, "/api/v1/settings/smtp", &acme)
            .send()
            .await
            .unwrap(),
        404,
        "smtp_not_configured",
    )
    .await;
    invite(app, "acme", &acme, "dora@example.test").await;
    let p = platform.wait_for(2).await;
    assert_eq!(p[1].to, ["dora@example.test"]);
}

/// Without the operator opening the guard, a tenant cannot point its mail at a private
/// address.
async fn a_tenant_server_on_a_private_address_is_refused(db: tenantry_store::testing::TestDb) {
    let Some(mx) = SmtpServer::start("u", "p") else {
        return;
    };
    let app = &TestApp::start(db, Options::default()).await;
    let owner = app.onboard("acme", "ann@acme.test", PASSWORD).await["session"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    put_smtp(
        app,
        "acme",
        &owner,
        &relay(&mx, "u", "p", "no-reply@acme.test"),
    )
    .await;
    let t = test_message(app, "acme", &owner).await;
    assert_eq!(t["delivered"], false);
    assert!(
        t["answer"]
            .as_str()
            .unwrap()
            .contains("no address tenant mail may go to"),
        "{t}"
    );
    assert!(mx.received().is_empty());
}

macro_rules! both_backends {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(tenantry_store::testing::TestDb::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

both_backends!(
    each_tenant_mails_through_its_own_server,
    a_tenant_server_on_a_private_address_is_refused
);
