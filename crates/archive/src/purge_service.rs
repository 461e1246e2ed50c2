//! Deleting a whole tenant: the owner's request, the grace period, the purge job and its
//! certificate.

use tenantry_files::StorageError;
use tenantry_kernel::{Page, PageRequest, TenantCtx, Unexpected, UserId};

use crate::export_service::ExportJobError;
use crate::ports::{ArchiveStore, KeyEscrow};
use crate::purge::{CERTIFICATE_TYPE, DeletionError, DeletionRepository, Purge, TenantDeletion};
use crate::service::ArchiveService;

impl<S, K> ArchiveService<S, K>
where
    S: ArchiveStore + DeletionRepository,
    K: KeyEscrow,
{
    /// The owner `user` asks for the tenant's deletion, typing its slug back (their password
    /// is checked before, by the caller). The tenant is suspended at once; the purge runs once
    /// the grace period is over.
    pub async fn request_deletion(
        &self,
        ctx: &TenantCtx,
        user: UserId,
        typed_slug: &str,
    ) -> Result<TenantDeletion, DeletionError> {
        let tenant = self
            .store
            .archived_tenant(&ctx.tenant_id().to_string())
            .await?
            .ok_or_else(|| Unexpected::msg("the tenant is gone"))?;
        if typed_slug.trim() != tenant.slug {
            return Err(DeletionError::SlugMismatch);
        }
        let now = self.clock.now();
        let deletion = TenantDeletion {
            tenant_id: ctx.tenant_id(),
            requested_by: Some(user),
            requested_at: now,
            purge_after: now + self.config.purge_grace,
            purge_started_at: None,
        };
        if !self.store.request_deletion(ctx, &deletion).await? {
            return Err(DeletionError::AlreadyPending);
        }
        Ok(deletion)
    }

    /// The tenant's pending deletion.
    pub async fn deletion(&self, ctx: &TenantCtx) -> Result<Option<TenantDeletion>, Unexpected> {
        self.store.deletion(ctx).await
    }

    /// Calls the pending deletion off (the owner, or the operator) and resumes the tenant.
    pub async fn cancel_deletion(&self, ctx: &TenantCtx) -> Result<TenantDeletion, DeletionError> {
        let deletion = self
            .store
            .cancel_deletion(ctx, self.clock.now())
            .await?
            .ok_or(DeletionError::NotPending)?;
        if deletion.purge_started_at.is_some() {
            return Err(DeletionError::PurgeUnderWay);
        }
        Ok(deletion)
    }

    /// The purge job: once the deletion is due, marks it begun (no cancelling after), deletes
    /// the tenant's objects from storage, then every row it owns and its data key in one
    /// transaction that records the signed certificate. Nothing to do (`None`) when the
    /// deletion was cancelled or is not due yet (a job left from a request that was cancelled
    /// and made again).
    pub async fn purge(&self, ctx: &TenantCtx) -> Result<Option<Purge>, ExportJobError> {
        // From here on the deletion cannot be cancelled: what is deleted next is not undone.
        let Some(deletion) = self.store.start_purge(ctx, self.clock.now()).await? else {
            return Ok(None);
        };
        let mut objects = 0u64;
        for (at, key) in self.store.tenant_objects(ctx).await?.keys(ctx.tenant_id()) {
            match self.storage.delete(ctx, at, &key).await {
                Ok(()) => objects += 1,
                Err(StorageError::NotFound) => {}
                // The tenant's own bucket, no longer open to us: what is there is the
                // tenant's, out of our reach.
                Err(StorageError::Denied(e)) if at.is_some() => {
                    tracing::warn!(%key, error = %e, "a purged tenant's bucket refused a delete");
                }
                Err(e) => return Err(ExportJobError::Retry(format!("storage: {e}"))),
            }
        }
        let signer = self.platform.signer.clone();
        let certify =
            move |p: &Purge| signer.sign_statement(CERTIFICATE_TYPE, &p.claims().to_string());
        let purge = self
            .store
            .purge_tenant(ctx, &deletion, objects, self.clock.now(), &certify)
            .await?;
        self.keys.forget_key(ctx.tenant_id());
        tracing::info!(
            tenant = %purge.tenant_id,
            slug = %purge.slug,
            rows = purge.rows.values().sum::<u64>(),
            objects,
            accounts = purge.accounts,
            "purged a tenant"
        );
        Ok(Some(purge))
    }

    /// The certificates of purged tenants, newest first.
    pub async fn purges(&self, page: &PageRequest) -> Result<Page<Purge>, Unexpected> {
        self.store.purges(page).await
    }
}
