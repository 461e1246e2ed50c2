//! Tenants' files: multipart uploads typed by their content, streamed downloads with ranges
//! and validators, the plan's size limit and the storage quota (race-free), delete through the
//! worker, products' images — on local disk, and on a real S3 server (moto, IAM enforced).

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{Options, S3Server, TestApp, app_tests, call, ok, owner, problem};

const BOUNDARY: &str = "tenantry-test-boundary";

/// A `multipart/form-data` body with one part `name` holding `content` as `filename`.
fn form(name: &str, filename: &str, content: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload(app: &TestApp, slug: &str, token: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    call(app, slug, Method::POST, "/api/v1/files", token)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
}

pub(crate) async fn put_file(
    app: &TestApp,
    slug: &str,
    token: &str,
    filename: &str,
    content: &[u8],
) -> Value {
    let res = upload(app, slug, token, form("file", filename, content))
        .send()
        .await
        .unwrap();
    ok(res, 201).await
}

/// A small valid PNG (a 1×1 image) padded with `extra` bytes of a text chunk.
pub(crate) fn png(extra: usize) -> Vec<u8> {
    let mut p =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde".to_vec();
    p.extend(std::iter::repeat_n(b'p', extra));
    p
}

/// Text whose bytes are not all alike (ranges show where they come from).
fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Every file under `dir`, relative to it.
pub(crate) fn stored(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = vec![];
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn local(dir: &Path) -> Options {
    Options {
        files: tenantry_objects::Backend::local(dir).unwrap(),
        ..Options::default()
    }
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!(
        "tenantry-files-test-{}",
        uuid::Uuid::now_v7().simple()
    ))
}

async fn content(app: &TestApp, slug: &str, token: &str, id: &str) -> reqwest::RequestBuilder {
    call(
        app,
        slug,
        Method::GET,
        &format!("/api/v1/files/{id}/content"),
        token,
    )
}

async fn storage_used(app: &TestApp, slug: &str, token: &str) -> Value {
    let quotas = ok(
        call(app, slug, Method::GET, "/api/v1/quotas", token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    quotas["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["resource"] == "storage_bytes")
        .map_or(json!(0), |q| q["used"].clone())
}

/// Waits (for the worker) until `check` holds.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen");
}

/// Uploads, downloads whole and in ranges, with validators, on local disk: the object is
/// named by ids only, whatever the client called the file.
async fn round_trip(app: &TestApp, dir: &Path) {
    let acme = owner(app, "acme").await;
    let image = png(20_000);
    let file = put_file(app, "acme", &acme, "../../etc/passwd.png", &image).await;
    assert_eq!(file["name"], "passwd.png");
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], image.len());
    assert_eq!(file["sha256"].as_str().unwrap().len(), 64);
    let id = file["id"].as_str().unwrap().to_owned();
    let tenant = ok(
        call(app, "acme", Method::GET, "/api/v1/tenant", &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored(dir), [format!("tenants/{tenant}/{id}")]);

    // The whole file.
    let res = content(app, "acme", &acme, &id).await.send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-length"], image.len().to_string().as_str());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"passwd.png\"")
    );
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", file["sha256"].as_str().unwrap()));
    assert_eq!(res.bytes().await.unwrap().as_ref(), image.as_slice());

    // Ranges: bounded, open-ended, suffix; several ranges get the whole file.
    for (range, from, to) in [
        ("bytes=0-9", 0, 10),
        ("bytes=20000-", 20000, image.len()),
        ("bytes=-5", image.len() - 5, image.len()),
    ] {
        let res = content(app, "acme", &acme, &id)
            .await
            .header("Range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206, "{range}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {from}-{}/{}", to - 1, image.len()).as_str()
        );
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            &image[from..to],
            "{range}"
        );
    }
    let res = content(app, "acme", &acme, &id)
        .await
        .header("Range", "bytes=0-1,5-6")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = content(app, "acme", &acme, &id)
        .await
        .header("Range", "bytes=999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{}", image.len()).as_str()
    );
    problem(res, 416, "range_not_satisfiable").await;
    // Validators: a current ETag is 304; a stale If-Range gets the whole file.
    let res = content(app, "acme", &acme, &id)
        .await
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let res = content(app, "acme", &acme, &id)
        .await
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Metadata, the list and its filter.
    let notes = put_file(app, "acme", &acme, "notes.txt", &text(100)).await;
    assert_eq!(notes["content_type"], "text/plain");
    let got = ok(
        call(
            app,
            "acme",
            Method::GET,
            &format!("/api/v1/files/{id}"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(got, file);
    let list = |q: &'static str| {
        let acme = acme.clone();
        async move {
            let page = ok(
                call(
                    app,
                    "acme",
                    Method::GET,
                    &format!("/api/v1/files{q}"),
                    &acme,
                )
                .send()
                .await
                .unwrap(),
                200,
            )
            .await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("").await, [json!("notes.txt"), json!("passwd.png")]);
    assert_eq!(list("?content_type=image/*").await, [json!("passwd.png")]);
    assert_eq!(list("?content_type=text/plain").await, [json!("notes.txt")]);
    assert_eq!(list("?limit=1").await, [json!("notes.txt")]);
    problem(
        call(
            app,
            "acme",
            Method::GET,
            "/api/v1/files?content_type=nonsense",
            &acme,
        )
        .send()
        .await
        .unwrap(),
        400,
        "invalid_query",
    )
    .await;
    // Local disk signs no links.
    problem(
        call(
            app,
            "acme",
            Method::GET,
            &format!("/api/v1/files/{id}/link"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        409,
        "links_unavailable",
    )
    .await;

    // Delete: gone at once, its bytes freed, its content removed by the worker.
    assert_eq!(
        storage_used(app, "acme", &acme).await,
        json!(image.len() + 100)
    );
    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("/api/v1/files/{id}"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        204,
    )
    .await;
    problem(
        content(app, "acme", &acme, &id).await.send().await.unwrap(),
        404,
        "file_not_found",
    )
    .await;
    assert_eq!(storage_used(app, "acme", &acme).await, json!(100));
    let notes_key = format!("tenants/{tenant}/{}", notes["id"].as_str().unwrap());
    eventually("the content's removal", || {
        stored(dir) == [notes_key.clone()]
    })
    .await;
}

/// What is refused leaves nothing behind: no record, no object, no bytes counted.
async fn refusals(app: &TestApp, dir: &Path) {
    let acme = owner(app, "acme").await;
    let elf = [b"\x7fELF\x02\x01\x01\0".as_slice(), &[0u8; 9000]].concat();
    let p = problem(
        upload(app, "acme", &acme, form("file", "photo.png", &elf))
            .send()
            .await
            .unwrap(),
        415,
        "file_type_not_allowed",
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("application/x-executable")
    );
    problem(
        upload(
            app,
            "acme",
            &acme,
            form(
                "file",
                "page.txt",
                b"<html><script>alert(1)</script></html>",
            ),
        )
        .send()
        .await
        .unwrap(),
        415,
        "file_type_not_allowed",
    )
    .await;
    // Larger than the tenant's plan allows: files of 32 KiB.
    let subscription = ok(
        call(
            app,
            "acme",
            Method::GET,
            "/api/v1/billing/subscription",
            &acme,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let plan = &subscription["plan_details"];
    let mut features = plan["features"].clone();
    features["max_file_bytes"] = json!(32 * 1024);
    ok(
        app.operator(
            Method::PATCH,
            &format!("/api/v1/platform/plans/{}", plan["code"].as_str().unwrap()),
        )
        .json(&json!({"features": features}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    problem(
        upload(app, "acme", &acme, form("file", "big.txt", &text(100_000)))
            .send()
            .await
            .unwrap(),
        413,
        "file_too_large",
    )
    .await;
    problem(
        call(app, "acme", Method::POST, "/api/v1/files", &acme)
            .json(&json!({"file": "x"}))
            .send()
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    problem(
        upload(app, "acme", &acme, form("other", "a.txt", b"hello"))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    // Cut off in the middle of the file.
    let mut cut = form("file", "a.txt", &text(20_000));
    cut.truncate(15_000);
    problem(
        upload(app, "acme", &acme, cut).send().await.unwrap(),
        400,
        "malformed_multipart",
    )
    .await;
    problem(
        upload(app, "acme", &acme, form("file", &"x".repeat(300), b"hello"))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    // Another tenant's member is not in this tenant (the cross-tenant replay covers the rest).
    let globex = owner(app, "globex").await;
    problem(
        upload(app, "acme", &globex, form("file", "a.txt", b"hello"))
            .send()
            .await
            .unwrap(),
        403,
        "not_a_member",
    )
    .await;

    let list = ok(
        call(app, "acme", Method::GET, "/api/v1/files", &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(storage_used(app, "acme", &acme).await, json!(0));
    assert_eq!(stored(dir), Vec::<String>::new());
}

/// The storage quota holds under concurrent uploads, and frees on delete.
async fn quota(app: &TestApp, dir: &Path) {
    let acme = owner(app, "acme").await;
    ok(
        app.operator(
            Method::PUT,
            "/api/v1/platform/tenants/acme/quotas/storage_bytes",
        )
        .json(&json!({"limit": 100_000}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let first = put_file(app, "acme", &acme, "a.txt", &text(60_000)).await;
    let p = problem(
        upload(app, "acme", &acme, form("file", "b.txt", &text(60_000)))
            .send()
            .await
            .unwrap(),
        403,
        "quota_exceeded",
    )
    .await;
    assert_eq!(
        (p["resource"].clone(), p["limit"].clone()),
        (json!("storage_bytes"), json!(100_000))
    );
    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("/api/v1/files/{}", first["id"].as_str().unwrap()),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        204,
    )
    .await;
    // Two at once, each fitting alone, not both: exactly one lands.
    let (a, b) = tokio::join!(
        upload(app, "acme", &acme, form("file", "c.txt", &text(60_000))).send(),
        upload(app, "acme", &acme, form("file", "d.txt", &text(60_000))).send(),
    );
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 403]);
    assert_eq!(storage_used(app, "acme", &acme).await, json!(60_000));
    eventually("one object left", || stored(dir).len() == 1).await;
}

/// Products' images: image files only, in order, detached when the product or file goes.
async fn product_images(app: &TestApp) {
    let acme = owner(app, "acme").await;
    let product = |sku: &'static str| {
        let acme = acme.clone();
        async move {
            ok(
                call(app, "acme", Method::POST, "/api/v1/products", &acme)
                    .json(&json!({"name": "Kettle", "sku": sku, "price_minor": 100, "currency": "EUR"}))
                    .send()
                    .await
                    .unwrap(),
                201,
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let kettle = product("K-1").await;
    let front = put_file(app, "acme", &acme, "front.png", &png(10)).await["id"].clone();
    let back = put_file(app, "acme", &acme, "back.png", &png(20)).await["id"].clone();
    let notes = put_file(app, "acme", &acme, "notes.txt", b"hello").await["id"].clone();
    let images = format!("/api/v1/products/{kettle}/images");
    let attach = |file: &Value| {
        call(app, "acme", Method::POST, &images, &acme)
            .json(&json!({"file_id": file}))
            .send()
    };
    ok(attach(&front).await.unwrap(), 201).await;
    let second = ok(attach(&back).await.unwrap(), 201).await;
    assert_eq!(second["position"], 1);
    problem(attach(&front).await.unwrap(), 409, "image_already_attached").await;
    problem(attach(&notes).await.unwrap(), 422, "validation_failed").await;
    problem(
        attach(&json!(uuid::Uuid::now_v7())).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let listed = ok(
        call(app, "acme", Method::GET, &images, &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let order: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["file_id"])
        .collect();
    assert_eq!(order, [&front, &back]);

    // Detaching closes the gap; deleting the file detaches it.
    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("{images}/{}", front.as_str().unwrap()),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        204,
    )
    .await;
    let listed = ok(
        call(app, "acme", Method::GET, &images, &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"][0]["position"], 0);
    problem(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("{images}/{}", front.as_str().unwrap()),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        404,
        "image_not_found",
    )
    .await;
    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("/api/v1/files/{}", back.as_str().unwrap()),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        204,
    )
    .await;
    let listed = ok(
        call(app, "acme", Method::GET, &images, &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(listed["items"], json!([]));

    // Deleting the product detaches its images; the files stay.
    ok(attach(&front).await.unwrap(), 201).await;
    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("/api/v1/products/{kettle}"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        204,
    )
    .await;
    problem(
        call(app, "acme", Method::GET, &images, &acme)
            .send()
            .await
            .unwrap(),
        404,
        "product_not_found",
    )
    .await;
    ok(
        call(
            app,
            "acme",
            Method::GET,
            &format!("/api/v1/files/{}", front.as_str().unwrap()),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let audit = ok(
        call(app, "acme", Method::GET, "/api/v1/audit-logs/verify", &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(audit["ok"], true, "{audit}");
}

mod local_disk {
    use super::*;

    async fn both(run: impl AsyncFn(&TestApp, &Path), options: impl Fn(&Path) -> Options) {
        let dir = scratch();
        let db = tenantry_store::testing::TestDb::sqlite().await;
        run(&TestApp::start(db, options(&dir)).await, &dir).await;
        if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
            let dir = scratch();
            run(&TestApp::start(db, options(&dir)).await, &dir).await;
        }
    }

    #[tokio::test]
    async fn uploads_downloads_ranges_and_deletes() {
        both(round_trip, local).await;
    }

    #[tokio::test]
    async fn refused_uploads_leave_nothing() {
        both(refusals, local).await;
    }

    #[tokio::test]
    async fn the_storage_quota_holds_under_concurrent_uploads() {
        both(quota, local).await;
    }
}

app_tests! {
    async fn products_images_are_image_files_in_order(app) {
        product_images(app).await;
    }
}

/// The platform's files in a real S3 bucket (moto, IAM enforced): multipart uploads of
/// several parts, ranges, delete; the wrong credentials are refused.
async fn on_s3(db: tenantry_store::testing::TestDb) {
    let Some(s3) = S3Server::start(&["platform-files", "someone-else"], false) else {
        return;
    };
    let backend = tenantry_objects::Backend::s3(&s3.config("platform-files")).unwrap();
    let app = &TestApp::start(
        db,
        Options {
            files: backend.clone(),
            ..Options::default()
        },
    )
    .await;
    let acme = owner(app, "acme").await;
    // Three parts of a multipart upload (5 MiB each but the last).
    let big = text(12 << 20);
    let file = put_file(app, "acme", &acme, "big.txt", &big).await;
    let id = file["id"].as_str().unwrap().to_owned();
    let res = content(app, "acme", &acme, &id).await.send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.bytes().await.unwrap().as_ref() == big.as_slice(),
        "the content read back"
    );
    let res = content(app, "acme", &acme, &id)
        .await
        .header("Range", "bytes=6291456-6291465")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        &big[6_291_456..6_291_466]
    );
    let link = ok(
        call(
            app,
            "acme",
            Method::GET,
            &format!("/api/v1/files/{id}/link?expires_in=60"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/platform-files/tenants/", s3.endpoint)),
        "{url}"
    );
    assert!(
        url.contains("X-Amz-Expires=60") && url.contains("X-Amz-Signature="),
        "{url}"
    );
    assert!(
        url.contains("response-content-disposition=attachment"),
        "{url}"
    );

    let tenant = ok(
        call(app, "acme", Method::GET, "/api/v1/tenant", &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("tenants/{tenant}/{id}");
    // Another bucket's credentials do not reach this one.
    let stranger = tenantry_objects::Backend::s3(&tenantry_objects::S3Config {
        bucket: "platform-files".to_owned(),
        ..s3.config("someone-else")
    })
    .unwrap();
    assert!(matches!(
        stranger.read(&key, None).await,
        Err(tenantry_files::StorageError::Denied(_))
    ));
    assert!(matches!(
        stranger.probe("tenants/probe").await,
        Err(tenantry_files::StorageError::Denied(_))
    ));
    let wrong = tenantry_objects::Backend::s3(&tenantry_objects::S3Config {
        secret_access_key: "not-the-secret".to_owned(),
        ..s3.config("platform-files")
    })
    .unwrap();
    assert!(matches!(
        wrong.probe("tenants/probe").await,
        Err(tenantry_files::StorageError::Denied(_))
    ));
    backend.probe("tenants/probe").await.unwrap();

    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            &format!("/api/v1/files/{id}"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        204,
    )
    .await;
    for _ in 0..100 {
        if matches!(
            backend.read(&key, None).await,
            Err(tenantry_files::StorageError::NotFound)
        ) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the object was not removed from the bucket");
}

#[tokio::test]
async fn files_on_s3_sqlite() {
    on_s3(tenantry_store::testing::TestDb::sqlite().await).await;
}

#[tokio::test]
async fn files_on_s3_postgres() {
    if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
        on_s3(db).await;
    }
}

/// A signed link downloads the file straight from the bucket, as an attachment. (moto answers
/// presigned requests only with IAM enforcement off: a second, open server.)
#[tokio::test]
async fn links_download_from_the_bucket() {
    let Some(s3) = S3Server::start(&["open-files"], true) else {
        return;
    };
    let db = tenantry_store::testing::TestDb::sqlite().await;
    let app = &TestApp::start(
        db,
        Options {
            files: tenantry_objects::Backend::s3(&s3.config("open-files")).unwrap(),
            ..Options::default()
        },
    )
    .await;
    let acme = owner(app, "acme").await;
    let image = png(3000);
    let id = put_file(app, "acme", &acme, "façade.png", &image).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let link = ok(
        call(
            app,
            "acme",
            Method::GET,
            &format!("/api/v1/files/{id}/link"),
            &acme,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let res = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"fa_ade.png\"; filename*=UTF-8''fa%C3%A7ade.png"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), image.as_slice());
}

/// Tenants' own buckets (moto, IAM enforced): settings checked with a test object before they
/// are saved; files already there moved by the worker; new files go to the tenant's bucket
/// only; back to the platform's store on delete.
async fn own_buckets(db: tenantry_store::testing::TestDb) {
    let Some(s3) = S3Server::start(&["acme-own", "globex-own"], false) else {
        return;
    };
    let dir = scratch();
    let app = &TestApp::start(
        db,
        Options {
            // The test's S3 server is on loopback: opened like a private network.
            webhook_rules: tenantry_webhooks::TargetRules {
                allow_http: false,
                addresses: tenantry_webhooks::AddressPolicy::parse("127.0.0.1/32").unwrap(),
            },
            ..local(&dir)
        },
    )
    .await;
    let acme = owner(app, "acme").await;
    let globex = owner(app, "globex").await;
    let body = |bucket: &str, creds_of: &str| {
        let c = &s3.credentials[creds_of];
        json!({"endpoint": s3.endpoint, "region": "us-east-1", "bucket": bucket,
               "access_key_id": c["access_key_id"], "secret_access_key": c["secret_access_key"]})
    };
    let put_storage = |slug: &'static str, token: &str, body: Value| {
        call(app, slug, Method::PUT, "/api/v1/settings/storage", token)
            .json(&body)
            .send()
    };
    let storage = |slug: &'static str, token: String| async move {
        ok(
            call(app, slug, Method::GET, "/api/v1/settings/storage", &token)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    };
    let moved = |slug: &'static str, token: String| async move {
        for _ in 0..200 {
            let s = storage(slug, token.clone()).await;
            if s["move"]["to_move"] == 0 {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{slug}'s files were not moved");
    };

    // A file in the platform's store first (two parts once it goes to S3).
    let early = text(7 << 20);
    let before = put_file(app, "acme", &acme, "before.txt", &early).await;
    let before_id = before["id"].as_str().unwrap().to_owned();
    assert_eq!(stored(dir.as_path()).len(), 1);

    // Refused before anything is saved: another tenant's credentials, a wrong secret, an
    // address the outbound guard does not allow, invalid fields.
    problem(
        put_storage("acme", &acme, body("acme-own", "globex-own"))
            .await
            .unwrap(),
        422,
        "storage_check_failed",
    )
    .await;
    let mut wrong = body("acme-own", "acme-own");
    wrong["secret_access_key"] = json!("not-the-secret");
    problem(
        put_storage("acme", &acme, wrong).await.unwrap(),
        422,
        "storage_check_failed",
    )
    .await;
    let mut private = body("acme-own", "acme-own");
    private["endpoint"] = json!("http://10.0.0.1:9000");
    let p = problem(
        put_storage("acme", &acme, private).await.unwrap(),
        422,
        "storage_check_failed",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("not allowed"), "{p}");
    let mut invalid = body("Not_A_Bucket", "acme-own");
    invalid["endpoint"] = json!("ftp://example.com/path");
    let p = problem(
        put_storage("acme", &acme, invalid).await.unwrap(),
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
    assert_eq!(fields, ["endpoint", "bucket"]);
    assert_eq!(storage("acme", acme.clone()).await["bucket"], Value::Null);

    // Saved: the secret is never shown; the file already there is moved.
    let saved = ok(
        put_storage("acme", &acme, body("acme-own", "acme-own"))
            .await
            .unwrap(),
        200,
    )
    .await;
    let secret = s3.credentials["acme-own"]["secret_access_key"]
        .as_str()
        .unwrap();
    assert!(!saved.to_string().contains(secret));
    assert_eq!(saved["bucket"]["bucket"], "acme-own");
    let done = moved("acme", acme.clone()).await;
    assert_eq!(done["move"], json!({"files": 1, "to_move": 0}));
    assert!(!done.to_string().contains(secret));
    assert_eq!(
        stored(dir.as_path()),
        Vec::<String>::new(),
        "the platform's store keeps nothing of acme's"
    );
    let res = content(app, "acme", &acme, &before_id)
        .await
        .send()
        .await
        .unwrap();
    assert!(res.bytes().await.unwrap().as_ref() == early.as_slice());

    // New files go to acme's bucket only; globex's go to its own.
    let after = put_file(app, "acme", &acme, "after.png", &png(100)).await;
    // Globex's, set by the operator for it.
    ok(
        app.operator(Method::PUT, "/api/v1/platform/tenants/globex/storage")
            .json(&body("globex-own", "globex-own"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let seen = ok(
        app.operator(Method::GET, "/api/v1/platform/tenants/globex/storage")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(seen["bucket"]["bucket"], "globex-own");
    let theirs = put_file(app, "globex", &globex, "theirs.txt", b"globex only").await;
    assert_eq!(stored(dir.as_path()), Vec::<String>::new());
    let tenant_of = |token: String, slug: &'static str| async move {
        ok(
            call(app, slug, Method::GET, "/api/v1/tenant", &token)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let acme_id = tenant_of(acme.clone(), "acme").await;
    let globex_id = tenant_of(globex.clone(), "globex").await;
    let acme_bucket = tenantry_objects::Backend::s3(&s3.config("acme-own")).unwrap();
    let globex_bucket = tenantry_objects::Backend::s3(&s3.config("globex-own")).unwrap();
    for f in [&before, &after] {
        let key = format!("tenants/{acme_id}/{}", f["id"].as_str().unwrap());
        assert!(
            acme_bucket.read(&key, None).await.is_ok(),
            "{key} in acme's bucket"
        );
    }
    let key = format!("tenants/{globex_id}/{}", theirs["id"].as_str().unwrap());
    assert!(globex_bucket.read(&key, None).await.is_ok());

    // Back to the platform's store.
    ok(
        call(
            app,
            "acme",
            Method::DELETE,
            "/api/v1/settings/storage",
            &acme,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    moved("acme", acme.clone()).await;
    assert_eq!(stored(dir.as_path()).len(), 2);
    let before_key = format!("tenants/{acme_id}/{before_id}");
    assert!(matches!(
        acme_bucket.read(&before_key, None).await,
        Err(tenantry_files::StorageError::NotFound)
    ));
    let res = content(app, "acme", &acme, &before_id)
        .await
        .send()
        .await
        .unwrap();
    assert!(res.bytes().await.unwrap().as_ref() == early.as_slice());
    problem(
        call(
            app,
            "acme",
            Method::DELETE,
            "/api/v1/settings/storage",
            &acme,
        )
        .send()
        .await
        .unwrap(),
        404,
        "storage_not_configured",
    )
    .await;
    let audit = ok(
        call(app, "acme", Method::GET, "/api/v1/audit-logs/verify", &acme)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(audit["ok"], true, "{audit}");
}

#[tokio::test]
async fn tenants_own_buckets_sqlite() {
    own_buckets(tenantry_store::testing::TestDb::sqlite().await).await;
}

#[tokio::test]
async fn tenants_own_buckets_postgres() {
    if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
        own_buckets(db).await;
    }
}
