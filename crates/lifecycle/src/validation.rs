//! The soundness checks of one tenant.

use std::collections::BTreeMap;
use std::future::Future;

use serde::Serialize;
use tenantry_audit::{AuditRepository, AuditService};
use tenantry_kernel::{Actor, Edges, TenantCtx, TenantId, Unexpected};

/// The roles every tenant must have.
const SYSTEM_ROLES: [&str; 4] = ["owner", "admin", "member", "viewer"];

/// What the database says about one tenant, read in one transaction.
#[derive(Clone, Debug, Default)]
pub struct TenantFacts {
    pub slug: String,
    /// Active members holding the owner role whose accounts are active.
    pub active_owners: u64,
    /// The system roles the tenant has (`owner`, `admin`…).
    pub system_roles: Vec<String>,
    /// The primary domain and its status.
    pub primary_domain: Option<(String, String)>,
    /// The plan's code and its quotas as stored (`{"products": 100, …}`, `null`: unlimited).
    pub plan: Option<(String, String)>,
    /// `(resource, limit, used, overridden)` of every quota row.
    pub quotas: Vec<(String, Option<i64>, i64, bool)>,
    /// Jobs of the tenant that failed for good.
    pub dead_jobs: u64,
}

/// The database side of the checks.
pub trait HealthReads: AuditRepository + Clone + Send + Sync + 'static {
    /// The facts about the tenant whose id or slug is `key` (`None`: no such tenant).
    fn tenant_facts(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<(TenantId, TenantFacts)>, Unexpected>> + Send;

    /// Tenant-owned tables row-level security does not guard (no RLS, not forced, or no
    /// policy); `None` where the backend has none (SQLite: the query layer is the wall).
    fn unguarded_tables(
        &self,
    ) -> impl Future<Output = Result<Option<Vec<String>>, Unexpected>> + Send;

    /// Every tenant's slug, oldest first.
    fn tenant_slugs(&self) -> impl Future<Output = Result<Vec<String>, Unexpected>> + Send;
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Every check of one tenant.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub tenant: String,
    pub id: Option<TenantId>,
    pub ok: bool,
    pub checks: Vec<Check>,
}

fn check(name: &'static str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok,
        detail: detail.into(),
    }
}

/// Runs the checks.
pub struct TenantValidator<R> {
    reads: R,
    edges: Edges,
}

impl<R: HealthReads> TenantValidator<R> {
    pub fn new(reads: R, edges: Edges) -> Self {
        Self { reads, edges }
    }

    /// Every tenant's slug, for `--all`.
    pub async fn tenants(&self) -> Result<Vec<String>, Unexpected> {
        self.reads.tenant_slugs().await
    }

    /// The report of the tenant whose id or slug is `key`.
    pub async fn validate(&self, key: &str) -> Result<Report, Unexpected> {
        let Some((id, facts)) = self.reads.tenant_facts(key).await? else {
            return Ok(Report {
                tenant: key.to_owned(),
                id: None,
                ok: false,
                checks: vec![check("exists", false, "no tenant has this id or slug")],
            });
        };
        let mut checks = vec![self.isolation().await?];
        checks.push(match facts.active_owners {
            0 => check(
                "owner",
                false,
                "no active owner: nobody can run this tenant",
            ),
            n => check("owner", true, format!("{n} active owner(s)")),
        });
        let missing: Vec<&str> = SYSTEM_ROLES
            .iter()
            .copied()
            .filter(|r| !facts.system_roles.iter().any(|s| s == r))
            .collect();
        checks.push(if missing.is_empty() {
            check("system_roles", true, SYSTEM_ROLES.join(", "))
        } else {
            check(
                "system_roles",
                false,
                format!("missing: {}", missing.join(", ")),
            )
        });
        checks.push(primary_domain(facts.primary_domain.as_ref()).await);
        checks.push(quotas(&facts));
        let ctx = TenantCtx::for_request(&self.edges, id, Actor::System, Default::default());
        let chain = AuditService::new(self.reads.clone()).verify(&ctx).await?;
        checks.push(if chain.ok {
            check(
                "audit_chain",
                true,
                format!("{} entries verify", chain.entries_checked),
            )
        } else {
            check(
                "audit_chain",
                false,
                format!(
                    "broken at entry {}",
                    chain
                        .first_broken_id
                        .map(|i| i.to_string())
                        .unwrap_or_default()
                ),
            )
        });
        checks.push(match facts.dead_jobs {
            0 => check("jobs", true, "no dead jobs"),
            n => check(
                "jobs",
                false,
                format!("{n} dead job(s): see `tenantry jobs list --state dead`"),
            ),
        });
        Ok(Report {
            tenant: facts.slug,
            id: Some(id),
            ok: checks.iter().all(|c| c.ok),
            checks,
        })
    }

    async fn isolation(&self) -> Result<Check, Unexpected> {
        Ok(match self.reads.unguarded_tables().await? {
            None => check(
                "row_level_security",
                true,
                "not applicable on SQLite (the query layer is the only wall)",
            ),
            Some(t) if t.is_empty() => check(
                "row_level_security",
                true,
                "forced, with a policy, on every tenant-owned table",
            ),
            Some(t) => check(
                "row_level_security",
                false,
                format!("not guarded: {}", t.join(", ")),
            ),
        })
    }
}

async fn primary_domain(domain: Option<&(String, String)>) -> Check {
    let Some((host, status)) = domain else {
        return check("primary_domain", false, "no primary domain");
    };
    if status != "verified" {
        return check("primary_domain", false, format!("{host} is {status}"));
    }
    // Names under `localhost` are loopback by definition (RFC 6761), whatever the resolver.
    if host == "localhost" || host.ends_with(".localhost") {
        return check(
            "primary_domain",
            true,
            format!("{host} is loopback (RFC 6761)"),
        );
    }
    // As a client would: the system's resolver.
    match tokio::net::lookup_host((host.as_str(), 443)).await {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => check(
                "primary_domain",
                true,
                format!("{host} resolves to {}", a.ip()),
            ),
            None => check("primary_domain", false, format!("{host} has no address")),
        },
        Err(e) => check(
            "primary_domain",
            false,
            format!("{host} does not resolve: {e}"),
        ),
    }
}

/// Quotas the operator has not overridden follow the plan's limits; usage is never negative.
fn quotas(facts: &TenantFacts) -> Check {
    let Some((plan, raw)) = &facts.plan else {
        return check("quotas", false, "no subscription, so no plan to follow");
    };
    let limits: BTreeMap<String, Option<i64>> = match serde_json::from_str(raw) {
        Ok(l) => l,
        Err(e) => {
            return check(
                "quotas",
                false,
                format!("plan {plan}'s quotas do not read: {e}"),
            );
        }
    };
    let mut wrong = vec![];
    for (resource, limit, used, overridden) in &facts.quotas {
        let planned = limits.get(resource).copied().flatten();
        if !overridden && *limit != planned {
            wrong.push(format!(
                "{resource}: limit {} but plan {plan} says {}",
                limit.map_or("unlimited".to_owned(), |l| l.to_string()),
                planned.map_or("unlimited".to_owned(), |l| l.to_string())
            ));
        }
        if *used < 0 {
            wrong.push(format!("{resource}: {used} used"));
        }
    }
    if wrong.is_empty() {
        check(
            "quotas",
            true,
            format!(
                "{} quota(s) follow plan {plan} or an override",
                facts.quotas.len()
            ),
        )
    } else {
        check("quotas", false, wrong.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_follow_the_plan_unless_overridden() {
        let mut facts = TenantFacts {
            plan: Some((
                "starter".into(),
                r#"{"products": 100, "roles": null, "members": null}"#.into(),
            )),
            quotas: vec![
                ("products".into(), Some(100), 3, false),
                ("roles".into(), None, 4, false),
            ],
            ..TenantFacts::default()
        };
        assert!(quotas(&facts).ok);
        facts.quotas.push(("members".into(), Some(2), 1, false));
        let c = quotas(&facts);
        assert!(
            !c.ok
                && c.detail
                    .contains("members: limit 2 but plan starter says unlimited"),
            "{c:?}"
        );
        facts.quotas.pop();
        facts.quotas.push(("members".into(), Some(2), 1, true));
        assert!(quotas(&facts).ok);
    }
}
