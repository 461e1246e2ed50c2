//! The service as operators run it: the real `tenantry serve` binary on a loopback port, with
//! the environment a test chooses, spoken to over HTTP.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const OPERATOR_TOKEN: &str = "fault-suite-operator-token-0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

/// An HTTP client for the tests (TLS needs its provider chosen first, as in the service).
pub fn client() -> reqwest::Client {
    tenantry_telemetry::use_ring_for_tls();
    reqwest::Client::new()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running `tenantry serve`; killed when dropped if still running.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

/// What a server is started with.
pub struct Launch {
    pub database_url: String,
    pub migration_url: Option<String>,
    pub env: Vec<(String, String)>,
}

impl Launch {
    pub fn new(database_url: &str, migration_url: Option<String>) -> Self {
        Self {
            database_url: database_url.to_owned(),
            migration_url,
            env: Vec::new(),
        }
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// Starts it and waits until `/readyz` answers 200 (30 s).
    pub async fn start(&self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        self.start_in(dir).await
    }

    /// In a given working directory (a restart keeps its files).
    pub async fn start_in(&self, dir: tempfile::TempDir) -> Server {
        let port = free_port();
        let log = dir.path().join(format!("server-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        cmd.arg("serve")
            .env_clear()
            .current_dir(dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TENANTRY_DATABASE_URL", &self.database_url)
            .env("TENANTRY_BIND", format!("127.0.0.1:{port}"))
            .env("TENANTRY_INTERNAL_BIND", "off")
            .env("TENANTRY_BASE_DOMAIN", "example.com")
            .env("TENANTRY_OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("TENANTRY_MAIL_DIR", dir.path().join("mail"))
            .env("TENANTRY_LOG", "info")
            // Load and fault tests: no request limits (tests of the limits set them).
            .env("TENANTRY_RATE_LIMITS", "off")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(owner) = &self.migration_url {
            cmd.env("TENANTRY_MIGRATION_DATABASE_URL", owner);
        }
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        let child = cmd.spawn().expect("start tenantry serve");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            dir,
        };
        server.wait_ready(Duration::from_secs(30)).await;
        server
    }
}

impl Server {
    async fn wait_ready(&self, within: Duration) {
        let client = client();
        let deadline = Instant::now() + within;
        loop {
            let ready = client
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become ready:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `within` for the process to end.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`, and the working directory back for a restart.
    pub fn crash(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A signed-up tenant and its owner's access token.
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub token: String,
}

impl Tenant {
    pub fn get(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        client
            .get(url)
            .header("X-Tenant-ID", &self.slug)
            .bearer_auth(&self.token)
    }

    /// GETs `url` as the owner and reads the JSON answer.
    pub async fn get_json(&self, client: &reqwest::Client, url: &str) -> Value {
        let res = self.get(client, url).send().await.unwrap();
        res.json().await.unwrap()
    }

    pub fn post(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        client
            .post(url)
            .header("X-Tenant-ID", &self.slug)
            .bearer_auth(&self.token)
    }
}

/// Signs an organisation up through the API.
/// Signs up an organisation on the unlimited plan (made the default first: these tests load
/// the service, they do not test plans).
pub async fn onboard(client: &reqwest::Client, server: &Server, slug: &str) -> Tenant {
    let res = client
        .patch(format!("{}/api/v1/platform/plans/enterprise", server.url))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"default": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = client
        .post(format!("{}/api/v1/onboard", server.url))
        .json(&json!({
            "organisation_name": format!("{slug} Inc"),
            "slug": slug,
            "owner_email": format!("owner@{slug}.test"),
            "owner_name": "Olive Owner",
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    Tenant {
        id: body["tenant"]["id"].as_str().unwrap().to_owned(),
        slug: slug.to_owned(),
        token: body["session"]["access_token"].as_str().unwrap().to_owned(),
    }
}

/// Whether this process runs as root (mounting a tmpfs, running PostgreSQL as `postgres`).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL cluster of the test's own, on a free port — one it may stop and start
/// without disturbing the shared test cluster. Only where the PostgreSQL suite runs
/// (`TENANTRY_TEST_PG_URL` set), with the server binaries installed.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    pub port: u16,
}

impl PrivateCluster {
    pub fn start() -> Option<Self> {
        std::env::var_os("TENANTRY_TEST_PG_URL")?;
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("pg_ctl").exists())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        // The PostgreSQL suite is on: a missing server is a broken set-up, not a skip.
        let bin = versions
            .pop()
            .expect("TENANTRY_TEST_PG_URL is set but no PostgreSQL server binaries were found");
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let cluster = Self {
            dir,
            bin,
            port: free_port(),
        };
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_again();
        let sql = "CREATE ROLE tenantry_owner LOGIN PASSWORD 'tenantry_owner' CREATEDB; \
                   CREATE ROLE tenantry_service LOGIN PASSWORD 'tenantry_service' \
                   NOSUPERUSER NOBYPASSRLS; \
                   CREATE DATABASE tenantry OWNER tenantry_owner;";
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            let out = Command::new(cluster.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"])
                .args(["-c", statement])
                .output()
                .unwrap();
            assert!(out.status.success(), "{statement}: {out:?}");
        }
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs a server program as `postgres` (it refuses root).
    fn run_as_postgres(&self, program: &str, args: &[&str]) -> std::io::Result<Output> {
        let path = self.bin.join(program);
        if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(path)
                .args(args)
                .output()
        } else {
            Command::new(path).args(args).output()
        }
    }

    /// [`Self::run_as_postgres`], which must succeed.
    fn pg(&self, program: &str, args: &[&str]) {
        let out = self.run_as_postgres(program, args).unwrap();
        assert!(out.status.success(), "{program} {args:?}: {out:?}");
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops it the way a restart does: clients are disconnected, transactions rolled back.
    pub fn stop(&self) {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn service_url(&self) -> String {
        format!(
            "postgres://tenantry_service:tenantry_service@127.0.0.1:{}/tenantry",
            self.port
        )
    }

    pub fn owner_url(&self) -> String {
        format!(
            "postgres://tenantry_owner:tenantry_owner@127.0.0.1:{}/tenantry",
            self.port
        )
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.run_as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// A small tmpfs (root only): a disk that fills up.
pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Self> {
        if !is_root() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        // As root a mount that fails is a broken set-up (say, a container without
        // CAP_SYS_ADMIN), not a reason to skip.
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs as root");
        Some(Self(dir))
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}
