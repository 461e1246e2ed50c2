//! Bulk provisioning: every tenant of a CSV file in one transaction. The platform rows of all
//! of them first (multi-row statements on PostgreSQL), then each tenant in its own scope —
//! its rows in one pipelined round trip on PostgreSQL — and its audit chain, events and jobs
//! sealed by the pipeline as any change's.

use std::future::Future;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tenantry_billing::{Plan, Quota, Subscription};
use tenantry_jobs::Job;
use tenantry_kernel::{TenantCtx, Unexpected};
use tenantry_onboarding::bulk::{Provision, ProvisioningRepository};

use crate::db::{Db, Scope, SqliteConn};
use crate::error::StoreError;
use crate::types::DbUuid;
use crate::types::stored;

/// Platform rows per multi-row statement (the widest, domains, has 11 columns).
const CHUNK: usize = 500;

/// What one backend does of a batch: the same rows, in fewer round trips where it can.
pub(crate) trait ProvisionConn: Send {
    /// Every tenant's platform rows: the tenant, its subdomain, its subscription.
    fn platform_rows(
        &mut self,
        batch: &[Provision],
        subscriptions: &[Subscription],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One tenant's own rows, in its scope: settings, roles, quota overrides, the owner's
    /// invitation and the audit chain's empty head.
    fn tenant_rows(
        &mut self,
        ctx: &TenantCtx,
        p: &Provision,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The columns of one tenant's rows, shared by both backends.
macro_rules! provision_values {
    (subscription, $s:expr) => {{
        let s: &Subscription = $s;
        (
            subscriptions::tenant_id.eq(DbUuid::from(s.tenant_id)),
            subscriptions::created_at.eq(s.created_at),
            $crate::billing::subscription_values!(s),
        )
    }};
    (quota, $p:expr, $resource:expr, $limit:expr) => {
        (
            tenant_quotas::resource.eq($resource),
            tenant_quotas::limit_value.eq(Some(stored($limit)?)),
            tenant_quotas::used.eq(0),
            tenant_quotas::overridden.eq(true),
            tenant_quotas::updated_at.eq($p.new.tenant.created_at),
        )
    };
    (invitation, $p:expr) => {{
        let inv = &$p.invitation;
        (
            invitations::id.eq(DbUuid::from(inv.id)),
            invitations::email.eq(inv.email.as_str()),
            invitations::email_normalized.eq(inv.email.normalized()),
            invitations::role_id.eq(DbUuid::from(inv.role_id)),
            invitations::invited_by.eq(None::<DbUuid>),
            invitations::token_digest.eq(&$p.digest.0),
            invitations::created_at.eq(inv.created_at),
            invitations::expires_at.eq(inv.expires_at),
            invitations::delivery.eq(inv.delivery.as_str()),
        )
    }};
}

impl ProvisionConn for AsyncPgConnection {
    async fn platform_rows(
        &mut self,
        batch: &[Provision],
        subscriptions: &[Subscription],
    ) -> Result<(), StoreError> {
        use crate::schema::pg::*;
        for chunk in batch.chunks(CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|p| crate::tenancy::tenant_values!(&p.new.tenant))
                .collect();
            diesel::insert_into(tenants::table)
                .values(rows)
                .execute(self)
                .await?;
            let rows: Vec<_> = chunk
                .iter()
                .map(|p| crate::tenancy::domain_values!(&p.new.subdomain))
                .collect();
            diesel::insert_into(domains::table)
                .values(rows)
                .execute(self)
                .await?;
        }
        for chunk in subscriptions.chunks(CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|s| provision_values!(subscription, s))
                .collect();
            diesel::insert_into(subscriptions::table)
                .values(rows)
                .execute(self)
                .await?;
        }
        let conn = self;
        crate::tenancy::bump_tenancy_version!(conn);
        Ok(())
    }

    /// One round trip: the scope and every row, pipelined (in this order on the server).
    async fn tenant_rows(&mut self, ctx: &TenantCtx, p: &Provision) -> Result<(), StoreError> {
        use crate::schema::pg::*;
        let shared: &AsyncPgConnection = self;
        let (mut c1, mut c2, mut c3, mut c4, mut c5, mut c6) =
            (shared, shared, shared, shared, shared, shared);
        let quotas: Vec<_> = p
            .overrides
            .iter()
            .map(|(r, l)| Ok(provision_values!(quota, p, *r, *l)))
            .collect::<Result<_, StoreError>>()?;
        let scope =
            async { crate::db::set_pg_scope(&mut c1, &Scope::Tenant(ctx.tenant_id())).await };
        let settings = async {
            tenant_settings::insert(ctx, crate::tenancy::settings_values!(&p.new.settings))
                .execute(&mut c2)
                .await?;
            Ok(())
        };
        let roles = async {
            let rows: Vec<_> = p
                .roles
                .iter()
                .map(|r| crate::rbac::role_values!(r))
                .collect();
            roles::insert_many(ctx, rows).execute(&mut c3).await?;
            Ok(())
        };
        let limits = async {
            if !quotas.is_empty() {
                tenant_quotas::insert_many(ctx, quotas)
                    .execute(&mut c4)
                    .await?;
            }
            Ok(())
        };
        let invitation = async {
            invitations::insert(ctx, provision_values!(invitation, p))
                .execute(&mut c5)
                .await?;
            Ok(())
        };
        let head = async {
            audit_heads::insert(ctx, (audit_heads::seq.eq(0_i64), audit_heads::hash.eq("")))
                .execute(&mut c6)
                .await?;
            Ok::<(), StoreError>(())
        };
        futures_util::future::try_join(
            futures_util::future::try_join3(scope, settings, roles),
            futures_util::future::try_join3(limits, invitation, head),
        )
        .await?;
        Ok(())
    }
}

impl ProvisionConn for SqliteConn {
    async fn platform_rows(
        &mut self,
        batch: &[Provision],
        subscriptions: &[Subscription],
    ) -> Result<(), StoreError> {
        use crate::schema::sqlite::*;
        for p in batch {
            diesel::insert_into(tenants::table)
                .values(crate::tenancy::tenant_values!(&p.new.tenant))
                .execute(self)
                .await?;
            diesel::insert_into(domains::table)
                .values(crate::tenancy::domain_values!(&p.new.subdomain))
                .execute(self)
                .await?;
        }
        for s in subscriptions {
            diesel::insert_into(subscriptions::table)
                .values(provision_values!(subscription, s))
                .execute(self)
                .await?;
        }
        let conn = self;
        crate::tenancy::bump_tenancy_version!(conn);
        Ok(())
    }

    async fn tenant_rows(&mut self, ctx: &TenantCtx, p: &Provision) -> Result<(), StoreError> {
        use crate::schema::sqlite::*;
        tenant_settings::insert(ctx, crate::tenancy::settings_values!(&p.new.settings))
            .execute(self)
            .await?;
        for r in &p.roles {
            roles::insert(ctx, crate::rbac::role_values!(r))
                .execute(self)
                .await?;
        }
        for (resource, limit) in &p.overrides {
            tenant_quotas::insert(ctx, provision_values!(quota, p, *resource, *limit))
                .execute(self)
                .await?;
        }
        invitations::insert(ctx, provision_values!(invitation, p))
            .execute(self)
            .await?;
        Ok(())
    }
}

impl Db {
    /// Every tenant of `batch` in one transaction, each in its own scope and audit chain.
    async fn insert_provisioned(
        &self,
        ctxs: &[TenantCtx],
        batch: &[Provision],
    ) -> Result<Vec<crate::pipeline::Sealed>, StoreError> {
        // One actor and origin for the whole batch.
        let person = match ctxs.first() {
            Some(ctx) => self.person_of(ctx).await?,
            None => crate::pipeline::Personal::nobody(self),
        };
        tx!(self, write, platform, |conn| {
            let mut plans: Vec<(String, Plan)> = vec![];
            let mut subscriptions = Vec::with_capacity(batch.len());
            for p in batch {
                let plan = match plans.iter().find(|(code, _)| *code == p.plan) {
                    Some((_, plan)) => plan.clone(),
                    None => {
                        let row: crate::billing::PlanRow = plans::table
                            .filter(plans::code.eq(&p.plan))
                            .first(conn)
                            .await?;
                        let plan: Plan = row.try_into()?;
                        plans.push((p.plan.clone(), plan.clone()));
                        plan
                    }
                };
                subscriptions.push(Subscription::start(
                    p.new.tenant.id,
                    &plan,
                    p.new.tenant.created_at,
                ));
            }
            ProvisionConn::platform_rows(conn, batch, &subscriptions).await?;
            let mut sealed = Vec::with_capacity(batch.len());
            for ((ctx, p), subscription) in ctxs.iter().zip(batch).zip(&subscriptions) {
                ProvisionConn::tenant_rows(conn, ctx, p).await?;
                let done: Result<((), crate::pipeline::Sealed), StoreError> =
                    audited!(conn, ctx, &person, |log| {
                        log.created(&p.new.settings);
                        log.created(subscription);
                        for role in &p.roles {
                            log.created(role);
                        }
                        for (resource, limit) in &p.overrides {
                            let new = Quota {
                                resource: (*resource).to_owned(),
                                limit: Some(*limit),
                                used: 0,
                                overridden: true,
                            };
                            let old = Quota {
                                limit: None,
                                overridden: false,
                                ..new.clone()
                            };
                            log.updated(&old, &new);
                        }
                        log.created(&p.invitation);
                        log.enqueue(Job::InvitationMail {
                            invitation_id: p.invitation.id,
                        });
                        Ok(())
                    });
                sealed.push(done?.1);
            }
            Ok(sealed)
        })
    }

    async fn load_plan_codes(&self) -> Result<Vec<String>, StoreError> {
        let codes: Vec<String> = run!(self, read, |conn| {
            plans::table
                .select(plans::code)
                .order(plans::code.asc())
                .load(conn)
                .await?
        });
        Ok(codes)
    }

    async fn load_taken_slugs(&self, slugs: &[String]) -> Result<Vec<String>, StoreError> {
        let mut taken = vec![];
        for chunk in slugs.chunks(CHUNK) {
            let found: Vec<String> = run!(self, read, |conn| {
                tenants::table
                    .filter(tenants::slug.eq_any(chunk))
                    .select(tenants::slug)
                    .load(conn)
                    .await?
            });
            taken.extend(found);
        }
        Ok(taken)
    }
}

impl ProvisioningRepository for Db {
    async fn plan_codes(&self) -> Result<Vec<String>, Unexpected> {
        Ok(self.load_plan_codes().await?)
    }

    async fn taken_slugs(&self, slugs: &[String]) -> Result<Vec<String>, Unexpected> {
        Ok(self.load_taken_slugs(slugs).await?)
    }

    async fn provision(
        &self,
        ctxs: &[TenantCtx],
        batch: &[Provision],
    ) -> Result<Result<(), String>, Unexpected> {
        match self.insert_provisioned(ctxs, batch).await {
            Ok(sealed) => {
                for s in sealed {
                    self.committed(s);
                }
                Ok(Ok(()))
            }
            Err(e) if e.is_unique_violation() => {
                // Which slug: the first of the batch a tenant has now.
                let slugs: Vec<String> = batch
                    .iter()
                    .map(|p| p.new.tenant.slug.as_str().to_owned())
                    .collect();
                let taken = self.load_taken_slugs(&slugs).await?;
                Ok(Err(taken.into_iter().next().unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
