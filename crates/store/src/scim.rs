//! SCIM provisioning: a tenant's directory tokens and directory users (tenant-owned,
//! audited), and what a directory user's write does to the account, the membership and the
//! sessions, in the same transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{
    FamilyId, ScimEmail, ScimError, ScimFilter, ScimRepository, ScimToken, ScimUser, ScimWrite,
    TokenDigest, user_name_key,
};
use tenantry_kernel::{RoleId, ScimTokenId, ScimUserId, TenantCtx, TenantId, Unexpected, UserId};
use tenantry_rbac::{MemberError, Membership, MembershipStatus, SystemRole};

use crate::db::Db;
use crate::error::StoreError;
use crate::identity::{insert_user_row, revoke_live_tokens};
use crate::rbac::{MembershipRow, insert_membership, rewrite_membership};
use crate::tenancy::bump_access_version;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct TokenRow {
    tenant_id: DbUuid,
    id: DbUuid,
    name: String,
    _digest: String,
    default_role: String,
    created_by: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ScimToken {
    fn from(r: TokenRow) -> Self {
        ScimToken {
            id: ScimTokenId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            name: r.name,
            default_role: r.default_role,
            created_by: r.created_by.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(Queryable)]
struct UserRow {
    tenant_id: DbUuid,
    id: DbUuid,
    user_name: String,
    _user_name_key: String,
    external_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    formatted_name: Option<String>,
    emails: String,
    active: Option<bool>,
    user_id: Option<DbUuid>,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = DbInstant)]
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for ScimUser {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let emails: Vec<ScimEmail> =
            serde_json::from_str(&r.emails).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(ScimUser {
            id: ScimUserId::from_uuid(r.id.0),
            tenant_id: TenantId::from_uuid(r.tenant_id.0),
            user_name: r.user_name,
            external_id: r.external_id,
            display_name: r.display_name,
            given_name: r.given_name,
            family_name: r.family_name,
            formatted_name: r.formatted_name,
            emails,
            active: r.active,
            user_id: r.user_id.map(|u| UserId::from_uuid(u.0)),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A refusal inside the write's transaction (nothing written before it).
enum Refused {
    Scim(ScimError),
}

impl From<MemberError> for Refused {
    fn from(e: MemberError) -> Self {
        Self::Scim(match e {
            MemberError::LastOwner => ScimError::LastOwner,
            other => ScimError::Unexpected(Unexpected::msg(other.to_string())),
        })
    }
}

/// Ends `$user`'s sessions that `$ctx`'s tenant's identity provider opened.
macro_rules! end_tenant_sessions {
    ($conn:ident, $ctx:expr, $user:expr, $at:expr) => {{
        let (user, tenant): (DbUuid, DbUuid) = ($user, DbUuid::from($ctx.tenant_id()));
        revoke_live_tokens!(
            $conn,
            $at,
            refresh_tokens::user_id.eq(user).and(
                refresh_tokens::family.eq_any(
                    sessions::table
                        .filter(sessions::user_id.eq(user))
                        .filter(sessions::sso_tenant_id.eq(Some(tenant)))
                        .select(sessions::id),
                ),
            )
        )
    }};
}

/// Whether `$user`'s membership (if any) has a role granting a permission the role named
/// `$token_role` lacks.
macro_rules! beyond_token {
    ($conn:ident, $ctx:expr, $user:expr, $token_role:expr) => {{
        let words = |p: &str| -> std::collections::BTreeSet<String> {
            p.split_whitespace().map(str::to_owned).collect()
        };
        let member: Option<String> = memberships::of($ctx)
            .filter(memberships::user_id.eq(DbUuid::from($user)))
            .inner_join(roles::on($ctx, roles::id.eq(memberships::role_id)))
            .select(roles::permissions)
            .first($conn)
            .await
            .optional()?;
        let token: Option<String> = roles::of($ctx)
            .filter(roles::name.eq($token_role))
            .select(roles::permissions)
            .first($conn)
            .await
            .optional()?;
        match member {
            None => false,
            Some(m) => !words(&m).is_subset(&words(&token.unwrap_or_default())),
        }
    }};
}

/// Removes `$user`'s membership, if any — only when its role grants nothing beyond the
/// token's role `$token_role`, and the last-owner rule holds — and ends the sessions of this
/// tenant's identity provider: the sessions ended, or the refusal.
macro_rules! withdraw {
    ($conn:ident, $log:ident, $ctx:expr, $user:expr, $token_role:expr, $at:expr) => {{
        let user: UserId = $user;
        if beyond_token!($conn, $ctx, user, $token_role) {
            Err(Refused::Scim(ScimError::BeyondToken))
        } else {
            match rewrite_membership!($conn, $log, $ctx, user, None) {
                Ok(_) | Err(MemberError::NotFound) => {
                    Ok(end_tenant_sessions!($conn, $ctx, DbUuid::from(user), $at))
                }
                Err(e) => Err(Refused::from(e)),
            }
        }
    }};
}

impl Db {
    async fn insert_token(
        &self,
        ctx: &TenantCtx,
        t: &ScimToken,
        digest: &TokenDigest,
    ) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let roles_named: i64 = roles::of(ctx)
                .filter(roles::name.eq(&t.default_role))
                .count()
                .get_result(conn)
                .await?;
            if roles_named == 0 {
                return Ok(false);
            }
            scim_tokens::insert(
                ctx,
                (
                    scim_tokens::id.eq(DbUuid::from(t.id)),
                    scim_tokens::name.eq(&t.name),
                    scim_tokens::digest.eq(&digest.0),
                    scim_tokens::default_role.eq(&t.default_role),
                    scim_tokens::created_by.eq(t.created_by.map(DbUuid::from)),
                    scim_tokens::created_at.eq(t.created_at),
                ),
            )
            .execute(conn)
            .await?;
            log.created(t);
            Ok(true)
        })
    }

    async fn load_tokens(&self, ctx: &TenantCtx) -> Result<Vec<ScimToken>, StoreError> {
        let rows: Vec<TokenRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(scim_tokens::of(ctx)
                .order(scim_tokens::id.asc())
                .load(conn)
                .await?)
        })?;
        Ok(rows.into_iter().map(ScimToken::from).collect())
    }

    async fn remove_token(&self, ctx: &TenantCtx, id: ScimTokenId) -> Result<bool, StoreError> {
        mutate!(self, ctx, |conn, log| {
            let row: Option<TokenRow> =
                diesel::delete(scim_tokens::of(ctx).filter(scim_tokens::id.eq(DbUuid::from(id))))
                    .get_result(conn)
                    .await
                    .optional()?;
            let Some(row) = row else { return Ok(false) };
            log.deleted(&ScimToken::from(row));
            Ok(true)
        })
    }

    async fn token_by_digest(
        &self,
        ctx: &TenantCtx,
        digest: &TokenDigest,
    ) -> Result<Option<ScimToken>, StoreError> {
        let row: Option<TokenRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(scim_tokens::of(ctx)
                .filter(scim_tokens::digest.eq(&digest.0))
                .first(conn)
                .await
                .optional()?)
        })?;
        Ok(row.map(ScimToken::from))
    }

    /// Use, not a change: nothing is logged.
    async fn touch_token(
        &self,
        ctx: &TenantCtx,
        id: ScimTokenId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        mutate!(self, ctx, |conn, _log| {
            diesel::update(scim_tokens::of(ctx).filter(scim_tokens::id.eq(DbUuid::from(id))))
                .set(scim_tokens::last_used_at.eq(Some(at)))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn load_users(
        &self,
        ctx: &TenantCtx,
        filter: &ScimFilter,
        offset: u64,
        count: u64,
    ) -> Result<(u64, Vec<ScimUser>), StoreError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let (total, rows): (i64, Vec<UserRow>) =
            tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
                let matching = || {
                    let q = scim_users::of(ctx).into_boxed();
                    match filter {
                        ScimFilter::All => q,
                        ScimFilter::UserName(n) => q.filter(scim_users::user_name_key.eq(n)),
                        ScimFilter::ExternalId(e) => q.filter(scim_users::external_id.eq(e)),
                    }
                };
                let total: i64 = matching().count().get_result(conn).await?;
                let rows = if count == 0 {
                    vec![]
                } else {
                    matching()
                        .order(scim_users::id.asc())
                        .offset(offset)
                        .limit(count)
                        .load(conn)
                        .await?
                };
                Ok((total, rows))
            })?;
        let users = rows
            .into_iter()
            .map(ScimUser::try_from)
            .collect::<Result<_, _>>()?;
        Ok((u64::try_from(total).unwrap_or_default(), users))
    }

    async fn load_user(
        &self,
        ctx: &TenantCtx,
        id: ScimUserId,
    ) -> Result<Option<ScimUser>, StoreError> {
        let row: Option<UserRow> = tx!(self, read, tenant = Some(ctx.tenant_id()), |conn| {
            Ok(scim_users::of(ctx)
                .filter(scim_users::id.eq(DbUuid::from(id)))
                .first(conn)
                .await
                .optional()?)
        })?;
        row.map(ScimUser::try_from).transpose()
    }

    async fn write_user(
        &self,
        ctx: &TenantCtx,
        w: &ScimWrite,
    ) -> Result<Result<(ScimUser, Vec<FamilyId>), Refused>, StoreError> {
        let emails = serde_json::to_string(&w.record.emails)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = user_name_key(&w.record.user_name);
        let id = DbUuid::from(w.record.id);
        mutate!(self, ctx, |conn, log| {
            let refuse = |e: ScimError| Ok(Err(Refused::Scim(e)));
            let old: Option<ScimUser> = match w.replacing {
                None => None,
                Some(_) => {
                    let row: Option<UserRow> = scim_users::of(ctx)
                        .filter(scim_users::id.eq(id))
                        .first(conn)
                        .await
                        .optional()?;
                    match row {
                        Some(r) => Some(r.try_into()?),
                        None => return refuse(ScimError::NotFound),
                    }
                }
            };
            let taken: i64 = scim_users::of(ctx)
                .filter(scim_users::user_name_key.eq(&key))
                .filter(scim_users::id.ne(id))
                .count()
                .get_result(conn)
                .await?;
            if taken > 0 {
                return refuse(ScimError::Uniqueness(
                    "another user of this directory has this userName".into(),
                ));
            }
            // The person: kept once linked; else the account of the address, or a new one.
            let mut record = w.record.clone();
            let mut new_user = None;
            if let (None, Some((email, user, hash))) = (record.user_id, &w.link) {
                let existing: Option<DbUuid> = users::table
                    .filter(users::email_normalized.eq(email.normalized()))
                    .select(users::id)
                    .first(conn)
                    .await
                    .optional()?;
                record.user_id = Some(match existing {
                    Some(u) => UserId::from_uuid(u.0),
                    None => {
                        new_user = Some((user, hash));
                        user.id
                    }
                });
            }
            let person = record.user_id.map(DbUuid::from);
            if let Some(person) = person {
                let linked: i64 = scim_users::of(ctx)
                    .filter(scim_users::user_id.eq(Some(person)))
                    .filter(scim_users::id.ne(id))
                    .count()
                    .get_result(conn)
                    .await?;
                if linked > 0 {
                    return refuse(ScimError::Uniqueness(
                        "another user of this directory is the account of this e-mail address"
                            .into(),
                    ));
                }
            }
            let mut ended = vec![];
            let mut join = None;
            match (record.user_id, record.is_active()) {
                (Some(user), true) => {
                    let member: Option<MembershipRow> = memberships::of(ctx)
                        .filter(memberships::user_id.eq(DbUuid::from(user)))
                        .first(conn)
                        .await
                        .optional()?;
                    if member.is_none() {
                        let role: Option<DbUuid> = roles::of(ctx)
                            .filter(roles::name.eq(&w.role))
                            .select(roles::id)
                            .first(conn)
                            .await
                            .optional()?;
                        let Some(role) = role else {
                            return refuse(ScimError::RoleNotFound(w.role.clone()));
                        };
                        join = Some(Membership {
                            tenant_id: ctx.tenant_id(),
                            user_id: user,
                            role_id: RoleId::from_uuid(role.0),
                            status: MembershipStatus::Active,
                            created_at: record.updated_at,
                        });
                    }
                }
                (Some(user), false) => {
                    match withdraw!(conn, log, ctx, user, &w.role, record.updated_at) {
                        Ok(families) => ended = families,
                        Err(e) => return Ok(Err(e)),
                    }
                }
                (None, _) => {}
            }
            if let Some((user, hash)) = new_user {
                insert_user_row!(conn, user, hash);
            }
            let values = (
                scim_users::user_name.eq(&record.user_name),
                scim_users::user_name_key.eq(&key),
                scim_users::external_id.eq(&record.external_id),
                scim_users::display_name.eq(&record.display_name),
                scim_users::given_name.eq(&record.given_name),
                scim_users::family_name.eq(&record.family_name),
                scim_users::formatted_name.eq(&record.formatted_name),
                scim_users::emails.eq(&emails),
                scim_users::active.eq(record.active),
                scim_users::user_id.eq(person),
                scim_users::updated_at.eq(record.updated_at),
            );
            match &old {
                None => {
                    scim_users::insert(
                        ctx,
                        (
                            scim_users::id.eq(id),
                            values,
                            scim_users::created_at.eq(record.created_at),
                        ),
                    )
                    .execute(conn)
                    .await?;
                    log.created(&record);
                }
                Some(old) => {
                    diesel::update(scim_users::of(ctx).filter(scim_users::id.eq(id)))
                        .set(values)
                        .execute(conn)
                        .await?;
                    log.updated(old, &record);
                }
            }
            if let Some(m) = &join {
                bump_access_version!(conn);
                insert_membership!(conn, log, ctx, m);
            }
            Ok(Ok((record, ended)))
        })
    }

    async fn remove_user(
        &self,
        ctx: &TenantCtx,
        id: ScimUserId,
        token_role: &str,
        at: DateTime<Utc>,
    ) -> Result<Result<Vec<FamilyId>, Refused>, StoreError> {
        let id = DbUuid::from(id);
        mutate!(self, ctx, |conn, log| {
            let row: Option<UserRow> = scim_users::of(ctx)
                .filter(scim_users::id.eq(id))
                .first(conn)
                .await
                .optional()?;
            let Some(row) = row else {
                return Ok(Err(Refused::Scim(ScimError::NotFound)));
            };
            let old: ScimUser = row.try_into()?;
            let mut ended = vec![];
            if let Some(user) = old.user_id {
                match withdraw!(conn, log, ctx, user, token_role, at) {
                    Ok(families) => ended = families,
                    Err(e) => return Ok(Err(e)),
                }
            }
            diesel::delete(scim_users::of(ctx).filter(scim_users::id.eq(id)))
                .execute(conn)
                .await?;
            log.deleted(&old);
            Ok(Ok(ended))
        })
    }
}

fn refused<T>(r: Result<Result<T, Refused>, StoreError>) -> Result<T, ScimError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(Refused::Scim(e))) => Err(e),
        Err(StoreError::Quota(q)) => Err(ScimError::Quota(q)),
        Err(e) if e.is_unique_violation_of("user_name_key") => Err(ScimError::Uniqueness(
            "another user of this directory has this userName".into(),
        )),
        Err(e) if e.is_unique_violation() => Err(ScimError::Uniqueness(
            "another user of this directory is this person".into(),
        )),
        Err(e) => Err(ScimError::Unexpected(e.into())),
    }
}

impl ScimRepository for Db {
    async fn insert_scim_token(
        &self,
        ctx: &TenantCtx,
        token: &ScimToken,
        digest: &TokenDigest,
    ) -> Result<(), ScimError> {
        match self.insert_token(ctx, token, digest).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ScimError::RoleNotFound(token.default_role.clone())),
            Err(e) => Err(ScimError::Unexpected(e.into())),
        }
    }

    async fn scim_tokens(&self, ctx: &TenantCtx) -> Result<Vec<ScimToken>, Unexpected> {
        Ok(self.load_tokens(ctx).await?)
    }

    async fn delete_scim_token(
        &self,
        ctx: &TenantCtx,
        id: ScimTokenId,
    ) -> Result<bool, Unexpected> {
        Ok(self.remove_token(ctx, id).await?)
    }

    async fn scim_token_by_digest(
        &self,
        ctx: &TenantCtx,
        digest: &TokenDigest,
    ) -> Result<Option<ScimToken>, Unexpected> {
        Ok(self.token_by_digest(ctx, digest).await?)
    }

    async fn touch_scim_token(
        &self,
        ctx: &TenantCtx,
        id: ScimTokenId,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.touch_token(ctx, id, at).await?)
    }

    async fn scim_users(
        &self,
        ctx: &TenantCtx,
        filter: &ScimFilter,
        offset: u64,
        count: u64,
    ) -> Result<(u64, Vec<ScimUser>), Unexpected> {
        Ok(self.load_users(ctx, filter, offset, count).await?)
    }

    async fn scim_user(
        &self,
        ctx: &TenantCtx,
        id: ScimUserId,
    ) -> Result<Option<ScimUser>, Unexpected> {
        Ok(self.load_user(ctx, id).await?)
    }

    async fn write_scim_user(
        &self,
        ctx: &TenantCtx,
        write: &ScimWrite,
    ) -> Result<(ScimUser, Vec<FamilyId>), ScimError> {
        refused(self.write_user(ctx, write).await)
    }

    async fn delete_scim_user(
        &self,
        ctx: &TenantCtx,
        id: ScimUserId,
        token_role: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, ScimError> {
        refused(self.remove_user(ctx, id, token_role, at).await)
    }
}
