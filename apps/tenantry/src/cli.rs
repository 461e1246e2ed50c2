//! Command line and environment: every option has a `TENANTRY_*` variable.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ENV_HELP: &str = "\
Environment variables (each also a flag above):
  TENANTRY_BIND                     address to serve on (default 127.0.0.1:8080)
  TENANTRY_INTERNAL_BIND            /metrics and /internal/tls/ask listener, or off (default 127.0.0.1:9464)
  TENANTRY_DATABASE_URL             sqlite://path or postgres://user:pass@host/db (default sqlite://./data/tenantry.db)
  TENANTRY_MIGRATION_DATABASE_URL   PostgreSQL URL of the schema owner, for migrations (default: TENANTRY_DATABASE_URL)
  TENANTRY_DB_POOL_SIZE             maximum database connections (default 10)
  TENANTRY_BASE_DOMAIN              tenants are served at <slug>.<base domain> (default localhost)
  TENANTRY_BODY_LIMIT               largest request body in bytes (default 1048576)
  TENANTRY_BODY_TIMEOUT_SECS        seconds a request body may take to arrive (default 30; imports 4x)
  TENANTRY_OPERATOR_TOKEN           bearer token for the operator API /api/v1/platform (unset: disabled)
  TENANTRY_WORKERS                  HTTP worker threads (default: one per CPU core)
  TENANTRY_PUBLIC_URL               where people reach the product; invitation links start with it (default http://127.0.0.1:8080)
  TENANTRY_SMTP_URL                 SMTP server, smtp://user:pass@host:587?tls=required or smtps://… (unset: .eml files)
  TENANTRY_MAIL_FROM                sender of outgoing mail (default Tenantry <no-reply@localhost>)
  TENANTRY_MAIL_DIR                 where mail is written without SMTP (default ./data/mail)
  TENANTRY_JWT_PRIVATE_KEY          Ed25519 PKCS#8 PEM signing access tokens (default: generated, kept in the database)
  TENANTRY_JWT_ISSUER               the iss claim of access tokens (default tenantry)
  TENANTRY_MASTER_KEY               master key(s) sealing tenants' secrets, base64, current first (default: the key file)
  TENANTRY_MASTER_KEY_FILE          key file made (mode 0600) on first start when no key is given (default ./data/master.key)
  TENANTRY_ALLOW_RLS_BYPASS         serve even if the PostgreSQL role bypasses row-level security (default false)
  TENANTRY_NO_WORKER                serve without running background jobs (run `tenantry worker` elsewhere; default false)
  TENANTRY_WORKER_CONCURRENCY       jobs a worker runs at once (default 8)
  TENANTRY_JOB_RETRY_BASE_MS        first retry delay of a failed job, doubling up to an hour (default 5000)
  TENANTRY_JOB_LEASE_SECS           how long a claimed job is held before another worker may run it (default 60)
  TENANTRY_EVENT_RETENTION_DAYS     days events are kept for GET /api/v1/events (default 30)
  TENANTRY_WEBHOOK_LOG_RETENTION_DAYS  days webhook attempts and failed deliveries are kept (default 30)
  TENANTRY_WEBHOOK_ALLOW_HTTP       allow http:// webhook targets, for local development (default false)
  TENANTRY_WEBHOOK_ALLOW_CIDRS      networks webhooks may reach besides public addresses, e.g. 127.0.0.1/32 (default none)
  TENANTRY_WEBHOOK_RETRY_SCHEDULE   waits before each retry of a delivery (default 5s,5m,30m,2h,5h,10h,10h)
  TENANTRY_WEBHOOK_TIMEOUT_SECS     seconds a delivery attempt may take (default 15)
  TENANTRY_WEBHOOK_DISABLE_AFTER_DAYS  days of failing deliveries before an endpoint is disabled (default 5)
  TENANTRY_WEBHOOK_CONCURRENCY      webhook deliveries in flight per process (default 128)
  TENANTRY_WEBHOOK_ENDPOINT_CONCURRENCY  one endpoint's deliveries in flight (default 100)
  TENANTRY_RATE_LIMITS              on (plan tiers per tenant, anonymous calls per address) or off (default on)
  TENANTRY_RATE_LIMIT_ANONYMOUS_PER_HOUR  anonymous calls per client address per hour, 0 for none (default 50)
  TENANTRY_RATE_LIMIT_CALLER_PERCENT  one user's or API key's share of the tenant's tier (default 100)
  TENANTRY_REDIS_URL                keep the rate limits' counters in Redis, shared by every instance (unset: in process)
  TENANTRY_STRIPE_WEBHOOK_SECRET    signing secret(s) of the Stripe webhook endpoint, comma-separated (unset: off)
  TENANTRY_PAST_DUE_GRACE_DAYS      days a past-due tenant keeps writing before it turns read-only (default 7)
  TENANTRY_TRIAL_END                where an unpaid trial goes: past_due or canceled (default past_due)
  TENANTRY_TRUSTED_PROXIES          proxies whose Forwarded / X-Forwarded-For headers name the client, CIDRs (default none)
  TENANTRY_ALLOWLIST_ADMIN_BYPASS   let platform staff through tenants' IP allowlists (default false)
  TENANTRY_FILES                    where files are kept: a directory or s3://bucket (default ./data/files)
  TENANTRY_FILES_S3_ENDPOINT        the S3 service, when not AWS (e.g. http://127.0.0.1:9000)
  TENANTRY_FILES_S3_REGION          the bucket's region (default us-east-1)
  TENANTRY_FILES_S3_ACCESS_KEY_ID   S3 credentials (with TENANTRY_FILES_S3_SECRET_ACCESS_KEY)
  TENANTRY_FILES_MAX_BYTES          largest file when a tenant's plan does not say (default 1073741824)
  TENANTRY_DNS_RESOLVER             the DNS server custom-domain checks ask, ip:port (default: the system's)
  TENANTRY_DOMAIN_CNAME_TARGET      where tenants point their custom domains (default: the base domain)
  TENANTRY_DOMAIN_GRACE_HOURS       hours a verified domain keeps routing after its proof disappeared (default 72)
  TENANTRY_DOMAIN_RECHECK_HOURS     hours between checks of a verified domain (default 6)
  TENANTRY_LOG                      log filter, e.g. info or tenantry=debug,info (default info)
  TENANTRY_LOG_FORMAT               text or json (default text)
  OTEL_EXPORTER_OTLP_ENDPOINT       export spans over OTLP/HTTP to <url>/v1/traces; other OTEL_* apply (unset: off)
  TENANTRY_SENTRY_DSN               report 5xx causes and panics to Sentry (unset: off)
  TENANTRY_SENTRY_ENVIRONMENT       the environment reports are filed under

Docs: README.md, docs/, and /docs on a running server.";

/// Tenantry: a headless multi-tenant SaaS platform.
///
/// With no command, serves the API (same as `tenantry serve`).
#[derive(Debug, Parser)]
#[command(name = "tenantry", version, after_help = ENV_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub db: DbArgs,

    /// Tenants are served at `<slug>.<base domain>`.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_BASE_DOMAIN",
        default_value = "localhost"
    )]
    pub base_domain: String,

    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, global = true, env = "TENANTRY_LOG", default_value = "info")]
    pub log: String,

    /// Log line format.
    #[arg(long, global = true, env = "TENANTRY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Export spans (requests, database transactions, jobs) to this OpenTelemetry collector
    /// over OTLP/HTTP (`{url}/v1/traces`); the other standard OTEL_* variables apply. Unset:
    /// no export.
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Report errors (5xx causes, panics) to this Sentry DSN, tagged with request id, tenant
    /// and route, never with bodies or headers. Unset: no reports.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_SENTRY_DSN",
        hide_env_values = true
    )]
    pub sentry_dsn: Option<String>,

    /// The environment error reports are filed under (e.g. production, staging).
    #[arg(long, global = true, env = "TENANTRY_SENTRY_ENVIRONMENT")]
    pub sentry_environment: Option<String>,

    #[command(flatten)]
    pub keys: KeyArgs,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub billing: BillingArgs,

    #[command(flatten)]
    pub domains: DomainArgs,

    #[command(flatten)]
    pub files: FileArgs,

    #[command(flatten)]
    pub rate_limits: RateLimitArgs,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How requests are limited (decision 0031).
#[derive(Clone, Debug, Args)]
pub struct RateLimitArgs {
    /// `on` (each tenant's plan tier, anonymous calls per address) or `off` (no limits, no
    /// headers).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_RATE_LIMITS",
        default_value = "on"
    )]
    pub rate_limits: String,

    /// Anonymous calls per client address per hour (0: not limited). Sign-in and sign-up keep
    /// their own throttles.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_RATE_LIMIT_ANONYMOUS_PER_HOUR",
        default_value_t = 50
    )]
    pub rate_limit_anonymous_per_hour: u64,

    /// The share of its tenant's tier one user or API key may use, in percent (100: no
    /// separate limit).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_RATE_LIMIT_CALLER_PERCENT",
        default_value_t = 100
    )]
    pub rate_limit_caller_percent: u64,

    /// Keep the limits' counters in Redis (`redis://host:port/db`), shared by every instance;
    /// unset: in each process. When Redis cannot be reached requests go through (logged and
    /// counted).
    #[arg(long, global = true, env = "TENANTRY_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Signing secret(s) of the Stripe webhook endpoint (`whsec_…`, comma-separated during a
    /// rotation); unset: `POST /api/v1/billing/webhooks/stripe` answers 404.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_STRIPE_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub stripe_webhook_secret: Option<String>,
}

impl RateLimitArgs {
    pub fn config(&self) -> anyhow::Result<tenantry_http::rate_limit::RateLimitConfig> {
        let enabled = match self.rate_limits.as_str() {
            "on" => true,
            "off" => false,
            other => anyhow::bail!("TENANTRY_RATE_LIMITS must be on or off, not '{other}'"),
        };
        if !(1..=100).contains(&self.rate_limit_caller_percent) {
            anyhow::bail!("TENANTRY_RATE_LIMIT_CALLER_PERCENT must be 1 to 100");
        }
        Ok(tenantry_http::rate_limit::RateLimitConfig {
            enabled,
            anonymous_per_hour: Some(self.rate_limit_anonymous_per_hour).filter(|n| *n > 0),
            caller_percent: self.rate_limit_caller_percent,
        })
    }
}

/// How custom domains are checked.
#[derive(Clone, Debug, Args)]
pub struct DomainArgs {
    /// The DNS server custom-domain checks ask (`ip:port`); unset: the system's resolvers.
    #[arg(long, global = true, env = "TENANTRY_DNS_RESOLVER")]
    pub dns_resolver: Option<std::net::SocketAddr>,

    /// What tenants point their custom domains at (a CNAME); unset: the base domain.
    #[arg(long, global = true, env = "TENANTRY_DOMAIN_CNAME_TARGET")]
    pub domain_cname_target: Option<String>,

    /// Hours a verified domain keeps routing after its proof disappeared.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DOMAIN_GRACE_HOURS",
        default_value_t = 72
    )]
    pub domain_grace_hours: u32,

    /// Hours between checks of a verified domain.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DOMAIN_RECHECK_HOURS",
        default_value_t = 6
    )]
    pub domain_recheck_hours: u32,
}

impl DomainArgs {
    pub fn policy(&self) -> tenantry_tenancy::CheckPolicy {
        tenantry_tenancy::CheckPolicy {
            grace: chrono::Duration::hours(i64::from(self.domain_grace_hours)),
            recheck_every: chrono::Duration::hours(i64::from(self.domain_recheck_hours.max(1))),
            ..Default::default()
        }
    }
}

/// Where tenants' files are kept.
#[derive(Clone, Debug, Args)]
pub struct FileArgs {
    /// A directory, or an S3 bucket as `s3://bucket` (with the TENANTRY_FILES_S3_* settings).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_FILES",
        default_value = "./data/files"
    )]
    pub files: String,

    /// The S3 endpoint, for a service other than AWS (`http://127.0.0.1:9000`).
    #[arg(long, global = true, env = "TENANTRY_FILES_S3_ENDPOINT")]
    pub files_s3_endpoint: Option<String>,

    /// The bucket's region.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_FILES_S3_REGION",
        default_value = "us-east-1"
    )]
    pub files_s3_region: String,

    #[arg(long, global = true, env = "TENANTRY_FILES_S3_ACCESS_KEY_ID")]
    pub files_s3_access_key_id: Option<String>,

    #[arg(
        long,
        global = true,
        env = "TENANTRY_FILES_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub files_s3_secret_access_key: Option<String>,

    /// The largest file a tenant may upload when its plan does not say (`max_file_bytes`).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_FILES_MAX_BYTES",
        default_value_t = 1 << 30
    )]
    pub files_max_bytes: u64,

    /// How long a tenant's data export can be downloaded before its archive is deleted.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_EXPORT_LINK_HOURS",
        default_value_t = 168
    )]
    pub export_link_hours: u32,

    /// Days between an owner's request to delete their organisation and its purge (the
    /// owner or the operator may cancel until then).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_PURGE_GRACE_DAYS",
        default_value_t = 7
    )]
    pub purge_grace_days: u32,

    /// The largest operator's archive `POST /api/v1/platform/tenants/import` takes.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_IMPORT_MAX_BYTES",
        default_value_t = 1 << 36
    )]
    pub import_max_bytes: u64,

    /// Write tenants' backups unencrypted (by default each is encrypted to an age identity
    /// sealed under the tenant's data key).
    #[arg(long, global = true, env = "TENANTRY_BACKUPS_UNENCRYPTED")]
    pub backups_unencrypted: bool,
}

impl FileArgs {
    /// The store these settings name.
    pub fn backend(&self) -> anyhow::Result<tenantry_objects::Backend> {
        let backend = match self.files.strip_prefix("s3://") {
            Some(bucket) => {
                let (Some(key), Some(secret)) = (
                    self.files_s3_access_key_id.clone(),
                    self.files_s3_secret_access_key.clone(),
                ) else {
                    anyhow::bail!(
                        "TENANTRY_FILES={}: set TENANTRY_FILES_S3_ACCESS_KEY_ID and \
                         TENANTRY_FILES_S3_SECRET_ACCESS_KEY",
                        self.files
                    );
                };
                tenantry_objects::Backend::s3(&tenantry_objects::S3Config {
                    endpoint: self.files_s3_endpoint.clone().filter(|e| !e.is_empty()),
                    region: self.files_s3_region.clone(),
                    bucket: bucket.trim_end_matches('/').to_owned(),
                    access_key_id: key,
                    secret_access_key: secret,
                })
            }
            None => tenantry_objects::Backend::local(std::path::Path::new(&self.files)),
        };
        backend.map_err(|e| anyhow::anyhow!("TENANTRY_FILES={}: {e}", self.files))
    }
}

/// How subscriptions' states bite.
#[derive(Clone, Debug, Args)]
pub struct BillingArgs {
    /// Days a past-due tenant keeps writing before it turns read-only (writes answer 402).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_PAST_DUE_GRACE_DAYS",
        default_value_t = 7
    )]
    pub past_due_grace_days: u32,

    /// Where a trial that ended without a payment goes: `past_due` or `canceled`.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_TRIAL_END",
        default_value = "past_due"
    )]
    pub trial_end: String,
}

impl BillingArgs {
    pub fn policy(&self) -> anyhow::Result<tenantry_billing::BillingPolicy> {
        Ok(tenantry_billing::BillingPolicy {
            past_due_grace: chrono::Duration::days(i64::from(self.past_due_grace_days)),
            trial_end: match self.trial_end.as_str() {
                "past_due" => tenantry_billing::TrialEnd::PastDue,
                "canceled" => tenantry_billing::TrialEnd::Canceled,
                other => {
                    anyhow::bail!("TENANTRY_TRIAL_END must be past_due or canceled, not '{other}'")
                }
            },
        })
    }
}

/// What webhook deliveries may reach.
#[derive(Clone, Debug, Args)]
pub struct WebhookArgs {
    /// Accept `http://` webhook targets (local development only: deliveries are then sent
    /// in the clear).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_ALLOW_HTTP",
        default_value_t = false
    )]
    pub webhook_allow_http: bool,

    /// Networks webhook deliveries and tenants' SSO identity providers may reach besides
    /// public addresses (comma-separated CIDRs, e.g. `127.0.0.1/32,10.20.0.0/16`). Private,
    /// loopback, link-local and other non-public addresses are refused otherwise; nothing
    /// else opens that guard.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_ALLOW_CIDRS",
        default_value = ""
    )]
    pub webhook_allow_cidrs: String,

    /// Waits before each retry of a failed delivery (ms, s, m, h), with ±10 % jitter: the
    /// first attempt is immediate, one more per wait.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,10h"
    )]
    pub webhook_retry_schedule: String,

    /// Seconds an attempt may take: a 2xx within them, or it failed.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_TIMEOUT_SECS",
        default_value_t = 15
    )]
    pub webhook_timeout_secs: u64,

    /// Days every delivery to an endpoint may fail before it is disabled (its tenant's
    /// owners are told by e-mail).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_DISABLE_AFTER_DAYS",
        default_value_t = 5
    )]
    pub webhook_disable_after_days: u32,

    /// Webhook deliveries in flight at once, per process.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_CONCURRENCY",
        default_value_t = 128
    )]
    pub webhook_concurrency: usize,

    /// One endpoint's webhook deliveries in flight at once, across every process (claimed and
    /// not yet recorded: a slow receiver holds no more of the dispatchers than this).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_ENDPOINT_CONCURRENCY",
        default_value_t = 100
    )]
    pub webhook_endpoint_concurrency: u32,
}

impl WebhookArgs {
    pub fn delivery(&self) -> anyhow::Result<crate::wiring::WebhookDelivery> {
        Ok(crate::wiring::WebhookDelivery {
            schedule: tenantry_webhooks::RetrySchedule::parse(&self.webhook_retry_schedule)
                .map_err(|e| anyhow::anyhow!("TENANTRY_WEBHOOK_RETRY_SCHEDULE: {e}"))?,
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs.max(1)),
            disable: tenantry_webhooks::DisablePolicy {
                failing_for: chrono::Duration::days(i64::from(
                    self.webhook_disable_after_days.max(1),
                )),
            },
            concurrency: self.webhook_concurrency.max(1),
            per_endpoint: self.webhook_endpoint_concurrency.max(1),
        })
    }

    pub fn target_rules(&self) -> anyhow::Result<tenantry_webhooks::TargetRules> {
        Ok(tenantry_webhooks::TargetRules {
            allow_http: self.webhook_allow_http,
            addresses: tenantry_webhooks::AddressPolicy::parse(&self.webhook_allow_cidrs)
                .map_err(|e| anyhow::anyhow!("TENANTRY_WEBHOOK_ALLOW_CIDRS: {e}"))?,
        })
    }
}

/// Where the master key that seals tenants' secrets (webhook signing secrets, …) comes from.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Master key(s): 32 random bytes in base64 (`tenantry keys generate`), several separated
    /// by commas, the current one first (the others open data keys wrapped before a
    /// rotation). Every instance sharing a database needs the same keys. Unset: the key file.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_MASTER_KEY",
        hide_env_values = true
    )]
    pub master_key: Option<String>,

    /// Key file used when no master key is given; created with one new key (mode 0600) on
    /// first start. Back it up with the database.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_MASTER_KEY_FILE",
        default_value = "./data/master.key"
    )]
    pub master_key_file: String,
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database: `sqlite://path/to/file.db` or `postgres://user:pass@host/db`.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DATABASE_URL",
        default_value = "sqlite://./data/tenantry.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// PostgreSQL URL of the role that owns the schema; migrations run with it.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_MIGRATION_DATABASE_URL",
        hide_env_values = true
    )]
    pub migration_database_url: Option<String>,

    /// Maximum pooled database connections.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DB_POOL_SIZE",
        default_value_t = 10
    )]
    pub db_pool_size: usize,

    /// Seconds a command waits at start for a PostgreSQL server it cannot reach yet (one
    /// started beside it, a pooler refusing logins for a while), retrying; 0 fails at once.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DB_WAIT_SECONDS",
        default_value_t = 30
    )]
    pub db_wait_seconds: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: SocketAddr,

    /// Address of the internal listener — Prometheus' `GET /metrics` and the TLS proxy's
    /// `GET /internal/tls/ask?domain=` — or `off`. Kept apart from the API so tenants' hosts never
    /// reach it.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_INTERNAL_BIND",
        default_value = "127.0.0.1:9464"
    )]
    pub internal_bind: String,

    /// Largest accepted request body, in bytes.
    #[arg(long, global = true, env = "TENANTRY_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// Seconds a request body may take to arrive: a client that trickles it, or never ends
    /// it, is answered 408 and its connection freed (a bulk import gets four times as long).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_BODY_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub body_timeout_secs: u64,

    /// Bearer token for the operator API (`/api/v1/platform/...`); unset disables it.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_OPERATOR_TOKEN",
        hide_env_values = true
    )]
    pub operator_token: Option<String>,

    /// Proxies (CIDRs or addresses, comma-separated) whose `Forwarded` / `X-Forwarded-For`
    /// and `X-Forwarded-Proto` headers are believed; any other peer is the client itself.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: String,

    /// Let the operator's staff through a tenant's IP allowlist.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_ALLOWLIST_ADMIN_BYPASS",
        default_value_t = false
    )]
    pub allowlist_admin_bypass: bool,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, global = true, env = "TENANTRY_WORKERS")]
    pub workers: Option<usize>,

    /// Where people reach the product; invitation links start with it.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    /// SMTP server for outgoing mail: smtp://user:pass@host:587?tls=required (STARTTLS),
    /// smtps://user:pass@host (TLS) or smtp://host:25 (plain). Unset: mail is written as .eml
    /// files to TENANTRY_MAIL_DIR.
    #[arg(long, global = true, env = "TENANTRY_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of outgoing mail.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_MAIL_FROM",
        default_value = "Tenantry <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// Where mail goes when no SMTP server is set.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_MAIL_DIR",
        default_value = "./data/mail"
    )]
    pub mail_dir: String,

    /// Ed25519 private key (PKCS#8 PEM) that signs access tokens. Unset: a key is generated
    /// on first start and kept in the database, shared by every instance.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_JWT_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub jwt_private_key: Option<String>,

    /// The `iss` claim of access tokens (and the issuer they are checked against).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_JWT_ISSUER",
        default_value = "tenantry"
    )]
    pub jwt_issuer: String,

    /// Serve even when the PostgreSQL role bypasses row-level security (superuser,
    /// BYPASSRLS or table owner). Only for throwaway setups.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_ALLOW_RLS_BYPASS",
        default_value_t = false
    )]
    pub allow_rls_bypass: bool,

    #[command(flatten)]
    pub worker: WorkerArgs,
}

/// The background worker (runs inside `serve` unless `--no-worker`; alone with `worker`).
#[derive(Clone, Debug, Args)]
pub struct WorkerArgs {
    /// Serve the API without running background jobs (run `tenantry worker` elsewhere).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_NO_WORKER",
        default_value_t = false
    )]
    pub no_worker: bool,

    /// Jobs a worker runs at once.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WORKER_CONCURRENCY",
        default_value_t = 8
    )]
    pub worker_concurrency: usize,

    /// First retry delay of a failed job in milliseconds; each retry doubles it (up to an
    /// hour), with jitter.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_JOB_RETRY_BASE_MS",
        default_value_t = 5000
    )]
    pub job_retry_base_ms: u64,

    /// Seconds a claimed job is held before another worker may run it again (a worker that
    /// died loses its jobs after this).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_JOB_LEASE_SECS",
        default_value_t = 60
    )]
    pub job_lease_secs: u64,

    /// Days events are kept (the pull API's catch-up window).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_EVENT_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub event_retention_days: u32,

    /// Days webhook attempts, and deliveries that failed for good, are kept (the delivery
    /// log and what a recovery can send again).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_WEBHOOK_LOG_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub webhook_log_retention_days: u32,

    /// No daily backups of every tenant (`tenantry tenant backups create` still takes one).
    #[arg(long, global = true, env = "TENANTRY_NO_BACKUPS")]
    pub no_backups: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and run the background worker (runs pending migrations first).
    Serve,
    /// Run only the background worker.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document the server serves at /openapi.json.
    Openapi,
    /// Ask the server on TENANTRY_BIND whether it is ready (GET /readyz); exit 0 if so. For
    /// container health checks: needs no curl in the image.
    Health,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage platform administrators (the operator's staff).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// See and act on the job queue (e-mail, retention and other side effects).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The master key that seals tenants' secrets at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Which master keys wrap how many tenants' data keys.
    Status,
    /// Re-wrap every tenant's data key under a new master key, while servers run. With the
    /// key file: a new key is added first in it and used. With TENANTRY_MASTER_KEY: put the
    /// new key first in the variable (`new,old`) on every instance, then run this; drop the
    /// old key once it reports no data key under it.
    Rotate,
    /// Print a new random master key (for TENANTRY_MASTER_KEY).
    Generate,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// The queue at a glance (counts by kind and state, the oldest wait), then its jobs,
    /// oldest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["queued", "running", "dead"])]
        state: Option<String>,
        /// Only jobs of this kind (e.g. invitation_mail).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a dead job again, with fresh attempts.
    Retry {
        /// The job's id.
        id: String,
    },
    /// Drop a queued or dead job (a running one cannot be cancelled).
    Cancel {
        /// The job's id.
        id: String,
    },
    /// Queue a probe: a job that checks the queue end to end (in a tenant, it notes in the
    /// tenant's audit trail what it could see). Follow it with `jobs list`.
    Probe {
        /// Run it in this tenant (id or slug).
        #[arg(long)]
        tenant: Option<String>,
        /// Wait this long before succeeding.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Fail every attempt (it ends dead after its attempts).
        #[arg(long)]
        fail: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a platform administrator: an existing account, or a new one with --password.
    Create {
        #[arg(long)]
        email: String,
        /// For a new account (prefer the variable: command lines are visible to others).
        #[arg(long, env = "TENANTRY_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// For a new account.
        #[arg(long, default_value = "Platform administrator")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its subdomain <slug>.<base domain>.
    Create {
        /// 3–63 characters of a-z, 0-9 and '-'.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Also create (or attach) its owner, with the default roles, in one transaction.
        #[arg(long, requires = "owner_password")]
        owner_email: Option<String>,
        /// The owner's password (an existing account's current one). Prefer the variable:
        /// command lines are visible to other users of the machine.
        #[arg(long, env = "TENANTRY_OWNER_PASSWORD", hide_env_values = true)]
        owner_password: Option<String>,
        /// The owner's display name (new accounts).
        #[arg(long, default_value = "Owner")]
        owner_name: String,
    },
    /// List every tenant, oldest first.
    List {
        /// Only tenants with this status.
        #[arg(long, value_parser = ["active", "suspended"])]
        status: Option<String>,
    },
    /// Show a tenant and its domains.
    Show {
        /// Tenant id or slug.
        tenant: String,
    },
    /// Rename a tenant.
    Rename {
        /// Tenant id or slug.
        tenant: String,
        #[arg(long)]
        name: String,
    },
    /// Suspend a tenant: its requests get 403 tenant_inactive.
    Suspend {
        /// Tenant id or slug.
        tenant: String,
    },
    /// Resume a suspended tenant.
    Resume {
        /// Tenant id or slug.
        tenant: String,
    },
    /// Turn maintenance on or off: while on, requests get 503 tenant_maintenance.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Manage a tenant's domains.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Write the tenant's archive (docs/archive-format.md). The operator's archive carries
    /// password hashes, API key digests and the tenant's data key, so it must be encrypted
    /// (--recipient or --passphrase-file) unless --unencrypted says otherwise.
    Export {
        /// Tenant id or slug.
        tenant: String,
        /// Where to write it (created; replaced only when complete).
        #[arg(long)]
        out: std::path::PathBuf,
        /// Encrypt to this age recipient (age1…); repeatable.
        #[arg(long = "recipient", conflicts_with_all = ["passphrase_file", "unencrypted"])]
        recipients: Vec<String>,
        /// Encrypt with the passphrase in this file (its first line).
        #[arg(long, conflicts_with = "unencrypted")]
        passphrase_file: Option<std::path::PathBuf>,
        /// Write it in the clear (credentials included): only where the file is protected
        /// otherwise.
        #[arg(long)]
        unencrypted: bool,
        /// The tenant's own export instead: no credentials, not importable.
        #[arg(long)]
        without_credentials: bool,
    },
    /// Check that tenants are sound: row-level security on every tenant table (PostgreSQL),
    /// an active owner, the system roles, a verified primary domain that resolves, quotas
    /// that follow the plan, an audit chain that verifies, no dead jobs. Exits 1 when a check
    /// fails.
    Validate {
        /// Tenant id or slug.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        tenant: Option<String>,
        /// Every tenant.
        #[arg(long)]
        all: bool,
        /// One JSON report per tenant (an array), for machines.
        #[arg(long)]
        json: bool,
    },
    /// Import an operator's archive into this instance, in one transaction: ids, audit chain,
    /// passwords and API keys as they were. Refused, with nothing written, when the tenant,
    /// its slug, a domain or an account's e-mail is taken here.
    Import {
        /// The archive file.
        archive: std::path::PathBuf,
        /// Import under this slug (and subdomain) instead of the archive's.
        #[arg(long)]
        slug: Option<String>,
        /// An age identity file whose key opens the archive.
        #[arg(long, conflicts_with = "passphrase_file")]
        identity: Option<std::path::PathBuf>,
        /// The file holding the archive's passphrase.
        #[arg(long)]
        passphrase_file: Option<std::path::PathBuf>,
    },
    /// Create many tenants from a CSV file (`name,subdomain,plan_type,contact_email` and
    /// optionally `max_assets,max_users`, the products and members quotas): every row is
    /// checked first (all errors listed, nothing written), then all are created in one
    /// transaction, each owner invited by e-mail.
    ImportCsv {
        /// The CSV file (`-`: standard input).
        file: std::path::PathBuf,
    },
    /// A tenant's backups (the worker takes one of every tenant daily).
    #[command(subcommand)]
    Backups(BackupCommand),
    /// Replace a tenant's data with one of its backups, in one transaction (other tenants
    /// are not touched); a `tenant restored` entry is appended to its audit trail.
    Restore {
        /// Tenant id or slug.
        tenant: String,
        /// The backup's id (`tenantry tenant backups list`).
        #[arg(long)]
        backup: String,
        /// Say that the tenant's current data is to be replaced.
        #[arg(long)]
        confirm: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// The tenant's backups, newest first.
    List {
        /// Tenant id or slug.
        tenant: String,
    },
    /// Take a backup of the tenant now.
    Create {
        /// Tenant id or slug.
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Turn maintenance on.
    On {
        /// Tenant id or slug.
        tenant: String,
        /// Message shown to clients.
        #[arg(long)]
        message: Option<String>,
    },
    /// Turn maintenance off.
    Off {
        /// Tenant id or slug.
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Attach a custom domain (pending until verified).
    Add { tenant: String, hostname: String },
    /// Mark a domain verified (manual override until DNS verification exists).
    Verify { tenant: String, hostname: String },
    /// Make a verified domain the tenant's primary one.
    Primary { tenant: String, hostname: String },
    /// List the tenant's domains.
    List { tenant: String },
}

impl Cli {
    /// Logs, and the trace and error exports when configured (see tenantry-telemetry).
    pub fn telemetry(&self) -> tenantry_telemetry::Config {
        tenantry_telemetry::Config {
            log_filter: self.log.clone(),
            log_format: match self.log_format {
                LogFormat::Json => tenantry_telemetry::LogFormat::Json,
                LogFormat::Text => tenantry_telemetry::LogFormat::Text,
            },
            otlp_endpoint: self.otlp_endpoint.clone(),
            sentry_dsn: self.sentry_dsn.clone(),
            sentry_environment: self.sentry_environment.clone(),
            release: concat!("tenantry@", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl Default for WorkerArgs {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            no_worker: false,
            worker_concurrency: 8,
            job_retry_base_ms: 5000,
            job_lease_secs: 60,
            event_retention_days: 30,
            webhook_log_retention_days: 30,
            no_backups: false,
        }
    }
}
