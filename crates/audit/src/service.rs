//! Reading and verifying a tenant's audit trail.

use tenantry_kernel::{Page, PageRequest, TenantCtx, Unexpected};

use crate::chain::{AuditEntry, Verification, Verifier};
use crate::change::ChangeLog;
use crate::ports::{AuditFilter, AuditRepository};

/// Entries read per round trip while verifying.
const VERIFY_BATCH: u32 = 1_000;

#[derive(Clone)]
pub struct AuditService<R> {
    repo: R,
}

impl<R: AuditRepository> AuditService<R> {
    pub fn new(repo: R) -> Self {
        Self { repo }
    }

    pub async fn list(
        &self,
        ctx: &TenantCtx,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, Unexpected> {
        self.repo.list(ctx, filter, page).await
    }

    /// Walks the tenant's whole chain from the first entry and reports the first entry that
    /// was edited, removed or reordered.
    pub async fn verify(&self, ctx: &TenantCtx) -> Result<Verification, Unexpected> {
        // The head first: entries appended while we walk are beyond it and not checked.
        let head = self.repo.head(ctx).await?;
        let mut verifier = Verifier::new();
        let mut after = 0;
        loop {
            let batch = self.repo.chain_segment(ctx, after, VERIFY_BATCH).await?;
            let batch: Vec<AuditEntry> = batch.into_iter().filter(|e| e.seq <= head.seq).collect();
            let Some(last) = batch.last() else { break };
            after = last.seq;
            let full = batch.len() == VERIFY_BATCH as usize;
            if !batch.iter().all(|e| verifier.check(e)) || !full {
                break;
            }
        }
        Ok(verifier.finish_at(&head))
    }

    /// Records a tenant security event (permission denied, API key refused…).
    pub async fn record(&self, ctx: &TenantCtx, log: ChangeLog) -> Result<(), Unexpected> {
        if log.is_empty() {
            return Ok(());
        }
        self.repo.record(ctx, log).await
    }
}
