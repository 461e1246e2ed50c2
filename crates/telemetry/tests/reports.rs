//! Error reports as Sentry receives them: the real client sends real envelopes to a loopback
//! endpoint. One process-wide subscriber and panic hook, so one test in this binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tenantry_telemetry::testing::{HttpSink, sentry_events};
use tenantry_telemetry::{Config, LogFormat, Telemetry};
use tracing::field;

#[test]
fn a_failed_request_and_a_panicking_job_are_reported_once_with_their_ids_and_no_secrets() {
    let sentry = HttpSink::start();
    let telemetry = Telemetry::init(&Config {
        log_filter: "warn".to_owned(),
        log_format: LogFormat::Text,
        otlp_endpoint: None,
        sentry_dsn: Some(format!("http://public-key@{}/42", sentry.address)),
        sentry_environment: Some("test".to_owned()),
        release: "tenantry@0.0.0-test".to_owned(),
    })
    .unwrap();

    // A request that fails, as the HTTP layer's span and log look (the path carries a token,
    // a field the layer does not know carries a credential).
    {
        let span = tracing::info_span!(
            "request",
            request_id = "req-0001",
            method = "POST",
            path = "/api/v1/invitations/accept/SECRET-PATH-TOKEN",
            authorization = "Bearer SECRET-BEARER",
            tenant_id = field::Empty,
            http.route = field::Empty,
        );
        let _entered = span.enter();
        span.record("tenant_id", "0196a000-0000-7000-8000-000000000001");
        span.record("http.route", "/api/v1/products");
        tracing::error!(
            code = "database_unavailable",
            cause = "connection refused",
            "request failed"
        );
        // The same request failing again is not a second report.
        tracing::error!(
            code = "internal_error",
            cause = "second failure",
            "request failed"
        );
        // Below ERROR: never reported.
        tracing::warn!("slow request");
    }
    // A job that panics on a worker thread.
    let joined = std::thread::spawn(|| {
        let span = tracing::info_span!(
            "job",
            job_id = "job-0009",
            job_kind = "mail.send",
            tenant_id = "0196a000-0000-7000-8000-000000000002",
        );
        let _entered = span.enter();
        panic!("boom in the job");
    })
    .join();
    assert!(joined.is_err());

    telemetry.shutdown();
    let posted = sentry.wait_for(Duration::from_secs(10), |p| sentry_events(p).len() >= 2);
    let events = sentry_events(&posted);
    assert_eq!(events.len(), 2, "two reports: {events:#?}");

    for p in &posted {
        assert_eq!(p.path, "/api/42/envelope/");
        let auth = p.header("x-sentry-auth").unwrap_or_default();
        assert!(auth.contains("sentry_key=public-key"), "{auth}");
        let text = String::from_utf8_lossy(&p.body);
        for secret in ["SECRET-PATH-TOKEN", "SECRET-BEARER", "/invitations/accept"] {
            assert!(!text.contains(secret), "{secret} reached Sentry: {text}");
        }
    }

    let request = events
        .iter()
        .find(|e| e["tags"]["request_id"] == "req-0001")
        .expect("the request's report");
    assert_eq!(request["release"], "tenantry@0.0.0-test");
    assert_eq!(request["environment"], "test");
    assert_eq!(request["transaction"], "POST /api/v1/products");
    assert_eq!(
        request["tags"]["tenant_id"],
        "0196a000-0000-7000-8000-000000000001"
    );
    assert_eq!(request["tags"]["http.route"], "/api/v1/products");
    let exception = &request["exception"]["values"][0];
    assert_eq!(exception["type"], "database_unavailable");
    assert_eq!(exception["value"], "connection refused");
    assert!(request["tags"].get("path").is_none());
    assert!(request["tags"].get("authorization").is_none());

    let panic = events
        .iter()
        .find(|e| e["tags"]["job_id"] == "job-0009")
        .expect("the panic's report");
    assert_eq!(panic["transaction"], "job mail.send");
    assert_eq!(
        panic["tags"]["tenant_id"],
        "0196a000-0000-7000-8000-000000000002"
    );
    let exception = &panic["exception"]["values"][0];
    assert_eq!(exception["type"], "panic");
    assert!(
        exception["value"]
            .as_str()
            .unwrap()
            .contains("boom in the job"),
        "{exception}"
    );
    let frames = exception["stacktrace"]["frames"]
        .as_array()
        .expect("a stack trace");
    assert!(
        frames.iter().any(|f| f["function"]
            .as_str()
            .is_some_and(|n| n.contains("a_failed_request_and_a_panicking_job"))),
        "the test's own frame is in the trace: {frames:#?}"
    );
    assert!(
        panic["extra"]["location"]
            .as_str()
            .unwrap()
            .contains("tests/reports.rs")
    );
}
