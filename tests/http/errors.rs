//! Every error is a problem+json body with a stable code and the request id.

use reqwest::Method;
use serde_json::json;
use tenantry_tests::{Options, app_tests, problem};

/// Sends raw bytes on a new connection and reads the whole answer.
async fn raw(app: &tenantry_tests::TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // The server may answer and close before reading everything.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

app_tests! {
    async fn protocol_edges(app) {
        let a = app.onboard("acme", "ann@acme.test", "correct horse battery").await;
        let token = a["session"]["access_token"].as_str().unwrap();
        // The auth scheme is case-insensitive (RFC 9110).
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let res = app.get("/api/v1/auth/me").header("Authorization", format!("{scheme} {token}")).send().await.unwrap();
            assert_eq!(res.status(), 200, "{scheme}");
        }
        problem(app.get("/api/v1/auth/me").header("Authorization", "Basic abc").send().await.unwrap(), 401, "unauthorized").await;
        problem(app.get("/api/v1/auth/me").header("Authorization", "Bearer ").send().await.unwrap(), 401, "unauthorized").await;

        // HEAD answers like GET, without the body.
        let get = app.get("/api/v1/members").header("X-Tenant-ID", "acme").bearer_auth(token).send().await.unwrap();
        let head = app.request(Method::HEAD, "/api/v1/members").header("X-Tenant-ID", "acme").bearer_auth(token).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers().get("content-type"), get.headers().get("content-type"));
        assert_eq!(head.headers().get("content-length"), get.headers().get("content-length"));
        assert!(head.bytes().await.unwrap().is_empty());
        let head = app.request(Method::HEAD, "/api/v1/members").header("X-Tenant-ID", "acme").send().await.unwrap();
        assert_eq!(head.status(), 401);
        let response = raw(app, "HEAD /openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("\r\n\r\n"), "no body after the head: {response}");

        // Heads the HTTP parser refuses before the application (decision 0018): the status is
        // right, nothing is processed, and the connection is closed.
        // Just past actix-http's 128 KiB head buffer, and no end of head: the server reads all
        // of it before refusing (unread data would make the close a reset).
        let long = "a".repeat(128 * 1024);
        for (request, status) in [
            ("GET /api/v1/tenant HTTP/1.1\r\nHost: acme.localhost\r\nHost: other.localhost\r\n\r\n".to_owned(), "400"),
            ("GET /api/v1/tenant HTTP/1.1\r\nHost: localhost\r\nX-Evil: a\x01b\r\n\r\n".to_owned(), "400"),
            ("POST /api/v1/onboard HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_owned(), "400"),
            (format!("GET /api/v1/tenant HTTP/1.1\r\nHost: localhost\r\nX-Long: {long}"), "431"),
        ] {
            let response = raw(app, &request).await;
            assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{request:.80}: {response}");
            assert!(response.contains("connection: close"), "{response}");
        }

        // A method no route has: 405 with Allow, as a problem.
        let res = app.request(Method::from_bytes(b"PURGE").unwrap(), "/api/v1/tenant").send().await.unwrap();
        assert_eq!(res.headers().get("allow").unwrap(), "GET, HEAD");
        problem(res, 405, "method_not_allowed").await;
    }

    async fn unknown_route_is_404(app) {
        let body = problem(app.get("/api/v1/nothing-here").send().await.unwrap(), 404, "not_found").await;
        assert_eq!(body["instance"], "/api/v1/nothing-here");
        problem(app.request(Method::DELETE, "/no/such/path").send().await.unwrap(), 404, "not_found").await;
    }

    async fn wrong_method_is_405_with_allow(app) {
        let res = app.request(Method::DELETE, "/api/v1/tenant").send().await.unwrap();
        assert_eq!(res.headers().get("allow").unwrap(), "GET, HEAD");
        problem(res, 405, "method_not_allowed").await;
        let res = app.request(Method::DELETE, "/api/v1/platform/tenants/acme").send().await.unwrap();
        assert_eq!(res.headers().get("allow").unwrap(), "GET, HEAD, PATCH");
        problem(res, 405, "method_not_allowed").await;
        // A literal path is itself, not an id of the template beside it (/products/{id}).
        let res = app.request(Method::OPTIONS, "/api/v1/products/bulk-import").send().await.unwrap();
        assert_eq!(res.headers().get("allow").unwrap(), "POST");
        problem(res, 405, "method_not_allowed").await;
    }

    // What the OpenAPI fuzzer found (scripts/fuzz-api): each is now refused as the document
    // says.
    async fn bodies_are_checked_as_documented(app) {
        // A struct is not filled from an array of its fields.
        let res = app.request(Method::POST, "/api/v1/invitations/accept/unknown").json(&json!([null, null])).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
        // An optional body that is present is read, not mistaken for an absent one; and its
        // shape is refused before the token is looked up.
        let res = app.request(Method::POST, "/api/v1/invitations/accept/unknown").json(&json!({"password": 12})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
        let res = app.request(Method::POST, "/api/v1/invitations/accept/unknown").json(&json!({"display_name": "B", "password": "short"})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "password");
        // No body at all is still the signed-in accept (here: an unknown token).
        problem(app.request(Method::POST, "/api/v1/invitations/accept/unknown").send().await.unwrap(), 410, "invitation_gone").await;
        // A maintenance message is checked also when maintenance ends.
        app.onboard("acme", "ann@acme.test", "correct horse battery").await;
        let res = app.operator(Method::PUT, "/api/v1/platform/tenants/acme/maintenance").json(&json!({"enabled": false, "message": ""})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
    }

    async fn malformed_json_is_400(app) {
        let res = app
            .operator(Method::POST, "/api/v1/platform/tenants")
            .header("content-type", "application/json")
            .body("{\"slug\": \"acme\", ")
            .send()
            .await
            .unwrap();
        let body = problem(res, 400, "malformed_json").await;
        assert!(body["detail"].as_str().unwrap().contains("EOF"), "{body}");
        let list = app.operator(Method::GET, "/api/v1/platform/tenants").send().await.unwrap();
        let page: serde_json::Value = list.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 0, "nothing written");
    }

    async fn wrong_content_type_is_415(app) {
        let res = app
            .operator(Method::POST, "/api/v1/platform/tenants")
            .header("content-type", "text/plain")
            .body("{\"slug\": \"acme\", \"name\": \"Acme\"}")
            .send()
            .await
            .unwrap();
        problem(res, 415, "unsupported_media_type").await;
    }

    async fn validation_is_422_with_every_field(app) {
        let res = app
            .operator(Method::POST, "/api/v1/platform/tenants")
            .json(&json!({"slug": "-Bad_Slug", "name": "   "}))
            .send()
            .await
            .unwrap();
        let body = problem(res, 422, "validation_failed").await;
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 2, "{body}");
        assert_eq!(errors[0]["field"], "slug");
        assert_eq!(errors[1]["field"], "name");
        assert!(errors[0]["message"].as_str().unwrap().contains("lower-case"));

        // Wrong JSON types are 422 too, with the field's path.
        let res = app.operator(Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": 7, "name": "x"})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "slug");
        let res = app.operator(Method::POST, "/api/v1/platform/tenants").json(&json!({"name": "x"})).send().await.unwrap();
        let body = problem(res, 422, "validation_failed").await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("missing field `slug`"));

        // A reserved slug is a field error too; nothing was created along the way.
        let res = app.operator(Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "admin", "name": "x"})).send().await.unwrap();
        problem(res, 422, "validation_failed").await;
        let page: serde_json::Value = app.operator(Method::GET, "/api/v1/platform/tenants").send().await.unwrap().json().await.unwrap();
        assert_eq!(page["items"], json!([]));
    }

    async fn a_body_that_never_ends_is_408_and_others_are_served_meanwhile(app) with (Options { body_timeout: std::time::Duration::from_secs(1), ..Options::default() }) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Announces 100 bytes, sends 10, then nothing.
        let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stalled.write_all(b"POST /api/v1/onboard HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"organis").await.unwrap();
        let started = std::time::Instant::now();
        // Meanwhile another client is served at once.
        assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
        let mut answer = vec![0; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stalled.read(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Nothing was written: the tenant does not exist.
        assert_eq!(app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap().status(), 404);
    }

    async fn a_request_head_that_never_ends_is_cut_and_others_are_served_meanwhile(app) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Slowloris: a head sent one header at a time, never finished.
        let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
        let started = std::time::Instant::now();
        for _ in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let _ = slow.write_all(b"X-Padding: 1\r\n").await;
            assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200, "others are served");
        }
        // The server gives up on the head (actix's client request timeout, 5 s) and closes.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "the connection was not closed");
        let answer = String::from_utf8_lossy(&rest);
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(8));
    }

    async fn oversized_body_is_413(app) with (Options { body_limit: 1024, ..Options::default() }) {
        let name = "n".repeat(2000);
        let res = app
            .operator(Method::POST, "/api/v1/platform/tenants")
            .json(&json!({"slug": "acme", "name": name}))
            .send()
            .await
            .unwrap();
        let body = problem(res, 413, "payload_too_large").await;
        assert!(body["detail"].as_str().unwrap().contains("1024"));
        // Just under the limit is fine.
        app.create_tenant("acme", &"n".repeat(90)).await;

        // A chunked body (no Content-Length) is cut off at the limit too.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/platform/tenants HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            tenantry_tests::OPERATOR_TOKEN
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 600, "x".repeat(600));
        for _ in 0..3 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break; // the server may answer and close before reading everything
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        assert!(response.starts_with("HTTP/1.1 413"), "{response}");
        assert!(response.contains("application/problem+json") && response.contains("payload_too_large"));
    }

    async fn request_ids_are_echoed_or_made(app) {
        let res = app.get("/healthz").header("X-Request-Id", "trace-abc.123:xyz").send().await.unwrap();
        assert_eq!(res.headers().get("x-request-id").unwrap(), "trace-abc.123:xyz");
        let res = app.get("/api/v1/tenant").header("X-Request-Id", "client-id-42").send().await.unwrap();
        let body = problem(res, 404, "tenant_not_found").await;
        assert_eq!(body["request_id"], "client-id-42");
        // Unsafe or oversized ids are replaced, not echoed.
        for bad in ["has space", &"x".repeat(129), "new\tline"] {
            let res = app.get("/healthz").header("X-Request-Id", bad).send().await.unwrap();
            let id = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
            assert_ne!(id, bad);
            assert_eq!(id.len(), 36, "a generated uuid");
        }
        let a = app.get("/healthz").send().await.unwrap();
        let b = app.get("/healthz").send().await.unwrap();
        assert_ne!(a.headers().get("x-request-id"), b.headers().get("x-request-id"));
    }

    async fn health_and_readiness(app) {
        let res = app.get("/healthz").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "ok");
        let res = app.get("/readyz").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["pending_migrations"], json!([]));
        let backend = if app.db().url().starts_with("postgres") { "postgres" } else { "sqlite" };
        assert_eq!(body["database"], backend);
    }

    async fn readiness_fails_when_the_database_is_gone(app) {
        app.app_db().close();
        let body = problem(app.get("/readyz").send().await.unwrap(), 503, "not_ready").await;
        assert_eq!(body["detail"], "database unreachable");
    }

    async fn a_database_outage_is_a_503_that_leaks_nothing(app) {
        app.create_tenant("acme", "Acme Inc").await;
        app.app_db().close();
        // The tenant is cached; the route's own read needs the database.
        let res = app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap();
        assert_eq!(res.headers()["retry-after"], "1");
        let body = problem(res, 503, "database_unavailable").await;
        let text = body["detail"].to_string().to_lowercase() + &body["title"].to_string().to_lowercase();
        for secret in ["pool", "closed", "diesel", "sqlite", "postgres", "timeout"] {
            assert!(!text.contains(secret), "503 body leaks {secret:?}: {body}");
        }
        // Signing up cannot be served either; it says so the same way.
        let res = app.request(reqwest::Method::POST, "/api/v1/onboard").json(&json!({
            "organisation_name": "Beta", "slug": "beta", "owner_email": "bo@beta.test",
            "owner_name": "Bo", "password": "correct horse battery"})).send().await.unwrap();
        problem(res, 503, "database_unavailable").await;
    }

    async fn caches_are_trusted_only_seconds_after_the_change_counters_went_unread(app) {
        // The caches follow the change counters and live a minute without them moving; while
        // the counters cannot be read, they are dropped after 5 s (decision 0059).
        let a = app.onboard("acme", "ann@acme.test", "correct horse battery").await;
        let token = a["session"]["access_token"].as_str().unwrap().to_owned();
        let bad_page = || app.get("/api/v1/products?limit=0").header("X-Tenant-ID", "acme").bearer_auth(&token).send();
        // Tenant, standing and membership cached (after the poller's first look, which drops
        // everything): the query is refused after them.
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let first = bad_page().await.unwrap().status();
        assert_eq!(first, 400, "the query's own refusal");
        app.app_db().close();
        let closed = std::time::Instant::now();
        assert_eq!(bad_page().await.unwrap().status(), first, "still answered from the caches");
        loop {
            let res = bad_page().await.unwrap();
            if res.status() == 503 {
                problem(res, 503, "database_unavailable").await;
                break;
            }
            assert_eq!(res.status(), first);
            assert!(closed.elapsed() < std::time::Duration::from_secs(8), "the caches outlived 8 s without the counters");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(closed.elapsed() > std::time::Duration::from_secs(4), "{:?}", closed.elapsed());
    }
}
