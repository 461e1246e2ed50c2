//! Operators' telemetry from the real binary: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans
//! for requests (continuing the caller's `traceparent`), their database transactions and jobs
//! reach an OTLP/HTTP collector; with `TENANTRY_SENTRY_DSN` set, a request that fails with a
//! 5xx reaches Sentry tagged with its request id, tenant and route, and nothing secret does.
//! The failure is a real one: the SQLite file locked by another process — answered 503,
//! nothing corrupted, and writes work again once the lock is gone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Launch, PASSWORD, onboard};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message;
use serde_json::{Value, json};
use tenantry_telemetry::testing::{HttpSink, sentry_events};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => Some(s.clone()),
        Any::IntValue(i) => Some(i.to_string()),
        Any::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// Every span the collector received, with the service name of its resource.
fn spans(otlp: &HttpSink) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for post in otlp.received() {
        assert_eq!(post.path, "/v1/traces");
        assert_eq!(post.header("content-type"), Some("application/x-protobuf"));
        let request = ExportTraceServiceRequest::decode(post.body.as_slice()).unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone())
                .map(|v| match v {
                    Any::StringValue(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                out.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    out
}

/// Another process holding SQLite's write lock until dropped.
struct Locker(std::process::Child);

impl Locker {
    fn lock(path: &std::path::Path) -> Self {
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n\
                 c.execute('BEGIN EXCLUSIVE')\n\
                 print('locked', flush=True)\n\
                 sys.stdin.read()\n\
                 c.execute('ROLLBACK')",
            ])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 holds the lock");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        Self(child)
    }

    fn release(mut self) {
        self.0.stdin.take().unwrap().flush().unwrap();
        assert!(self.0.wait().unwrap().success());
    }
}

fn integrity(path: &std::path::Path) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_a_collector_and_a_locked_database_reaches_sentry() {
    let otlp = HttpSink::start();
    let sentry = HttpSink::start();
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("tenantry.db");
    let mut server = Launch::new(&format!("sqlite://{}", file.display()), None)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env(
            "TENANTRY_SENTRY_DSN",
            format!("http://public@{}/7", sentry.address),
        )
        .env("TENANTRY_SENTRY_ENVIRONMENT", "ci")
        .start()
        .await;
    let client = common::client();
    let tenant = onboard(&client, &server, "tele").await;
    let products = format!("{}/api/v1/products", server.url);

    // A traced call: the caller's trace goes on through the service.
    let res = tenant
        .get(&client, &products)
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Another process takes the write lock: a write waits its busy timeout, then is told to
    // come back — 503, not 500, not a hang.
    let locker = Locker::lock(&file);
    let started = Instant::now();
    let widget = json!({"name": "Widget", "sku": "W-1", "price_minor": 100, "currency": "EUR"});
    let create = || tenant.post(&client, &products).json(&widget).send();
    let res = create().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(res.headers()["retry-after"], "1");
    let failed_request = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable");
    assert!(
        !body.to_string().contains("locked"),
        "the cause stays inside: {body}"
    );
    // Once the lock is gone, writes work again, and nothing of the failed one was kept.
    locker.release();
    let res = create().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let list = tenant.get_json(&client, &products).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A job with a tenant: the invitation's mail, sent by the worker.
    let res = tenant
        .post(&client, &format!("{}/api/v1/invitations", server.url))
        .json(&json!({"email": "bea@tele.test", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let mail = server.dir.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::fs::read_dir(&mail).map_or(0, Iterator::count) == 0 {
        assert!(Instant::now() < deadline, "the invitation was not mailed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    assert_eq!(integrity(&file), "ok");

    // The collector has the request's span in the caller's trace, with its tenant, route and
    // status, and the transaction under it; the worker's jobs have spans of their own.
    // No password, token or body in any exported span.
    for post in otlp.received() {
        for secret in [PASSWORD, tenant.token.as_str(), "Widget"] {
            let found = post
                .body
                .windows(secret.len())
                .any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} was exported");
        }
    }
    let spans = spans(&otlp);
    assert!(spans.iter().all(|(service, _)| service == "tenantry"));
    let traced: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.trace_id == hex(TRACE_ID))
        .collect();
    let request = traced
        .iter()
        .find(|s| s.parent_span_id == hex(PARENT_ID))
        .unwrap_or_else(|| panic!("no span continues the trace: {traced:#?}"));
    assert_eq!(request.name, "GET /api/v1/products");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(
        attribute(request, "tenant_id").as_deref(),
        Some(tenant.id.as_str()),
        "{request:#?}"
    );
    assert_eq!(
        attribute(request, "http.route").as_deref(),
        Some("/api/v1/products")
    );
    assert_eq!(
        attribute(request, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(
        traced
            .iter()
            .any(|s| s.name == "db read" && s.parent_span_id == request.span_id),
        "the request's transaction: {traced:#?}"
    );
    let failed = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| attribute(s, "request_id").as_deref() == Some(failed_request.as_str()))
        .expect("the failed request's span");
    assert_eq!(failed.name, "POST /api/v1/products");
    assert_eq!(
        attribute(failed, "http.response.status_code").as_deref(),
        Some("503")
    );
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    let job = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| attribute(s, "job_kind").as_deref() == Some("invitation_mail"))
        .unwrap_or_else(|| {
            panic!(
                "no job span: {:#?}",
                spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(job.name, "invitation_mail");
    assert_eq!(job.kind, SpanKind::Consumer as i32);
    assert_eq!(
        attribute(job, "tenant_id").as_deref(),
        Some(tenant.id.as_str())
    );

    // Sentry has the failed request — its id, tenant and route — and no password or token.
    let posted = sentry.wait_for(Duration::from_secs(5), |p| !sentry_events(p).is_empty());
    let events = sentry_events(&posted);
    let report = events
        .iter()
        .find(|e| e["tags"]["request_id"] == failed_request.as_str())
        .unwrap_or_else(|| panic!("no report of {failed_request}: {events:#?}"));
    assert_eq!(report["tags"]["tenant_id"], tenant.id.as_str());
    assert_eq!(report["tags"]["http.route"], "/api/v1/products");
    assert_eq!(report["transaction"], "POST /api/v1/products");
    assert_eq!(report["environment"], "ci");
    assert_eq!(
        report["exception"]["values"][0]["type"],
        "database_unavailable"
    );
    for post in &posted {
        let text = String::from_utf8_lossy(&post.body);
        assert!(!text.contains(PASSWORD) && !text.contains(&tenant.token));
        assert!(!text.contains("Widget"), "no request body: {text}");
    }
}
