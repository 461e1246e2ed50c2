//! Provisioning many tenants at once from a CSV file (the format the systems we replace use:
//! `name,subdomain,plan_type,contact_email,max_assets,max_users`): every row checked first
//! (all row errors listed, nothing written), then every tenant created in one transaction,
//! each with its roles, its plan, its quota overrides and an owner invitation (no password
//! travels in a file).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::Duration;
use tenantry_identity::{Delivery, INVITATION_TTL_DAYS, Invitation, Secrets, TokenDigest};
use tenantry_kernel::{Actor, Clock, Edges, Email, InvitationId, Origin, TenantCtx, Unexpected};
use tenantry_rbac::Role;
use tenantry_tenancy::{BaseDomain, NewTenant, Slug, TenantName};

/// The columns a file must have (`max_assets` and `max_users` may be left out or empty: the
/// plan's limits then apply).
pub const REQUIRED: [&str; 4] = ["name", "subdomain", "plan_type", "contact_email"];
pub const OPTIONAL: [&str; 2] = ["max_assets", "max_users"];
/// Which quota each limit column overrides.
pub const QUOTA_COLUMNS: [(&str, &str); 2] = [("max_assets", "products"), ("max_users", "members")];
/// The older platforms' tier names for this instance's plans, used when no plan has the name.
pub const PLAN_ALIASES: [(&str, &str); 1] = [("basic", "starter")];
/// Rows one file may hold.
pub const MAX_ROWS: usize = 10_000;

/// One refusal: the file's line (1 is the header), the column, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// One tenant to create, checked.
#[derive(Clone, Debug)]
pub struct Provision {
    pub new: NewTenant,
    pub plan: String,
    pub roles: Vec<Role>,
    /// Quota limits the operator set (resource, limit).
    pub overrides: Vec<(&'static str, u64)>,
    /// The owner's invitation (its link is minted by the mail job).
    pub invitation: Invitation,
    pub digest: TokenDigest,
}

/// What one row became.
#[derive(Clone, Debug)]
pub struct Provisioned {
    pub tenant: tenantry_tenancy::Tenant,
    pub plan: String,
    pub owner_email: Email,
    pub invitation: InvitationId,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// Nothing was written.
    #[error("{} row error(s)", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// The database side: what the checks read, and the one transaction.
pub trait ProvisioningRepository: Clone + Send + Sync + 'static {
    /// Every plan code on this instance.
    fn plan_codes(&self) -> impl Future<Output = Result<Vec<String>, Unexpected>> + Send;

    /// Which of `slugs` a tenant has already.
    fn taken_slugs(
        &self,
        slugs: &[String],
    ) -> impl Future<Output = Result<Vec<String>, Unexpected>> + Send;

    /// Creates every tenant of `batch` (each in its own context of `ctxs`, same order) in one
    /// transaction, audited in each tenant; `Err(slug)` when a slug was taken meanwhile
    /// (nothing written).
    fn provision(
        &self,
        ctxs: &[TenantCtx],
        batch: &[Provision],
    ) -> impl Future<Output = Result<Result<(), String>, Unexpected>> + Send;
}

/// Bulk provisioning.
#[derive(Clone)]
pub struct BulkProvisioning<R, C> {
    repo: R,
    secrets: C,
    base_domain: BaseDomain,
    clock: std::sync::Arc<dyn Clock>,
    edges: Edges,
}

struct Row {
    line: u64,
    values: BTreeMap<String, String>,
}

fn read_rows(csv_bytes: &[u8]) -> Result<Vec<Row>, Vec<RowError>> {
    let error = |line: u64, field: &str, message: String| RowError {
        line,
        field: field.to_owned(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_bytes);
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_ascii_lowercase).collect(),
        Err(e) => return Err(vec![error(1, "", format!("not CSV: {e}"))]),
    };
    let mut problems = vec![];
    for h in &headers {
        if !REQUIRED.contains(&h.as_str()) && !OPTIONAL.contains(&h.as_str()) {
            problems.push(error(1, h, "not a column of this format".to_owned()));
        }
    }
    for r in REQUIRED {
        if !headers.iter().any(|h| h == r) {
            problems.push(error(1, r, "the column is missing".to_owned()));
        }
    }
    if headers.iter().collect::<BTreeSet<_>>().len() != headers.len() {
        problems.push(error(1, "", "a column is named twice".to_owned()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut rows = vec![];
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                problems.push(error(line, "", format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if rows.len() + problems.len() >= MAX_ROWS {
            return Err(vec![error(
                line,
                "",
                format!("a file holds at most {MAX_ROWS} rows"),
            )]);
        }
        let values = headers
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        rows.push(Row { line, values });
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(error(1, "", "no rows".to_owned()));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

impl<R: ProvisioningRepository, C: Secrets> BulkProvisioning<R, C> {
    pub fn new(
        repo: R,
        secrets: C,
        base_domain: BaseDomain,
        clock: std::sync::Arc<dyn Clock>,
        edges: Edges,
    ) -> Self {
        Self {
            repo,
            secrets,
            base_domain,
            clock,
            edges,
        }
    }

    /// Checks every row of `csv`, then creates all of its tenants together (or none).
    pub async fn provision_csv(
        &self,
        csv: &[u8],
        actor: Actor,
        origin: Origin,
    ) -> Result<Vec<Provisioned>, BulkError> {
        let rows = read_rows(csv).map_err(BulkError::Invalid)?;
        let plans = self.repo.plan_codes().await?;
        let slugs: Vec<String> = rows
            .iter()
            .map(|r| r.values.get("subdomain").cloned().unwrap_or_default())
            .collect();
        let taken: BTreeSet<String> = self.repo.taken_slugs(&slugs).await?.into_iter().collect();
        let now = self.clock.now();
        let mut problems = vec![];
        let mut seen = BTreeSet::new();
        let mut batch = vec![];
        let mut owners = vec![];
        for row in &rows {
            let mut fail = |field: &str, message: String| {
                problems.push(RowError {
                    line: row.line,
                    field: field.to_owned(),
                    message,
                });
            };
            let value = |c: &str| row.values.get(c).map(String::as_str).unwrap_or_default();
            let name = TenantName::parse(value("name"))
                .map_err(|e| fail("name", e.0))
                .ok();
            let slug = match Slug::parse(value("subdomain")) {
                Err(e) => {
                    fail("subdomain", e.0);
                    None
                }
                Ok(s) if taken.contains(s.as_str()) => {
                    fail("subdomain", format!("{s} is taken on this instance"));
                    None
                }
                Ok(s) if !seen.insert(s.as_str().to_owned()) => {
                    fail("subdomain", format!("{s} is on another row too"));
                    None
                }
                Ok(s) => Some(s),
            };
            let wanted = value("plan_type").to_ascii_lowercase();
            let plan = if plans.contains(&wanted) {
                Some(wanted)
            } else if let Some((_, code)) = PLAN_ALIASES
                .iter()
                .find(|(alias, code)| *alias == wanted && plans.iter().any(|p| p == code))
            {
                Some((*code).to_owned())
            } else {
                fail(
                    "plan_type",
                    format!("no plan '{wanted}' here (plans: {})", plans.join(", ")),
                );
                None
            };
            let email = Email::parse(value("contact_email"))
                .map_err(|e| fail("contact_email", e.to_string()))
                .ok();
            let mut overrides = vec![];
            for (column, resource) in QUOTA_COLUMNS {
                let raw = value(column);
                if raw.is_empty() {
                    continue;
                }
                match raw.parse::<u64>() {
                    Ok(n) if n <= i64::MAX as u64 => overrides.push((resource, n)),
                    _ => fail(
                        column,
                        format!("'{raw}' is not a whole number of at least 0"),
                    ),
                }
            }
            let (Some(name), Some(slug), Some(plan), Some(email)) = (name, slug, plan, email)
            else {
                continue;
            };
            let new = NewTenant::build(slug, name, &self.base_domain, now);
            let roles = Role::defaults(new.tenant.id, now);
            let Some(owner_role) = roles.iter().find(|r| r.is_owner()).map(|r| r.id) else {
                return Err(Unexpected::msg("default roles lack an owner").into());
            };
            let invitation = Invitation {
                id: InvitationId::new(),
                tenant_id: new.tenant.id,
                email: email.clone(),
                role_id: owner_role,
                invited_by: None,
                created_at: now,
                expires_at: now + Duration::days(INVITATION_TTL_DAYS),
                accepted_at: None,
                revoked_at: None,
                delivery: Delivery::Pending,
            };
            owners.push(email);
            batch.push(Provision {
                new,
                plan,
                roles,
                overrides,
                invitation,
                // No token has it: the mail job mints the link.
                digest: self.secrets.digest(&self.secrets.refresh_secret()),
            });
        }
        if !problems.is_empty() {
            return Err(BulkError::Invalid(problems));
        }
        let origin = std::sync::Arc::new(origin);
        let ctxs: Vec<TenantCtx> = batch
            .iter()
            .map(|p| TenantCtx::for_new_tenant(&self.edges, p.new.tenant.id, actor, origin.clone()))
            .collect();
        if let Err(slug) = self.repo.provision(&ctxs, &batch).await? {
            let line = rows
                .iter()
                .find(|r| r.values.get("subdomain").map(String::as_str) == Some(slug.as_str()))
                .map_or(0, |r| r.line);
            return Err(BulkError::Invalid(vec![RowError {
                line,
                field: "subdomain".to_owned(),
                message: format!("{slug} was taken meanwhile"),
            }]));
        }
        Ok(batch
            .into_iter()
            .zip(owners)
            .map(|(p, owner_email)| Provisioned {
                tenant: p.new.tenant,
                plan: p.plan,
                owner_email,
                invitation: p.invitation.id,
            })
            .collect())
    }
}
