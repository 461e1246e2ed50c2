//! Domains: the hostnames that reach a tenant, and how a custom one proves it is the
//! tenant's to use (a TXT record or an HTTP file with its challenge token), is re-checked
//! while it routes, and is dropped when it stops proving it.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tenantry_kernel::{DomainId, TenantId};

use crate::model::{BaseDomain, Hostname, InvalidValue};

/// The label in front of a custom hostname that carries its TXT challenge.
pub const CHALLENGE_LABEL: &str = "_tenantry-challenge";
/// Where a custom hostname may serve its challenge instead: `<path><token>`, the body being
/// the token.
pub const CHALLENGE_PATH: &str = "/.well-known/tenantry-challenge/";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainKind {
    /// `<slug>.<base domain>`, created with the tenant.
    Subdomain,
    /// A hostname the tenant owns and points at the platform.
    Custom,
}

impl DomainKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Subdomain => "subdomain",
            Self::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "subdomain" => Some(Self::Subdomain),
            "custom" => Some(Self::Custom),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    /// Waiting for its proof; does not route.
    Pending,
    /// Proven; routes to the tenant (and only it: one tenant per verified hostname).
    Verified,
    /// Never proven within the waiting time; checked again only when asked.
    Failed,
}

impl DomainStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "verified" => Some(Self::Verified),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A hostname that reaches a tenant. A tenant has exactly one primary domain (its canonical
/// address); a verified hostname belongs to one tenant, while several may claim it pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub id: DomainId,
    pub tenant_id: TenantId,
    pub hostname: Hostname,
    pub kind: DomainKind,
    pub status: DomainStatus,
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    /// The challenge a custom domain's owner publishes; `None` for subdomains.
    pub verification_token: Option<String>,
    /// Since when it waits for its proof (creation, or the loss of a verified record).
    pub pending_since: Option<DateTime<Utc>>,
    /// When the worker checks it next; `None` when nothing is scheduled.
    pub next_check_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Why the last check did not find the proof.
    pub check_error: Option<String>,
    /// A verified domain whose proof disappeared: when it was first missed.
    pub lost_at: Option<DateTime<Utc>>,
    /// Where the hostname's CNAME pointed at the last check.
    pub cname_target: Option<String>,
    /// Moves on with every saved change (see [`crate::DomainRepository::save_domain`]).
    pub revision: i64,
}

impl Domain {
    /// The subdomain a tenant is born with: verified (the platform owns the base domain) and
    /// primary; never checked.
    pub fn subdomain(tenant_id: TenantId, hostname: Hostname, now: DateTime<Utc>) -> Self {
        Self {
            id: DomainId::new(),
            tenant_id,
            hostname,
            kind: DomainKind::Subdomain,
            status: DomainStatus::Verified,
            is_primary: true,
            created_at: now,
            verified_at: Some(now),
            verification_token: None,
            pending_since: None,
            next_check_at: None,
            last_checked_at: None,
            check_error: None,
            lost_at: None,
            cname_target: None,
            revision: 0,
        }
    }

    /// A custom domain starts pending with its challenge token: it does not resolve until
    /// verified. The first check is due at once.
    pub fn custom(
        tenant_id: TenantId,
        hostname: Hostname,
        token: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: DomainId::new(),
            tenant_id,
            hostname,
            kind: DomainKind::Custom,
            status: DomainStatus::Pending,
            is_primary: false,
            created_at: now,
            verified_at: None,
            verification_token: Some(token),
            pending_since: Some(now),
            next_check_at: Some(now),
            last_checked_at: None,
            check_error: None,
            lost_at: None,
            cname_target: None,
            revision: 0,
        }
    }

    /// The TXT record's name: `_tenantry-challenge.<hostname>`.
    pub fn challenge_name(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}", self.hostname)
    }

    /// Whether it routes requests to its tenant.
    pub fn routes(&self) -> bool {
        self.status == DomainStatus::Verified
    }

    /// Applies what a check found, moves the schedule on, and names the status change made
    /// (if any).
    pub fn apply(
        &mut self,
        probe: &Probe,
        now: DateTime<Utc>,
        policy: &CheckPolicy,
    ) -> Option<Transition> {
        self.last_checked_at = Some(now);
        if probe.cname.is_some() {
            self.cname_target.clone_from(&probe.cname);
        }
        self.check_error = match &probe.evidence {
            Evidence::Found(_) => None,
            Evidence::Missing(why) | Evidence::Unknown(why) => Some(why.clone()),
        };
        let transition = match (self.status, &probe.evidence) {
            (DomainStatus::Pending | DomainStatus::Failed, Evidence::Found(_)) => {
                self.status = DomainStatus::Verified;
                self.verified_at = Some(now);
                self.pending_since = None;
                self.lost_at = None;
                Some(Transition::Verified)
            }
            (DomainStatus::Pending, _) => {
                let since = *self.pending_since.get_or_insert(now);
                (now - since >= policy.give_up_after).then(|| {
                    self.status = DomainStatus::Failed;
                    Transition::Failed
                })
            }
            (DomainStatus::Failed, _) => None,
            (DomainStatus::Verified, Evidence::Found(_)) => {
                self.lost_at.take().map(|_| Transition::Recovered)
            }
            // The DNS could not say (a timeout, a server failure): no conclusion about a
            // domain that routes.
            (DomainStatus::Verified, Evidence::Unknown(_)) => None,
            (DomainStatus::Verified, Evidence::Missing(_)) => match self.lost_at {
                None => {
                    self.lost_at = Some(now);
                    Some(Transition::Lost)
                }
                Some(lost) if now - lost >= policy.grace => {
                    self.status = DomainStatus::Pending;
                    self.verified_at = None;
                    self.lost_at = None;
                    self.pending_since = Some(now);
                    self.is_primary = false;
                    Some(Transition::Unverified)
                }
                Some(_) => None,
            },
        };
        self.next_check_at = self.next_check(now, policy);
        transition
    }

    /// When the worker looks again: often while pending (minutes, then hours), every
    /// `recheck_every` while verified, hourly through a grace period, never once failed.
    fn next_check(&self, now: DateTime<Utc>, policy: &CheckPolicy) -> Option<DateTime<Utc>> {
        if self.kind == DomainKind::Subdomain {
            return None;
        }
        match self.status {
            DomainStatus::Failed => None,
            DomainStatus::Verified => Some(match self.lost_at {
                None => now + policy.recheck_every,
                Some(lost) => {
                    let left = (lost + policy.grace) - now;
                    now + left.clamp(Duration::minutes(1), Duration::hours(1))
                }
            }),
            DomainStatus::Pending => {
                let age = now - self.pending_since.unwrap_or(now);
                Some(now + pending_delay(age))
            }
        }
    }
}

/// How long a pending domain waits for its next check, by how long it has waited: every
/// minute for ten minutes, every five to the hour, then hourly.
pub fn pending_delay(age: Duration) -> Duration {
    if age < Duration::minutes(10) {
        Duration::minutes(1)
    } else if age < Duration::hours(1) {
        Duration::minutes(5)
    } else {
        Duration::hours(1)
    }
}

/// How checks judge a domain over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckPolicy {
    /// A pending domain not proven within this is `failed` (30 days).
    pub give_up_after: Duration,
    /// How often a verified domain's proof is checked again.
    pub recheck_every: Duration,
    /// How long a verified domain keeps routing after its proof disappeared.
    pub grace: Duration,
}

impl Default for CheckPolicy {
    fn default() -> Self {
        Self {
            give_up_after: Duration::days(30),
            recheck_every: Duration::hours(6),
            grace: Duration::hours(72),
        }
    }
}

/// A status change a check made, as the audit trail and the events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The proof was found: the domain routes.
    Verified,
    /// A verified domain's proof is missing: it routes through the grace period.
    Lost,
    /// The proof came back within the grace period.
    Recovered,
    /// The grace period ended without the proof: pending again, no longer routing.
    Unverified,
    /// Never proven within the waiting time.
    Failed,
}

impl Transition {
    /// The audit action and event name (`domain.<action>`).
    pub const fn action(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Lost => "verification_lost",
            Self::Recovered => "verification_recovered",
            Self::Unverified => "unverified",
            Self::Failed => "failed",
        }
    }
}

/// How a domain proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofMethod {
    DnsTxt,
    HttpFile,
    /// The operator vouched for it.
    Operator,
}

/// What a check learnt about the challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    Found(ProofMethod),
    /// Looked up and not there (or not the token): the reason, for the domain's owner.
    Missing(String),
    /// Could not be looked up (a timeout, a server failure): no conclusion.
    Unknown(String),
}

/// One check of a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub evidence: Evidence,
    /// The hostname's CNAME target, when it has one.
    pub cname: Option<String>,
}

/// Looks for a domain's challenge out in the world (DNS, HTTP). Object-safe: the composition
/// root picks the implementation.
pub trait DomainProbe: Send + Sync + 'static {
    fn probe<'a>(
        &'a self,
        hostname: &'a Hostname,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Probe> + Send + 'a>>;
}

/// Why a hostname cannot be claimed as a custom domain, whoever asks.
pub fn claimable(hostname: &Hostname, base: &BaseDomain) -> Result<(), InvalidValue> {
    if hostname.is_within(base) {
        return Err(InvalidValue(format!(
            "'{hostname}' lies under the platform's base domain; tenants get subdomains by their slug"
        )));
    }
    if psl::suffix_str(hostname.as_str()) == Some(hostname.as_str()) {
        return Err(InvalidValue(format!(
            "'{hostname}' is a public suffix: nobody can own it"
        )));
    }
    Ok(())
}

impl tenantry_audit::Audited for Domain {
    const ENTITY: &'static str = "domain";
    const EVENT_ACTIONS: &'static [&'static str] = &[
        tenantry_audit::actions::CREATED,
        tenantry_audit::actions::UPDATED,
        tenantry_audit::actions::DELETED,
        "verified",
        "verification_lost",
        "verification_recovered",
        "unverified",
        "failed",
    ];
    type View = crate::view::DomainView;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> serde_json::Value {
        serde_json::json!({
            "hostname": self.hostname.as_str(),
            "kind": self.kind.as_str(),
            "status": self.status.as_str(),
            "is_primary": self.is_primary,
            "lost_at": self.lost_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(now: DateTime<Utc>) -> Domain {
        Domain::custom(
            TenantId::new(),
            Hostname::parse("portal.acme.com").unwrap(),
            "tok".into(),
            now,
        )
    }

    fn probe(evidence: Evidence) -> Probe {
        Probe {
            evidence,
            cname: None,
        }
    }

    #[test]
    fn pending_until_found_then_failed_after_thirty_days() {
        let policy = CheckPolicy::default();
        let t0 = Utc::now();
        let mut d = custom(t0);
        let missing = probe(Evidence::Missing("no TXT record".into()));
        assert_eq!(d.apply(&missing, t0, &policy), None);
        assert_eq!(d.next_check_at, Some(t0 + Duration::minutes(1)));
        assert_eq!(d.check_error.as_deref(), Some("no TXT record"));
        let later = t0 + Duration::hours(2);
        assert_eq!(d.apply(&missing, later, &policy), None);
        assert_eq!(d.next_check_at, Some(later + Duration::hours(1)));
        let end = t0 + Duration::days(30);
        assert_eq!(d.apply(&missing, end, &policy), Some(Transition::Failed));
        assert_eq!(d.status, DomainStatus::Failed);
        assert_eq!(
            d.next_check_at, None,
            "a failed domain is checked on request only"
        );
        let found = probe(Evidence::Found(ProofMethod::DnsTxt));
        assert_eq!(d.apply(&found, end, &policy), Some(Transition::Verified));
        assert!(d.routes());
        assert_eq!(d.next_check_at, Some(end + policy.recheck_every));
    }

    #[test]
    fn a_lost_record_routes_through_the_grace_period_then_stops() {
        let policy = CheckPolicy::default();
        let t0 = Utc::now();
        let mut d = custom(t0);
        d.apply(&probe(Evidence::Found(ProofMethod::DnsTxt)), t0, &policy);
        d.is_primary = true;
        let missing = probe(Evidence::Missing("gone".into()));
        let t1 = t0 + Duration::hours(6);
        assert_eq!(d.apply(&missing, t1, &policy), Some(Transition::Lost));
        assert!(d.routes());
        assert_eq!(d.next_check_at, Some(t1 + Duration::hours(1)));
        // A DNS outage says nothing.
        let unknown = probe(Evidence::Unknown("timed out".into()));
        assert_eq!(d.apply(&unknown, t1 + Duration::hours(1), &policy), None);
        assert_eq!(d.lost_at, Some(t1));
        let back = probe(Evidence::Found(ProofMethod::DnsTxt));
        assert_eq!(
            d.apply(&back, t1 + Duration::hours(2), &policy),
            Some(Transition::Recovered)
        );
        assert_eq!(d.lost_at, None);
        let t2 = t1 + Duration::hours(3);
        assert_eq!(d.apply(&missing, t2, &policy), Some(Transition::Lost));
        assert_eq!(d.apply(&missing, t2 + Duration::hours(71), &policy), None);
        assert_eq!(
            d.apply(&missing, t2 + policy.grace, &policy),
            Some(Transition::Unverified)
        );
        assert!(!d.routes());
        assert!(
            !d.is_primary,
            "a domain that stopped routing is no longer primary"
        );
        assert_eq!(d.pending_since, Some(t2 + policy.grace));
    }

    #[test]
    fn pending_checks_space_out() {
        assert_eq!(pending_delay(Duration::minutes(3)), Duration::minutes(1));
        assert_eq!(pending_delay(Duration::minutes(30)), Duration::minutes(5));
        assert_eq!(pending_delay(Duration::days(3)), Duration::hours(1));
    }

    #[test]
    fn claimable_hostnames() {
        let base = BaseDomain::parse("tenantry.app").unwrap();
        let ok = |h: &str| claimable(&Hostname::parse(h).unwrap(), &base);
        assert!(ok("portal.acme.com").is_ok());
        assert!(ok("acme.co.uk").is_ok());
        assert!(ok("co.uk").is_err(), "a public suffix");
        assert!(ok("github.io").is_err(), "a private public suffix");
        assert!(ok("acme.tenantry.app").is_err());
        assert!(ok("tenantry.app").is_err());
        assert!(ok("a.b.tenantry.app").is_err());
    }
}
