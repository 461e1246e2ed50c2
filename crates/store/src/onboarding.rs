//! Onboarding in one transaction: tenant rows, owner, default roles, membership; and bulk
//! provisioning, every tenant of a file in one transaction.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_billing::Quota;
use tenantry_jobs::Job;
use tenantry_kernel::{TenantCtx, Unexpected};
use tenantry_onboarding::bulk::{Provision, ProvisioningRepository};
use tenantry_onboarding::{NewOwner, OnboardError, OnboardingRepository};
use tenantry_rbac::{Membership, Role};
use tenantry_tenancy::NewTenant;

use crate::db::Db;
use crate::error::StoreError;
use crate::identity::insert_user_row;
use crate::rbac::{insert_membership, insert_roles};
use crate::tenancy::{bump_tenancy_version, insert_domain, insert_tenant_rows};
use crate::types::DbUuid;

impl Db {
    async fn insert_onboarding(
        &self,
        ctx: &TenantCtx,
        new: &NewTenant,
        owner: &NewOwner,
        roles: &[Role],
        membership: &Membership,
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, log| {
            insert_tenant_rows!(conn, log, ctx, new);
            if let NewOwner::New { user, hash } = owner {
                insert_user_row!(conn, user, hash);
            }
            insert_roles!(conn, log, ctx, roles);
            insert_membership!(conn, log, ctx, membership);
            Ok(())
        })
    }
}

impl OnboardingRepository for Db {
    async fn onboard(
        &self,
        ctx: &TenantCtx,
        tenant: &NewTenant,
        owner: &NewOwner,
        roles: &[Role],
        membership: &Membership,
    ) -> Result<(), OnboardError> {
        self.insert_onboarding(ctx, tenant, owner, roles, membership)
            .await
            .map_err(|e| {
                if e.is_unique_violation_of("email") {
                    OnboardError::EmailTaken
                } else if e.is_unique_violation() {
                    OnboardError::SlugTaken {
                        slug: tenant.tenant.slug.to_string(),
                    }
                } else {
                    e.refusal()
                }
            })
    }
}

impl Db {
    /// Every tenant of `batch` in one transaction, each in its own scope and audit chain.
    async fn insert_provisioned(
        &self,
        ctxs: &[TenantCtx],
        batch: &[Provision],
    ) -> Result<Vec<crate::pipeline::Sealed>, StoreError> {
        use crate::db::{Rescope as _, Scope};
        tx!(self, write, platform, |conn| {
            let mut sealed = Vec::with_capacity(batch.len());
            for (ctx, p) in ctxs.iter().zip(batch) {
                conn.rescope(&Scope::Tenant(ctx.tenant_id())).await?;
                let done: Result<((), crate::pipeline::Sealed), StoreError> =
                    audited!(conn, ctx, |log| {
                        insert_tenant_rows!(conn, log, ctx, &p.new, plan = &p.plan);
                        insert_roles!(conn, log, ctx, &p.roles);
                        for (resource, limit) in &p.overrides {
                            let stored = i64::try_from(*limit)
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                            tenant_quotas::insert(
                                ctx,
                                (
                                    tenant_quotas::resource.eq(*resource),
                                    tenant_quotas::limit_value.eq(Some(stored)),
                                    tenant_quotas::used.eq(0),
                                    tenant_quotas::overridden.eq(true),
                                    tenant_quotas::updated_at.eq(p.new.tenant.created_at),
                                ),
                            )
                            .execute(conn)
                            .await?;
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
                        let inv = &p.invitation;
                        invitations::insert(
                            ctx,
                            (
                                invitations::id.eq(DbUuid::from(inv.id)),
                                invitations::email.eq(inv.email.as_str()),
                                invitations::email_normalized.eq(inv.email.normalized()),
                                invitations::role_id.eq(DbUuid::from(inv.role_id)),
                                invitations::invited_by.eq(None::<DbUuid>),
                                invitations::token_digest.eq(&p.digest.0),
                                invitations::created_at.eq(inv.created_at),
                                invitations::expires_at.eq(inv.expires_at),
                                invitations::delivery.eq(inv.delivery.as_str()),
                            ),
                        )
                        .execute(conn)
                        .await?;
                        log.created(inv);
                        log.enqueue(Job::InvitationMail {
                            invitation_id: inv.id,
                        });
                        Ok(())
                    });
                sealed.push(done?.1);
            }
            Ok(sealed)
        })
    }
}

impl Db {
    async fn load_plan_codes(&self) -> Result<Vec<String>, StoreError> {
        let codes: Vec<String> = run!(self, |conn| {
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
        for chunk in slugs.chunks(500) {
            let found: Vec<String> = run!(self, |conn| {
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
                // Which slug: the first of the batch a tenant now has.
                let slugs: Vec<String> = batch
                    .iter()
                    .map(|p| p.new.tenant.slug.as_str().to_owned())
                    .collect();
                let taken = self.taken_slugs(&slugs).await?;
                Ok(Err(taken.into_iter().next().unwrap_or_default()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
