//! The composition root: builds every adapter and service once, for the HTTP adapter, the
//! worker and the commands alike. It claims the process's [`Edges`] capability and hands it
//! to exactly the edges that build tenant contexts: the HTTP adapter, the worker, tenant
//! creation (onboarding, platform administration, the CLI) and invitation acceptance.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tenantry_archive::{ArchiveConfig, ArchiveService, PlatformKeys};
use tenantry_audit::{AuditService, EventService};
use tenantry_billing::{BillingPolicy, BillingService, UsageService};
use tenantry_crypto::Crypto;
use tenantry_dns::{DnsProbe, ProbeConfig};
use tenantry_files::{BucketService, FileService};
use tenantry_http::ports::PlatformReads;
use tenantry_http::{AppState, HttpConfig, Resolver, Services};
use tenantry_identity::{
    ApiKeyService, AuthPolicy, AuthService, ErasureService, InvitationService,
};
use tenantry_jobs::RetryPolicy;
use tenantry_kernel::{Clock, Edges, SystemClock};
use tenantry_mail::{MailSender, Relays};
use tenantry_objects::{Backend, Prober, Storage, TenantReach};
use tenantry_onboarding::OnboardingService;
use tenantry_onboarding::bulk::BulkProvisioning;
use tenantry_products::ProductService;
use tenantry_projects::ProjectService;
use tenantry_rbac::RbacService;
use tenantry_secrets::{KeySource, Vault};
use tenantry_sender::HttpSender;
use tenantry_store::Db;
use tenantry_tenancy::SmtpService;
use tenantry_tenancy::{
    CheckPolicy, DomainConfig, DomainProbe, DomainService, NoListener, SettingsService,
    TenantChangeListener, TenantService,
};
use tenantry_webhooks::{
    DeliveryService, DisablePolicy, RetrySchedule, TargetRules, WebhookService,
};
use tenantry_worker::{
    Dispatcher, DispatcherConfig, JobServices, Retention, TenantryJobs, Worker, WorkerConfig,
};

use crate::cli::{Cli, WorkerArgs};
use crate::commands::{base_domain, key_source, open_db, signing_key};

/// The adapters, built once.
pub struct Wiring {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub crypto: Crypto,
    pub mailer: MailSender,
    pub http: HttpConfig,
    /// Seals and opens tenants' secrets at rest.
    pub vault: Vault<Db>,
    /// What webhook targets may be (https only unless allowed; literal addresses guarded).
    pub webhook_rules: TargetRules,
    /// How webhook deliveries are sent and retried.
    pub webhook_delivery: WebhookDelivery,
    /// How subscriptions' states bite.
    pub billing: BillingPolicy,
    /// Where the rate limits count (`None`: in the process).
    pub rate_store: Option<Arc<dyn tenantry_limits::RateStore>>,
    /// How custom domains are checked, and what their owners are told.
    pub domain_probe: Arc<dyn DomainProbe>,
    pub domain_config: DomainConfig,
    /// The platform's store for files' content (a throwaway directory until
    /// [`Wiring::build`] sets the configured one); tenants' own buckets come on top.
    pub files_backend: Backend,
    /// How long a tenant's data export can be downloaded.
    pub export_ttl: chrono::Duration,
    /// Whether tenants' backups are encrypted (the default).
    pub backups_encrypted: bool,
    /// Between a tenant's deletion request and its purge.
    pub purge_grace: chrono::Duration,
    edges: Edges,
    /// The one client to tenants' own buckets, built on first use (after `webhook_rules` is
    /// set): files, archives and their probe share it, its connections and its TLS roots.
    reach: std::sync::OnceLock<TenantReach>,
}

/// How webhook deliveries are sent and retried.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    pub schedule: RetrySchedule,
    /// An attempt's limit: a 2xx within it, or the attempt failed.
    pub timeout: Duration,
    pub disable: DisablePolicy,
    /// Deliveries in flight at once per process.
    pub concurrency: usize,
    /// Deliveries of one endpoint in flight at once, across every process.
    pub per_endpoint: u32,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(15),
            disable: DisablePolicy::default(),
            concurrency: 128,
            per_endpoint: 100,
        }
    }
}

/// The background work of a process: the job worker and the webhook dispatcher, stopped
/// together.
pub struct Background {
    jobs: AppWorker,
    webhooks: Dispatcher<Db, HttpSender, Vault<Db>>,
}

impl Background {
    /// Runs both until `shutdown` resolves, then lets each drain.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until = |mut s: tokio::sync::watch::Receiver<bool>| async move {
            s.wait_for(|v| *v).await.ok();
        };
        let both = futures_util::future::join(
            self.jobs.run(until(stopped.clone())),
            self.webhooks.run(until(stopped)),
        );
        let mut both = std::pin::pin!(both);
        tokio::select! {
            _ = &mut both => return,
            () = shutdown => {}
        }
        stop.send_replace(true);
        both.await;
    }
}

/// The worker as the app runs it.
pub type AppWorker = Worker<Db, TenantryJobs<Db, Crypto, MailSender, Vault<Db>>>;

impl Wiring {
    /// Opens the database (applying migrations) and builds every adapter from `cli`.
    pub async fn build(cli: &Cli) -> Result<Self> {
        let db = open_db(&cli.db).await?;
        let http = HttpConfig {
            base_domain: base_domain(cli)?,
            body_limit: cli.serve.body_limit,
            body_timeout: std::time::Duration::from_secs(cli.serve.body_timeout_secs.max(1)),
            operator_token: cli.serve.operator_token.clone().filter(|t| !t.is_empty()),
            public_url: cli.serve.public_url.clone(),
            rate_limits: cli.rate_limits.config()?,
            trusted_proxies: tenantry_http::client::TrustedProxies::parse(
                &cli.serve.trusted_proxies,
            )
            .map_err(|e| anyhow::anyhow!("TENANTRY_TRUSTED_PROXIES: {e}"))?,
            allowlist_admin_bypass: cli.serve.allowlist_admin_bypass,
            stripe_webhook_secrets: cli
                .rate_limits
                .stripe_webhook_secret
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            max_file_bytes: cli.files.files_max_bytes,
            max_import_bytes: cli.files.import_max_bytes,
        };
        let mailer = match cli.serve.smtp_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => MailSender::smtp(url, &cli.serve.mail_from)?,
            None => MailSender::files(&cli.serve.mail_dir, &cli.serve.mail_from)?,
        };
        let key = signing_key(&cli.serve, &db).await?;
        let crypto =
            Crypto::new(&key, &cli.serve.jwt_issuer).context("cannot set up token signing")?;
        let keys = key_source(&cli.keys)?;
        let edges = Edges::claim().context("the composition root is built once per process")?;
        let mut wiring = Self::new(db, Arc::new(SystemClock), crypto, mailer, http, keys, edges)?;
        wiring.webhook_rules = cli.webhooks.target_rules()?;
        wiring.webhook_delivery = cli.webhooks.delivery()?;
        wiring.billing = cli.billing.policy()?;
        wiring.domain_probe = Arc::new(
            DnsProbe::new(ProbeConfig {
                resolver: cli.domains.dns_resolver,
                addresses: wiring.webhook_rules.addresses.clone(),
                ..probe_defaults()
            })
            .map_err(anyhow::Error::msg)?,
        );
        wiring.domain_config.policy = cli.domains.policy();
        wiring.files_backend = cli.files.backend()?;
        wiring.export_ttl = chrono::Duration::hours(i64::from(cli.files.export_link_hours.max(1)));
        wiring.backups_encrypted = !cli.files.backups_unencrypted;
        wiring.purge_grace = chrono::Duration::days(i64::from(cli.files.purge_grace_days));
        if let Some(target) = cli
            .domains
            .domain_cname_target
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            target.clone_into(&mut wiring.domain_config.cname_target);
        }
        if let Some(url) = cli
            .rate_limits
            .redis_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            let store = tenantry_limits::RedisStore::new(url)?;
            wiring.rate_store = Some(Arc::new(store));
        }
        Ok(wiring)
    }

    /// From adapters built elsewhere (tests build their own database and keys).
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        crypto: Crypto,
        mailer: MailSender,
        http: HttpConfig,
        keys: KeySource,
        edges: Edges,
    ) -> Result<Self> {
        let vault = Vault::new(db.key_store(), keys).context("the master key")?;
        db.seal_personal_data_with(Arc::new(vault.clone()));
        let domain_probe = Arc::new(DnsProbe::new(probe_defaults()).map_err(anyhow::Error::msg)?);
        let domain_config = DomainConfig {
            base_domain: http.base_domain.clone(),
            cname_target: http.base_domain.as_str().to_owned(),
            policy: CheckPolicy::default(),
            max_custom: 20,
        };
        Ok(Self {
            db,
            clock,
            crypto,
            mailer,
            http,
            vault,
            webhook_rules: TargetRules::default(),
            webhook_delivery: WebhookDelivery::default(),
            billing: BillingPolicy::default(),
            rate_store: None,
            domain_probe,
            domain_config,
            files_backend: Backend::local(
                &std::env::temp_dir()
                    .join(format!("tenantry-files-{}", uuid::Uuid::now_v7().simple())),
            )
            .map_err(anyhow::Error::new)?,
            export_ttl: chrono::Duration::days(7),
            backups_encrypted: true,
            purge_grace: chrono::Duration::days(tenantry_archive::purge::DEFAULT_GRACE_DAYS),
            edges,
            reach: std::sync::OnceLock::new(),
        })
    }

    /// What the HTTP adapter serves: every service over the store, handed over as the
    /// adapter's ports. The tenant service announces its changes to the adapter's resolver.
    pub fn app_state(&self) -> Result<AppState> {
        let reads: Arc<dyn PlatformReads> = Arc::new(self.db.clone());
        let resolver = Resolver::new(reads.clone(), self.http.base_domain.clone());
        let tenants = self.tenants_announcing_to(Arc::new(resolver.clone()));
        let auth = self.auth();
        let services = Services {
            tenants: Arc::new(tenants.clone()),
            settings: Arc::new(SettingsService::new(
                self.db.clone(),
                self.clock.clone(),
                Arc::new(resolver.clone()),
            )),
            domains: Arc::new(self.domains(Arc::new(resolver.clone()))),
            auth: Arc::new(auth.clone()),
            sso: Arc::new(self.sso(auth.clone())?),
            smtp: Arc::new(self.smtp()),
            scim: Arc::new(tenantry_identity::ScimService::new(
                self.db.clone(),
                auth.clone(),
            )),
            rbac: Arc::new(RbacService::new(self.db.clone(), self.clock.clone())),
            onboarding: Arc::new(OnboardingService::new(
                self.db.clone(),
                tenants,
                auth.clone(),
                self.edges.clone(),
            )),
            erasure: Arc::new(ErasureService::new(
                self.db.clone(),
                auth.clone(),
                self.edges.clone(),
            )),
            invitations: Arc::new(self.invitations(auth)),
            api_keys: Arc::new(ApiKeyService::new(
                self.db.clone(),
                self.crypto.clone(),
                self.clock.clone(),
            )),
            products: Arc::new(ProductService::new(self.db.clone(), self.clock.clone())),
            files: Arc::new(self.files()?),
            exports: Arc::new(self.archives()?),
            deletions: Arc::new(self.archives()?),
            imports: Arc::new(self.archives()?),
            provisioning: Arc::new(self.provisioning()),
            buckets: Arc::new(self.buckets()?),
            projects: Arc::new(ProjectService::new(self.db.clone(), self.clock.clone())),
            audit: Arc::new(AuditService::new(self.db.clone())),
            events: Arc::new(EventService::new(self.db.clone())),
            webhooks: Arc::new(WebhookService::new(
                self.db.clone(),
                self.vault.clone(),
                self.clock.clone(),
                self.webhook_rules.clone(),
            )),
            billing: Arc::new(self.billing()),
            metering: Arc::new(UsageService::new(self.db.clone(), self.clock.clone())),
            reads,
        };
        let mut state = AppState::new(
            services,
            resolver,
            self.crypto.tokens.jwks(),
            self.http.clone(),
            self.edges.clone(),
        );
        if let Some(store) = &self.rate_store {
            state.rate_limits.store = store.clone();
        }
        Ok(state)
    }

    /// Tenants' files: their content in the platform's store or the tenant's own bucket.
    pub fn files(&self) -> Result<FileService<Db>> {
        let storage = Storage::new(self.files_backend.clone())
            .with_tenant_buckets(Arc::new(self.buckets()?), self.tenant_reach()?);
        Ok(FileService::new(
            self.db.clone(),
            Arc::new(storage),
            self.clock.clone(),
        ))
    }

    /// The soundness checks of `tenantry tenant validate`.
    pub fn validator(&self) -> tenantry_lifecycle::TenantValidator<Db> {
        tenantry_lifecycle::TenantValidator::new(self.db.clone(), self.edges.clone())
    }

    /// Tenants' archives: the operator's export and import (and, later, backups).
    pub fn archives(&self) -> Result<ArchiveService<Db, Vault<Db>>> {
        let storage = Storage::new(self.files_backend.clone())
            .with_tenant_buckets(Arc::new(self.buckets()?), self.tenant_reach()?);
        let backend = match self.db.backend() {
            tenantry_store::Backend::Postgres => "postgres",
            tenantry_store::Backend::Sqlite => "sqlite",
        };
        Ok(ArchiveService::new(
            self.db.clone(),
            self.vault.clone(),
            PlatformKeys {
                cipher: Arc::new(self.vault.clone()),
                signer: Arc::new(self.crypto.tokens.clone()),
            },
            Arc::new(storage),
            self.edges.clone(),
            self.clock.clone(),
            ArchiveConfig {
                producer: format!("tenantry {} ({backend})", env!("CARGO_PKG_VERSION")),
                base_domain: self.http.base_domain.as_str().to_owned(),
                export_ttl: self.export_ttl,
                backups_encrypted: self.backups_encrypted,
                purge_grace: self.purge_grace,
            },
        ))
    }

    /// Tenants' own buckets: checked before saving, secrets sealed with the tenant's key.
    pub fn buckets(&self) -> Result<BucketService<Db, Vault<Db>, Prober>> {
        Ok(BucketService::new(
            self.db.clone(),
            self.vault.clone(),
            Prober(self.tenant_reach()?),
            self.clock.clone(),
        ))
    }

    /// How tenants' buckets are reached: only where webhooks may go (the outbound guard),
    /// transfers of any length but no minute of silence.
    fn tenant_reach(&self) -> Result<TenantReach> {
        if let Some(reach) = self.reach.get() {
            return Ok(reach.clone());
        }
        let policy = self.webhook_rules.addresses.clone();
        let client = tenantry_sender::guarded_builder(policy.clone())
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .context("the client of tenants' buckets")?;
        let reach = TenantReach {
            client,
            check: Arc::new(move |ip| policy.check(ip).map_err(|b| b.to_string())),
        };
        Ok(self.reach.get_or_init(|| reach).clone())
    }

    /// Plans, subscriptions and quotas; the quotas are those the entities declare.
    pub fn billing(&self) -> BillingService<Db> {
        BillingService::new(
            self.db.clone(),
            self.clock.clone(),
            self.billing,
            tenantry_http::quota_resources(),
        )
    }

    /// Accounts, sessions and second factors (TOTP secrets sealed with the platform's key).
    pub fn auth(&self) -> AuthService<Db, Crypto> {
        AuthService::new(
            self.db.clone(),
            self.crypto.clone(),
            self.clock.clone(),
            AuthPolicy::default(),
        )
        .with_platform_cipher(Arc::new(self.vault.clone()))
    }

    /// Single sign-on: providers reached through the outbound guard (the webhooks' address
    /// rules), the browser sent back to `<public URL>/api/v1/sso/callback`.
    pub fn sso(
        &self,
        auth: AuthService<Db, Crypto>,
    ) -> Result<tenantry_identity::SsoService<Db, Crypto, tenantry_oidc::Oidc, Vault<Db>>> {
        let http = tenantry_sender::guarded_client(
            self.webhook_rules.addresses.clone(),
            std::time::Duration::from_secs(10),
        )
        .map_err(anyhow::Error::msg)?;
        let callback = format!(
            "{}/api/v1/sso/callback",
            self.http.public_url.trim_end_matches('/')
        );
        Ok(tenantry_identity::SsoService::new(
            self.db.clone(),
            auth,
            tenantry_oidc::Oidc::new(http),
            self.vault.clone(),
            self.edges.clone(),
            &callback,
        ))
    }

    /// Tenant lifecycle outside the server: another process may be serving, and its
    /// resolution cache follows the change within a second (no listener here).
    pub fn tenants(&self) -> TenantService<Db> {
        self.tenants_announcing_to(Arc::new(NoListener))
    }

    fn tenants_announcing_to(&self, listener: Arc<dyn TenantChangeListener>) -> TenantService<Db> {
        TenantService::new(
            self.db.clone(),
            self.clock.clone(),
            self.http.base_domain.clone(),
            listener,
            self.edges.clone(),
        )
    }

    /// A command run by the operator inside one tenant (the CLI's domain commands): the
    /// system acts, the origin names the CLI.
    pub fn cli_ctx(&self, tenant: tenantry_kernel::TenantId) -> tenantry_kernel::TenantCtx {
        tenantry_kernel::TenantCtx::for_request(
            &self.edges,
            tenant,
            tenantry_kernel::Actor::System,
            Arc::new(tenantry_kernel::Origin {
                request_id: Some("cli".to_owned()),
                ..Default::default()
            }),
        )
    }

    /// A tenant's domains and their checks, announcing routing changes to `listener`.
    pub fn domains(&self, listener: Arc<dyn TenantChangeListener>) -> DomainService<Db> {
        DomainService::new(
            self.db.clone(),
            self.domain_probe.clone(),
            self.clock.clone(),
            listener,
            tenantry_crypto::random_token,
            self.domain_config.clone(),
        )
    }

    /// A tenant's own mail server: its settings, its test message, and what its mail goes
    /// through (reached only where the outbound guard allows).
    pub fn smtp(&self) -> SmtpService<Db, Vault<Db>, Relays> {
        SmtpService::new(
            self.db.clone(),
            self.vault.clone(),
            Relays::new(self.webhook_rules.addresses.clone()),
            self.clock.clone(),
        )
    }

    /// The mailer: each tenant's mail through its own server when it has one, else the
    /// platform's.
    pub fn tenant_mailer(&self) -> MailSender {
        self.mailer.clone().with_tenant_relays(
            Arc::new(self.smtp()),
            Relays::new(self.webhook_rules.addresses.clone()),
        )
    }

    /// Sending, delivering and accepting invitations (signing up through `auth`).
    fn invitations(
        &self,
        auth: AuthService<Db, Crypto>,
    ) -> InvitationService<Db, Crypto, MailSender> {
        InvitationService::new(
            self.db.clone(),
            auth,
            self.crypto.clone(),
            self.tenant_mailer(),
            self.http.public_url.clone(),
            self.edges.clone(),
        )
    }

    /// Signing up an organisation (the CLI's `tenant create --owner-email`).
    pub fn onboarding(&self) -> OnboardingService<Db, Crypto> {
        OnboardingService::new(
            self.db.clone(),
            self.tenants(),
            self.auth(),
            self.edges.clone(),
        )
    }

    /// Creating many tenants from a CSV file.
    pub fn provisioning(&self) -> BulkProvisioning<Db, Crypto> {
        BulkProvisioning::new(
            self.db.clone(),
            self.crypto.clone(),
            self.http.base_domain.clone(),
            self.clock.clone(),
            self.edges.clone(),
        )
    }

    /// The background work: the job worker and the webhook dispatcher.
    pub fn worker(&self, args: &WorkerArgs) -> Result<Background> {
        let d = &self.webhook_delivery;
        let sender = HttpSender::new(self.webhook_rules.addresses.clone(), d.timeout)
            .map_err(anyhow::Error::msg)?;
        let service = DeliveryService::new(
            self.db.clone(),
            sender,
            self.vault.clone(),
            self.clock.clone(),
            d.schedule.clone(),
            d.disable,
        );
        let mut config = DispatcherConfig::new(d.concurrency);
        config.per_endpoint = d.per_endpoint;
        // Long enough for a batch: a wait for a rate-limited turn, the request's timeout, the
        // record — twice over. A dispatcher that died loses its claims after this.
        config.lease = (tenantry_webhooks::PACE_HORIZON + d.timeout) * 2 + Duration::from_secs(3);
        Ok(Background {
            jobs: self.job_worker(args)?,
            webhooks: Dispatcher::new(service, self.clock.clone(), config, self.edges.clone()),
        })
    }

    /// The job worker.
    fn job_worker(&self, args: &WorkerArgs) -> Result<AppWorker> {
        let jobs = TenantryJobs::new(
            JobServices {
                invitations: self.invitations(self.auth()),
                billing: self.billing(),
                // Another process's resolution cache follows the change counter.
                domains: self.domains(Arc::new(NoListener)),
                files: self.files()?,
                archives: self.archives()?,
            },
            self.db.clone(),
            self.clock.clone(),
            Retention {
                events: chrono::Duration::days(i64::from(args.event_retention_days.max(1))),
                delivery_log: chrono::Duration::days(i64::from(
                    args.webhook_log_retention_days.max(1),
                )),
            },
            self.edges.clone(),
        );
        let mut config = WorkerConfig::new(args.worker_concurrency);
        config.lease = Duration::from_secs(args.job_lease_secs.max(1));
        config.daily_backups = !args.no_backups;
        config.retry = RetryPolicy {
            base: Duration::from_millis(args.job_retry_base_ms.max(1)),
            ..RetryPolicy::default()
        };
        Ok(Worker::new(
            self.db.clone(),
            jobs,
            self.clock.clone(),
            config,
            self.edges.clone(),
        ))
    }
}

/// Domain checks as served: the system's resolvers, 5 s per lookup or request, public
/// addresses only, the challenge file on port 80.
pub fn probe_defaults() -> ProbeConfig {
    ProbeConfig {
        resolver: None,
        timeout: Duration::from_secs(5),
        addresses: tenantry_webhooks::AddressPolicy::default(),
        http_port: 80,
    }
}

/// SIGTERM and SIGINT, both asking for a graceful stop. Registered when built, so a signal
/// that arrives before anything waits for it is not lost.
pub struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the first signal received.
    pub async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
