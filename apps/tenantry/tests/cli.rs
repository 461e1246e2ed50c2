//! The operator commands, run as a user would: the real binary against a real database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use tenantry_store::testing::TestDb;

struct Cli {
    db: TestDb,
    /// More settings than the database's (`TENANTRY_BASE_DOMAIN` is example.com unless
    /// given here).
    env: Vec<(&'static str, String)>,
}

impl Cli {
    fn new(db: TestDb) -> Self {
        Self { db, env: vec![] }
    }

    /// With these settings too.
    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.env.push((name, value.into()));
        self
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        cmd.args(args)
            .env_clear()
            .env("TENANTRY_DATABASE_URL", self.db.url())
            .env("TENANTRY_BASE_DOMAIN", "example.com")
            .env("TENANTRY_LOG", "warn");
        if let Some(owner) = self.db.owner_url() {
            cmd.env("TENANTRY_MIGRATION_DATABASE_URL", owner);
        }
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd.output().expect("run tenantry")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], message: &str) {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(message),
            "{args:?}: expected {message:?} in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

async fn each_backend(test: impl Fn(&Cli)) {
    test(&Cli::new(TestDb::sqlite().await));
    if let Some(db) = TestDb::postgres().await {
        test(&Cli::new(db));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_lifecycle_from_the_command_line() {
    each_backend(|cli| {
        let out = cli.ok(&["tenant", "create", "--slug", "acme", "--name", "Acme Inc"]);
        assert!(
            out.contains("created tenant acme") && out.contains("acme.example.com"),
            "{out}"
        );
        cli.fails(
            &["tenant", "create", "--slug", "acme", "--name", "Again"],
            "slug 'acme' is already taken",
        );
        cli.fails(
            &["tenant", "create", "--slug", "Bad_Slug", "--name", "x"],
            "invalid slug 'Bad_Slug'",
        );
        cli.fails(
            &["tenant", "create", "--slug", "www", "--name", "x"],
            "reserved",
        );
        cli.fails(&["tenant", "show", "nobody"], "tenant not found");
        cli.fails(&["tenant", "suspend", "nobody"], "tenant not found");

        let out = cli.ok(&[
            "tenant",
            "create",
            "--slug",
            "beta",
            "--name",
            "Beta",
            "--owner-email",
            "Olga@Beta.test",
            "--owner-password",
            "correct horse battery",
        ]);
        assert!(
            out.contains("owner Olga@beta.test") && out.contains("created"),
            "{out}"
        );
        cli.fails(
            &[
                "tenant",
                "create",
                "--slug",
                "gamma",
                "--name",
                "G",
                "--owner-email",
                "g@g.test",
                "--owner-password",
                "password123",
            ],
            "too common",
        );
        cli.fails(
            &[
                "tenant",
                "create",
                "--slug",
                "beta",
                "--name",
                "B",
                "--owner-email",
                "new@b.test",
                "--owner-password",
                "correct horse battery",
            ],
            "already taken",
        );
        let out = cli.ok(&[
            "tenant",
            "create",
            "--slug",
            "delta",
            "--name",
            "Delta",
            "--owner-email",
            "olga@beta.test",
            "--owner-password",
            "correct horse battery",
        ]);
        assert!(out.contains("attached"), "an existing account: {out}");
        cli.fails(
            &[
                "tenant",
                "create",
                "--slug",
                "epsilon",
                "--name",
                "E",
                "--owner-email",
                "olga@beta.test",
                "--owner-password",
                "wrong password!",
            ],
            "invalid e-mail or password",
        );

        let out = cli.ok(&["tenant", "list"]);
        assert_eq!(out.lines().count(), 4, "header and three tenants: {out}");
        assert!(out.contains("acme") && out.contains("active"));

        cli.fails(
            &["admin", "create", "--email", "staff@op.test"],
            "give --password",
        );
        let made = cli.ok(&[
            "admin",
            "create",
            "--email",
            "staff@op.test",
            "--password",
            "correct horse battery",
        ]);
        assert!(
            made.contains("platform administrator: staff@op.test"),
            "{made}"
        );
        let again = cli.ok(&["admin", "create", "--email", "Staff@Op.test"]);
        assert!(
            again.contains("staff@op.test"),
            "existing accounts are promoted, idempotently: {again}"
        );
        cli.ok(&["admin", "create", "--email", "olga@beta.test"]);

        assert!(
            cli.ok(&["tenant", "suspend", "acme"])
                .contains("status:      suspended")
        );
        cli.fails(&["tenant", "suspend", "acme"], "already suspended");
        assert!(
            cli.ok(&["tenant", "list", "--status", "suspended"])
                .contains("acme")
        );
        assert!(
            cli.ok(&["tenant", "resume", "acme"])
                .contains("status:      active")
        );
        let out = cli.ok(&[
            "tenant",
            "maintenance",
            "on",
            "acme",
            "--message",
            "Back soon",
        ]);
        assert!(out.contains("maintenance: on (Back soon)"), "{out}");
        assert!(
            cli.ok(&["tenant", "maintenance", "off", "acme"])
                .contains("maintenance: off")
        );
        assert!(
            cli.ok(&["tenant", "rename", "acme", "--name", "Acme Group"])
                .contains("Acme Group")
        );

        assert!(
            cli.ok(&["tenant", "domain", "add", "acme", "shop.acme.org"])
                .contains("shop.acme.org (custom, pending)")
        );
        cli.fails(
            &["tenant", "domain", "primary", "acme", "shop.acme.org"],
            "not verified",
        );
        cli.fails(
            &["tenant", "domain", "add", "acme", "x.example.com"],
            "base domain",
        );
        cli.fails(
            &["tenant", "domain", "add", "acme", "not a host"],
            "invalid hostname",
        );
        cli.ok(&["tenant", "domain", "verify", "acme", "shop.acme.org"]);
        cli.ok(&["tenant", "domain", "primary", "acme", "shop.acme.org"]);
        let out = cli.ok(&["tenant", "show", "acme"]);
        assert!(
            out.contains("shop.acme.org (custom, verified, primary)"),
            "{out}"
        );
        assert!(
            out.contains("acme.example.com (subdomain, verified)\n"),
            "{out}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent() {
    each_backend(|cli| {
        assert!(cli.ok(&["migrate"]).contains("up to date"));
    })
    .await;
}

#[test]
fn help_documents_every_command_and_variable() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    // Commands are listed one per line, name first.
    let commands: Vec<&str> = top
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
        })
        .collect();
    for command in ["serve", "migrate", "openapi", "tenant"] {
        assert!(
            commands.contains(&command),
            "--help lacks the {command} command: {top}"
        );
    }
    // Each variable is attached to its flag by clap (`[env: NAME=…]`), not only in prose.
    for var in [
        "TENANTRY_BIND",
        "TENANTRY_DATABASE_URL",
        "TENANTRY_MIGRATION_DATABASE_URL",
        "TENANTRY_BASE_DOMAIN",
        "TENANTRY_LOG",
        "TENANTRY_LOG_FORMAT",
        "TENANTRY_BODY_LIMIT",
        "TENANTRY_OPERATOR_TOKEN",
        "TENANTRY_DB_POOL_SIZE",
        "TENANTRY_WORKERS",
        "TENANTRY_ALLOW_RLS_BYPASS",
        "TENANTRY_INTERNAL_BIND",
        "TENANTRY_BODY_TIMEOUT_SECS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "TENANTRY_SENTRY_DSN",
        "TENANTRY_SENTRY_ENVIRONMENT",
    ] {
        assert!(
            top.contains(&format!("[env: {var}")),
            "--help lacks [env: {var}]"
        );
        assert!(
            top.contains(&format!("  {var} ")),
            "the variables list lacks {var}"
        );
    }
    let tenant = help(&["tenant", "--help"]);
    for command in [
        "create",
        "list",
        "show",
        "rename",
        "suspend",
        "resume",
        "maintenance",
        "domain",
    ] {
        assert!(
            tenant.contains(&format!("\n  {command} ")),
            "tenant --help lacks {command}"
        );
    }
    let domain = help(&["tenant", "domain", "--help"]);
    for command in ["add", "verify", "primary", "list"] {
        assert!(
            domain.contains(&format!("\n  {command} ")),
            "tenant domain --help lacks {command}"
        );
    }
}

#[test]
fn openapi_command_prints_the_checked_in_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("openapi")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let checked_in = include_str!("../../../openapi/openapi.json");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), checked_in);
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["tenant", "list"])
        .env_clear()
        .env("TENANTRY_DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
}

/// A PostgreSQL nobody answers at: `serve` retries for `TENANTRY_DB_WAIT_SECONDS`, saying
/// so, then stops with the error; with 0 it stops at once (decision 0061).
#[test]
fn an_unreachable_postgres_is_waited_for_then_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (wait, at_least, retried) in [("0", 0, false), ("2", 2, true)] {
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .arg("serve")
            .env_clear()
            .env(
                "TENANTRY_DATABASE_URL",
                format!("postgres://tenantry_service:x@127.0.0.1:{closed}/tenantry"),
            )
            .env("TENANTRY_DB_WAIT_SECONDS", wait)
            .env("TENANTRY_BIND", "127.0.0.1:0")
            .env("TENANTRY_INTERNAL_BIND", "off")
            .output()
            .unwrap();
        let took = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "wait {wait}: {stderr}");
        assert!(
            stderr.contains("cannot read the migration state"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let said = format!("{stdout}{stderr}").contains("cannot reach the database yet");
        assert_eq!(said, retried, "wait {wait}: {stdout}{stderr}");
        assert!(
            took >= f64::from(at_least) - 0.1 && took < f64::from(at_least) + 8.0,
            "wait {wait} took {took:.1} s"
        );
    }
}

/// A password PostgreSQL refuses will not change by waiting: `serve` stops at once, with the
/// server's own reason (decision 0061).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_not_waited_for_and_says_why() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // postgres://user:password@host/db → the same with another password. The owner's URL:
    // always straight to PostgreSQL (behind PgBouncer, which answers a wrong password with
    // SQLSTATE 08P01, the start waits; decision 0061).
    let url = db.owner_url().unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (credentials, place) = rest.split_once('@').unwrap();
    let user = credentials.split(':').next().unwrap();
    let wrong = format!("{scheme}://{user}:not-the-password@{place}");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("serve")
        .env_clear()
        .env("TENANTRY_DATABASE_URL", &wrong)
        .env("TENANTRY_DB_WAIT_SECONDS", "30")
        .env("TENANTRY_BIND", "127.0.0.1:0")
        .env("TENANTRY_INTERNAL_BIND", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        started.elapsed().as_secs() < 10,
        "waited for a refused password"
    );
    assert!(
        stderr.contains("password authentication failed") && stderr.contains("SQLSTATE 28P01"),
        "{stderr}"
    );
    assert!(
        !format!("{stdout}{stderr}").contains("cannot reach the database yet"),
        "{stdout}{stderr}"
    );
}

fn http_get(addr: &str, path: &str, headers: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_logs_json_with_request_and_tenant_ids_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let created = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["tenant", "create", "--slug", "acme", "--name", "Acme"])
        .env_clear()
        .env("TENANTRY_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(created.status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("serve")
        .env_clear()
        .env("TENANTRY_DATABASE_URL", &url)
        .env("TENANTRY_BIND", "127.0.0.1:0")
        .env("TENANTRY_INTERNAL_BIND", "127.0.0.1:0")
        .env("TENANTRY_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("serving"))
        .expect("serving line");
    let line: serde_json::Value = serde_json::from_str(&serving).expect("JSON log line");
    assert_eq!(line["level"], "INFO");
    let addr = line["fields"]["address"]
        .as_str()
        .expect("address field")
        .to_owned();

    let response = http_get(
        &addr,
        "/api/v1/tenant",
        "X-Tenant-ID: acme\r\nX-Request-Id: log-test-1\r\n",
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let logged = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("log-test-1"))
        .expect("request log line");
    let logged: serde_json::Value = serde_json::from_str(&logged).unwrap();
    assert_eq!(logged["span"]["request_id"], "log-test-1");
    assert!(
        logged["span"]["tenant_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{logged}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "exit 0 after SIGTERM");
    assert!(rest.iter().any(|l| l.contains("\"stopped\"")), "{rest:?}");
}

/// Starts `tenantry serve` on a fresh SQLite database; returns the child, its address and the
/// rest of its (JSON) log.
fn start_server(
    dir: &std::path::Path,
    extra_env: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
) {
    use std::io::BufRead;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.arg("serve")
        .env_clear()
        .env(
            "TENANTRY_DATABASE_URL",
            format!("sqlite://{}/t.db", dir.display()),
        )
        .env("TENANTRY_BIND", "127.0.0.1:0")
        .env("TENANTRY_INTERNAL_BIND", "127.0.0.1:0")
        .env("TENANTRY_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("serving"))
        .expect("serving line");
    let line: serde_json::Value = serde_json::from_str(&serving).unwrap();
    let addr = line["fields"]["address"].as_str().unwrap().to_owned();
    (child, addr, lines)
}

/// A request still arriving when the signal comes is served before the process exits.
fn in_flight_request_survives(signal: &str) {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, lines) = start_server(dir.path(), &[("TENANTRY_OPERATOR_TOKEN", "tok")]);
    // "serving" is logged once the socket listens; the HTTP workers may still be starting (a
    // debug build, two servers starting at once). A connection not yet handed to a worker
    // when the signal closes the listener is reset, which is not what this test is about: it
    // starts once the server has answered four complete requests.
    for _ in 0..4 {
        let mut probe = std::net::TcpStream::connect(&addr).unwrap();
        probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        probe.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    let body = br#"{"slug": "acme", "name": "Acme Inc"}"#;
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /api/v1/platform/tenants HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tok\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..10]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream.write_all(&body[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "{signal}: in-flight request got {response:?}"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "exit 0 after {signal}");
    let name = signal.trim_start_matches("-");
    assert!(
        rest.iter()
            .any(|l| l.contains("stopping gracefully") && l.contains(&format!("SIG{name}"))),
        "{rest:?}"
    );
    // New connections are refused once stopped.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn sigterm_stops_gracefully() {
    in_flight_request_survives("-TERM");
}

#[test]
fn sigint_stops_gracefully() {
    in_flight_request_survives("-INT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_serve_as_a_role_that_bypasses_rls() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let owner = db.owner_url().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .arg("serve")
        .env_clear()
        .env("TENANTRY_DATABASE_URL", &owner)
        .env("TENANTRY_BIND", "127.0.0.1:0")
        .env("TENANTRY_INTERNAL_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve") && stderr.contains("owns"),
        "{stderr}"
    );
}

#[test]
fn misconfigured_telemetry_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("TENANTRY_SENTRY_DSN", "not a dsn"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .arg("serve")
            .env_clear()
            .env(var, value)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
        assert!(!dir.path().join("data").exists(), "nothing started");
    }
}

/// `tenant validate`: every check passes on a tenant made by the CLI; a quota that no longer
/// follows the plan and a primary domain that does not resolve fail it (exit 1), in text and
/// in JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_validate_reports_each_check() {
    async fn on(db: TestDb) {
        let cli = Cli::new(db)
            .with("TENANTRY_BASE_DOMAIN", "localhost")
            .with("TENANTRY_OWNER_PASSWORD", "correct horse battery");
        let (db, run) = (&cli.db, |args: &[&str]| cli.run(args));
        let text = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
        let made = run(&[
            "tenant",
            "create",
            "--slug",
            "sound",
            "--name",
            "Sound",
            "--owner-email",
            "o@sound.test",
        ]);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let out = run(&["tenant", "validate", "sound"]);
        assert!(
            out.status.success(),
            "{}{}",
            text(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        for name in [
            "row_level_security",
            "owner",
            "system_roles",
            "primary_domain",
            "quotas",
            "audit_chain",
            "jobs",
        ] {
            assert!(
                text(&out)
                    .lines()
                    .any(|l| l.trim_start().starts_with("ok") && l.contains(name)),
                "{name}: {}",
                text(&out)
            );
        }
        let rls = text(&out)
            .lines()
            .find(|l| l.contains("row_level_security"))
            .unwrap()
            .to_owned();
        assert_eq!(
            rls.contains("not applicable"),
            db.owner_url().is_none(),
            "{rls}"
        );

        // A tenant without an owner, whose quota was changed behind the plan's back.
        let bare = run(&["tenant", "create", "--slug", "bare", "--name", "Bare"]);
        assert!(bare.status.success());
        let raise = "UPDATE tenant_quotas SET limit_value = 999 WHERE resource = 'members'";
        if db.owner_url().is_some() {
            db.as_owner(&format!(
                "ALTER TABLE tenant_quotas NO FORCE ROW LEVEL SECURITY; {raise}; \
                 ALTER TABLE tenant_quotas FORCE ROW LEVEL SECURITY;"
            ))
            .await;
        } else {
            db.as_owner(raise).await;
        }
        let out = run(&["tenant", "validate", "--all", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let reports: serde_json::Value = serde_json::from_str(&text(&out)).unwrap();
        let failed = |slug: &str, check: &str| {
            reports
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["tenant"] == slug)
                .unwrap()["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == check && c["ok"] == false)
        };
        assert!(failed("bare", "owner"), "{reports}");
        assert!(
            failed("sound", "quotas") && !failed("bare", "quotas"),
            "{reports}"
        );
        assert!(!failed("sound", "audit_chain"), "{reports}");
        let out = run(&["tenant", "validate", "nobody"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out).contains("no tenant has this id or slug"),
            "{}",
            text(&out)
        );
        if db.owner_url().is_some() {
            // A table whose row-level security is no longer forced is named.
            db.as_owner("ALTER TABLE products NO FORCE ROW LEVEL SECURITY")
                .await;
            let out = run(&["tenant", "validate", "sound"]);
            let line = text(&out)
                .lines()
                .find(|l| l.contains("row_level_security"))
                .unwrap()
                .to_owned();
            assert!(line.contains("FAIL") && line.contains("products"), "{line}");
            db.as_owner("ALTER TABLE products FORCE ROW LEVEL SECURITY")
                .await;
        }
    }
    on(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        on(db).await;
    }
}

/// `tenant import-csv`: a file with a bad row creates nothing and names the line; a good one
/// creates every tenant (on its plan) and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_import_csv_creates_all_or_nothing() {
    async fn on(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli::new(db);
        let run = |args: &[&str]| cli.run(args);
        let header = "name,subdomain,plan_type,contact_email,max_assets,max_users\n";
        let bad = dir.path().join("bad.csv");
        std::fs::write(
            &bad,
            format!("{header}\"Acme Corp\",acme,professional,admin@acme.com,500,50\nBeta,beta,gold,admin@beta.com,,\n"),
        )
        .unwrap();
        let out = run(&["tenant", "import-csv", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("line 3: plan_type"), "{stderr}");
        let listed = run(&["tenant", "list"]);
        assert!(!String::from_utf8_lossy(&listed.stdout).contains("acme"));

        let good = dir.path().join("good.csv");
        std::fs::write(
            &good,
            format!("{header}\"Acme Corp\",acme,professional,admin@acme.com,500,50\n\"Beta Inc\",beta,basic,admin@beta.com,100,10\n"),
        )
        .unwrap();
        let out = run(&["tenant", "import-csv", good.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("created tenant beta") && stdout.contains("on starter"),
            "{stdout}"
        );
        assert!(stdout.contains("2 tenant(s) created"), "{stdout}");
        let listed = String::from_utf8_lossy(&run(&["tenant", "list"]).stdout).into_owned();
        assert!(
            listed.contains("acme") && listed.contains("beta"),
            "{listed}"
        );
    }
    on(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        on(db).await;
    }
}

/// `tenant backups create / list` and `tenant restore`: a backup taken, listed, and restored
/// over a change (only with --confirm).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_backups_and_restore() {
    async fn on(db: TestDb) {
        let dir = tempfile::tempdir().unwrap();
        let path = |p: &str| dir.path().join(p).display().to_string();
        let cli = Cli::new(db)
            .with("TENANTRY_FILES", path("files"))
            .with("TENANTRY_MASTER_KEY_FILE", path("master.key"));
        let run = |args: &[&str]| cli.run(args);
        let text = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
        let made = run(&["tenant", "create", "--slug", "kept", "--name", "Kept"]);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let taken = run(&["tenant", "backups", "create", "kept"]);
        assert!(
            taken.status.success(),
            "{}",
            String::from_utf8_lossy(&taken.stderr)
        );
        let id = text(&taken).split_whitespace().nth(1).unwrap().to_owned();
        assert!(text(&taken).contains("encrypted"), "{}", text(&taken));
        let listed = run(&["tenant", "backups", "list", "kept"]);
        assert!(text(&listed).contains(&id), "{}", text(&listed));
        let refused = run(&["tenant", "restore", "kept", "--backup", &id]);
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--confirm"));
        let restored = run(&["tenant", "restore", "kept", "--backup", &id, "--confirm"]);
        assert!(
            restored.status.success(),
            "{}",
            String::from_utf8_lossy(&restored.stderr)
        );
        assert!(
            text(&restored).contains("restored kept from backup"),
            "{}",
            text(&restored)
        );
        let unknown = run(&[
            "tenant",
            "restore",
            "kept",
            "--backup",
            &uuid::Uuid::now_v7().to_string(),
            "--confirm",
        ]);
        assert_eq!(unknown.status.code(), Some(1));
    }
    on(TestDb::sqlite().await).await;
    if let Some(db) = TestDb::postgres().await {
        on(db).await;
    }
}
