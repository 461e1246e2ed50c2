//! One person erased (GDPR): by themselves (password, and a code with MFA on) or by the
//! operator. A last owner is refused with the organisations to hand over; otherwise the
//! memberships go (audited), the sessions end, the account is deleted — and what append-only
//! records kept of the person (their actions' IP and user agent in the audit trail, their
//! security events' e-mail, IP and user agent), sealed under their own key from the start,
//! reads `erased` while the audit chain still verifies.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_store::testing::TestDb;
use tenantry_tests::{PASSWORD, TestApp, call, ok, problem};

const AGENT: &str = "Erasure-Test/1.0 (personal)";

/// The `items` of the page `req` answers.
async fn items(req: reqwest::RequestBuilder) -> Vec<Value> {
    let page = ok(req.send().await.unwrap(), 200).await;
    page["items"].as_array().unwrap().clone()
}

async fn trail(app: &TestApp, slug: &str, token: &str) -> Vec<Value> {
    items(call(
        app,
        slug,
        Method::GET,
        "/api/v1/audit-logs?limit=100",
        token,
    ))
    .await
}

async fn verifies(app: &TestApp, slug: &str, token: &str) {
    let v = ok(
        call(app, slug, Method::GET, "/api/v1/audit-logs/verify", token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
}

/// Every platform security event (newest first).
async fn security_events(app: &TestApp) -> Vec<Value> {
    items(app.operator(Method::GET, "/api/v1/platform/security-events?limit=100")).await
}

fn by(entries: &[Value], user: &str) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["actor_id"] == user)
        .cloned()
        .collect()
}

async fn erases_a_person(db: TestDb) {
    let app = TestApp::start(db, tenantry_tests::Options::default()).await;
    let keep = app.onboard("keep", "owner@keep.test", PASSWORD).await;
    let owner = keep["session"]["access_token"].as_str().unwrap().to_owned();
    let keep_id = keep["tenant"]["id"].as_str().unwrap().to_owned();
    let owner_id = keep["session"]["user"]["id"].as_str().unwrap().to_owned();

    // The person: an admin of `keep` and the only owner of `mine`.
    let mine = app.onboard("mine", "person@erase.test", PASSWORD).await;
    let mine_id = mine["tenant"]["id"].as_str().unwrap().to_owned();
    let person_id = mine["session"]["user"]["id"].as_str().unwrap().to_owned();
    let person = person_id.parse().unwrap();
    // Invited first (the invitee's address is the subject of that record), then added.
    let invitation = ok(
        call(&app, "keep", Method::POST, "/api/v1/invitations", &owner)
            .json(&json!({"email": "Person@Erase.test", "role": "member"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let invitation_id = invitation["id"].as_str().unwrap().to_owned();
    app.add_member(&keep_id, person, "admin").await;
    // A wrong password and a login, from a recognisable client: security events.
    let failed = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("User-Agent", AGENT)
        .json(&json!({"email": "person@erase.test", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    let session = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("User-Agent", AGENT)
        .json(&json!({"email": "person@erase.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    // Someone posing as sealed data under the person's key (no account: stored as sent).
    let posing = format!("p1:{person_id}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let unknown = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("User-Agent", &posing)
        .json(&json!({"email": "nobody@erase.test", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    assert!(
        security_events(&app)
            .await
            .iter()
            .any(|e| e["user_agent"] == posing.as_str()),
        "reads as it was sent"
    );
    let token = ok(session, 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        call(&app, "keep", Method::POST, "/api/v1/products", &token)
            .header("User-Agent", AGENT)
            .json(&json!({"name": "Kettle", "sku": "K-1", "price_minor": 100, "currency": "EUR"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    // Readable while the person exists; sealed at rest.
    let before = by(&trail(&app, "keep", &owner).await, &person_id);
    assert!(!before.is_empty());
    assert!(
        before.iter().any(|e| e["user_agent"] == AGENT),
        "{before:?}"
    );
    assert!(before.iter().all(|e| e["ip"] == "127.0.0.1"), "{before:?}");
    let stored = app
        .db()
        .db()
        .column_values(keep_id.parse().unwrap(), "audit_entries", "user_agent")
        .await
        .unwrap();
    assert!(
        stored.iter().all(|v| !v.contains("Erasure-Test")),
        "{stored:?}"
    );
    let invited = |entries: &[Value]| {
        entries
            .iter()
            .find(|e| e["entity_type"] == "invitation" && e["entity_id"] == invitation_id.as_str())
            .unwrap()["changes"]["email"]["new"]
            .clone()
    };
    assert_eq!(
        invited(&trail(&app, "keep", &owner).await),
        "Person@erase.test"
    );
    let changes = app
        .db()
        .db()
        .column_values(keep_id.parse().unwrap(), "audit_entries", "changes")
        .await
        .unwrap();
    assert!(
        changes
            .iter()
            .all(|v| !v.to_lowercase().contains("person@erase.test")),
        "{changes:?}"
    );
    let theirs: Vec<String> = security_events(&app)
        .await
        .into_iter()
        .filter(|e| e["user_id"] == person_id)
        .map(|e| {
            assert_eq!(e["ip"], "127.0.0.1", "{e}");
            e["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(theirs.len() >= 2, "{theirs:?}");

    let erase = |body: Value| {
        app.request(Method::DELETE, "/api/v1/auth/me")
            .bearer_auth(&token)
            .header("User-Agent", AGENT)
            .json(&body)
            .send()
    };
    // The last owner of `mine`: refused, naming it, nothing written.
    let p = problem(
        erase(json!({"password": PASSWORD})).await.unwrap(),
        409,
        "last_owner",
    )
    .await;
    assert_eq!(p["owned_tenants"], json!(["mine"]));
    assert_eq!(by(&trail(&app, "keep", &owner).await, &person_id), before);
    for (body, field) in [
        (json!({"password": "x".repeat(1025)}), "password"),
        (
            json!({"password": PASSWORD, "mfa_code": "1".repeat(65)}),
            "mfa_code",
        ),
    ] {
        let p = problem(erase(body).await.unwrap(), 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], field);
    }
    // Another owner for `mine`; then a wrong password is refused, the right one erases.
    app.add_member(&mine_id, owner_id.parse().unwrap(), "owner")
        .await;
    problem(
        erase(json!({"password": "not the password"}))
            .await
            .unwrap(),
        403,
        "wrong_password",
    )
    .await;
    let done = erase(json!({"password": PASSWORD})).await.unwrap();
    assert_eq!(done.status(), 204);

    // The account is gone: its token, its password, its memberships.
    let me = app
        .get("/api/v1/auth/me")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let again = app
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "person@erase.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
    let team = ok(
        call(
            &app,
            "keep",
            Method::GET,
            "/api/v1/members?limit=100",
            &owner,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert!(
        team["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["user_id"] != person_id),
        "{team}"
    );

    // Their fields in the trail read `erased`; the owner's are untouched; each removal is
    // recorded; both chains verify.
    for slug in ["keep", "mine"] {
        let entries = trail(&app, slug, &owner).await;
        let theirs = by(&entries, &person_id);
        assert!(theirs.len() > before.len() || slug == "mine");
        for e in &theirs {
            assert_eq!(e["ip"], "erased", "{e}");
            if !e["user_agent"].is_null() {
                assert_eq!(e["user_agent"], "erased", "{e}");
            }
        }
        assert!(
            theirs
                .iter()
                .any(|e| e["entity_type"] == "membership" && e["action"] == "removed"),
            "{slug}: {theirs:?}"
        );
        assert!(
            by(&entries, &owner_id)
                .iter()
                .all(|e| e["ip"] == "127.0.0.1"),
            "{slug}"
        );
        verifies(&app, slug, &owner).await;
    }
    // The invitation's record about them: their address reads `erased` too.
    assert_eq!(invited(&trail(&app, "keep", &owner).await), "erased");
    // The security log: the person's events kept, their fields erased; the erasure noted.
    let events = security_events(&app).await;
    for id in &theirs {
        let e = events.iter().find(|e| e["id"] == id.as_str()).unwrap();
        assert!(e["user_id"].is_null(), "{e}");
        assert_eq!(e["ip"], "erased", "{e}");
        for field in ["email", "user_agent"] {
            assert!(e[field].is_null() || e[field] == "erased", "{e}");
        }
    }
    let noted = events
        .iter()
        .find(|e| e["kind"] == "account_erased")
        .unwrap();
    assert!(noted["detail"].as_str().unwrap().contains(&person_id));
    assert!(
        noted["ip"].is_null(),
        "the person's own request is not kept: {noted}"
    );

    // The operator erases another member; an unknown or erased account is 404.
    let other = app.create_user("other@keep.test", PASSWORD).await;
    app.add_member(&keep_id, other.id, "member").await;
    let path = format!("/api/v1/platform/users/{}", other.id);
    let gone = app.operator(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    problem(
        app.operator(Method::DELETE, &path).send().await.unwrap(),
        404,
        "user_not_found",
    )
    .await;
    let entries = trail(&app, "keep", &owner).await;
    assert!(entries.iter().any(|e| e["entity_type"] == "membership"
        && e["entity_id"] == other.id.to_string()
        && e["action"] == "removed"
        && e["actor_type"] == "operator"));
    verifies(&app, "keep", &owner).await;
    // The operator cannot erase a last owner either.
    let p = problem(
        app.operator(
            Method::DELETE,
            &format!("/api/v1/platform/users/{owner_id}"),
        )
        .send()
        .await
        .unwrap(),
        409,
        "last_owner",
    )
    .await;
    assert_eq!(p["owned_tenants"], json!(["keep", "mine"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_erased_and_their_fields_read_erased() {
    erases_a_person(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        erases_a_person(db).await;
    }
}
