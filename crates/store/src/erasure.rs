//! Erasing one person: their memberships removed (audited in each tenant), their sessions
//! revoked and the account deleted, in one transaction. The account's person key goes with
//! it (`person_keys` cascades), which erases their fields in append-only records.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{EraseError, Erased, ErasureRepository, FamilyId};
use tenantry_kernel::{RoleId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_rbac::{MemberError, Membership, MembershipStatus, SystemRole};

use crate::db::{CrossTenant, Db, Rescope as _, Scope};
use crate::error::StoreError;
use crate::identity::revoke_live_tokens;
use crate::personal::forget_address;
use crate::pipeline::Sealed;
use crate::rbac::{MembershipRow, rewrite_membership};
use crate::tenancy::bump_access_version;
use crate::types::DbUuid;

/// Why an erasure's transaction rolled back, besides a failure.
enum Refusal {
    LastOwner(Vec<String>),
    Stale,
    NotFound,
}

impl Db {
    async fn load_memberships_of(&self, user: UserId) -> Result<Vec<TenantId>, StoreError> {
        let tenants: Vec<DbUuid> = tx!(self, read, user = user, |conn, cross| {
            Ok(memberships::unscoped(cross)
                .filter(memberships::user_id.eq(DbUuid::from(user)))
                .select(memberships::tenant_id(cross))
                .order(memberships::tenant_id(cross).asc())
                .load(conn)
                .await?)
        })?;
        Ok(tenants
            .into_iter()
            .map(|t| TenantId::from_uuid(t.0))
            .collect())
    }

    async fn delete_account(
        &self,
        user: UserId,
        ctxs: &[TenantCtx],
        at: DateTime<Utc>,
    ) -> Result<Erased, EraseError> {
        let expected: BTreeSet<TenantId> = ctxs.iter().map(TenantCtx::tenant_id).collect();
        // The contexts share one actor and origin.
        let person = match ctxs.first() {
            Some(ctx) => self.person_of(ctx).await,
            None => Ok(crate::pipeline::Personal::nobody(self)),
        }
        .map_err(|e| EraseError::Unexpected(e.into()))?;
        let mut refusal = None;
        let done: Result<(Vec<FamilyId>, Vec<Sealed>), StoreError> = tx!(@scoped self, write, Scope::User(user), |conn| {
            let id = DbUuid::from(user);
            let cross = CrossTenant::granted();
            // The account's row first: an erasure racing this one waits here.
            let found: Option<DbUuid> = diesel::update(users::table.find(id))
                .set(users::id.eq(id))
                .returning(users::id)
                .get_result(conn)
                .await
                .optional()?;
            if found.is_none() {
                refusal = Some(Refusal::NotFound);
                return Err(StoreError::Corrupt("no such account".into()));
            }
            let now: BTreeSet<TenantId> = memberships::unscoped(&cross)
                .filter(memberships::user_id.eq(id))
                .select(memberships::tenant_id(&cross))
                .load::<DbUuid>(conn)
                .await?
                .into_iter()
                .map(|t| TenantId::from_uuid(t.0))
                .collect();
            if now != expected {
                refusal = Some(Refusal::Stale);
                return Err(StoreError::Corrupt("the memberships changed".into()));
            }
            let mut sealed = Vec::with_capacity(ctxs.len());
            let mut last_owner = vec![];
            for ctx in ctxs {
                conn.rescope(&Scope::Tenant(ctx.tenant_id())).await?;
                let removed: Result<(Result<Option<Membership>, MemberError>, Sealed), StoreError> =
                    audited!(conn, ctx, &person, |log| {
                        Ok(rewrite_membership!(conn, log, ctx, user, None::<RoleId>))
                    });
                let (removed, s) = removed?;
                sealed.push(s);
                if let Err(MemberError::LastOwner) = removed {
                    let slug: String = tenants::table
                        .find(DbUuid::from(ctx.tenant_id()))
                        .select(tenants::slug)
                        .first(conn)
                        .await?;
                    last_owner.push(slug);
                }
            }
            if !last_owner.is_empty() {
                refusal = Some(Refusal::LastOwner(last_owner));
                return Err(StoreError::Corrupt("the last owner".into()));
            }
            conn.rescope(&Scope::User(user)).await?;
            let ended = revoke_live_tokens!(conn, at, refresh_tokens::user_id.eq(id));
            let email: String = users::table
                .find(id)
                .select(users::email_normalized)
                .first(conn)
                .await?;
            // The person's key goes with the account (a cascade); their address's keys
            // (invitations and directory records about them) go here.
            forget_address!(conn, &email);
            diesel::delete(users::table.find(id)).execute(conn).await?;
            Ok((ended, sealed))
        });
        match (done, refusal) {
            (Ok((ended, sealed)), _) => {
                for s in sealed {
                    self.committed(s);
                }
                self.forget_person(user);
                Ok(Erased::Done(ended))
            }
            (Err(_), Some(Refusal::LastOwner(slugs))) => Err(EraseError::LastOwner(slugs)),
            (Err(_), Some(Refusal::Stale)) => Ok(Erased::Stale),
            (Err(_), Some(Refusal::NotFound)) => Ok(Erased::NotFound),
            (Err(e), None) => Err(EraseError::Unexpected(e.into())),
        }
    }
}

impl ErasureRepository for Db {
    async fn memberships_of(&self, user: UserId) -> Result<Vec<TenantId>, Unexpected> {
        Ok(self.load_memberships_of(user).await?)
    }

    async fn erase_user(
        &self,
        user: UserId,
        ctxs: &[TenantCtx],
        at: DateTime<Utc>,
    ) -> Result<Erased, EraseError> {
        self.delete_account(user, ctxs, at).await
    }
}
