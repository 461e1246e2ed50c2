//! What each kind of job does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tenantry_archive::{
    ArchiveService, ArchiveStore, BackupRepository, DeletionRepository, ExportJobError,
    ExportRepository, KeyEscrow,
};
use tenantry_audit::{AuditRepository, ChangeLog, EventFilter, EventRepository};
use tenantry_billing::{BillingService, PlanRepository, QuotaRepository, SubscriptionRepository};
use tenantry_files::{BucketRepository, FileRepository, FileService};
use tenantry_identity::{IdentityCrypto, IdentityStore};
use tenantry_identity::{InvitationRepository, InvitationService, Mailer};
use tenantry_jobs::{ClaimedJob, Job};
use tenantry_kernel::{Clock, Edges, PageRequest, TenantCtx, Unexpected};
use tenantry_rbac::MembershipRepository;
use tenantry_tenancy::{DomainRepository, DomainService, TenantFilter, TenantRepository};
use tenantry_webhooks::{DisabledReason, WebhookRepository};

/// Why a job did not succeed.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt (a server down, a timeout).
    Retry(String),
    /// Will fail the same way every time: dead at once.
    Permanent(String),
}

impl From<ExportJobError> for JobError {
    fn from(e: ExportJobError) -> Self {
        match e {
            ExportJobError::Retry(m) => Self::Retry(m),
            ExportJobError::Permanent(m) => Self::Permanent(m),
        }
    }
}

impl From<Unexpected> for JobError {
    fn from(e: Unexpected) -> Self {
        Self::Retry(e.to_string())
    }
}

/// Runs one job. `ctx` is the job's tenant context, rebuilt from the job row (`None` for a
/// platform job).
pub trait JobHandler: Clone + Send + Sync + 'static {
    fn run(
        &self,
        job: &Job,
        ctx: Option<&TenantCtx>,
        claim: &ClaimedJob,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// How long what the platform logs is kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Events (the pull API's and the deliveries' source).
    pub events: chrono::Duration,
    /// Webhook attempts, and deliveries that failed for good.
    pub delivery_log: chrono::Duration,
}

/// The services jobs act through.
#[derive(Clone)]
pub struct JobServices<R, C, M, K> {
    pub invitations: InvitationService<R, C, M>,
    pub billing: BillingService<R>,
    pub domains: DomainService<R>,
    pub files: FileService<R>,
    pub archives: ArchiveService<R, K>,
}

/// Tenantry's jobs, run through its services.
#[derive(Clone)]
pub struct TenantryJobs<R, C, M, K> {
    invitations: InvitationService<R, C, M>,
    billing: BillingService<R>,
    domains: DomainService<R>,
    files: FileService<R>,
    archives: ArchiveService<R, K>,
    repo: R,
    clock: Arc<dyn Clock>,
    retention: Retention,
    /// Platform jobs that work through every tenant (pruning) act in each one's context.
    edges: Edges,
}

impl<R, C, M, K> TenantryJobs<R, C, M, K> {
    pub fn new(
        services: JobServices<R, C, M, K>,
        repo: R,
        clock: Arc<dyn Clock>,
        retention: Retention,
        edges: Edges,
    ) -> Self {
        let JobServices {
            invitations,
            billing,
            domains,
            files,
            archives,
        } = services;
        Self {
            invitations,
            billing,
            domains,
            files,
            archives,
            repo,
            clock,
            retention,
            edges,
        }
    }
}

fn tenant_of(ctx: Option<&TenantCtx>) -> Result<&TenantCtx, JobError> {
    ctx.ok_or_else(|| JobError::Permanent("a tenant job without a tenant".to_owned()))
}

impl<R, C, M, K> TenantryJobs<R, C, M, K>
where
    R: EventRepository + TenantRepository + AuditRepository,
{
    /// A probe in a tenant's scope notes in its audit trail how many events it could see and
    /// how many of those were another tenant's (always none): proof that the job ran in its
    /// own tenant and nowhere else.
    async fn probe_tenant(&self, ctx: &TenantCtx, claim: &ClaimedJob) -> Result<(), JobError> {
        let page = PageRequest {
            limit: tenantry_kernel::Limit::MAX,
            after: None,
        };
        let seen = self
            .repo
            .list_events(ctx, &EventFilter::default(), &page)
            .await?;
        let foreign = seen
            .items
            .iter()
            .filter(|e| e.tenant_id != ctx.tenant_id())
            .count();
        let mut log = ChangeLog::new();
        log.note(
            "probe",
            claim.id.to_string(),
            "ran",
            [
                ("visible_events", serde_json::json!(seen.items.len())),
                ("foreign_events", serde_json::json!(foreign)),
            ],
        );
        Ok(AuditRepository::record(&self.repo, ctx, log).await?)
    }

    /// Runs `prune` in every tenant's context, one tenant (one transaction in its scope) at a
    /// time; what it deleted in all.
    async fn each_tenant<F, Fut>(&self, claim: &ClaimedJob, prune: F) -> Result<u64, JobError>
    where
        F: Fn(TenantCtx) -> Fut,
        Fut: Future<Output = Result<u64, Unexpected>>,
    {
        let mut page = PageRequest {
            limit: tenantry_kernel::Limit::MAX,
            after: None,
        };
        let mut pruned = 0u64;
        loop {
            let tenants = self
                .repo
                .list_tenants(&TenantFilter::default(), &page)
                .await?;
            for t in &tenants.items {
                pruned += prune(TenantCtx::for_job(&self.edges, t.id, claim.id)).await?;
            }
            match tenants.next_cursor {
                Some(c) => {
                    page.after = tenantry_kernel::Cursor::parse(&c).ok();
                    if page.after.is_none() {
                        break;
                    }
                }
                None => break,
            }
        }
        Ok(pruned)
    }

    /// Every tenant's events older than the retention.
    async fn prune_events(&self, claim: &ClaimedJob) -> Result<(), JobError> {
        let before = self.clock.now() - self.retention.events;
        let pruned = self
            .each_tenant(claim, |ctx| async move {
                self.repo.prune_events(&ctx, before).await
            })
            .await?;
        tracing::info!(pruned, %before, "pruned events past their retention");
        Ok(())
    }
}

impl<R, C, M, K> TenantryJobs<R, C, M, K>
where
    R: EventRepository + TenantRepository + AuditRepository + WebhookRepository,
{
    /// Every tenant's webhook attempts and failed deliveries older than the retention.
    async fn prune_delivery_log(&self, claim: &ClaimedJob) -> Result<(), JobError> {
        let before = self.clock.now() - self.retention.delivery_log;
        let pruned = self
            .each_tenant(claim, |ctx| async move {
                self.repo.prune_delivery_log(&ctx, before).await
            })
            .await?;
        tracing::info!(pruned, %before, "pruned the webhook delivery log past its retention");
        Ok(())
    }
}

impl<R, C, M, K> TenantryJobs<R, C, M, K>
where
    R: WebhookRepository + MembershipRepository,
    M: Mailer,
{
    /// Tells the tenant's owners that an endpoint was disabled, why, and how to turn it back
    /// on. Nothing when it was deleted or enabled again meanwhile.
    async fn webhook_disabled_mail(
        &self,
        ctx: &TenantCtx,
        endpoint: tenantry_kernel::WebhookId,
    ) -> Result<(), JobError> {
        let Some(webhook) = self.repo.webhook(ctx, endpoint).await? else {
            return Ok(());
        };
        let why = match webhook.disabled {
            None | Some(DisabledReason::Manual) => return Ok(()),
            Some(DisabledReason::Gone) => "its receiver answered 410 Gone".to_owned(),
            Some(DisabledReason::Failing) => format!(
                "every delivery to it has failed since {}",
                webhook.failing_since.map_or_else(
                    || "several days".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
                )
            ),
        };
        let text = format!(
            "The webhook endpoint {url} ({id}) was disabled: {why}.\n\n\
             Events are no longer delivered to it. Once the receiver works again, turn it back \
             on with PATCH /api/v1/webhooks/{id} {{\"enabled\": true}}, and send what it \
             missed with POST /api/v1/webhooks/{id}/recover.\n",
            url = webhook.url.as_str(),
            id = webhook.id,
        );
        let mut page = PageRequest {
            limit: tenantry_kernel::Limit::MAX,
            after: None,
        };
        loop {
            let members = self.repo.members(ctx, &page).await?;
            for m in &members.items {
                let owner = m.role_name.as_str() == "owner"
                    && m.membership.status == tenantry_rbac::MembershipStatus::Active;
                let Some(to) = owner
                    .then(|| tenantry_kernel::Email::parse(&m.email).ok())
                    .flatten()
                else {
                    continue;
                };
                let mail = tenantry_identity::OutgoingMail {
                    to,
                    subject: format!("Webhook endpoint disabled: {}", webhook.url.as_str()),
                    text: text.clone(),
                };
                self.invitations.mailer().send(ctx, &mail).await?;
            }
            match members
                .next_cursor
                .as_deref()
                .map(tenantry_kernel::Cursor::parse)
            {
                Some(Ok(c)) => page.after = Some(c),
                _ => return Ok(()),
            }
        }
    }
}

impl<R, C, M, K> TenantryJobs<R, C, M, K>
where
    R: PlanRepository + SubscriptionRepository + QuotaRepository,
{
    /// Each tenant with a subscription transition due, moved on in its own context (the
    /// change is recorded and evented there).
    async fn advance_subscriptions(&self, claim: &ClaimedJob) -> Result<(), JobError> {
        let due = self.billing.due().await?;
        let mut moved = 0usize;
        for tenant in due {
            let ctx = TenantCtx::for_job(&self.edges, tenant, claim.id);
            moved += usize::from(self.billing.advance(&ctx).await?);
        }
        tracing::info!(moved, "advanced the subscriptions that were due");
        Ok(())
    }
}

/// Domains checked per sweep, and at once: a sweep that cannot finish its batch in a minute
/// leaves the rest to the next one.
const DOMAIN_BATCH: u32 = 200;
const DOMAIN_CHECKS_AT_ONCE: usize = 16;

impl<R, C, M, K> TenantryJobs<R, C, M, K>
where
    R: DomainRepository,
{
    /// Checks each due domain in its own tenant's context (a change is recorded and evented
    /// there); a domain whose check failed to save is tried again by the next sweep.
    async fn check_domains(&self, claim: &ClaimedJob) -> Result<(), JobError> {
        use futures_util::StreamExt as _;
        let due = self.domains.due(DOMAIN_BATCH).await?;
        let checked = due.len();
        let failures = futures_util::stream::iter(due)
            .map(|domain| async move {
                let ctx = TenantCtx::for_job(&self.edges, domain.tenant_id, claim.id);
                let hostname = domain.hostname.clone();
                self.domains
                    .check(&ctx, domain)
                    .await
                    .map_err(|e| tracing::warn!(%hostname, error = %e, "domain check not saved"))
                    .is_err()
            })
            .buffer_unordered(DOMAIN_CHECKS_AT_ONCE)
            .filter(|failed| std::future::ready(*failed))
            .count()
            .await;
        tracing::info!(checked, failures, "checked the domains that were due");
        Ok(())
    }
}

impl<R, C, M, K> JobHandler for TenantryJobs<R, C, M, K>
where
    R: InvitationRepository
        + FileRepository
        + BucketRepository
        + PlanRepository
        + SubscriptionRepository
        + QuotaRepository
        + WebhookRepository
        + MembershipRepository
        + IdentityStore
        + EventRepository
        + TenantRepository
        + DomainRepository
        + AuditRepository
        + ArchiveStore
        + ExportRepository
        + BackupRepository
        + DeletionRepository
        + tenantry_jobs::JobQueue,
    C: IdentityCrypto,
    M: Mailer,
    K: KeyEscrow + tenantry_kernel::SecretCipher + Clone,
{
    async fn run(
        &self,
        job: &Job,
        ctx: Option<&TenantCtx>,
        claim: &ClaimedJob,
    ) -> Result<(), JobError> {
        match job {
            Job::InvitationMail { invitation_id } => Ok(self
                .invitations
                .deliver(tenant_of(ctx)?, *invitation_id, claim.is_last_attempt())
                .await?),
            Job::WebhookDisabledMail { endpoint_id } => {
                self.webhook_disabled_mail(tenant_of(ctx)?, *endpoint_id)
                    .await
            }
            Job::DeleteFileContent { file_id, location } => Ok(self
                .files
                .erase_content(tenant_of(ctx)?, *file_id, *location)
                .await?),
            Job::MoveFiles => {
                let state = self.files.move_files(tenant_of(ctx)?).await?;
                tracing::info!(
                    files = state.files,
                    left = state.to_move,
                    "moved files to the tenant's store"
                );
                Ok(())
            }
            Job::TenantExport { export_id } => Ok(self
                .archives
                .run_export(tenant_of(ctx)?, *export_id, claim.is_last_attempt())
                .await?),
            Job::ExpireExport { export_id } => Ok(self
                .archives
                .expire_export(tenant_of(ctx)?, *export_id)
                .await?),
            Job::TenantBackup => {
                let backup = self.archives.back_up(tenant_of(ctx)?).await?;
                tracing::info!(backup = %backup.id, rows = backup.rows, size = backup.size, "backed up a tenant");
                Ok(())
            }
            Job::PurgeTenant => {
                // Nothing when the deletion was cancelled: the job outlives its request.
                self.archives.purge(tenant_of(ctx)?).await?;
                Ok(())
            }
            Job::BackupTenants => {
                let now = self.clock.now();
                let day = now.format("%Y-%m-%d");
                let tenants = self.repo.tenants_to_back_up().await?;
                for tenant in &tenants {
                    let mut job = tenantry_jobs::NewJob::now(Some(*tenant), Job::TenantBackup, now);
                    job.dedupe_key = Some(format!("tenant_backup:{tenant}:{day}"));
                    tenantry_jobs::JobQueue::enqueue_once(&self.repo, &job).await?;
                }
                tracing::info!(tenants = tenants.len(), "queued today's backups");
                Ok(())
            }
            Job::PruneEvents => self.prune_events(claim).await,
            Job::PruneDeliveryLog => self.prune_delivery_log(claim).await,
            Job::AdvanceSubscriptions => self.advance_subscriptions(claim).await,
            Job::CheckDomains => self.check_domains(claim).await,
            Job::Probe { delay_ms, fail } => {
                if *delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
                }
                if *fail {
                    return Err(JobError::Retry("the probe was asked to fail".to_owned()));
                }
                match ctx {
                    Some(ctx) => self.probe_tenant(ctx, claim).await,
                    None => Ok(()),
                }
            }
        }
    }
}
