//! A tenant's own data export over the API: an owner asks for it, the worker writes the
//! archive into the platform's store, `GET /api/v1/exports/{id}` follows it, the download
//! checks out against the checksum and opens as a complete, verified archive without a
//! credential in it; encrypted to a recipient, the reference `age` opens it; its link
//! expires and the archive is deleted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenantry_archive::{ArchiveKind, Piece, Unsealing, Want};
use tenantry_store::testing::TestDb;
use tenantry_tests::{Options, TestApp, call, ok, owner, problem};

use crate::files::{png, put_file, stored};

fn options(dir: &Path, ttl: chrono::Duration) -> Options {
    Options {
        files: tenantry_objects::Backend::local(dir).unwrap(),
        export_ttl: ttl,
        ..Options::default()
    }
}

fn files_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "tenantry-export-files-{}",
        uuid::Uuid::now_v7().simple()
    ))
}

/// Waits for the worker to finish export `id`; returns what the API says of it.
async fn finished(app: &TestApp, slug: &str, token: &str, id: &str) -> Value {
    let path = format!("/api/v1/exports/{id}");
    for _ in 0..300 {
        let export = ok(
            call(app, slug, Method::GET, &path, token)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        if !matches!(export["status"].as_str(), Some("queued" | "running")) {
            return export;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("export {id} did not finish");
}

async fn request(app: &TestApp, slug: &str, token: &str, body: Value) -> Value {
    let res = call(app, slug, Method::POST, "/api/v1/exports", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let export = ok(res, 202).await;
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/exports/{}", export["id"].as_str().unwrap()).as_str())
    );
    assert_eq!(export["status"], "queued");
    export
}

async fn download(app: &TestApp, slug: &str, token: &str, export: &Value) -> (String, Vec<u8>) {
    let res = call(
        app,
        slug,
        Method::GET,
        export["download_url"].as_str().unwrap(),
        token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    let bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(bytes.len() as u64, export["size"].as_u64().unwrap());
    let sha = Sha256::digest(&bytes);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        export["sha256"],
        hex.as_str(),
        "the download is the archive"
    );
    (content_type, bytes)
}

/// Reads `bytes` as an archive (every count and checksum checked); returns the manifest's
/// kind, rows per entity and files.
async fn read(bytes: Vec<u8>, unsealing: Unsealing) -> (ArchiveKind, Value, u64) {
    let mut rx = tenantry_archive::read(
        Box::new(std::io::Cursor::new(bytes)),
        Arc::new(unsealing),
        Want {
            rows: true,
            files: true,
        },
    );
    while let Some(piece) = rx.recv().await {
        if let Piece::Manifest(m) = piece.unwrap() {
            let rows: serde_json::Map<String, Value> = m
                .entities
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.rows)))
                .collect();
            return (m.header.kind, Value::Object(rows), m.files.count);
        }
    }
    panic!("no manifest");
}

/// Every line of the archive's entities and files, decompressed by `tar`.
fn archive_text(bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("export-{}.tar.gz", uuid::Uuid::now_v7()));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("tar")
        .arg("xzOf")
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(path).ok();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn exports_and_downloads(app: &TestApp, dir: &Path) {
    let token = owner(app, "leaving").await;
    for name in ["Kettle", "Teapot"] {
        ok(
            call(app, "leaving", Method::POST, "/api/v1/products", &token)
                .json(&json!({"name": name, "sku": name, "price_minor": 100, "currency": "EUR"}))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
    }
    put_file(app, "leaving", &token, "logo.png", &png(3000)).await;
    let other = owner(app, "staying").await;

    let queued = request(app, "leaving", &token, json!({})).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    assert_eq!(queued["encrypted"], false);
    let export = finished(app, "leaving", &token, &id).await;
    assert_eq!(export["status"], "completed", "{export}");
    assert_eq!(export["files"], 1);
    assert!(export["rows"].as_u64().unwrap() > 10, "{export}");
    assert_eq!(
        export["download_url"],
        format!("/api/v1/exports/{id}/download")
    );
    let completed: chrono::DateTime<chrono::Utc> =
        export["completed_at"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        export["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - completed, chrono::Duration::days(7));
    assert_eq!(
        stored(dir)
            .iter()
            .filter(|p| p.contains("/exports/"))
            .count(),
        1
    );

    let (content_type, bytes) = download(app, "leaving", &token, &export).await;
    assert_eq!(content_type, "application/gzip");
    let (kind, rows, files) = read(bytes.clone(), Unsealing::None).await;
    assert_eq!(kind, ArchiveKind::Export);
    assert_eq!(rows["products"], 2);
    assert_eq!(rows["files"], 1);
    assert_eq!(files, 1);
    assert_eq!(
        rows.as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_u64)
            .sum::<u64>(),
        export["rows"].as_u64().unwrap()
    );
    let text = archive_text(&bytes);
    assert!(text.contains("Kettle") && text.contains("\"slug\":\"leaving\""));
    assert!(!text.contains("staying"), "another tenant in the export");
    assert!(!text.contains("argon2"), "a password hash in the export");

    // Listed, announced, audited; another tenant sees none of it.
    let list = ok(
        call(app, "leaving", Method::GET, "/api/v1/exports", &token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    let events = ok(
        call(
            app,
            "leaving",
            Method::GET,
            "/api/v1/events?type=export.completed",
            &token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(events["items"][0]["data"]["object"]["id"], id.as_str());
    assert_eq!(
        events["items"][0]["data"]["object"]["sha256"],
        export["sha256"]
    );
    let audit = ok(
        call(
            app,
            "leaving",
            Method::GET,
            "/api/v1/audit-logs?entity_type=export",
            &token,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"created") && actions.contains(&"completed"),
        "{audit}"
    );
    let theirs = format!("/api/v1/exports/{id}/download");
    problem(
        call(app, "staying", Method::GET, &theirs, &other)
            .send()
            .await
            .unwrap(),
        404,
        "export_not_found",
    )
    .await;

    // Bad recipients: a clear error, nothing queued.
    let bad = problem(
        call(app, "leaving", Method::POST, "/api/v1/exports", &token)
            .json(&json!({"recipients": ["age1notakey"]}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "recipients", "{bad}");
    let list = ok(
        call(app, "leaving", Method::GET, "/api/v1/exports", &token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_owner_exports_the_tenant_and_downloads_it() {
    let dir = files_dir();
    let app = TestApp::start(
        TestDb::sqlite().await,
        options(&dir, chrono::Duration::days(7)),
    )
    .await;
    exports_and_downloads(&app, &dir).await;
    if let Some(db) = TestDb::postgres().await {
        let dir = files_dir();
        let app = TestApp::start(db, options(&dir, chrono::Duration::days(7))).await;
        exports_and_downloads(&app, &dir).await;
    }
}

/// One export at a time; none downloads before it is written.
#[tokio::test]
async fn an_export_waits_its_turn() {
    let dir = files_dir();
    let app = TestApp::start(
        TestDb::sqlite().await,
        Options {
            worker: None,
            ..options(&dir, chrono::Duration::days(7))
        },
    )
    .await;
    let token = owner(&app, "busy").await;
    let queued = request(&app, "busy", &token, json!({})).await;
    problem(
        call(&app, "busy", Method::POST, "/api/v1/exports", &token)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        409,
        "export_in_progress",
    )
    .await;
    let path = format!(
        "/api/v1/exports/{}/download",
        queued["id"].as_str().unwrap()
    );
    problem(
        call(&app, "busy", Method::GET, &path, &token)
            .send()
            .await
            .unwrap(),
        409,
        "export_not_ready",
    )
    .await;
    let eleven: Vec<String> = (0..11)
        .map(|_| "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_owned())
        .collect();
    problem(
        call(&app, "busy", Method::POST, "/api/v1/exports", &token)
            .json(&json!({ "recipients": eleven }))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
}

/// Requests at once: the database lets exactly one export be pending, the others are told
/// one is under way.
async fn racing_requests_queue_one(db: TestDb) {
    let dir = files_dir();
    let app = TestApp::start(
        db,
        Options {
            worker: None,
            ..options(&dir, chrono::Duration::days(7))
        },
    )
    .await;
    let token = owner(&app, "racing").await;
    let sends = (0..8).map(|_| {
        call(&app, "racing", Method::POST, "/api/v1/exports", &token)
            .json(&json!({}))
            .send()
    });
    let mut statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409, 409, 409, 409, 409, 409, 409]);
    let list = ok(
        call(&app, "racing", Method::GET, "/api/v1/exports", &token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_requests_queue_one_export() {
    racing_requests_queue_one(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        racing_requests_queue_one(db).await;
    }
}

/// Encrypted to the caller's age recipient: the reference `age` (CI installs it) opens the
/// download, and so does Tenantry's reader with the identity. Then the link expires: the
/// download answers 410 and the archive is gone from the store.
#[tokio::test]
async fn an_encrypted_export_opens_with_age_and_expires() {
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
    let dir = files_dir();
    let app = TestApp::start(
        TestDb::sqlite().await,
        options(&dir, chrono::Duration::seconds(3)),
    )
    .await;
    let token = owner(&app, "sealed").await;
    let queued = request(&app, "sealed", &token, json!({ "recipients": [recipient] })).await;
    assert_eq!(queued["encrypted"], true);
    let id = queued["id"].as_str().unwrap().to_owned();
    let export = finished(&app, "sealed", &token, &id).await;
    assert_eq!(export["status"], "completed", "{export}");
    let (content_type, bytes) = download(&app, "sealed", &token, &export).await;
    assert_eq!(content_type, "application/octet-stream");

    let work = std::env::temp_dir().join(format!("export-age-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("key.txt"), &identity).unwrap();
    std::fs::write(work.join("export.age"), &bytes).unwrap();
    let opened = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(work.join("key.txt"))
        .arg(work.join("export.age"))
        .output()
        .unwrap();
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert!(archive_text(&opened.stdout).contains("\"slug\":\"sealed\""));
    let (kind, rows, _) = read(bytes, Unsealing::identity_file(&identity).unwrap()).await;
    assert_eq!(kind, ArchiveKind::Export);
    assert_eq!(rows["tenants"], 1);
    std::fs::remove_dir_all(work).ok();

    // The expiry job deletes the archive once the link expired.
    let path = format!("/api/v1/exports/{id}");
    let mut expired = Value::Null;
    for _ in 0..300 {
        expired = ok(
            call(&app, "sealed", Method::GET, &path, &token)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        if expired["status"] == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(expired["status"], "expired", "{expired}");
    assert_eq!(expired["download_url"], Value::Null);
    problem(
        call(
            &app,
            "sealed",
            Method::GET,
            &format!("/api/v1/exports/{id}/download"),
            &token,
        )
        .send()
        .await
        .unwrap(),
        410,
        "export_expired",
    )
    .await;
    assert!(
        !stored(&dir).iter().any(|p| p.contains("/exports/")),
        "{:?}",
        stored(&dir)
    );
}
