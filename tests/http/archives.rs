//! The operator's archive: a tenant built through the API on one backend, exported, imported
//! into a fresh instance on the other backend, answers every GET the same, lets its owner sign
//! in with the same password and its API key work, and its audit chain verifies. Damaged,
//! foreign or clashing archives are refused with nothing written.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_archive::{ArchiveKind, ImportError, Sealing, SecretString, Unsealing};
use tenantry_kernel::Actor;
use tenantry_store::testing::TestDb;
use tenantry_tests::{Authenticator, Options, PASSWORD, TestApp, call, ok, owner, problem};

const PASSPHRASE: &str = "a passphrase for the move";

fn local_files() -> (Options, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "tenantry-archive-files-{}",
        uuid::Uuid::now_v7().simple()
    ));
    // No worker: deliveries to the (unreachable) webhook would go on changing what the GETs
    // answer while the test compares them.
    let options = Options {
        files: tenantry_objects::Backend::local(&dir).unwrap(),
        worker: None,
        ..Options::default()
    };
    (options, dir)
}

fn archive_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "tenantry-archive-{}.tar.gz.age",
        uuid::Uuid::now_v7().simple()
    ))
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";

/// Builds tenant `slug` through the API; returns the owner's token and an API key.
async fn build(app: &TestApp, slug: &str) -> (String, String, Value) {
    let t = owner(app, slug).await;
    let post = |path: &str, body: Value| call(app, slug, Method::POST, path, &t).json(&body).send();
    let mut products = vec![];
    for (i, name) in ["Kettle", "Teapot", "Mug"].iter().enumerate() {
        let body = json!({"name": name, "sku": format!("S-{i}"), "price_minor": 100 + i, "currency": "EUR", "description": "façade ☕"});
        products.push(ok(post("/api/v1/products", body).await.unwrap(), 201).await);
    }
    let project = ok(
        post("/api/v1/projects", json!({"name": "Move"}))
            .await
            .unwrap(),
        201,
    )
    .await;
    let tasks = format!("/api/v1/projects/{}/tasks", project["id"].as_str().unwrap());
    ok(post(&tasks, json!({"title": "Pack"})).await.unwrap(), 201).await;
    ok(
        post(&tasks, json!({"title": "Ship", "due_date": "2027-01-31"}))
            .await
            .unwrap(),
        201,
    )
    .await;
    ok(
        post(
            "/api/v1/roles",
            json!({"name": "auditor", "permissions": ["audit:read"]}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    ok(
        post(
            "/api/v1/invitations",
            json!({"email": format!("new@{slug}.test"), "role": "member"}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    ok(
        post(
            "/api/v1/webhooks",
            json!({"url": "https://hooks.example.com/in", "rate_limit": 10}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    ok(
        call(app, slug, Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"display_name": "Moving Co", "primary_color": "#336699"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let permissions: Value = get_ok(app, slug, "/api/v1/permissions", &t).await;
    let all: Vec<Value> = permissions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    let key = ok(
        post(
            "/api/v1/api-keys",
            json!({"name": "ci", "permissions": all}),
        )
        .await
        .unwrap(),
        201,
    )
    .await;
    let boundary = "archive-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"front.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(PNG);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let file = ok(
        call(app, slug, Method::POST, "/api/v1/files", &t)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form)
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let images = format!(
        "/api/v1/products/{}/images",
        products[0]["id"].as_str().unwrap()
    );
    ok(
        post(&images, json!({"file_id": file["id"]})).await.unwrap(),
        201,
    )
    .await;
    let ids = json!({
        "product": products[0]["id"],
        "project": project["id"],
        "file": file["id"],
        "key": key["id"],
    });
    (t, key["key"].as_str().unwrap().to_owned(), ids)
}

/// Signs `email` in on `app` and turns on TOTP for it there; the authenticator.
async fn enrol_totp(app: &TestApp, slug: &str, email: &str) -> Authenticator {
    let t = app.login(email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = call(app, slug, Method::POST, "/api/v1/auth/mfa/totp", &t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let e = ok(started, 200).await;
    let mut auth = Authenticator::from_uri(e["otpauth_uri"].as_str().unwrap());
    let code = auth.next_code().await;
    let confirmed = call(app, slug, Method::POST, "/api/v1/auth/mfa/totp/confirm", &t)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    ok(confirmed, 200).await;
    auth
}

/// Values that change by being read or signed in with, not by the move; and the times of
/// the plans, which are each instance's own price list.
fn steady(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            for volatile in ["last_login_at", "last_used_at", "request_id"] {
                map.remove(volatile);
            }
            if map.contains_key("price_monthly_minor") {
                map.remove("created_at");
                map.remove("updated_at");
            }
            for (_, inner) in map.iter_mut() {
                *inner = steady(inner.take());
            }
        }
        Value::Array(items) => {
            for inner in items.iter_mut() {
                *inner = steady(inner.take());
            }
        }
        _ => {}
    }
    v
}

/// The JSON answer of a GET that must succeed.
async fn get_ok(app: &TestApp, slug: &str, path: &str, token: &str) -> Value {
    ok(
        call(app, slug, Method::GET, path, token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

/// A request's status and its body, without what changes by being read.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    (status, steady(res.json().await.unwrap_or(Value::Null)))
}

/// Every GET a tenant's member (or the operator, for this tenant) can make, with its answer.
async fn answers(app: &TestApp, slug: &str, token: &str, ids: &Value) -> Vec<(String, u16, Value)> {
    let id = |k: &str| ids[k].as_str().unwrap().to_owned();
    let (product, project, file) = (id("product"), id("project"), id("file"));
    let mut paths: Vec<String> = [
        "/api/v1/tenant",
        "/api/v1/settings",
        "/api/v1/members",
        "/api/v1/roles",
        "/api/v1/permissions",
        "/api/v1/invitations",
        "/api/v1/api-keys",
        "/api/v1/products",
        "/api/v1/projects",
        "/api/v1/files",
        "/api/v1/events",
        "/api/v1/event-types",
        "/api/v1/webhooks",
        "/api/v1/domains",
        "/api/v1/billing/subscription",
        "/api/v1/plans",
        "/api/v1/quotas",
        "/api/v1/scim/tokens",
        "/api/v1/sso/providers",
        "/api/v1/settings/smtp",
        "/api/v1/settings/storage",
        "/api/v1/auth/me",
        "/api/v1/auth/mfa",
        "/api/v1/auth/tenants",
        "/api/v1/search?q=kettle",
        "/api/v1/products?q=teapot",
        "/api/v1/products?limit=1",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    paths.extend([
        format!("/api/v1/products/{product}"),
        format!("/api/v1/products/{product}/images"),
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/projects/{project}/tasks"),
        format!("/api/v1/files/{file}"),
        format!("/api/v1/domains/{slug}.localhost"),
    ]);
    let events: Value = get_ok(app, slug, "/api/v1/events", token).await;
    for e in events["items"].as_array().unwrap().iter().take(3) {
        paths.push(format!("/api/v1/events/{}", e["id"].as_str().unwrap()));
    }
    let hooks: Value = get_ok(app, slug, "/api/v1/webhooks", token).await;
    for h in hooks["items"].as_array().unwrap() {
        paths.push(format!("/api/v1/webhooks/{}", h["id"].as_str().unwrap()));
        paths.push(format!(
            "/api/v1/webhooks/{}/attempts",
            h["id"].as_str().unwrap()
        ));
    }
    let mut out = vec![];
    for path in paths {
        let (status, body) = answer(call(app, slug, Method::GET, &path, token)).await;
        out.push((path, status, body));
    }
    let tenant = get_ok(app, slug, "/api/v1/tenant", token).await;
    let tenant_id = tenant["id"].as_str().unwrap();
    for path in ["", "/quotas", "/subscription", "/domains", "/branding"] {
        let path = format!("/api/v1/platform/tenants/{tenant_id}{path}");
        let (status, body) = answer(app.operator(Method::GET, &path)).await;
        out.push((path, status, body));
    }
    let content = call(
        app,
        slug,
        Method::GET,
        &format!("/api/v1/files/{file}/content"),
        token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(content.status(), 200);
    out.push((
        "content".into(),
        200,
        json!(content.bytes().await.unwrap().to_vec()),
    ));
    out
}

async fn audit(app: &TestApp, slug: &str, token: &str) -> Vec<Value> {
    let page: Value = get_ok(app, slug, "/api/v1/audit-logs?limit=100", token).await;
    page["items"].as_array().unwrap().clone()
}

async fn export(app: &TestApp, slug: &str, to: &Path, sealing: Sealing) {
    let file = std::fs::File::create(to).unwrap();
    app.archives
        .export(
            slug,
            ArchiveKind::Operator,
            Box::new(file),
            sealing,
            Actor::System,
        )
        .await
        .unwrap();
}

fn passphrase() -> Unsealing {
    Unsealing::Passphrase(SecretString::from(PASSPHRASE.to_owned()))
}

async fn tenants(app: &TestApp) -> usize {
    let list: Value = ok(
        app.operator(Method::GET, "/api/v1/platform/tenants?limit=100")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    list["items"].as_array().unwrap().len()
}

async fn round_trip(source: TestDb, target: TestDb) {
    let (source_options, _) = local_files();
    let (target_options, target_files) = local_files();
    let a = TestApp::start(source, source_options).await;
    let b = TestApp::start(target, target_options).await;
    let slug = "moving";
    let (_, key, ids) = build(&a, slug).await;
    let owner_email = format!("owner@{slug}.test");
    // A member with a second factor: the TOTP secret is sealed under each instance's own
    // platform key, so it must be opened and sealed again on the way.
    let second = Authenticator::available().then(|| format!("mfa@{slug}.test"));
    let mut totp = None;
    if let Some(email) = &second {
        let user = a.create_user(email, PASSWORD).await;
        let tenant: Value = ok(
            a.operator(Method::GET, &format!("/api/v1/platform/tenants/{slug}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        a.add_member(tenant["id"].as_str().unwrap(), user.id, "member")
            .await;
        totp = Some(enrol_totp(&a, slug, email).await);
    }
    let token_a = a.login(&owner_email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A damaged archive, one with the wrong passphrase: refused, nothing written.
    let plain = archive_path();
    export(&a, slug, &plain, Sealing::None).await;
    let mut bytes = std::fs::read(&plain).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let damaged = archive_path();
    std::fs::write(&damaged, &bytes).unwrap();
    let refused = b
        .archives
        .import(&damaged, Unsealing::None, None, Actor::System)
        .await;
    assert!(
        matches!(refused, Err(ImportError::Archive(_))),
        "{refused:?}"
    );
    let path = archive_path();
    export(
        &a,
        slug,
        &path,
        Sealing::Passphrase(SecretString::from(PASSPHRASE.to_owned())),
    )
    .await;
    let wrong = b
        .archives
        .import(
            &path,
            Unsealing::Passphrase(SecretString::from("nope".to_owned())),
            None,
            Actor::System,
        )
        .await;
    assert!(
        matches!(
            wrong,
            Err(ImportError::Archive(
                tenantry_archive::ArchiveError::WrongKey
            ))
        ),
        "{wrong:?}"
    );
    let unopened = b
        .archives
        .import(&path, Unsealing::None, None, Actor::System)
        .await;
    assert!(
        matches!(
            unopened,
            Err(ImportError::Archive(
                tenantry_archive::ArchiveError::Encrypted
            ))
        ),
        "{unopened:?}"
    );
    assert_eq!(tenants(&b).await, 0);
    assert!(!target_files.exists() || std::fs::read_dir(&target_files).unwrap().next().is_none());

    let before = answers(&a, slug, &token_a, &ids).await;
    let trail_a = audit(&a, slug, &token_a).await;
    let imported = b
        .archives
        .import(&path, passphrase(), None, Actor::System)
        .await
        .unwrap();
    assert_eq!(imported.tenant.slug, slug);
    assert_eq!(imported.files, 1);

    // The owner signs in with the same password; the API key works as it did.
    let token_b = b.login(&owner_email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = b
        .get("/api/v1/products")
        .header("X-Tenant-ID", slug)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);

    if let (Some(email), Some(auth)) = (&second, totp.as_mut()) {
        let res = b
            .request(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let ticket = problem(res, 401, "mfa_required").await["mfa_ticket"]
            .as_str()
            .unwrap()
            .to_owned();
        let code = auth.next_code().await;
        let res = b
            .request(Method::POST, "/api/v1/auth/mfa/verify")
            .json(&json!({"ticket": ticket, "code": code}))
            .send()
            .await
            .unwrap();
        assert!(ok(res, 200).await["access_token"].is_string());
    }

    let after = answers(&b, slug, &token_b, &ids).await;
    for ((path, status, body), (path_b, status_b, body_b)) in before.iter().zip(&after) {
        assert_eq!(path, path_b);
        assert_eq!(
            (status, body),
            (status_b, body_b),
            "GET {path} differs after the move"
        );
    }
    assert_eq!(before.len(), after.len());

    // The chain moved whole and goes on: the same entries, then `tenant imported`.
    let trail_b = audit(&b, slug, &token_b).await;
    let imported_entry = trail_b
        .iter()
        .position(|e| e["entity_type"] == "tenant" && e["action"] == "imported")
        .expect("a tenant imported entry");
    assert_eq!(
        steady(json!(trail_b[imported_entry + 1..])),
        steady(json!(
            trail_a[trail_a.len() - (trail_b.len() - imported_entry - 1)..]
        ))
    );
    for (path, app, token) in [("a", &a, &token_a), ("b", &b, &token_b)] {
        let verify = get_ok(app, slug, "/api/v1/audit-logs/verify", token).await;
        assert_eq!(verify["ok"], true, "{path}: {verify}");
    }

    // Again: the tenant is there now. Under another slug too (the id is the tenant).
    let again = b
        .archives
        .import(&path, passphrase(), None, Actor::System)
        .await;
    assert!(
        matches!(again, Err(ImportError::TenantExists(_))),
        "{again:?}"
    );
    let renamed = b
        .archives
        .import(&path, passphrase(), Some("moved".into()), Actor::System)
        .await;
    assert!(
        matches!(renamed, Err(ImportError::TenantExists(_))),
        "{renamed:?}"
    );
    assert_eq!(tenants(&b).await, 1);
    for p in [plain, damaged, path] {
        std::fs::remove_file(p).ok();
    }
}

#[tokio::test]
async fn sqlite_to_postgres_answers_the_same() {
    let Some(target) = TestDb::postgres().await else {
        return;
    };
    round_trip(TestDb::sqlite().await, target).await;
}

#[tokio::test]
async fn postgres_to_sqlite_answers_the_same() {
    let Some(source) = TestDb::postgres().await else {
        return;
    };
    round_trip(source, TestDb::sqlite().await).await;
}

/// Into the same instance under another slug is refused (the tenant's id is taken), and an
/// archive of a tenant's own export (no credentials) does not import at all.
#[tokio::test]
async fn own_export_does_not_import() {
    let (options, _) = local_files();
    let a = TestApp::start(TestDb::sqlite().await, options).await;
    build(&a, "leaving").await;
    let path = archive_path();
    let file = std::fs::File::create(&path).unwrap();
    let manifest = a
        .archives
        .export(
            "leaving",
            ArchiveKind::Export,
            Box::new(file),
            Sealing::None,
            Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(manifest.header.kind, ArchiveKind::Export);
    assert!(!manifest.entities.contains_key("user_totp"));
    // No credential travels in a tenant's own export.
    let listing = std::process::Command::new("tar")
        .arg("xzOf")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(!text.contains("argon2"), "a password hash in the export");
    assert!(
        !text.contains("secret_digest"),
        "an API key digest in the export"
    );
    assert!(text.contains("Kettle"));
    let (other, _) = local_files();
    let b = TestApp::start(TestDb::sqlite().await, other).await;
    let refused = b
        .archives
        .import(&path, Unsealing::None, None, Actor::System)
        .await;
    assert!(
        matches!(refused, Err(ImportError::NotImportable)),
        "{refused:?}"
    );
    std::fs::remove_file(path).ok();
}

/// The other side of the encryption is the reference `age` (apt `age`, CI installs it): it
/// opens what Tenantry writes to its recipient, and what it encrypts Tenantry imports.
#[tokio::test]
async fn archives_interoperate_with_the_reference_age() {
    let Ok(keygen) = std::process::Command::new("age-keygen").output() else {
        eprintln!("age is not installed: skipping (CI installs it)");
        return;
    };
    let identity = String::from_utf8(keygen.stdout).unwrap();
    let recipient = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    let key_file = archive_path().with_extension("key");
    std::fs::write(&key_file, &identity).unwrap();
    let (options, _) = local_files();
    let a = TestApp::start(TestDb::sqlite().await, options).await;
    build(&a, "portable").await;

    // Tenantry → age: the reference opens it; inside, a tar.gz with the documented entries.
    let sealed = archive_path();
    let to = tenantry_archive::recipients([recipient.as_str()]).unwrap();
    export(&a, "portable", &sealed, Sealing::Recipients(to)).await;
    let opened = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(&key_file)
        .arg(&sealed)
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let plain = archive_path().with_extension("gz");
    std::fs::write(&plain, &opened.stdout).unwrap();
    let listing = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&plain)
        .output()
        .unwrap();
    let names = String::from_utf8(listing.stdout).unwrap();
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(names.first(), Some(&"archive.json"));
    assert_eq!(names.last(), Some(&"manifest.json"));
    assert!(
        names.contains(&"entities/products/000001.jsonl"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("files/")), "{names:?}");

    // age → Tenantry: the plain archive encrypted by the reference imports with the identity.
    let by_age = archive_path();
    let status = std::process::Command::new("age")
        .args(["-r", &recipient, "-o"])
        .arg(&by_age)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    let (other, _) = local_files();
    let b = TestApp::start(TestDb::sqlite().await, other).await;
    let unsealing = Unsealing::identity_file(&identity).unwrap();
    let imported = b
        .archives
        .import(&by_age, unsealing, None, Actor::System)
        .await
        .unwrap();
    assert_eq!(imported.tenant.slug, "portable");
    assert_eq!(imported.files, 1);
    for p in [key_file, sealed, plain, by_age] {
        std::fs::remove_file(p).ok();
    }
}

/// An account already on the target instance (same id) is kept as it is: the archive's
/// copy of its second factor is not added. Another account with the archive's e-mail is a
/// clear conflict, with nothing written.
#[tokio::test]
async fn accounts_already_here_are_kept() {
    if !Authenticator::available() {
        return;
    }
    let (options, _) = local_files();
    let a = TestApp::start(TestDb::sqlite().await, options).await;
    let (other, _) = local_files();
    let b = TestApp::start(TestDb::sqlite().await, other).await;
    build(&a, "first").await;
    let path = archive_path();
    export(&a, "first", &path, Sealing::None).await;
    b.archives
        .import(&path, Unsealing::None, None, Actor::System)
        .await
        .unwrap();

    // The same person owns a second organisation on A and turns on a second factor there.
    let email = "owner@first.test";
    a.onboard("second", email, PASSWORD).await;
    enrol_totp(&a, "second", email).await;
    export(&a, "second", &path, Sealing::None).await;
    let imported = b
        .archives
        .import(&path, Unsealing::None, None, Actor::System)
        .await
        .unwrap();
    assert_eq!(imported.tenant.slug, "second");
    // On B the account is as it was: no second factor arrived with the archive.
    let session = b.login(email, PASSWORD).await;
    assert!(session["access_token"].is_string(), "{session}");

    // Someone else holds the e-mail of the archive's owner on B: refused, nothing written.
    b.create_user("owner@third.test", PASSWORD).await;
    build(&a, "third").await;
    export(&a, "third", &path, Sealing::None).await;
    let before = tenants(&b).await;
    let refused = b
        .archives
        .import(&path, Unsealing::None, None, Actor::System)
        .await;
    assert!(
        matches!(&refused, Err(ImportError::UserConflict { email, .. }) if email == "owner@third.test"),
        "{refused:?}"
    );
    assert_eq!(tenants(&b).await, before);
    std::fs::remove_file(path).ok();
}

/// A destination that fails part-way: the export stops with the error (no hang, no
/// transaction left open).
#[tokio::test]
async fn an_export_that_cannot_write_stops() {
    struct Failing;
    impl std::io::Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }
    let (options, _) = local_files();
    let a = TestApp::start(TestDb::sqlite().await, options).await;
    build(&a, "stuck").await;
    let written = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        a.archives.export(
            "stuck",
            ArchiveKind::Operator,
            Box::new(Failing),
            Sealing::None,
            Actor::System,
        ),
    )
    .await
    .expect("the export ends");
    let err = written.expect_err("a failing destination fails the export");
    assert!(err.to_string().contains("disk full"), "{err}");
    // The instance goes on: another export works.
    let path = archive_path();
    export(&a, "stuck", &path, Sealing::None).await;
    std::fs::remove_file(path).ok();
}

/// The platform API imports what `tenantry tenant import` does: the body streamed, the key in
/// a header; every refusal a problem with its code and nothing written.
#[tokio::test]
async fn the_platform_api_imports_an_archive() {
    let (source_options, _) = local_files();
    let (target_options, _) = local_files();
    let a = TestApp::start(TestDb::sqlite().await, source_options).await;
    let target = match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite().await,
    };
    let b = TestApp::start(target, target_options).await;
    let slug = "by-api";
    let (_, key, _) = build(&a, slug).await;
    let sealed = archive_path();
    export(
        &a,
        slug,
        &sealed,
        Sealing::Passphrase(SecretString::from(PASSPHRASE.to_owned())),
    )
    .await;
    let bytes = std::fs::read(&sealed).unwrap();
    let send = |body: Vec<u8>, headers: &[(&str, &str)]| {
        let mut req = b
            .operator(Method::POST, "/api/v1/platform/tenants/import")
            .header("Content-Type", "application/octet-stream")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send()
    };
    let with_passphrase = [("X-Archive-Passphrase", PASSPHRASE)];

    // Refusals, each with nothing written.
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    problem(
        send(damaged, &with_passphrase).await.unwrap(),
        422,
        "archive_invalid",
    )
    .await;
    problem(
        send(bytes.clone(), &[("X-Archive-Passphrase", "nope")])
            .await
            .unwrap(),
        422,
        "archive_key_wrong",
    )
    .await;
    problem(
        send(bytes.clone(), &[]).await.unwrap(),
        422,
        "archive_encrypted",
    )
    .await;
    problem(
        send(b"not an archive".to_vec(), &[]).await.unwrap(),
        422,
        "archive_invalid",
    )
    .await;
    problem(send(vec![], &[]).await.unwrap(), 422, "archive_invalid").await;
    let own = archive_path();
    a.archives
        .export(
            slug,
            ArchiveKind::Export,
            Box::new(std::fs::File::create(&own).unwrap()),
            Sealing::None,
            Actor::System,
        )
        .await
        .unwrap();
    problem(
        send(std::fs::read(&own).unwrap(), &[]).await.unwrap(),
        422,
        "archive_not_importable",
    )
    .await;
    problem(
        b.operator(Method::POST, "/api/v1/platform/tenants/import")
            .header("Content-Type", "application/json")
            .body(bytes.clone())
            .send()
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        b.request(Method::POST, "/api/v1/platform/tenants/import")
            .header("Content-Type", "application/octet-stream")
            .body(bytes.clone())
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(tenants(&b).await, 0);

    // Imported: the owner signs in, the key works, the trail verifies.
    let imported = ok(send(bytes.clone(), &with_passphrase).await.unwrap(), 201).await;
    assert_eq!(imported["slug"], slug);
    assert_eq!(imported["rows"]["products"], 3);
    assert_eq!(imported["files"], 1);
    let token = b.login(&format!("owner@{slug}.test"), PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = b
        .get("/api/v1/products")
        .header("X-Tenant-ID", slug)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status(), 200);
    let verified = get_ok(&b, slug, "/api/v1/audit-logs/verify", &token).await;
    assert_eq!(verified["ok"], true, "{verified}");

    // Once more: the tenant is here already, under any slug.
    problem(
        send(bytes.clone(), &with_passphrase).await.unwrap(),
        409,
        "tenant_exists",
    )
    .await;
    assert_eq!(tenants(&b).await, 1);
    for path in [sealed, own] {
        std::fs::remove_file(path).ok();
    }
}

/// Every row an operator's archive would carry of `tenant`, as the store dumps them.
async fn rows_of(app: &TestApp, tenant: tenantry_kernel::TenantId) -> Vec<u8> {
    use tenantry_archive::ArchiveStore as _;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let db = app.db().db().clone();
    let dump = tokio::spawn(async move { db.dump(tenant, ArchiveKind::Operator, tx).await });
    let mut all = vec![];
    while let Some(part) = rx.recv().await {
        all.extend_from_slice(part.entity.as_bytes());
        all.extend_from_slice(&part.lines);
    }
    dump.await.unwrap().unwrap();
    all
}

/// A backup, then changes (a product deleted, one added, a file uploaded, the settings
/// changed), then the restore: the tenant answers every GET as at the backup, the file made
/// since is gone from the store, its chain verifies and ends with `tenant restored`; the
/// other tenant is untouched byte for byte.
async fn restore_replaces_one_tenant(db: TestDb) {
    let (options, dir) = local_files();
    let app = TestApp::start(db, options).await;
    let (_, _, ids) = build(&app, "keeper").await;
    build(&app, "bystander").await;
    let token = app.login("owner@keeper.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_of =
        |v: Value| -> tenantry_kernel::TenantId { v["id"].as_str().unwrap().parse().unwrap() };
    let keeper = tenant_of(get_ok(&app, "keeper", "/api/v1/tenant", &token).await);
    let bystander_token = app.login("owner@bystander.test", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bystander = tenant_of(get_ok(&app, "bystander", "/api/v1/tenant", &bystander_token).await);
    let ctx = tenantry_kernel::TenantCtx::for_tests(keeper);

    let before = answers(&app, "keeper", &token, &ids).await;
    let files_before = stored_files(&dir);
    let backup = app.archives.back_up(&ctx).await.unwrap();
    assert!(backup.encrypted());
    assert!(backup.rows > 20, "{backup:?}");
    let listed = app.archives.backups(&ctx).await.unwrap();
    assert_eq!(listed.len(), 1);
    let bystander_rows = rows_of(&app, bystander).await;

    let product = ids["product"].as_str().unwrap();
    let res = call(
        &app,
        "keeper",
        Method::DELETE,
        &format!("/api/v1/products/{product}"),
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    ok(
        call(&app, "keeper", Method::POST, "/api/v1/products", &token)
            .json(&json!({"name": "Later", "sku": "L-1", "price_minor": 5, "currency": "EUR"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    ok(
        call(&app, "keeper", Method::PATCH, "/api/v1/settings", &token)
            .json(&json!({"display_name": "Changed"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let later = crate::files::put_file(&app, "keeper", &token, "later.png", PNG).await;
    let changed = get_ok(&app, "keeper", "/api/v1/products", &token).await;
    assert!(changed.to_string().contains("Later"));

    let missing = app
        .archives
        .restore(&ctx, tenantry_kernel::BackupId::new(), Actor::System)
        .await;
    assert!(
        matches!(missing, Err(ImportError::NoSuchBackup)),
        "{missing:?}"
    );
    app.archives
        .restore(&ctx, backup.id, Actor::System)
        .await
        .unwrap();

    // History stays: the events of the changes since the backup are still in the feed.
    let data = |all: Vec<(String, u16, Value)>| -> Vec<(String, u16, Value)> {
        all.into_iter()
            .filter(|(path, _, _)| !path.starts_with("/api/v1/events/") && path != "/api/v1/events")
            .collect()
    };
    let before = data(before);
    let after = data(answers(&app, "keeper", &token, &ids).await);
    for ((path, status, body), (path_b, status_b, body_b)) in before.iter().zip(&after) {
        assert_eq!(path, path_b);
        assert_eq!(
            (status, body),
            (status_b, body_b),
            "GET {path} differs after the restore"
        );
    }
    assert_eq!(before.len(), after.len());
    let gone = call(
        &app,
        "keeper",
        Method::GET,
        &format!("/api/v1/files/{}", later["id"].as_str().unwrap()),
        &token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(
        stored_files(&dir),
        files_before,
        "the later file's content is deleted"
    );
    let trail = audit(&app, "keeper", &token).await;
    assert_eq!(
        (
            trail[0]["entity_type"].as_str(),
            trail[0]["action"].as_str()
        ),
        (Some("tenant"), Some("restored")),
        "{}",
        trail[0]
    );
    let verify = get_ok(&app, "keeper", "/api/v1/audit-logs/verify", &token).await;
    assert_eq!(verify["ok"], true, "{verify}");
    assert_eq!(
        rows_of(&app, bystander).await,
        bystander_rows,
        "the other tenant is untouched"
    );
    assert_eq!(app.archives.backups(&ctx).await.unwrap().len(), 1);
}

/// The tenants' files on disk, but backups (which are files too).
fn stored_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = crate::files::stored(dir)
        .into_iter()
        .filter(|p| !p.starts_with("backups/"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_restore_replaces_one_tenant_on_sqlite() {
    restore_replaces_one_tenant(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_restore_replaces_one_tenant_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        restore_replaces_one_tenant(db).await;
    }
}

/// The daily schedule: a worker that starts backs up every tenant once (the day's jobs are
/// de-duplicated), encrypted, into the file store.
#[tokio::test]
async fn the_worker_backs_up_every_tenant_daily() {
    let (options, dir) = local_files();
    let app = TestApp::start(TestDb::sqlite().await, options).await;
    let mut tenants = vec![];
    for slug in ["daily-a", "daily-b"] {
        let token = owner(&app, slug).await;
        let t: Value = get_ok(&app, slug, "/api/v1/tenant", &token).await;
        tenants.push(
            t["id"]
                .as_str()
                .unwrap()
                .parse::<tenantry_kernel::TenantId>()
                .unwrap(),
        );
    }
    let worker = tenantry::cli::WorkerArgs {
        no_backups: false,
        ..tenantry_tests::test_worker()
    };
    let replica = app.another_instance_with(worker);
    for tenant in &tenants {
        let ctx = tenantry_kernel::TenantCtx::for_tests(*tenant);
        let mut backups = vec![];
        for _ in 0..300 {
            backups = app.archives.backups(&ctx).await.unwrap();
            if !backups.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(backups.len(), 1, "{tenant}");
        assert!(backups[0].encrypted());
        let key = backups[0].object_key();
        assert!(crate::files::stored(&dir).contains(&key), "{key}");
    }
    // A second start the same day queues no second round.
    drop(replica);
    let again = app.another_instance_with(tenantry::cli::WorkerArgs {
        no_backups: false,
        ..tenantry_tests::test_worker()
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    drop(again);
    for tenant in &tenants {
        let ctx = tenantry_kernel::TenantCtx::for_tests(*tenant);
        assert_eq!(app.archives.backups(&ctx).await.unwrap().len(), 1);
    }
}
