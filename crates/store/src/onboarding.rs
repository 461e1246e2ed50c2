//! Onboarding in one transaction: tenant rows, owner, default roles, membership.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_kernel::{Actor, TenantCtx};
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
        new: &NewTenant,
        owner: &NewOwner,
        roles: &[Role],
        membership: &Membership,
        origin: &tenantry_kernel::Origin,
    ) -> Result<(), StoreError> {
        // The new owner creates the tenant.
        let ctx = &TenantCtx::new(new.tenant.id)
            .acting_as(Actor::User(membership.user_id))
            .from_origin(std::sync::Arc::new(origin.clone()));
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
        tenant: &NewTenant,
        owner: &NewOwner,
        roles: &[Role],
        membership: &Membership,
        origin: &tenantry_kernel::Origin,
    ) -> Result<(), OnboardError> {
        self.insert_onboarding(tenant, owner, roles, membership, origin)
            .await
            .map_err(|e| {
                if e.is_unique_violation_of("email") {
                    OnboardError::EmailTaken
                } else if e.is_unique_violation() {
                    OnboardError::SlugTaken {
                        slug: tenant.tenant.slug.to_string(),
                    }
                } else {
                    OnboardError::Unexpected(e.into())
                }
            })
    }
}
