//! Onboarding in one transaction: tenant rows, owner, default roles, membership.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::TenantCtx;
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
