//! A tenant's own domains, verified against a real DNS server the test runs (dnslib's), and
//! the tenant's settings.

use reqwest::Method;
use serde_json::{Value, json};
use tenantry_tests::{DnsServer, Options, TestApp, app_tests, call, ok, owner, problem};

/// Puts the tenant on a plan with custom domains.
async fn professional(app: &TestApp, slug: &str) {
    let res = app
        .operator(
            Method::POST,
            &format!("/api/v1/platform/tenants/{slug}/change-plan"),
        )
        .json(&json!({"plan": "professional"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
}

fn with_dns(dns: &DnsServer) -> Options {
    Options {
        dns_resolver: Some(dns.addr),
        // A lost record stops routing at the second check that misses it.
        domain_policy: tenantry_tenancy::CheckPolicy {
            grace: chrono::Duration::zero(),
            ..Default::default()
        },
        ..Options::default()
    }
}

async fn resolves_to(app: &TestApp, host: &str) -> Option<String> {
    let res = app
        .get_as_host(host, "/api/v1/tenant")
        .header("X-Tenantry-No-Redirect", "1")
        .send()
        .await
        .unwrap();
    if res.status() == 404 {
        return None;
    }
    let body: Value = res.json().await.unwrap();
    body["slug"].as_str().map(str::to_owned)
}

async fn domains_against_a_real_dns_server(dns: &DnsServer, app: &TestApp) {
    let res = app
        .operator(Method::PATCH, "/api/v1/platform/plans/starter")
        .json(&json!({"default": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t = owner(app, "acme").await;
    let rival = owner(app, "globex").await;
    // The plan decides first.
    let res = call(app, "acme", Method::POST, "/api/v1/domains", &t)
        .json(&json!({"hostname": "portal.acme.test"}))
        .send()
        .await
        .unwrap();
    problem(res, 403, "feature_not_in_plan").await;
    professional(app, "acme").await;
    professional(app, "globex").await;

    let d = ok(
        call(app, "acme", Method::POST, "/api/v1/domains", &t)
            .json(&json!({"hostname": "Portal.Acme.test"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(d["hostname"], "portal.acme.test");
    assert_eq!(d["status"], "pending");
    let token = d["verification_token"].as_str().unwrap().to_owned();
    assert_eq!(
        d["records"]["txt"]["name"],
        "_tenantry-challenge.portal.acme.test"
    );
    assert_eq!(d["records"]["txt"]["value"], token.as_str());
    assert_eq!(d["records"]["cname"]["value"], "localhost");
    assert!(
        d["records"]["http"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&token)
    );
    // A rival's pending claim on the same name is allowed: the first verified wins.
    let claim = ok(
        call(app, "globex", Method::POST, "/api/v1/domains", &rival)
            .json(&json!({"hostname": "portal.acme.test"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let rival_token = claim["verification_token"].as_str().unwrap().to_owned();

    // Nothing published yet: still pending, and the reason is given.
    let verify = |token: String| {
        call(
            app,
            "acme",
            Method::POST,
            "/api/v1/domains/portal.acme.test/verify",
            &token,
        )
        .send()
    };
    let d = ok(verify(t.clone()).await.unwrap(), 200).await;
    assert_eq!(d["status"], "pending");
    assert!(
        d["check_error"].as_str().unwrap().contains("no TXT record"),
        "{d}"
    );
    assert_eq!(resolves_to(app, "portal.acme.test").await, None);

    // A wrong value is not a proof.
    dns.serve(&json!({"_tenantry-challenge.portal.acme.test": {"TXT": ["not-the-token"]}}));
    let d = ok(verify(t.clone()).await.unwrap(), 200).await;
    assert_eq!(d["status"], "pending");
    assert!(
        d["check_error"]
            .as_str()
            .unwrap()
            .contains("does not hold the token"),
        "{d}"
    );

    // The record appears late, with the CNAME.
    dns.serve(&json!({
        "_tenantry-challenge.portal.acme.test": {"TXT": [token, rival_token]},
        "portal.acme.test": {"CNAME": "edge.platform.test."},
        "edge.platform.test": {"A": ["127.0.0.1"]},
    }));
    let d = ok(verify(t.clone()).await.unwrap(), 200).await;
    assert_eq!(d["status"], "verified", "{d}");
    assert_eq!(d["cname_target"], "edge.platform.test");
    assert_eq!(
        resolves_to(app, "portal.acme.test").await.as_deref(),
        Some("acme")
    );
    let ask = format!(
        "http://{}/internal/tls/ask?domain=portal.acme.test",
        app.internal_addr
    );
    assert_eq!(reqwest::get(&ask).await.unwrap().status(), 200);

    // The rival's claim cannot verify now, and nobody else may add the name.
    let r = ok(
        call(
            app,
            "globex",
            Method::POST,
            "/api/v1/domains/portal.acme.test/verify",
            &rival,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(r["status"], "pending");
    assert!(
        r["check_error"]
            .as_str()
            .unwrap()
            .contains("another tenant"),
        "{r}"
    );
    let third = owner(app, "initech").await;
    professional(app, "initech").await;
    let res = call(app, "initech", Method::POST, "/api/v1/domains", &third)
        .json(&json!({"hostname": "portal.acme.test"}))
        .send()
        .await
        .unwrap();
    problem(res, 409, "hostname_taken").await;

    // Primary: the canonical host.
    let d = ok(
        call(
            app,
            "acme",
            Method::POST,
            "/api/v1/domains/portal.acme.test/primary",
            &t,
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(d["is_primary"], true);
    let list = ok(
        call(app, "acme", Method::GET, "/api/v1/domains", &t)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let hosts: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["hostname"].as_str().unwrap().to_owned(),
                d["is_primary"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hosts,
        [
            ("portal.acme.test".to_owned(), true),
            ("acme.localhost".to_owned(), false)
        ]
    );

    // The record is removed: the domain keeps routing through the grace period (zero here:
    // until the next check), then goes back to pending, stops routing and is no longer
    // primary.
    dns.serve(&json!({}));
    let d = ok(verify(t.clone()).await.unwrap(), 200).await;
    assert_eq!(d["status"], "verified");
    assert!(d["lost_at"].is_string(), "{d}");
    assert!(d["routing_until"].is_string());
    assert_eq!(
        resolves_to(app, "portal.acme.test").await.as_deref(),
        Some("acme")
    );
    let d = ok(verify(t.clone()).await.unwrap(), 200).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["is_primary"], false);
    assert_eq!(resolves_to(app, "portal.acme.test").await, None);
    assert_eq!(reqwest::get(&ask).await.unwrap().status(), 404);

    // Each change is in the audit trail and an event.
    let events = ok(
        call(app, "acme", Method::GET, "/api/v1/events?limit=100", &t)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let types: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|t| t.starts_with("domain."))
        .collect();
    for expected in [
        "domain.created",
        "domain.verified",
        "domain.updated",
        "domain.verification_lost",
        "domain.unverified",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }

    // Removing: the custom one goes, the subdomain stays.
    let res = call(
        app,
        "acme",
        Method::DELETE,
        "/api/v1/domains/portal.acme.test",
        &t,
    )
    .send()
    .await
    .unwrap();
    ok(res, 204).await;
    let res = call(
        app,
        "acme",
        Method::DELETE,
        "/api/v1/domains/acme.localhost",
        &t,
    )
    .send()
    .await
    .unwrap();
    problem(res, 409, "subdomain_required").await;
    let res = call(
        app,
        "acme",
        Method::GET,
        "/api/v1/domains/portal.acme.test",
        &t,
    )
    .send()
    .await
    .unwrap();
    problem(res, 404, "domain_not_found").await;
}

/// The other proof: the challenge file, served by Python's own `http.server` from a
/// directory, found through the test's DNS server.
async fn the_http_file_proves_a_domain(dns: &DnsServer, app: &TestApp, root: &std::path::Path) {
    let t = owner(app, "acme").await;
    let d = ok(
        call(app, "acme", Method::POST, "/api/v1/domains", &t)
            .json(&json!({"hostname": "files.acme.test"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let token = d["verification_token"].as_str().unwrap().to_owned();
    dns.serve(&json!({"files.acme.test": {"A": ["127.0.0.1"]}}));
    let verify = || {
        call(
            app,
            "acme",
            Method::POST,
            "/api/v1/domains/files.acme.test/verify",
            &t,
        )
        .send()
    };
    // The web server is there, the file is not.
    let d = ok(verify().await.unwrap(), 200).await;
    assert_eq!(d["status"], "pending");
    assert!(d["check_error"].as_str().unwrap().contains("404"), "{d}");
    // The wrong body is no proof.
    let file = root.join(".well-known/tenantry-challenge").join(&token);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "something else").unwrap();
    let d = ok(verify().await.unwrap(), 200).await;
    assert_eq!(d["status"], "pending");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let d = ok(verify().await.unwrap(), 200).await;
    assert_eq!(d["status"], "verified", "{d}");
}

/// Python's `http.server` on a loopback port, serving `root`.
struct WebServer(std::process::Child, u16);

impl WebServer {
    fn start(root: &std::path::Path) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let python = std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        // A free port may be taken by another test's server before this one binds it: on a
        // failed start, another port.
        for _ in 0..10 {
            let port = tenantry_tests::free_port();
            let child = std::process::Command::new(&python)
                .args([
                    "-m",
                    "http.server",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                ])
                .arg(root)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // Dropped (killed and waited for) if it never answers.
            let mut server = Self(child, port);
            for _ in 0..200 {
                if let Ok(Some(_)) = server.0.try_wait() {
                    break; // it exited: the port was taken
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    // Answering, and still ours (not another process on a port it lost).
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    if let Ok(None) = server.0.try_wait() {
                        return server;
                    }
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            drop(server);
        }
        panic!("http.server did not start on any of 10 ports");
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn with_dns_and_web(dns: &DnsServer, web: &WebServer) -> Options {
    Options {
        domain_http_port: web.1,
        ..with_dns(dns)
    }
}

#[tokio::test]
async fn the_http_file_proves_a_domain_sqlite() {
    let Some(dns) = DnsServer::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let web = WebServer::start(root.path());
    let app = TestApp::start(
        tenantry_store::testing::TestDb::sqlite().await,
        with_dns_and_web(&dns, &web),
    )
    .await;
    the_http_file_proves_a_domain(&dns, &app, root.path()).await;
}

#[tokio::test]
async fn the_http_file_proves_a_domain_postgres() {
    let Some(dns) = DnsServer::start() else {
        return;
    };
    let Some(db) = tenantry_store::testing::TestDb::postgres().await else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let web = WebServer::start(root.path());
    let app = TestApp::start(db, with_dns_and_web(&dns, &web)).await;
    the_http_file_proves_a_domain(&dns, &app, root.path()).await;
}

/// Nobody asks: the worker's sweep (the backbone job) finds the record and verifies.
async fn the_worker_verifies_due_domains(dns: &DnsServer, app: &TestApp) {
    use tenantry_jobs::JobQueue;
    let t = owner(app, "acme").await;
    let d = ok(
        call(app, "acme", Method::POST, "/api/v1/domains", &t)
            .json(&json!({"hostname": "swept.acme.test"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert!(d["next_check_at"].is_string(), "due at once: {d}");
    let token = d["verification_token"].as_str().unwrap().to_owned();
    dns.serve(&json!({"_tenantry-challenge.swept.acme.test": {"TXT": [token]}}));
    // The sweep as the worker's schedule queues it every minute.
    let job =
        tenantry_jobs::NewJob::now(None, tenantry_jobs::Job::CheckDomains, chrono::Utc::now());
    assert!(app.db().db().enqueue(&job).await.unwrap());
    let mut status = Value::Null;
    for _ in 0..200 {
        let d = ok(
            call(
                app,
                "acme",
                Method::GET,
                "/api/v1/domains/swept.acme.test",
                &t,
            )
            .send()
            .await
            .unwrap(),
            200,
        )
        .await;
        status = d["status"].clone();
        if status == "verified" {
            // The next look is hours away.
            let next: chrono::DateTime<chrono::Utc> =
                d["next_check_at"].as_str().unwrap().parse().unwrap();
            assert!(
                next > chrono::Utc::now() + chrono::Duration::hours(5),
                "{d}"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "verified");
    assert_eq!(
        resolves_to(app, "swept.acme.test").await.as_deref(),
        Some("acme")
    );
}

#[tokio::test]
async fn the_worker_verifies_due_domains_sqlite() {
    let Some(dns) = DnsServer::start() else {
        return;
    };
    let app = TestApp::start(
        tenantry_store::testing::TestDb::sqlite().await,
        with_dns(&dns),
    )
    .await;
    the_worker_verifies_due_domains(&dns, &app).await;
}

#[tokio::test]
async fn the_worker_verifies_due_domains_postgres() {
    let Some(dns) = DnsServer::start() else {
        return;
    };
    let Some(db) = tenantry_store::testing::TestDb::postgres().await else {
        return;
    };
    let app = TestApp::start(db, with_dns(&dns)).await;
    the_worker_verifies_due_domains(&dns, &app).await;
}

#[tokio::test]
async fn domains_verified_over_dns_sqlite() {
    let Some(dns) = DnsServer::start() else {
        return;
    };
    let app = TestApp::start(
        tenantry_store::testing::TestDb::sqlite().await,
        with_dns(&dns),
    )
    .await;
    domains_against_a_real_dns_server(&dns, &app).await;
}

#[tokio::test]
async fn domains_verified_over_dns_postgres() {
    let Some(dns) = DnsServer::start() else {
        return;
    };
    let Some(db) = tenantry_store::testing::TestDb::postgres().await else {
        return;
    };
    let app = TestApp::start(db, with_dns(&dns)).await;
    domains_against_a_real_dns_server(&dns, &app).await;
}

app_tests! {
    async fn refused_hostnames(app) {
        let t = owner(app, "acme").await;
        professional(app, "acme").await;
        for (hostname, code) in [
            ("beta.localhost", "hostname_reserved"),
            ("localhost", "validation_failed"),
            ("co.uk", "hostname_reserved"),
            ("github.io", "hostname_reserved"),
            ("192.168.1.10", "validation_failed"),
            ("[::1]", "validation_failed"),
            ("not a host", "validation_failed"),
        ] {
            let res = call(app, "acme", Method::POST, "/api/v1/domains", &t)
                .json(&json!({"hostname": hostname}))
                .send()
                .await
                .unwrap();
            let body = problem(res, 422, code).await;
            assert_eq!(body["errors"][0]["field"], "hostname", "{hostname}: {body}");
        }
        ok(call(app, "acme", Method::POST, "/api/v1/domains", &t).json(&json!({"hostname": "shop.acme.co.uk"})).send().await.unwrap(), 201).await;
        let res = call(app, "acme", Method::POST, "/api/v1/domains", &t).json(&json!({"hostname": "shop.acme.co.uk"})).send().await.unwrap();
        problem(res, 409, "domain_exists").await;
        let res = call(app, "acme", Method::POST, "/api/v1/domains/shop.acme.co.uk/primary", &t).send().await.unwrap();
        problem(res, 409, "domain_not_verified").await;
    }

    async fn settings_are_validated_audited_and_gate_maintenance(app) {
        let t = owner(app, "acme").await;
        let s = ok(call(app, "acme", Method::GET, "/api/v1/settings", &t).send().await.unwrap(), 200).await;
        assert_eq!(s["maintenance"]["enabled"], false);
        assert_eq!(s["security"]["ip_allowlist"], json!([]));

        // Every invalid field is reported, and nothing is saved.
        let res = call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({
                "branding": {"primary_color": "red", "logo_url": "http://cdn.acme.test/logo.png", "display_name": "Acme <b>"},
                "locale": "english",
                "time_zone": "Mars/Olympus",
                "security": {
                    "ip_allowlist": ["10.0.0.0/33"],
                    "csp": {"script_src": ["'unsafe-eval'"]},
                    "cors_origins": ["https://*.acme.test"]
                }
            }))
            .send()
            .await
            .unwrap();
        let body = problem(res, 422, "validation_failed").await;
        let mut fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["branding.logo_url", "branding.primary_color", "locale", "security.cors_origins", "security.csp", "security.ip_allowlist", "time_zone"], "{body}");
        let again = ok(call(app, "acme", Method::GET, "/api/v1/settings", &t).send().await.unwrap(), 200).await;
        assert_eq!(again["branding"], s["branding"], "nothing saved");

        let s = ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({
                "branding": {"display_name": "Acme <script>", "support_url": "https://help.acme.test", "primary_color": "#0055FF"},
                "locale": "en_gb",
                "time_zone": "Europe/London",
                "security": {
                    "ip_allowlist": ["203.0.113.0/24", "2001:db8::1", "127.0.0.1"],
                    "csp": {"script_src": ["'self'", "https://cdn.acme.test"]},
                    "cors_origins": ["https://app.acme.test"]
                }
            }))
            .send()
            .await
            .unwrap(), 200).await;
        assert_eq!(s["branding"]["primary_color"], "#0055ff");
        assert_eq!(s["locale"], "en-GB");
        assert_eq!(s["time_zone"], "Europe/London");
        assert_eq!(s["security"]["ip_allowlist"], json!(["203.0.113.0/24", "2001:db8::1/128", "127.0.0.1/32"]));
        assert_eq!(s["security"]["csp"]["script_src"], json!(["'self'", "https://cdn.acme.test"]));
        // Absent parts stay; null clears.
        let s = ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"locale": null, "security": {"csp": null}}))
            .send().await.unwrap(), 200).await;
        assert_eq!(s["locale"], Value::Null);
        assert_eq!(s["time_zone"], "Europe/London");
        assert_eq!(s["security"]["csp"], Value::Null);
        assert_eq!(s["security"]["cors_origins"], json!(["https://app.acme.test"]));
        // The public profile shows the branding.
        let profile = ok(app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap(), 200).await;
        assert_eq!(profile["branding"]["support_url"], "https://help.acme.test");

        // Maintenance: members get 503; the tenant's administrators still get through.
        let member_email = "mia@acme.test";
        let member = app.create_user(member_email, tenantry_tests::PASSWORD).await;
        let tenant = ok(app.get("/api/v1/tenant").header("X-Tenant-ID", "acme").send().await.unwrap(), 200).await;
        app.add_member(tenant["id"].as_str().unwrap(), member.id, "member").await;
        let mia = app.login(member_email, tenantry_tests::PASSWORD).await["access_token"].as_str().unwrap().to_owned();
        ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"maintenance": {"enabled": true, "message": "Back at noon"}}))
            .send().await.unwrap(), 200).await;
        let res = call(app, "acme", Method::GET, "/api/v1/products", &mia).send().await.unwrap();
        let body = problem(res, 503, "tenant_maintenance").await;
        assert!(body.to_string().contains("Back at noon"), "{body}");
        ok(call(app, "acme", Method::GET, "/api/v1/products", &t).send().await.unwrap(), 200).await;
        let s = ok(call(app, "acme", Method::PATCH, "/api/v1/settings", &t)
            .json(&json!({"maintenance": {"enabled": false}}))
            .send().await.unwrap(), 200).await;
        assert_eq!(s["maintenance"]["enabled"], false);
        ok(call(app, "acme", Method::GET, "/api/v1/products", &mia).send().await.unwrap(), 200).await;
        // A member may not change settings.
        let res = call(app, "acme", Method::GET, "/api/v1/settings", &mia).send().await.unwrap();
        problem(res, 403, "permission_denied").await;

        // Audited: the trail holds the change of each field.
        let trail = ok(call(app, "acme", Method::GET, "/api/v1/audit-logs?entity_type=tenant_settings&limit=100", &t).send().await.unwrap(), 200).await;
        let changed: Vec<String> = trail["items"].as_array().unwrap().iter().flat_map(|e| e["changes"].as_object().unwrap().keys().cloned().collect::<Vec<_>>()).collect();
        for field in ["locale", "maintenance", "security", "support_url"] {
            assert!(changed.iter().any(|c| c == field), "{field} in {changed:?}");
        }
    }
}
