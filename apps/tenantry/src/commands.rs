//! What each command does: build the adapters, hand them to the services, print results.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tenantry_crypto::SigningKeyMaterial;
use tenantry_http::{ServerOptions, Shared};
use tenantry_identity::DisplayName;
use tenantry_kernel::{Clock, Cursor, Email, Limit, PageRequest, SystemClock};
use tenantry_onboarding::Onboard;
use tenantry_store::{Backend, Db, DbConfig, MigrationStatus, StoreError, run_migrations};
use tenantry_tenancy::{
    BaseDomain, Domain, Hostname, MaintenanceMessage, Slug, Tenant, TenantFilter, TenantName,
    TenantRef, TenantStatus,
};

use crate::cli::{
    AdminCommand, BackupCommand, Cli, Command, DbArgs, DomainCommand, JobsCommand, KeyArgs,
    KeysCommand, MaintenanceCommand, ServeArgs, TenantCommand,
};
use crate::wiring::{ShutdownSignals, Wiring};

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None | Some(Command::Serve) => serve(&cli).await,
        Some(Command::Worker) => worker(&cli).await,
        Some(Command::Migrate) => migrate(&cli.db).await,
        Some(Command::Openapi) => {
            print!("{}", tenantry_http::openapi_json(&tenantry_http::openapi()));
            Ok(())
        }
        Some(Command::Tenant(ref cmd)) => tenant(&cli, cmd).await,
        Some(Command::Admin(AdminCommand::Create {
            ref email,
            ref password,
            ref name,
        })) => create_admin(&cli, email, password.as_deref(), name).await,
        Some(Command::Jobs(ref cmd)) => jobs(&cli, cmd).await,
        Some(Command::Keys(ref cmd)) => keys(&cli, cmd).await,
        Some(Command::Health) => health(cli.serve.bind),
    }
}

/// GET /readyz on the local server, over plain HTTP/1.0 (the server is on this machine).
fn health(bind: std::net::SocketAddr) -> Result<()> {
    use std::io::{Read, Write};
    let mut addr = bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(3);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        println!("ready");
        Ok(())
    } else {
        anyhow::bail!(
            "not ready: {}",
            answer.lines().next().unwrap_or("no answer")
        )
    }
}

async fn jobs(cli: &Cli, cmd: &JobsCommand) -> Result<()> {
    use tenantry_jobs::{Job, JobFilter, JobInfo, JobQueue, JobState, NewJob, OperatorError};
    let wiring = Wiring::build(cli).await?;
    let db = &wiring.db;
    let now = SystemClock.now();
    let print = |j: &JobInfo| {
        println!(
            "{}  {:<16} {:<8} attempts {}/{}  run_at {}  tenant {}{}",
            j.id,
            j.kind,
            j.state.as_str(),
            j.attempts,
            j.max_attempts,
            j.run_at.format("%Y-%m-%dT%H:%M:%SZ"),
            j.tenant_id.map_or("-".to_owned(), |t| t.to_string()),
            j.last_error
                .as_deref()
                .map_or(String::new(), |e| format!("\n    last error: {e}")),
        );
    };
    let id = |raw: &str| {
        raw.parse::<tenantry_kernel::JobId>()
            .map_err(|_| anyhow!("'{raw}' is not a job id"))
    };
    let refused = |e: OperatorError| match e {
        OperatorError::NotFound => anyhow!("no such job"),
        OperatorError::WrongState(s) => anyhow!("the job is {s}"),
        OperatorError::Unexpected(e) => anyhow!(e),
    };
    match cmd {
        JobsCommand::List { state, kind, limit } => {
            let summary = db.queue_summary(now).await?;
            for c in &summary.counts {
                println!("{:<16} {:<8} {}", c.kind, c.state.as_str(), c.count);
            }
            match summary.oldest_waiting_since {
                Some(t) => println!(
                    "oldest waiting: {}s (since {})",
                    (now - t).num_seconds().max(0),
                    t.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                None => println!("nothing waiting"),
            }
            let filter = JobFilter {
                state: state.as_deref().and_then(JobState::parse),
                kind: kind.clone(),
                limit: *limit,
            };
            for j in db.list_jobs(&filter).await? {
                print(&j);
            }
        }
        JobsCommand::Retry { id: raw } => {
            let job = db.retry_job(id(raw)?, now).await.map_err(refused)?;
            println!("queued again:");
            print(&job);
        }
        JobsCommand::Cancel { id: raw } => {
            let job = db.cancel_job(id(raw)?).await.map_err(refused)?;
            println!("cancelled:");
            print(&job);
        }
        JobsCommand::Probe {
            tenant,
            delay_ms,
            fail,
        } => {
            let tenant = match tenant {
                Some(raw) => Some(wiring.tenants().find(&tenant_ref(raw)?).await?.id),
                None => None,
            };
            let job = NewJob::now(
                tenant,
                Job::Probe {
                    delay_ms: *delay_ms,
                    fail: *fail,
                },
                now,
            );
            db.enqueue(&job).await?;
            println!("queued probe {}", job.id);
        }
    }
    Ok(())
}

/// The master keys' source: the variable, else the key file (made on first use).
pub(crate) fn key_source(args: &KeyArgs) -> Result<tenantry_secrets::KeySource> {
    tenantry_secrets::KeySource::open(
        args.master_key.as_deref(),
        std::path::Path::new(&args.master_key_file),
    )
    .context("TENANTRY_MASTER_KEY / TENANTRY_MASTER_KEY_FILE")
}

async fn keys(cli: &Cli, cmd: &KeysCommand) -> Result<()> {
    use tenantry_secrets::DataKeyStore;
    if let KeysCommand::Generate = cmd {
        println!("{}", *tenantry_secrets::MasterKey::generate().encode());
        return Ok(());
    }
    let wiring = Wiring::build(cli).await?;
    let counts = match cmd {
        KeysCommand::Rotate => {
            let rotation = wiring.vault.rotate_master_key().await?;
            println!(
                "{} data keys re-wrapped; the current master key is {}",
                rotation.rewrapped, rotation.current
            );
            rotation.counts
        }
        _ => wiring.db.data_key_counts().await?,
    };
    let keys = wiring.vault.keys();
    for k in keys.all() {
        let n = counts
            .iter()
            .find(|(id, _)| id == k.id())
            .map_or(0, |(_, n)| *n);
        let role = if k.id() == keys.current().id() {
            "current"
        } else {
            "older"
        };
        println!("{}  {role:<7}  wraps {n} data keys", k.id());
    }
    for (id, n) in counts.iter().filter(|(id, _)| keys.find(id).is_none()) {
        println!("{id}  MISSING  wraps {n} data keys: add this master key back");
    }
    Ok(())
}

pub(crate) fn base_domain(cli: &Cli) -> Result<BaseDomain> {
    BaseDomain::parse(&cli.base_domain).map_err(|e| anyhow!("TENANTRY_BASE_DOMAIN: {e}"))
}

/// Opens the pool and applies pending migrations (with the owner's URL when given).
pub(crate) async fn open_db(args: &DbArgs) -> Result<Db> {
    let mut config = DbConfig::new(args.database_url.clone());
    config.pool_size = args.db_pool_size;
    let db = Db::connect(&config).context("cannot open the database")?;
    let status = first_contact(&db, Duration::from_secs(args.db_wait_seconds))
        .await
        .context("cannot read the migration state")?;
    if !status.is_current() {
        let url = args
            .migration_database_url
            .as_deref()
            .unwrap_or(&args.database_url);
        let applied = run_migrations(url).await.context(
            "cannot apply migrations (on PostgreSQL, set TENANTRY_MIGRATION_DATABASE_URL to the schema owner, \
             or run `tenantry migrate` as the owner)",
        )?;
        tracing::info!(applied = ?applied, "migrations applied");
    }
    Ok(db)
}

/// The migration state, read at start. On PostgreSQL a server that cannot be reached yet
/// (refused, still starting, out of connections, a pooler answering "try again later") is
/// tried again, at growing intervals of up to 2 s, until `wait` has passed; any other error
/// (a refused role or password, no such database, a failed query) ends it at once, as does
/// any error on SQLite, which runs in the process (decision 0061).
async fn first_contact(db: &Db, wait: Duration) -> Result<MigrationStatus, StoreError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        match db.migration_status().await {
            Err(e @ StoreError::Connection(_))
                if db.backend() == Backend::Postgres
                    && !e.is_lasting_connection_error()
                    && Instant::now() < deadline =>
            {
                // The last try is made at the deadline.
                let next = pause.min(deadline.saturating_duration_since(Instant::now()));
                tracing::warn!(
                    error = %e,
                    retry_in_ms = u64::try_from(next.as_millis()).unwrap_or(u64::MAX),
                    "cannot reach the database yet; waiting for it (TENANTRY_DB_WAIT_SECONDS)"
                );
                tokio::time::sleep(next).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

async fn migrate(args: &DbArgs) -> Result<()> {
    let url = args
        .migration_database_url
        .as_deref()
        .unwrap_or(&args.database_url);
    let applied = run_migrations(url).await.context("migrations failed")?;
    if applied.is_empty() {
        println!("database is up to date");
    } else {
        for v in applied {
            println!("applied {v}");
        }
    }
    Ok(())
}

async fn serve(cli: &Cli) -> Result<()> {
    let wiring = Wiring::build(cli).await?;
    let db = &wiring.db;
    let weaknesses = db
        .rls_weaknesses()
        .await
        .context("cannot inspect the database role")?;
    if !weaknesses.is_empty() {
        let why = weaknesses.join("; ");
        if !cli.serve.allow_rls_bypass {
            anyhow::bail!(
                "refusing to serve: row-level security would not isolate tenants ({why}). \
                 Connect as tenantry_service (see docs/postgres.md), or set \
                 TENANTRY_ALLOW_RLS_BYPASS=true to accept that risk"
            );
        }
        tracing::warn!(
            "row-level security is not enforced: {why}; TENANTRY_ALLOW_RLS_BYPASS is set"
        );
    }
    if !db
        .search_uses_index()
        .await
        .context("cannot inspect the database's catalog")?
    {
        tracing::warn!(
            "full-text search scans each tenant's rows: `@@` is not LEAKPROOF in this database, \
             so row-level security keeps the planner off the search indexes. A superuser can \
             allow them once (docs/postgres.md, \"Indexed search\")"
        );
    }
    tracing::info!(mail = %wiring.mailer.describe(), "outgoing mail");
    let shared = Shared::new(wiring.app_state()?)?;
    let listener = TcpListener::bind(cli.serve.bind)
        .with_context(|| format!("cannot listen on {}", cli.serve.bind))?;
    let options = ServerOptions {
        workers: cli.serve.workers,
        on_worker_start: Some(tenantry_http::WorkerStart(
            db.pool_per_worker(cli.db.db_pool_size),
        )),
        ..ServerOptions::default()
    };
    let address = listener.local_addr()?;
    tenantry_http::catch_up(shared.state())
        .await
        .context("cannot read the revoked sessions")?;
    // One signal stops both the server and the worker; registered before either starts.
    let signals = ShutdownSignals::new()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = match cli.serve.worker.no_worker {
        true => None,
        false => Some(wiring.worker(&cli.serve.worker)?),
    };
    let worker = background.map(|background| {
        let mut stopped = stopped.clone();
        let run = background.run(async move {
            stopped.wait_for(|s| *s).await.ok();
        });
        actix_web::rt::spawn(run)
    });
    let metrics = match cli.serve.internal_bind.trim() {
        "" | "off" => None,
        addr => {
            let listener = TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} (internal: metrics, TLS ask)"))?;
            tracing::info!(address = %listener.local_addr()?, "internal listener: /metrics, /internal/tls/ask");
            Some(tenantry_http::internal_server(listener, &shared)?)
        }
    };
    let metrics_handle = metrics.as_ref().map(actix_web::dev::Server::handle);
    if let Some(metrics) = metrics {
        actix_web::rt::spawn(metrics);
    }
    let server = tenantry_http::server(listener, shared.clone(), &options)?;
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let name = signals.recv().await;
        tracing::info!(
            signal = name,
            "stopping gracefully: in-flight requests and running jobs may finish"
        );
        stop.send_replace(true);
        handle.stop(true).await;
        if let Some(metrics) = metrics_handle {
            metrics.stop(true).await;
        }
    });
    tracing::info!(
        address = %address,
        backend = ?db.backend(),
        base_domain = %cli.base_domain,
        worker = worker.is_some(),
        "serving: docs at http://{address}/docs/"
    );
    server.await?;
    tenantry_http::flush_api_calls(&shared).await;
    if let Some(worker) = worker {
        worker.await.ok();
    }
    db.close();
    tracing::info!("stopped");
    Ok(())
}

async fn worker(cli: &Cli) -> Result<()> {
    let wiring = Wiring::build(cli).await?;
    tracing::info!(mail = %wiring.mailer.describe(), backend = ?wiring.db.backend(), "outgoing mail");
    let signals = ShutdownSignals::new()?;
    let stop = async move {
        let name = signals.recv().await;
        tracing::info!(signal = name, "stopping: running jobs may finish");
    };
    wiring.worker(&cli.serve.worker)?.run(stop).await;
    wiring.db.close();
    Ok(())
}

/// The configured key, else the one kept in the database (generated and stored on the
/// first start, so every instance signs with the same key).
pub(crate) async fn signing_key(serve: &ServeArgs, db: &Db) -> Result<SigningKeyMaterial> {
    if let Some(pem) = serve
        .jwt_private_key
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        return SigningKeyMaterial::from_pkcs8_pem(pem).context("TENANTRY_JWT_PRIVATE_KEY");
    }
    let candidate = SigningKeyMaterial::generate();
    let (_, pem) = db
        .signing_key_or_insert(
            &candidate.kid(),
            &candidate.to_pkcs8_pem()?,
            SystemClock.now(),
        )
        .await
        .context("cannot load the token-signing key")?;
    SigningKeyMaterial::from_pkcs8_pem(&pem).context("the stored token-signing key is unreadable")
}

async fn create_admin(cli: &Cli, email: &str, password: Option<&str>, name: &str) -> Result<()> {
    use tenantry_identity::{NewPassword, PlatformAdmins, UserRepository};
    let email = Email::parse(email).map_err(|e| anyhow!("invalid e-mail '{email}': {e}"))?;
    let wiring = Wiring::build(cli).await?;
    let db = &wiring.db;
    let user = match db.credentials(&email).await? {
        Some((user, _)) => user,
        None => {
            let password = password.ok_or_else(|| {
                anyhow!("no account has this e-mail: give --password (or TENANTRY_ADMIN_PASSWORD) to create one")
            })?;
            let password = NewPassword::parse(password, &email)
                .map_err(|e| anyhow!("invalid password: {e}"))?;
            let name = DisplayName::parse(name).map_err(|e| anyhow!("invalid name: {e}"))?;
            wiring.auth().create_user(email, name, &password).await?
        }
    };
    db.add_platform_admin(user.id, SystemClock.now()).await?;
    println!("platform administrator: {} ({})", user.email, user.id);
    db.close();
    Ok(())
}

fn tenant_ref(raw: &str) -> Result<TenantRef> {
    TenantRef::parse(raw)
        .ok_or_else(|| anyhow!("tenant not found: no tenant has the id or slug '{raw}'"))
}

fn hostname(raw: &str) -> Result<Hostname> {
    Hostname::parse(raw).map_err(|e| anyhow!("invalid hostname '{raw}': {e}"))
}

async fn tenant(cli: &Cli, cmd: &TenantCommand) -> Result<()> {
    let wiring = Wiring::build(cli).await?;
    let db = &wiring.db;
    let svc = wiring.tenants();
    match cmd {
        TenantCommand::Create {
            slug,
            name,
            owner_email,
            owner_password,
            owner_name,
        } => {
            let slug = Slug::parse(slug).map_err(|e| anyhow!("invalid slug '{slug}': {e}"))?;
            let name = TenantName::parse(name).map_err(|e| anyhow!("invalid name: {e}"))?;
            let t = match (owner_email, owner_password) {
                (Some(email), Some(password)) => {
                    let email = Email::parse(email)
                        .map_err(|e| anyhow!("invalid owner e-mail '{email}': {e}"))?;
                    let owner_name = DisplayName::parse(owner_name)
                        .map_err(|e| anyhow!("invalid owner name: {e}"))?;
                    let done = wiring
                        .onboarding()
                        .onboard(Onboard {
                            organisation: name,
                            slug,
                            owner_email: email,
                            owner_name,
                            password: password.clone(),
                            second_factor: None,
                            origin: tenantry_kernel::Origin::default(),
                        })
                        .await?;
                    println!(
                        "owner {} ({}) {}",
                        done.session.user.email,
                        done.session.user.id,
                        if done.owner_created {
                            "created"
                        } else {
                            "attached"
                        }
                    );
                    done.tenant
                }
                _ => svc.create(slug, name).await?,
            };
            println!(
                "created tenant {} ({}) at {}",
                t.slug,
                t.id,
                svc.base_domain().subdomain(&t.slug)
            );
        }
        TenantCommand::List { status } => {
            let filter = TenantFilter {
                status: status.as_deref().and_then(TenantStatus::parse),
            };
            println!(
                "{:<36}  {:<20}  {:<9}  {:<11}  NAME",
                "ID", "SLUG", "STATUS", "MAINTENANCE"
            );
            let mut page = PageRequest {
                limit: Limit::parse(100)?,
                after: None,
            };
            loop {
                let tenants = svc.list(&filter, &page).await?;
                for t in &tenants.items {
                    println!(
                        "{:<36}  {:<20}  {:<9}  {:<11}  {}",
                        t.id,
                        t.slug.as_str(),
                        t.status.as_str(),
                        if t.maintenance { "on" } else { "off" },
                        t.name.as_str()
                    );
                }
                match tenants.next_cursor {
                    Some(next) => page.after = Some(Cursor::parse(&next)?),
                    None => break,
                }
            }
        }
        TenantCommand::Show { tenant } => {
            let r = tenant_ref(tenant)?;
            let t = svc.find(&r).await?;
            print_tenant(&t);
            for d in svc.domains(&r).await? {
                print_domain(&d);
            }
        }
        TenantCommand::Rename { tenant, name } => {
            let name = TenantName::parse(name).map_err(|e| anyhow!("invalid name: {e}"))?;
            print_tenant(&svc.rename(&tenant_ref(tenant)?, name).await?);
        }
        TenantCommand::Suspend { tenant } => {
            print_tenant(&svc.suspend(&tenant_ref(tenant)?).await?)
        }
        TenantCommand::Resume { tenant } => print_tenant(&svc.resume(&tenant_ref(tenant)?).await?),
        TenantCommand::Maintenance(MaintenanceCommand::On { tenant, message }) => {
            let message = message
                .as_deref()
                .map(MaintenanceMessage::parse)
                .transpose()
                .map_err(|e| anyhow!("invalid message: {e}"))?;
            print_tenant(&svc.start_maintenance(&tenant_ref(tenant)?, message).await?);
        }
        TenantCommand::Maintenance(MaintenanceCommand::Off { tenant }) => {
            print_tenant(&svc.end_maintenance(&tenant_ref(tenant)?).await?);
        }
        TenantCommand::Domain(DomainCommand::Add {
            tenant,
            hostname: h,
        }) => {
            let ctx = wiring.cli_ctx(svc.find(&tenant_ref(tenant)?).await?.id);
            let domains = wiring.domains(std::sync::Arc::new(tenantry_tenancy::NoListener));
            print_domain(&domains.add(&ctx, hostname(h)?).await?);
        }
        TenantCommand::Domain(DomainCommand::Verify {
            tenant,
            hostname: h,
        }) => {
            let ctx = wiring.cli_ctx(svc.find(&tenant_ref(tenant)?).await?.id);
            let domains = wiring.domains(std::sync::Arc::new(tenantry_tenancy::NoListener));
            print_domain(&domains.force_verify(&ctx, &hostname(h)?).await?);
        }
        TenantCommand::Domain(DomainCommand::Primary {
            tenant,
            hostname: h,
        }) => {
            let ctx = wiring.cli_ctx(svc.find(&tenant_ref(tenant)?).await?.id);
            let domains = wiring.domains(std::sync::Arc::new(tenantry_tenancy::NoListener));
            print_domain(&domains.set_primary(&ctx, &hostname(h)?).await?);
        }
        TenantCommand::Export {
            tenant,
            out,
            recipients,
            passphrase_file,
            unencrypted,
            without_credentials,
        } => {
            let args = crate::archives::ExportArgs {
                tenant,
                out,
                recipients,
                passphrase_file: passphrase_file.as_deref(),
                unencrypted: *unencrypted,
                without_credentials: *without_credentials,
            };
            crate::archives::export(&wiring, args).await?;
        }
        TenantCommand::Validate { tenant, all, json } => {
            let validator = wiring.validator();
            let keys = match tenant {
                Some(t) if !all => vec![t.clone()],
                _ => validator.tenants().await?,
            };
            let mut reports = Vec::with_capacity(keys.len());
            for key in &keys {
                reports.push(validator.validate(key).await?);
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                for r in &reports {
                    print_report(r);
                }
            }
            let failed = reports.iter().filter(|r| !r.ok).count();
            if failed > 0 {
                db.close();
                anyhow::bail!("{failed} of {} tenant(s) failed a check", reports.len());
            }
        }
        TenantCommand::Import {
            archive,
            slug,
            identity,
            passphrase_file,
        } => {
            crate::archives::import(
                &wiring,
                archive,
                slug.as_deref(),
                identity.as_deref(),
                passphrase_file.as_deref(),
            )
            .await?;
        }
        TenantCommand::Backups(BackupCommand::List { tenant }) => {
            crate::archives::backups_list(&wiring, tenant).await?;
        }
        TenantCommand::Backups(BackupCommand::Create { tenant }) => {
            crate::archives::backup_create(&wiring, tenant).await?;
        }
        TenantCommand::Restore {
            tenant,
            backup,
            confirm,
        } => {
            crate::archives::restore(&wiring, tenant, backup, *confirm).await?;
        }
        TenantCommand::ImportCsv { file } => {
            let bytes = if file.as_os_str() == "-" {
                let mut all = vec![];
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut all)?;
                all
            } else {
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
            };
            let created = wiring
                .provisioning()
                .provision_csv(
                    &bytes,
                    tenantry_kernel::Actor::System,
                    tenantry_kernel::Origin::default(),
                )
                .await;
            match created {
                Ok(created) => {
                    for p in &created {
                        println!(
                            "created tenant {} ({}) on {}, owner {} invited",
                            p.tenant.slug, p.tenant.id, p.plan, p.owner_email
                        );
                    }
                    println!("{} tenant(s) created", created.len());
                }
                Err(tenantry_onboarding::bulk::BulkError::Invalid(errors)) => {
                    for e in &errors {
                        eprintln!("line {}: {}: {}", e.line, e.field, e.message);
                    }
                    bail!("{} row error(s): nothing was created", errors.len());
                }
                Err(tenantry_onboarding::bulk::BulkError::Unexpected(e)) => return Err(e.into()),
            }
        }
        TenantCommand::Domain(DomainCommand::List { tenant }) => {
            let r = tenant_ref(tenant)?;
            for d in svc.domains(&r).await? {
                print_domain(&d);
            }
        }
    }
    db.close();
    Ok(())
}

fn print_report(r: &tenantry_lifecycle::Report) {
    let id = r.id.map(|i| i.to_string()).unwrap_or_default();
    println!("{} {} {}", if r.ok { "ok  " } else { "FAIL" }, r.tenant, id);
    for c in &r.checks {
        println!(
            "  {} {:<20} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
}

fn print_tenant(t: &Tenant) {
    println!("id:          {}", t.id);
    println!("slug:        {}", t.slug);
    println!("name:        {}", t.name.as_str());
    println!("status:      {}", t.status.as_str());
    match (&t.maintenance, &t.maintenance_message) {
        (true, Some(m)) => println!("maintenance: on ({})", m.as_str()),
        (true, None) => println!("maintenance: on"),
        (false, _) => println!("maintenance: off"),
    }
    println!("created:     {}", t.created_at.to_rfc3339());
}

fn print_domain(d: &Domain) {
    println!(
        "domain:      {} ({}, {}{})",
        d.hostname,
        d.kind.as_str(),
        d.status.as_str(),
        if d.is_primary { ", primary" } else { "" }
    );
}
