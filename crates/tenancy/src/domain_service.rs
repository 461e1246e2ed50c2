//! A tenant's own domains: adding a custom hostname with its challenge, checking it (now, or
//! on the worker's schedule), making it primary, removing it. Every change is the tenant's,
//! recorded and evented through the change pipeline.

use std::sync::Arc;

use tenantry_kernel::{Clock, TenantCtx, Unexpected};

use crate::domains::{
    CheckPolicy, Domain, DomainKind, DomainProbe, DomainStatus, Evidence, Probe, ProofMethod,
    Transition, claimable,
};
use crate::error::{AddDomainError, ChangeDomainError};
use crate::model::{BaseDomain, Hostname};
use crate::ports::{DomainRepository, SavedDomain, TenantChangeListener};

/// What the platform tells domain owners and how it judges their domains.
#[derive(Clone, Debug)]
pub struct DomainConfig {
    pub base_domain: BaseDomain,
    /// What a custom hostname's CNAME should point at (the platform's edge).
    pub cname_target: String,
    pub policy: CheckPolicy,
    /// Custom domains per tenant.
    pub max_custom: usize,
}

/// Makes a fresh challenge token (the composition root passes the OS generator).
pub type TokenSource = fn() -> String;

#[derive(Clone)]
pub struct DomainService<R> {
    repo: R,
    probe: Arc<dyn DomainProbe>,
    clock: Arc<dyn Clock>,
    listener: Arc<dyn TenantChangeListener>,
    tokens: TokenSource,
    config: Arc<DomainConfig>,
}

/// How often a save is tried again over a concurrent change before giving up.
const ATTEMPTS: usize = 5;

impl<R: DomainRepository> DomainService<R> {
    pub fn new(
        repo: R,
        probe: Arc<dyn DomainProbe>,
        clock: Arc<dyn Clock>,
        listener: Arc<dyn TenantChangeListener>,
        tokens: TokenSource,
        config: DomainConfig,
    ) -> Self {
        Self {
            repo,
            probe,
            clock,
            listener,
            tokens,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &DomainConfig {
        &self.config
    }

    /// The tenant's domains, primary first.
    pub async fn list(&self, ctx: &TenantCtx) -> Result<Vec<Domain>, Unexpected> {
        self.repo.domains_of(ctx.tenant_id()).await
    }

    pub async fn get(
        &self,
        ctx: &TenantCtx,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        self.list(ctx)
            .await?
            .into_iter()
            .find(|d| &d.hostname == hostname)
            .ok_or_else(|| ChangeDomainError::DomainNotFound {
                hostname: hostname.to_string(),
            })
    }

    /// Adds a custom hostname, pending, with its challenge; the worker checks it at once and
    /// then on its schedule. Refused: the platform's own names, public suffixes, a hostname
    /// another tenant verified (a pending claim elsewhere does not block: first verified
    /// wins).
    pub async fn add(&self, ctx: &TenantCtx, hostname: Hostname) -> Result<Domain, AddDomainError> {
        claimable(&hostname, &self.config.base_domain).map_err(|e| {
            AddDomainError::HostnameReserved {
                hostname: hostname.to_string(),
                reason: e.0,
            }
        })?;
        let existing = self.list(ctx).await?;
        if existing.iter().any(|d| d.hostname == hostname) {
            return Err(AddDomainError::AlreadyAdded {
                hostname: hostname.to_string(),
            });
        }
        let custom = existing
            .iter()
            .filter(|d| d.kind == DomainKind::Custom)
            .count();
        if custom >= self.config.max_custom {
            return Err(AddDomainError::TooMany {
                limit: self.config.max_custom,
            });
        }
        if let Some(owner) = self.repo.tenant_by_verified_hostname(&hostname).await?
            && owner.id != ctx.tenant_id()
        {
            return Err(AddDomainError::HostnameTaken {
                hostname: hostname.to_string(),
            });
        }
        let domain = Domain::custom(ctx.tenant_id(), hostname, (self.tokens)(), self.clock.now());
        self.repo.add_domain(ctx, &domain).await?;
        Ok(domain)
    }

    /// Removes a custom domain (the subdomain stays: it is the tenant's address on the
    /// platform). A primary custom domain hands the role back to the subdomain.
    pub async fn remove(
        &self,
        ctx: &TenantCtx,
        hostname: &Hostname,
    ) -> Result<(), ChangeDomainError> {
        let domain = self.get(ctx, hostname).await?;
        if domain.kind == DomainKind::Subdomain {
            return Err(ChangeDomainError::SubdomainKept {
                hostname: hostname.to_string(),
            });
        }
        if !self.repo.remove_domain(ctx, &domain).await? {
            return Err(ChangeDomainError::DomainNotFound {
                hostname: hostname.to_string(),
            });
        }
        self.listener.tenant_changed(ctx.tenant_id());
        Ok(())
    }

    /// Makes a verified domain the tenant's canonical one.
    pub async fn set_primary(
        &self,
        ctx: &TenantCtx,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        let mut domain = self.get(ctx, hostname).await?;
        if domain.status != DomainStatus::Verified {
            return Err(ChangeDomainError::NotVerified {
                hostname: hostname.to_string(),
            });
        }
        if domain.is_primary {
            return Ok(domain);
        }
        match self.repo.make_primary(ctx, &domain).await? {
            SavedDomain::Saved => {
                domain.is_primary = true;
                domain.revision += 1;
                self.listener.tenant_changed(ctx.tenant_id());
                Ok(domain)
            }
            SavedDomain::Stale | SavedDomain::HostnameTaken => {
                Err(ChangeDomainError::NotVerified {
                    hostname: hostname.to_string(),
                })
            }
        }
    }

    /// Checks a domain now (a subdomain needs no check) and saves what was found.
    pub async fn verify_now(
        &self,
        ctx: &TenantCtx,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        let domain = self.get(ctx, hostname).await?;
        if domain.kind == DomainKind::Subdomain {
            return Ok(domain);
        }
        Ok(self.check(ctx, domain).await?)
    }

    /// The operator's override: verified without a check (the proof was given some other
    /// way). A hostname another tenant verified stays taken.
    pub async fn force_verify(
        &self,
        ctx: &TenantCtx,
        hostname: &Hostname,
    ) -> Result<Domain, ChangeDomainError> {
        let domain = self.get(ctx, hostname).await?;
        if domain.status == DomainStatus::Verified {
            return Ok(domain);
        }
        let found = Probe {
            evidence: Evidence::Found(ProofMethod::Operator),
            cname: None,
        };
        Ok(self.record(ctx, domain, found).await?)
    }

    /// Custom domains whose check is due, across tenants (the worker's sweep).
    pub async fn due(&self, limit: u32) -> Result<Vec<Domain>, Unexpected> {
        self.repo.due_domains(self.clock.now(), limit).await
    }

    /// Looks for the domain's challenge and saves what was found.
    pub async fn check(&self, ctx: &TenantCtx, domain: Domain) -> Result<Domain, Unexpected> {
        let token = domain.verification_token.clone().unwrap_or_default();
        let probe = self.probe.probe(&domain.hostname, &token).await;
        self.record(ctx, domain, probe).await
    }

    /// Applies a check's result to the domain as stored and saves it; over a concurrent
    /// change, the result is applied again to the domain as it is now.
    async fn record(
        &self,
        ctx: &TenantCtx,
        mut before: Domain,
        mut probe: Probe,
    ) -> Result<Domain, Unexpected> {
        for _ in 0..ATTEMPTS {
            let mut after = before.clone();
            let transition = after.apply(&probe, self.clock.now(), &self.config.policy);
            let action = transition.map(Transition::action);
            match self.repo.save_domain(ctx, &before, &after, action).await? {
                SavedDomain::Saved => {
                    after.revision += 1;
                    if transition.is_some() {
                        self.listener.tenant_changed(ctx.tenant_id());
                    }
                    return Ok(after);
                }
                SavedDomain::HostnameTaken => {
                    probe.evidence = Evidence::Missing(format!(
                        "another tenant verified '{}' first",
                        before.hostname
                    ));
                }
                SavedDomain::Stale => {
                    let Some(now) = self
                        .list(ctx)
                        .await?
                        .into_iter()
                        .find(|d| d.id == before.id)
                    else {
                        // Removed meanwhile: nothing left to judge.
                        return Ok(after);
                    };
                    before = now;
                }
            }
        }
        Err(Unexpected::msg(format!(
            "domain {} kept changing during {ATTEMPTS} attempts to save a check",
            before.hostname
        )))
    }
}
