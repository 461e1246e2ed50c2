//! Starts the real application on a loopback port, on a fresh database, and speaks HTTP to it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::Arc;

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use tenantry_http::{HttpConfig, ServerOptions, Shared};
use tenantry_kernel::SystemClock;
use tenantry_store::testing::TestDb;
use tenantry_tenancy::BaseDomain;

pub use tenantry_store::testing::report_postgres_suite;

mod authenticator;
mod oidc_provider;
mod smtp;
pub use authenticator::Authenticator;
pub use oidc_provider::{Browser, OidcProvider};
pub use smtp::{Received, SmtpSink};

pub const OPERATOR_TOKEN: &str = "test-operator-token";
pub const TOKEN_ISSUER: &str = "tenantry-test";
/// The Stripe webhook secret every test app is configured with.
pub const STRIPE_SECRET: &str = "whsec_tenantry_test_secret";

/// Knobs a test may turn.
#[derive(Clone)]
pub struct Options {
    pub body_limit: usize,
    pub body_timeout: std::time::Duration,
    pub operator_token: Option<String>,
    /// `smtp://127.0.0.1:<port>` of a test's SMTP sink; files otherwise.
    pub smtp_url: Option<String>,
    /// The background worker, as `serve` runs it (with quick retries); `None`: no worker.
    pub worker: Option<tenantry::cli::WorkerArgs>,
    /// How long a data export can be downloaded.
    pub export_ttl: chrono::Duration,
    /// Between an organisation's deletion request and its purge.
    pub purge_grace: chrono::Duration,
    /// The master key sealing tenants' secrets (a second instance gets the first's).
    pub master_key: tenantry_secrets::MasterKey,
    /// What webhook targets may be (default: https only, public addresses only).
    pub webhook_rules: tenantry_webhooks::TargetRules,
    /// How deliveries are retried (default: quick retries, 100 ms then 200 ms).
    pub webhook_delivery: tenantry::wiring::WebhookDelivery,
    /// How subscriptions' states bite (default: the service's, a week of grace).
    pub billing: tenantry_billing::BillingPolicy,
    /// Request limits (default: plan tiers on; anonymous calls unlimited, as the tests sign
    /// up many organisations from one address).
    pub rate_limits: tenantry_http::rate_limit::RateLimitConfig,
    /// `redis://…` to keep the limits' counters in Redis.
    pub redis_url: Option<String>,
    /// The DNS server domain checks ask (a [`DnsServer`]); `None`: the system's.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// How domain checks judge over time.
    pub domain_policy: tenantry_tenancy::CheckPolicy,
    /// The port the HTTP proof is fetched from (80 in production; a test's server here).
    pub domain_http_port: u16,
    /// Proxies whose forwarding headers are believed (none by default).
    pub trusted_proxies: &'static str,
    /// Whether platform staff pass a tenant's IP allowlist.
    pub allowlist_admin_bypass: bool,
    /// Where files are kept (default: a fresh directory; another instance shares it).
    pub files: tenantry_objects::Backend,
    /// The largest file when a tenant's plan does not say.
    pub max_file_bytes: u64,
}

/// A worker as `serve` runs it, retrying after 100 ms instead of seconds, without the daily
/// backups (which would put objects in the tests' file stores when they pleased).
pub fn test_worker() -> tenantry::cli::WorkerArgs {
    tenantry::cli::WorkerArgs {
        job_retry_base_ms: 100,
        no_backups: true,
        ..tenantry::cli::WorkerArgs::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            body_timeout: std::time::Duration::from_secs(30),
            operator_token: Some(OPERATOR_TOKEN.to_owned()),
            smtp_url: None,
            worker: Some(test_worker()),
            export_ttl: chrono::Duration::days(7),
            purge_grace: chrono::Duration::days(7),
            master_key: tenantry_secrets::MasterKey::generate(),
            webhook_rules: tenantry_webhooks::TargetRules::default(),
            webhook_delivery: tenantry::wiring::WebhookDelivery {
                schedule: tenantry_webhooks::RetrySchedule::parse("100ms,200ms").unwrap(),
                timeout: std::time::Duration::from_secs(5),
                ..tenantry::wiring::WebhookDelivery::default()
            },
            billing: tenantry_billing::BillingPolicy::default(),
            rate_limits: tenantry_http::rate_limit::RateLimitConfig {
                anonymous_per_hour: None,
                ..Default::default()
            },
            redis_url: None,
            dns_resolver: None,
            domain_policy: tenantry_tenancy::CheckPolicy::default(),
            domain_http_port: 80,
            trusted_proxies: "",
            allowlist_admin_bypass: false,
            files: tenantry_objects::Backend::local(
                &std::env::temp_dir()
                    .join(format!("tenantry-files-{}", uuid::Uuid::now_v7().simple())),
            )
            .unwrap(),
            max_file_bytes: 1 << 30,
        }
    }
}

/// A running app. Stops (and drops its database) when dropped.
pub struct TestApp {
    /// Where the app's internal listener (metrics, TLS ask) answers.
    pub internal_addr: std::net::SocketAddr,
    pub addr: std::net::SocketAddr,
    pub client: Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    db: Option<TestDb>,
    /// The app's own connection pool (the test's is `db().db()`).
    app_db: tenantry_store::Db,
    /// The app's own crypto (its signing key), to mint tokens a client could not.
    pub crypto: tenantry_crypto::Crypto,
    /// The master key its vault seals with.
    pub master_key: tenantry_secrets::MasterKey,
    /// Its archives (what `tenantry tenant export / import` run).
    pub archives: tenantry_archive::ArchiveService<
        tenantry_store::Db,
        tenantry_secrets::Vault<tenantry_store::Db>,
    >,
    /// What it was started with (another instance gets the same).
    options: Options,
}

impl TestApp {
    pub async fn start(db: TestDb, options: Options) -> TestApp {
        let crypto = tenantry_crypto::Crypto::new(
            &tenantry_crypto::SigningKeyMaterial::generate(),
            TOKEN_ISSUER,
        )
        .unwrap();
        let mut app = Self::launch(db.url(), crypto, &options);
        app.db = Some(db);
        app
    }

    /// A second instance of the service on the same database and signing key, with its own
    /// caches: what another replica behind a load balancer would be. Stops when dropped; the
    /// database stays with the first.
    pub fn another_instance(&self) -> TestApp {
        Self::launch(self.db().url(), self.crypto.clone(), &self.options)
    }

    /// [`TestApp::another_instance`] running `worker` (a replica that runs the background
    /// work, started after the first instance made its data).
    pub fn another_instance_with(&self, worker: tenantry::cli::WorkerArgs) -> TestApp {
        let options = Options {
            worker: Some(worker),
            ..self.options.clone()
        };
        Self::launch(self.db().url(), self.crypto.clone(), &options)
    }

    /// [`TestApp::another_instance`] started with options `change` made to this one's.
    pub fn another_instance_configured(&self, change: impl FnOnce(&mut Options)) -> TestApp {
        let mut options = self.options.clone();
        change(&mut options);
        Self::launch(self.db().url(), self.crypto.clone(), &options)
    }

    /// Starts the app on its own connection pool, as a separate process would have: the test's
    /// pool is driven by the test's runtime, which blocks while the app stops.
    fn launch(url: &str, crypto: tenantry_crypto::Crypto, options: &Options) -> TestApp {
        let config = HttpConfig {
            base_domain: BaseDomain::parse("localhost").unwrap(),
            body_limit: options.body_limit,
            body_timeout: options.body_timeout,
            operator_token: options.operator_token.clone(),
            public_url: "https://app.example.test".to_owned(),
            rate_limits: options.rate_limits.clone(),
            stripe_webhook_secrets: vec![STRIPE_SECRET.to_owned()],
            trusted_proxies: tenantry_http::client::TrustedProxies::parse(options.trusted_proxies)
                .unwrap(),
            allowlist_admin_bypass: options.allowlist_admin_bypass,
            max_file_bytes: options.max_file_bytes,
            max_import_bytes: 1 << 30,
        };
        let mailer = match &options.smtp_url {
            Some(url) => {
                tenantry_mail::MailSender::smtp(url, "Tenantry <no-reply@example.test>").unwrap()
            }
            None => tenantry_mail::MailSender::files(
                std::env::temp_dir()
                    .join(format!("tenantry-mail-{}", uuid::Uuid::now_v7().simple())),
                "Tenantry <no-reply@example.test>",
            )
            .unwrap(),
        };
        let db = tenantry_store::Db::connect(&tenantry_store::DbConfig::new(url)).unwrap();
        let app_db = db.clone();
        let mut wiring = tenantry::wiring::Wiring::new(
            db.clone(),
            Arc::new(SystemClock),
            crypto.clone(),
            mailer,
            config,
            tenantry_secrets::KeySource::Given(tenantry_secrets::MasterKeys::new(
                options.master_key.clone(),
                vec![],
            )),
            tenantry_kernel::Edges::for_tests(),
        )
        .unwrap();
        wiring.webhook_rules = options.webhook_rules.clone();
        wiring.files_backend = options.files.clone();
        wiring.export_ttl = options.export_ttl;
        wiring.purge_grace = options.purge_grace;
        wiring.billing = options.billing;
        wiring.rate_store = options.redis_url.as_deref().map(|url| {
            std::sync::Arc::new(tenantry_limits::RedisStore::new(url).unwrap())
                as std::sync::Arc<dyn tenantry_limits::RateStore>
        });
        if let Some(at) = options.dns_resolver {
            // The test's DNS server answers for the test's names; their addresses are on
            // loopback, which the HTTP check may reach here.
            wiring.domain_probe = Arc::new(
                tenantry_dns::DnsProbe::new(tenantry_dns::ProbeConfig {
                    resolver: Some(at),
                    timeout: std::time::Duration::from_secs(2),
                    addresses: tenantry_webhooks::AddressPolicy::parse("127.0.0.0/8").unwrap(),
                    http_port: options.domain_http_port,
                })
                .unwrap(),
            );
        }
        wiring.domain_config.policy = options.domain_policy;
        let shared = Shared::new(wiring.app_state().unwrap()).unwrap();
        let archives = wiring.archives().unwrap();
        wiring.webhook_delivery = options.webhook_delivery.clone();
        let worker = options
            .worker
            .as_ref()
            .map(|args| wiring.worker(args).unwrap());
        let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let internal_addr = metrics_listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // The server gets its own thread and actix system, whatever runtime the test uses.
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let options = ServerOptions {
                    workers: Some(1),
                    shutdown_timeout_secs: 1,
                    on_worker_start: Some(tenantry_http::WorkerStart(db.pool_per_worker(10))),
                };
                let metrics = tenantry_http::internal_server(metrics_listener, &shared).unwrap();
                let metrics_handle = metrics.handle();
                actix_web::rt::spawn(metrics);
                let server = tenantry_http::server(listener, shared.clone(), &options).unwrap();
                let worker = worker.map(|w| {
                    actix_web::rt::spawn(w.run(async {
                        worker_stopped.await.ok();
                    }))
                });
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
                tenantry_http::flush_api_calls(&shared).await;
                metrics_handle.stop(false).await;
                drop(stop_worker);
                if let Some(w) = worker {
                    w.await.ok();
                }
                db.close();
            });
        });
        let handle = rx.recv().unwrap();
        tenantry_telemetry::use_ring_for_tls();
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The server closes a keep-alive connection after 5 s idle. A test that blocks its
            // runtime longer (starting an identity provider) would otherwise reuse a
            // connection whose close it has not read yet, and see it end mid-answer.
            .pool_idle_timeout(std::time::Duration::from_secs(3))
            .build()
            .unwrap();
        TestApp {
            addr,
            internal_addr,
            client,
            handle,
            thread: Some(thread),
            db: None,
            app_db,
            crypto,
            master_key: options.master_key.clone(),
            archives,
            options: options.clone(),
        }
    }

    /// The app's connection pool: closing it is the database going away, for the app.
    pub fn app_db(&self) -> &tenantry_store::Db {
        &self.app_db
    }

    /// The database (a second instance has none of its own: use the first's).
    pub fn db(&self) -> &TestDb {
        self.db.as_ref().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A request as if sent to `host` (the `Host` header, port included as browsers do).
    pub fn get_as_host(&self, host: &str, path: &str) -> RequestBuilder {
        self.get(path)
            .header("Host", format!("{host}:{}", self.addr.port()))
    }

    /// The operator API, authenticated.
    pub fn operator(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(OPERATOR_TOKEN)
    }

    /// Creates an active user directly in the database (sign-up routes come with onboarding).
    pub async fn create_user(&self, email: &str, password: &str) -> tenantry_identity::User {
        let svc = tenantry_identity::AuthService::new(
            self.db().db().clone(),
            self.crypto.clone(),
            Arc::new(SystemClock),
            tenantry_identity::AuthPolicy::default(),
        );
        let email = tenantry_kernel::Email::parse(email).unwrap();
        let password = tenantry_identity::NewPassword::parse(password, &email).unwrap();
        let name = tenantry_identity::DisplayName::parse("Test User").unwrap();
        svc.create_user(email, name, &password).await.unwrap()
    }

    /// Logs in over HTTP; returns the session body.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let res = self
            .request(Method::POST, "/api/v1/auth/login")
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login {email}");
        res.json().await.unwrap()
    }

    /// Signs up an organisation over HTTP; returns the response body.
    pub async fn onboard(&self, slug: &str, email: &str, password: &str) -> Value {
        let res = self
            .request(Method::POST, "/api/v1/onboard")
            .json(&serde_json::json!({
                "organisation_name": format!("{slug} Inc"),
                "slug": slug,
                "owner_email": email,
                "owner_name": "Owner",
                "password": password,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "onboard {slug}");
        res.json().await.unwrap()
    }

    /// Makes `user` a member of `tenant` with the named role, directly in the database
    /// (invitations come later).
    pub async fn add_member(&self, tenant: &str, user: tenantry_kernel::UserId, role: &str) {
        use tenantry_rbac::{MembershipRepository, RoleRepository};
        let tenant: tenantry_kernel::TenantId = tenant.parse().unwrap();
        let ctx = tenantry_kernel::TenantCtx::for_tests(tenant);
        let db = self.db().db();
        let role = db.role_named(&ctx, role).await.unwrap().unwrap();
        let m = tenantry_rbac::Membership {
            tenant_id: tenant,
            user_id: user,
            role_id: role.id,
            status: tenantry_rbac::MembershipStatus::Active,
            created_at: tenantry_kernel::Clock::now(&SystemClock),
        };
        db.add_member(&ctx, &m).await.unwrap();
    }

    pub async fn create_tenant(&self, slug: &str, name: &str) -> Value {
        let res = self
            .operator(Method::POST, "/api/v1/platform/tenants")
            .json(&serde_json::json!({"slug": slug, "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "create tenant {slug}");
        res.json().await.unwrap()
    }
}

impl TestApp {
    /// Stops the server gracefully (what SIGTERM does), keeping the database.
    pub fn stop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)))
            .join()
            .ok();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server before the database goes away.
        self.stop();
        self.db.take();
    }
}

/// The password the tests' owners sign up with.
pub const PASSWORD: &str = "correct horse battery";

/// Signs up organisation `slug` (owner `owner@{slug}.test`); returns the owner's access token.
pub async fn owner(app: &TestApp, slug: &str) -> String {
    let body = app
        .onboard(slug, &format!("owner@{slug}.test"), PASSWORD)
        .await;
    body["session"]["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// A request to a route of tenant `slug`, as a member holding `token` sends it.
pub fn call(app: &TestApp, slug: &str, method: Method, path: &str, token: &str) -> RequestBuilder {
    app.request(method, path)
        .header("X-Tenant-ID", slug)
        .bearer_auth(token)
}

/// The JSON body of a response that must have `status` (null for a 204).
pub async fn ok(res: Response, status: u16) -> Value {
    let url = res.url().clone();
    let got = res.status().as_u16();
    let body: Value = if got == 204 {
        Value::Null
    } else {
        res.json().await.expect("a JSON body")
    };
    assert_eq!(got, status, "{url}: {body}");
    body
}

/// A problem body, checked for the RFC 9457 members every error must carry, with its
/// request id matching the response header.
pub async fn problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status of {code}");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        ct.as_deref(),
        Some("application/problem+json"),
        "content type of {code}"
    );
    let header_id = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status, "status member in {body}");
    assert_eq!(body["type"], format!("urn:tenantry:problem:{code}"));
    assert!(body["title"].is_string(), "title in {body}");
    assert_eq!(
        body["request_id"], header_id,
        "request id in body and header"
    );
    body
}

/// One test per backend, each with its own app and database: `<name>::sqlite` always runs,
/// `<name>::postgres` when the PostgreSQL test cluster is configured.
#[macro_export]
macro_rules! app_tests {
    ($(async fn $name:ident($app:ident) $(with ($options:expr))? $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut, unused_assignments)]
            fn options() -> $crate::Options {
                let mut o = $crate::Options::default();
                $(o = $options;)?
                o
            }

            async fn body($app: &$crate::TestApp) $body

            #[tokio::test]
            async fn sqlite() {
                let db = tenantry_store::testing::TestDb::sqlite().await;
                let app = $crate::TestApp::start(db, options()).await;
                body(&app).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = tenantry_store::testing::TestDb::postgres().await {
                    let app = $crate::TestApp::start(db, options()).await;
                    body(&app).await;
                }
            }
        }
    )*};
}

/// A `redis-server` of the test's own on a loopback port (no persistence), stopped when
/// dropped. `None`, with a notice, where `redis-server` is not installed (CI installs it).
pub struct RedisServer {
    child: Option<std::process::Child>,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut server = Self { child: None, port };
        if !server.spawn() {
            eprintln!(
                "\n*** Redis tests SKIPPED: redis-server is not installed (apt-get install redis-server) ***\n"
            );
            return None;
        }
        Some(server)
    }

    fn spawn(&mut self) -> bool {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (the limits' counters go with it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.spawn(), "redis-server restarts");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real DNS server for the test (dnslib's, `tests/support/dns_server.py`) on a loopback
/// port, serving the records of a file the test rewrites at will: a record can appear late,
/// or go.
pub struct DnsServer {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    zone: tempfile::NamedTempFile,
}

impl DnsServer {
    /// `None` (the test is skipped, loudly) when Python's dnslib is not installed; the
    /// interpreter is `TENANTRY_TEST_PYTHON`, else `python3`.
    pub fn start() -> Option<Self> {
        let python = std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let has_dnslib = std::process::Command::new(&python)
            .args(["-c", "import dnslib"])
            .status()
            .is_ok_and(|s| s.success());
        if !has_dnslib {
            eprintln!(
                "\n*** DNS tests SKIPPED: Python's dnslib is missing (pip install dnslib) ***\n"
            );
            return None;
        }
        let zone = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(zone.path(), "{}").unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/dns_server.py");
        // A free UDP port may be another server's TCP port (tests start servers side by
        // side): on a failed bind, another port.
        for _ in 0..10 {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = std::process::Command::new(&python)
                .args([script, "--port", &port.to_string(), "--zone"])
                .arg(zone.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // It prints "ready" once both listeners are up, and exits if either cannot bind.
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().unwrap()),
                &mut line,
            )
            .unwrap();
            if line.trim() == "ready" {
                return Some(Self {
                    child,
                    addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    zone,
                });
            }
            child.kill().ok();
            child.wait().ok();
        }
        panic!("the DNS server did not start on any of 10 ports");
    }

    /// Serves exactly these records from now on: `{"name": {"TXT": [..], "A": [..]},
    /// "alias": {"CNAME": "name."}}`.
    pub fn serve(&self, records: &Value) {
        let tmp = self.zone.path().with_extension("next");
        std::fs::write(&tmp, records.to_string()).unwrap();
        std::fs::rename(&tmp, self.zone.path()).unwrap();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The payload of a JWT (an access token), unverified: what a client reads from it.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

/// A real SMTP server (Python's aiosmtpd, `support/smtp_server.py`) on a loopback port,
/// requiring AUTH with one user and password; it keeps what it accepts. Stopped on drop.
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl SmtpServer {
    /// `None` (the test is skipped, loudly) when Python's aiosmtpd is not installed; the
    /// interpreter is `TENANTRY_TEST_PYTHON`, else `python3`.
    pub fn start(user: &str, password: &str) -> Option<Self> {
        use std::io::BufRead;
        let python = std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let ok = std::process::Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n*** SMTP tests SKIPPED: Python's aiosmtpd is missing (pip install aiosmtpd) ***\n"
            );
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/smtp_server.py");
        for _ in 0..10 {
            let port = free_port();
            let mut child = std::process::Command::new(&python)
                .args([script, &port.to_string(), user, password])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            if lines.next().and_then(Result::ok).as_deref() != Some("ready") {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let received = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
            let keep = received.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        keep.lock().unwrap().push(v);
                    }
                }
            });
            return Some(Self {
                child,
                port,
                received,
            });
        }
        panic!("the SMTP server did not start");
    }

    /// The messages accepted so far: `{login, from, to, data}`.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to ten seconds for `n` messages.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        self.received()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free on loopback now (another test's server may take it before the caller
/// binds it: callers retry a failed start on another).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real S3-compatible server (moto's, from Python) on loopback: one bucket per name, each
/// reachable only with its own credentials (IAM identity policies enforced), or anyone's with
/// `open`. Stops when dropped.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
    /// Each bucket's `{access_key_id, secret_access_key}`.
    pub credentials: Value,
}

impl S3Server {
    /// `None` (the test is skipped, loudly) when Python's moto is not installed; the
    /// interpreter is `TENANTRY_TEST_PYTHON`, else `python3`.
    pub fn start(buckets: &[&str], open: bool) -> Option<Self> {
        use std::io::BufRead;
        let python = std::env::var("TENANTRY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let ok = std::process::Command::new(&python)
            .args(["-c", "import moto.server, boto3"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n*** S3 tests SKIPPED: Python's moto is missing (pip install 'moto[server]' boto3) ***\n"
            );
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/s3_server.py");
        for _ in 0..10 {
            let port = free_port();
            let mut args = vec![script.to_owned(), port.to_string()];
            if open {
                args.push("--open".to_owned());
            }
            args.extend(buckets.iter().map(|b| (*b).to_owned()));
            let mut child = std::process::Command::new(&python)
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            match lines
                .next()
                .and_then(Result::ok)
                .map(|l| serde_json::from_str(&l))
            {
                Some(Ok(credentials)) => {
                    return Some(Self {
                        child,
                        endpoint: format!("http://127.0.0.1:{port}"),
                        credentials,
                    });
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("moto's S3 server did not start");
    }

    /// The storage settings of `bucket`, with its own credentials.
    pub fn config(&self, bucket: &str) -> tenantry_objects::S3Config {
        let c = &self.credentials[bucket];
        tenantry_objects::S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".to_owned(),
            bucket: bucket.to_owned(),
            access_key_id: c["access_key_id"].as_str().unwrap().to_owned(),
            secret_access_key: c["secret_access_key"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
