//! Invitations: tenant-owned, and readable by token before any tenant is known through a
//! transaction scoped to the token's digest.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{
    Acceptor, Invitation, InvitationError, InvitationPreview, InvitationRepository, TokenDigest,
};
use tenantry_kernel::{Email, InvitationId, RoleId, TenantCtx, TenantId, Unexpected, UserId};

use crate::db::{Db, Rescope, Scope};
use crate::error::StoreError;
use crate::identity::insert_user_row;
use crate::rbac::insert_membership;
use crate::types::DbUuid;

#[derive(Queryable)]
struct InvitationRow {
    tenant_id: DbUuid,
    id: DbUuid,
    email: String,
    _email_normalized: String,
    role_id: DbUuid,
    invited_by: DbUuid,
    _token_digest: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;

    fn try_from(r: InvitationRow) -> Result<Self, StoreError> {
        Ok(Invitation {
            id: InvitationId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            email: Email::parse(&r.email)
                .map_err(|_| StoreError::Corrupt(format!("e-mail {:?}", r.email)))?,
            role_id: RoleId::from_uuid(r.role_id.0),
            invited_by: UserId::from_uuid(r.invited_by.0),
            created_at: r.created_at,
            expires_at: r.expires_at,
            accepted_at: r.accepted_at,
            revoked_at: r.revoked_at,
        })
    }
}

impl Db {
    async fn insert_invitation(
        &self,
        ctx: &TenantCtx,
        inv: &Invitation,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        let email_key = inv.email.normalized();
        let now = inv.created_at;
        tx!(self, write, tenant = Some(ctx.tenant_id()), |conn| {
            diesel::update(
                scoped!(invitations, ctx)
                    .filter(invitations::email_normalized.eq(&email_key))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null()),
            )
            .set(invitations::revoked_at.eq(Some(now)))
            .execute(conn)
            .await?;
            diesel::insert_into(invitations::table)
                .values((
                    invitations::tenant_id.eq(DbUuid::from(ctx.tenant_id())),
                    invitations::id.eq(DbUuid::from(inv.id)),
                    invitations::email.eq(inv.email.as_str()),
                    invitations::email_normalized.eq(&email_key),
                    invitations::role_id.eq(DbUuid::from(inv.role_id)),
                    invitations::invited_by.eq(DbUuid::from(inv.invited_by)),
                    invitations::token_digest.eq(&digest.0),
                    invitations::created_at.eq(inv.created_at),
                    invitations::expires_at.eq(inv.expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn load_pending(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invitation>, StoreError> {
        let rows: Vec<InvitationRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(scoped!(invitations, ctx)
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .filter(invitations::expires_at.gt(now))
                .order(invitations::id.desc())
                .load(conn)
                .await?)
        })?;
        rows.into_iter().map(Invitation::try_from).collect()
    }

    async fn renew(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> =
            tx!(self, write, tenant = Some(ctx.tenant_id()), |conn| {
                Ok(diesel::update(
                    scoped!(invitations, ctx)
                        .filter(invitations::id.eq(DbUuid::from(id)))
                        .filter(invitations::accepted_at.is_null())
                        .filter(invitations::revoked_at.is_null()),
                )
                .set((
                    invitations::token_digest.eq(&digest.0),
                    invitations::expires_at.eq(expires_at),
                ))
                .get_result(conn)
                .await
                .optional()?)
            })?;
        row.map(Invitation::try_from).transpose()
    }

    async fn revoke(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = tx!(self, write, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(diesel::update(
                scoped!(invitations, ctx)
                    .filter(invitations::id.eq(DbUuid::from(id)))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null()),
            )
            .set(invitations::revoked_at.eq(Some(now)))
            .execute(conn)
            .await?)
        })?;
        Ok(n == 1)
    }

    async fn preview(&self, digest: &TokenDigest) -> Result<Option<InvitationPreview>, StoreError> {
        let found: Option<(InvitationRow, String, String, String)> =
            tx!(self, read, invitation = digest.0.clone(), |conn| {
                let row: Option<InvitationRow> = invitations::table
                    .filter(invitations::token_digest.eq(&digest.0))
                    .first(conn)
                    .await
                    .optional()?;
                let Some(row) = row else { return Ok(None) };
                // Now the tenant is known: read the names the invitee may see.
                conn.rescope(&Scope::Tenant(TenantId::from_uuid(row.tenant_id.0)))
                    .await?;
                let tenant_name: String = tenants::table
                    .find(row.tenant_id)
                    .select(tenants::name)
                    .first(conn)
                    .await?;
                let inviter: String = users::table
                    .find(row.invited_by)
                    .select(users::display_name)
                    .first(conn)
                    .await?;
                let role: String = roles::table
                    .filter(roles::tenant_id.eq(row.tenant_id))
                    .filter(roles::id.eq(row.role_id))
                    .select(roles::name)
                    .first(conn)
                    .await?;
                Ok(Some((row, tenant_name, inviter, role)))
            })?;
        found
            .map(|(row, tenant_name, inviter_name, role_name)| {
                Ok(InvitationPreview {
                    invitation: row.try_into()?,
                    tenant_name,
                    inviter_name,
                    role_name,
                })
            })
            .transpose()
    }

    async fn accept(
        &self,
        digest: &TokenDigest,
        acceptor: &Acceptor,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError> {
        let row: Option<InvitationRow> = tx!(self, write, invitation = digest.0.clone(), |conn| {
            let row: Option<InvitationRow> = invitations::table
                .filter(invitations::token_digest.eq(&digest.0))
                .first(conn)
                .await
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let tenant = TenantId::from_uuid(row.tenant_id.0);
            conn.rescope(&Scope::Tenant(tenant)).await?;
            // Spending is one conditional UPDATE: two concurrent accepts cannot both win.
            let spent = diesel::update(
                invitations::table
                    .filter(invitations::tenant_id.eq(row.tenant_id))
                    .filter(invitations::id.eq(row.id))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null())
                    .filter(invitations::expires_at.gt(now)),
            )
            .set(invitations::accepted_at.eq(Some(now)))
            .execute(conn)
            .await?;
            if spent != 1 {
                return Ok(None);
            }
            let user = match acceptor {
                Acceptor::Existing(u) => u,
                Acceptor::New { user, hash } => {
                    insert_user_row!(conn, user, hash);
                    user
                }
            };
            let membership = tenantry_rbac::Membership {
                tenant_id: tenant,
                user_id: user.id,
                role_id: RoleId::from_uuid(row.role_id.0),
                status: tenantry_rbac::MembershipStatus::Active,
                created_at: now,
            };
            insert_membership!(conn, &membership);
            Ok(Some(InvitationRow {
                accepted_at: Some(now),
                ..row
            }))
        })?;
        row.map(Invitation::try_from).transpose()
    }
}

impl InvitationRepository for Db {
    async fn create_invitation(
        &self,
        ctx: &TenantCtx,
        invitation: &Invitation,
        digest: &TokenDigest,
    ) -> Result<(), Unexpected> {
        Ok(self.insert_invitation(ctx, invitation, digest).await?)
    }

    async fn pending_invitations(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invitation>, Unexpected> {
        Ok(self.load_pending(ctx, now).await?)
    }

    async fn renew_invitation(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        expires_at: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, Unexpected> {
        Ok(self.renew(ctx, id, digest, expires_at).await?)
    }

    async fn revoke_invitation(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        Ok(self.revoke(ctx, id, now).await?)
    }

    async fn invitation_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<InvitationPreview>, Unexpected> {
        Ok(self.preview(digest).await?)
    }

    async fn accept_invitation(
        &self,
        digest: &TokenDigest,
        acceptor: &Acceptor,
        now: DateTime<Utc>,
    ) -> Result<Invitation, InvitationError> {
        match self.accept(digest, acceptor, now).await {
            Ok(Some(inv)) => Ok(inv),
            Ok(None) => Err(InvitationError::Gone),
            Err(e) if e.is_unique_violation_of("email") => Err(InvitationError::EmailTaken),
            Err(e) if e.is_unique_violation() => Err(InvitationError::AlreadyMember),
            Err(e) => Err(InvitationError::Unexpected(e.into())),
        }
    }
}
