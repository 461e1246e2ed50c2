//! Invitations: tenant-owned, and readable by token before any tenant is known through a
//! transaction scoped to the token's digest.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::invitation_actions::{ACCEPTED, RESENT, REVOKED};
use tenantry_identity::{
    Acceptor, Delivery, Invitation, InvitationError, InvitationPreview, InvitationRepository,
    TokenDigest, mail_job,
};
use tenantry_kernel::{
    Email, InvitationId, Page, PageRequest, RoleId, TenantCtx, TenantId, Unexpected, UserId,
};

use crate::db::{Db, Rescope, Scope, load_rows};
use crate::error::StoreError;
use crate::identity::insert_user_row;
use crate::paging::{after_id, fetch};
use crate::rbac::insert_membership;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct InvitationRow {
    tenant_id: DbUuid,
    id: DbUuid,
    email: String,
    _email_normalized: String,
    role_id: DbUuid,
    invited_by: Option<DbUuid>,
    _token_digest: String,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    delivery: String,
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
            invited_by: r.invited_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            expires_at: r.expires_at,
            accepted_at: r.accepted_at,
            revoked_at: r.revoked_at,
            delivery: Delivery::parse(&r.delivery)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery {:?}", r.delivery)))?,
        })
    }
}

/// The names an invitation's preview and e-mail show, read in its tenant's scope.
macro_rules! names_of {
    // In the invitation's tenant's transaction.
    ($conn:ident, ctx = $ctx:expr, $row:expr) => {{
        let row: &InvitationRow = $row;
        let role = roles::of($ctx).filter(roles::id.eq(row.role_id));
        names_of!(@read $conn, role, row)
    }};
    // Before any tenant context: the token named the tenant (an invitation-scoped transaction).
    ($conn:ident, cross = $cross:expr, $row:expr) => {{
        let row: &InvitationRow = $row;
        let role = roles::unscoped($cross)
            .filter(roles::tenant_id($cross).eq(row.tenant_id))
            .filter(roles::id.eq(row.role_id));
        names_of!(@read $conn, role, row)
    }};
    (@read $conn:ident, $role:expr, $row:expr) => {{
        let tenant_name: String = tenants::table
            .find($row.tenant_id)
            .select(tenants::name)
            .first($conn)
            .await?;
        let inviter: Option<String> = match $row.invited_by {
            Some(by) => users::table
                .find(by)
                .select(users::display_name)
                .first($conn)
                .await
                .optional()?,
            None => None,
        };
        let role: String = $role.select(roles::name).first($conn).await?;
        (tenant_name, inviter, role)
    }};
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
        mutate!(self, ctx, |conn, log| {
            // A new invitation replaces the address's pending one.
            let replaced: Vec<InvitationRow> = diesel::update(
                invitations::of(ctx)
                    .filter(invitations::email_normalized.eq(&email_key))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null()),
            )
            .set(invitations::revoked_at.eq(Some(now)))
            .get_results(conn)
            .await?;
            for row in replaced {
                let new = Invitation::try_from(row)?;
                let old = Invitation {
                    revoked_at: None,
                    ..new.clone()
                };
                log.updated_as(REVOKED, &old, &new);
            }
            invitations::insert(
                ctx,
                (
                    invitations::id.eq(DbUuid::from(inv.id)),
                    invitations::email.eq(inv.email.as_str()),
                    invitations::email_normalized.eq(&email_key),
                    invitations::role_id.eq(DbUuid::from(inv.role_id)),
                    invitations::invited_by.eq(inv.invited_by.map(DbUuid::from)),
                    invitations::token_digest.eq(&digest.0),
                    invitations::created_at.eq(inv.created_at),
                    invitations::expires_at.eq(inv.expires_at),
                    invitations::delivery.eq(inv.delivery.as_str()),
                ),
            )
            .execute(conn)
            .await?;
            log.created(inv);
            log.enqueue(mail_job(inv.id));
            Ok(())
        })
    }

    async fn load_pending(
        &self,
        ctx: &TenantCtx,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, StoreError> {
        let before = after_id(page)?;
        let rows: Vec<InvitationRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            let mut q = invitations::of(ctx)
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .filter(invitations::expires_at.gt(now))
                .into_boxed();
            if let Some(before) = before {
                q = q.filter(invitations::id.lt(before));
            }
            Ok(load_rows(q.order(invitations::id.desc()).limit(fetch(page)), conn).await?)
        })?;
        let pending = rows
            .into_iter()
            .map(Invitation::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(pending, page.limit, |i| i.id.to_string()))
    }

    async fn renew(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let target = invitations::of(ctx)
                .filter(invitations::id.eq(DbUuid::from(id)))
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null());
            let old: Option<InvitationRow> = target.first(conn).await.optional()?;
            let Some(old) = old else { return Ok(None) };
            let row: InvitationRow = diesel::update(target)
                .set((
                    invitations::token_digest.eq(&digest.0),
                    invitations::expires_at.eq(expires_at),
                    invitations::delivery.eq(Delivery::Pending.as_str()),
                ))
                .get_result(conn)
                .await?;
            let new = Invitation::try_from(row)?;
            log.updated_as(RESENT, &Invitation::try_from(old)?, &new);
            log.enqueue(mail_job(id));
            Ok(Some(new))
        })
    }

    async fn for_mail(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<InvitationPreview>, StoreError> {
        // The link's digest is no change anyone audits: nothing is logged.
        mutate!(self, ctx, |conn, _log| {
            let row: Option<InvitationRow> = diesel::update(
                invitations::of(ctx)
                    .filter(invitations::id.eq(DbUuid::from(id)))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null())
                    .filter(invitations::expires_at.gt(now)),
            )
            .set(invitations::token_digest.eq(&digest.0))
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = row else { return Ok(None) };
            let (tenant_name, inviter_name, role_name) = names_of!(conn, ctx = ctx, &row);
            Ok(Some(InvitationPreview {
                invitation: row.try_into()?,
                tenant_name,
                inviter_name,
                role_name,
            }))
        })
    }

    async fn set_delivery(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, _log| {
            diesel::update(invitations::of(ctx).filter(invitations::id.eq(DbUuid::from(id))))
                .set(invitations::delivery.eq(delivery.as_str()))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn revoke(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let row: Option<InvitationRow> = diesel::update(
                invitations::of(ctx)
                    .filter(invitations::id.eq(DbUuid::from(id)))
                    .filter(invitations::accepted_at.is_null())
                    .filter(invitations::revoked_at.is_null()),
            )
            .set(invitations::revoked_at.eq(Some(now)))
            .get_result(conn)
            .await
            .optional()?;
            let Some(row) = row else { return Ok(false) };
            let new = Invitation::try_from(row)?;
            let old = Invitation {
                revoked_at: None,
                ..new.clone()
            };
            log.updated_as(REVOKED, &old, &new);
            Ok(true)
        })
    }

    async fn preview(&self, digest: &TokenDigest) -> Result<Option<InvitationPreview>, StoreError> {
        let found: Option<(InvitationRow, String, Option<String>, String)> =
            tx!(self, read, invitation = digest.0.clone(), |conn, cross| {
                let row: Option<InvitationRow> = invitations::unscoped(cross)
                    .filter(invitations::token_digest.eq(&digest.0))
                    .first(conn)
                    .await
                    .optional()?;
                let Some(row) = row else { return Ok(None) };
                // Now the tenant is known: read the names the invitee may see.
                conn.rescope(&Scope::Tenant(TenantId::from_uuid(row.tenant_id.0)))
                    .await?;
                let (tenant_name, inviter, role) = names_of!(conn, cross = cross, &row);
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

    /// Accepts in `ctx` (the invitation's tenant, acting as the invitee); a token of another
    /// tenant is no invitation here.
    async fn accept(
        &self,
        ctx: &TenantCtx,
        digest: &TokenDigest,
        acceptor: &Acceptor,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>, StoreError> {
        let person = self.person_of(ctx).await?;
        let accepted: Result<(Option<Invitation>, crate::pipeline::Sealed), StoreError> =
            tx!(self, write, invitation = digest.0.clone(), |conn, cross| {
                let row: Option<InvitationRow> = invitations::unscoped(cross)
                    .filter(invitations::token_digest.eq(&digest.0))
                    .first(conn)
                    .await
                    .optional()?;
                let Some(row) = row else {
                    return Ok((None, crate::pipeline::Sealed::default()));
                };
                if TenantId::from_uuid(row.tenant_id.0) != ctx.tenant_id() {
                    return Ok((None, crate::pipeline::Sealed::default()));
                }
                // From here on the transaction is the invitation's tenant's, acting as the invitee.
                let tenant = ctx.tenant_id();
                conn.rescope(&Scope::Tenant(tenant)).await?;
                let user_id = match acceptor {
                    Acceptor::Existing(u) | Acceptor::New { user: u, .. } => u.id,
                };
                audited!(conn, ctx, &person, |log| {
                    // Spending is one conditional UPDATE: two concurrent accepts cannot both win.
                    let spent = diesel::update(
                        invitations::of(ctx)
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
                    if let Acceptor::New { user, hash } = acceptor {
                        insert_user_row!(conn, user, hash);
                    }
                    let membership = tenantry_rbac::Membership {
                        tenant_id: tenant,
                        user_id,
                        role_id: RoleId::from_uuid(row.role_id.0),
                        status: tenantry_rbac::MembershipStatus::Active,
                        created_at: now,
                    };
                    let old = Invitation::try_from(row)?;
                    let new = Invitation {
                        accepted_at: Some(now),
                        ..old.clone()
                    };
                    log.updated_as(ACCEPTED, &old, &new);
                    insert_membership!(conn, log, ctx, &membership);
                    Ok(Some(new))
                })
            });
        accepted.map(|(invitation, sealed)| {
            self.committed(sealed);
            invitation
        })
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
        page: &PageRequest,
    ) -> Result<Page<Invitation>, Unexpected> {
        Ok(self.load_pending(ctx, now, page).await?)
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

    async fn invitation_for_mail(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<InvitationPreview>, Unexpected> {
        Ok(self.for_mail(ctx, id, digest, now).await?)
    }

    async fn set_invitation_delivery(
        &self,
        ctx: &TenantCtx,
        id: InvitationId,
        delivery: Delivery,
    ) -> Result<(), Unexpected> {
        Ok(self.set_delivery(ctx, id, delivery).await?)
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
        ctx: &TenantCtx,
        digest: &TokenDigest,
        acceptor: &Acceptor,
        now: DateTime<Utc>,
    ) -> Result<Invitation, InvitationError> {
        match self.accept(ctx, digest, acceptor, now).await {
            Ok(Some(inv)) => Ok(inv),
            Ok(None) => Err(InvitationError::Gone),
            Err(e) if e.is_unique_violation_of("email") => Err(InvitationError::EmailTaken),
            Err(e) if e.is_unique_violation() => Err(InvitationError::AlreadyMember),
            Err(e) => Err(e.refusal()),
        }
    }
}
