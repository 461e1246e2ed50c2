//! The identity ports: users, refresh tokens, the login throttle and the signing key. All
//! platform tables (one person, many tenants).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{
    CreateUserError, DisplayName, Failures, FamilyId, LoginThrottle, PasswordHash, PlatformAdmins,
    RefreshRecord, RevokedSince, Rotation, SessionInfo, SessionMethod, SessionRepository,
    TokenDigest, User, UserRepository, UserStatus,
};
use tenantry_kernel::{Email, Origin, Unexpected, UserId};

use crate::db::Db;
use crate::error::StoreError;
use crate::tenancy::bump_access_version;
use crate::types::DbInstant;
use crate::types::DbUuid;

#[derive(Queryable)]
struct UserRow {
    id: DbUuid,
    email: String,
    _email_normalized: String,
    display_name: String,
    status: String,
    password_hash: String,
    #[diesel(deserialize_as = DbInstant)]
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
}

impl UserRow {
    fn into_parts(self) -> Result<(User, PasswordHash), StoreError> {
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("{what} {v:?}"));
        let user = User {
            id: UserId::from_uuid(self.id.0),
            email: Email::parse(&self.email).map_err(|_| corrupt("e-mail", &self.email))?,
            display_name: DisplayName::parse(&self.display_name)
                .map_err(|_| corrupt("display name", &self.display_name))?,
            status: UserStatus::parse(&self.status)
                .ok_or_else(|| corrupt("user status", &self.status))?,
            created_at: self.created_at,
            last_login_at: self.last_login_at,
        };
        Ok((user, PasswordHash(self.password_hash)))
    }
}

/// Inserts a user; shared by sign-up paths (tests, onboarding, invitations).
macro_rules! insert_user_row {
    ($conn:ident, $user:expr, $hash:expr) => {{
        let user: &tenantry_identity::User = $user;
        let hash: &tenantry_identity::PasswordHash = $hash;
        diesel::insert_into(users::table)
            .values((
                users::id.eq(DbUuid::from(user.id)),
                users::email.eq(user.email.as_str()),
                users::email_normalized.eq(user.email.normalized()),
                users::display_name.eq(user.display_name.as_str()),
                users::status.eq(user.status.as_str()),
                users::password_hash.eq(&hash.0),
                users::created_at.eq(user.created_at),
                users::last_login_at.eq(user.last_login_at),
            ))
            .execute($conn)
            .await?;
    }};
}
pub(crate) use insert_user_row;

/// A refresh token's owner, family and state, as rotation reads it back.
type TokenState = (DbUuid, DbUuid, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Revokes the live refresh tokens matching `$filter` (an expression on `refresh_tokens`)
/// at `$at`, moving the access counter and stamping its new value on them (see the
/// migration `access_changes`), and evaluates to the sessions revoked. Nothing live: nothing
/// moves. The UPDATE runs twice: on PostgreSQL, a token a concurrent refresh inserted while
/// the first statement waited for the old token's row lock is outside that statement's
/// snapshot, but inside the second's — a refresh racing a logout cannot outlive it.
macro_rules! revoke_live_tokens {
    ($conn:ident, $at:expr, $filter:expr) => {{
        let at: DateTime<Utc> = $at;
        let live = || {
            refresh_tokens::table
                .filter(refresh_tokens::revoked_at.is_null())
                .filter($filter)
        };
        let found: i64 = live().count().get_result($conn).await?;
        let mut families = std::collections::BTreeSet::new();
        if found > 0 {
            let version = bump_access_version!($conn);
            for _ in 0..2 {
                let revoked: Vec<DbUuid> = diesel::update(live())
                    .set((
                        refresh_tokens::revoked_at.eq(Some(at)),
                        refresh_tokens::revoked_version.eq(Some(version)),
                    ))
                    .returning(refresh_tokens::family)
                    .get_results($conn)
                    .await?;
                families.extend(revoked.into_iter().map(|f| f.0));
            }
        }
        families
            .into_iter()
            .map(FamilyId::from_uuid)
            .collect::<Vec<FamilyId>>()
    }};
}

pub(crate) use revoke_live_tokens;

/// Revokes every live session of `$user` but `$keep` (password and MFA changes), naming them.
macro_rules! revoke_other_sessions {
    ($conn:ident, $at:expr, $user:expr, $keep:expr) => {{
        let (user, keep): (DbUuid, DbUuid) = ($user, $keep);
        revoke_live_tokens!(
            $conn,
            $at,
            refresh_tokens::user_id
                .eq(user)
                .and(refresh_tokens::family.ne(keep))
        )
    }};
}
pub(crate) use revoke_other_sessions;

/// Failed logins older than this are deleted as new ones arrive.
const FAILURE_RETENTION: Duration = Duration::days(1);

impl Db {
    async fn insert_user(&self, user: &User, hash: &PasswordHash) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            insert_user_row!(conn, user, hash);
            Ok(())
        })
    }

    async fn load_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>, StoreError> {
        let key = email.normalized();
        let row: Option<UserRow> = run!(self, read, |conn| {
            users::table
                .filter(users::email_normalized.eq(&key))
                .first(conn)
                .await
                .optional()?
        });
        row.map(UserRow::into_parts).transpose()
    }

    async fn load_user_by_id(
        &self,
        id: UserId,
    ) -> Result<Option<(User, PasswordHash)>, StoreError> {
        let row: Option<UserRow> = run!(self, read, |conn| {
            users::table
                .find(DbUuid::from(id))
                .first(conn)
                .await
                .optional()?
        });
        row.map(UserRow::into_parts).transpose()
    }

    async fn update_last_login(&self, id: UserId, at: DateTime<Utc>) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            diesel::update(users::table.find(DbUuid::from(id)))
                .set(users::last_login_at.eq(Some(at)))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn update_display_name(
        &self,
        id: UserId,
        name: &DisplayName,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = tx!(self, write, platform, |conn| {
            Ok(diesel::update(users::table.find(DbUuid::from(id)))
                .set(users::display_name.eq(name.as_str()))
                .get_result(conn)
                .await
                .optional()?)
        })?;
        Ok(row.map(UserRow::into_parts).transpose()?.map(|(u, _)| u))
    }

    async fn update_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<(User, Vec<FamilyId>)>, StoreError> {
        let user = DbUuid::from(id);
        let done: Option<(UserRow, Vec<FamilyId>)> = tx!(self, write, platform, |conn| {
            let row: Option<UserRow> = diesel::update(users::table.find(user))
                .set(users::status.eq(status.as_str()))
                .get_result(conn)
                .await
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let revoked = match status {
                UserStatus::Disabled => {
                    revoke_live_tokens!(conn, at, refresh_tokens::user_id.eq(user))
                }
                UserStatus::Active => Vec::new(),
            };
            Ok(Some((row, revoked)))
        })?;
        done.map(|(row, revoked)| Ok((row.into_parts()?.0, revoked)))
            .transpose()
    }

    async fn update_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<FamilyId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let user = DbUuid::from(id);
        // No session to keep: a family id no token has.
        let keep = DbUuid(keep.map_or_else(uuid::Uuid::nil, |f| *f.as_uuid()));
        tx!(self, write, platform, |conn| {
            diesel::update(users::table.find(user))
                .set(users::password_hash.eq(&hash.0))
                .execute(conn)
                .await?;
            Ok(revoke_other_sessions!(conn, at, user, keep))
        })
    }

    async fn insert_session(
        &self,
        s: &SessionInfo,
        first: Option<&RefreshRecord>,
    ) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id.eq(DbUuid::from(s.id)),
                    sessions::user_id.eq(DbUuid::from(s.user_id)),
                    sessions::method.eq(s.method.as_str()),
                    sessions::created_at.eq(s.created_at),
                    sessions::last_used_at.eq(s.last_used_at),
                    sessions::ip.eq(s.ip.as_deref()),
                    sessions::user_agent.eq(s.user_agent.as_deref()),
                    sessions::sso_tenant_id.eq(s.sso_tenant.map(DbUuid::from)),
                ))
                .execute(conn)
                .await?;
            let Some(r) = first else { return Ok(()) };
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::digest.eq(&r.digest.0),
                    refresh_tokens::user_id.eq(DbUuid::from(r.user_id)),
                    refresh_tokens::family.eq(DbUuid::from(r.family)),
                    refresh_tokens::issued_at.eq(r.issued_at),
                    refresh_tokens::expires_at.eq(r.expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn rotate(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<Rotation, StoreError> {
        tx!(self, write, platform, |conn| {
            // Spending is one conditional UPDATE: of two concurrent refreshes with the same
            // token exactly one wins; the other is a reuse.
            let spent = diesel::update(
                refresh_tokens::table
                    .find(&old.0)
                    .filter(refresh_tokens::spent_at.is_null())
                    .filter(refresh_tokens::revoked_at.is_null())
                    .filter(refresh_tokens::expires_at.gt(now)),
            )
            .set(refresh_tokens::spent_at.eq(Some(now)))
            .execute(conn)
            .await?;
            let row: Option<TokenState> = refresh_tokens::table
                .find(&old.0)
                .select((
                    refresh_tokens::user_id,
                    refresh_tokens::family,
                    refresh_tokens::spent_at,
                    refresh_tokens::revoked_at,
                ))
                .first(conn)
                .await
                .optional()?;
            let Some((user_id, family, spent_at, revoked_at)) = row else {
                return Ok(Rotation::Invalid);
            };
            if spent == 1 {
                diesel::insert_into(refresh_tokens::table)
                    .values((
                        refresh_tokens::digest.eq(&new.0),
                        refresh_tokens::user_id.eq(user_id),
                        refresh_tokens::family.eq(family),
                        refresh_tokens::issued_at.eq(now),
                        refresh_tokens::expires_at.eq(new_expires_at),
                    ))
                    .execute(conn)
                    .await?;
                let sso: Option<Option<DbUuid>> = diesel::update(sessions::table.find(family))
                    .set((
                        sessions::last_used_at.eq(now),
                        sessions::ip.eq(origin.ip.as_deref()),
                        sessions::user_agent.eq(origin.user_agent.as_deref()),
                    ))
                    .returning(sessions::sso_tenant_id)
                    .get_result(conn)
                    .await
                    .optional()?;
                return Ok(Rotation::Rotated {
                    user_id: UserId::from_uuid(user_id.0),
                    family: FamilyId::from_uuid(family.0),
                    sso_tenant: sso
                        .flatten()
                        .map(|t| tenantry_kernel::TenantId::from_uuid(t.0)),
                });
            }
            if spent_at.is_some() || revoked_at.is_some() {
                // The family is named either way (it may have ended already).
                let _ = revoke_live_tokens!(conn, now, refresh_tokens::family.eq(family));
                return Ok(Rotation::Reused {
                    user_id: UserId::from_uuid(user_id.0),
                    family: FamilyId::from_uuid(family.0),
                });
            }
            Ok(Rotation::Invalid)
        })
    }

    async fn revoke_family(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, FamilyId)>, StoreError> {
        tx!(self, write, platform, |conn| {
            let found: Option<(DbUuid, DbUuid)> = refresh_tokens::table
                .find(&digest.0)
                .select((refresh_tokens::family, refresh_tokens::user_id))
                .first(conn)
                .await
                .optional()?;
            let Some((family, user)) = found else {
                return Ok(None);
            };
            // The family is named either way (it may have ended already).
            let _ = revoke_live_tokens!(conn, now, refresh_tokens::family.eq(family));
            Ok(Some((
                UserId::from_uuid(user.0),
                FamilyId::from_uuid(family.0),
            )))
        })
    }

    async fn load_live_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        type Row = (
            DbUuid,
            DbUuid,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<String>,
            Option<String>,
            Option<DbUuid>,
        );
        let user = DbUuid::from(user);
        let rows: Vec<Row> = run!(self, read, |conn| {
            let live = refresh_tokens::table
                .filter(refresh_tokens::family.eq(sessions::id))
                .filter(refresh_tokens::spent_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null())
                .filter(refresh_tokens::expires_at.gt(now));
            sessions::table
                .filter(sessions::user_id.eq(user))
                .filter(diesel::dsl::exists(live))
                .order(sessions::id.asc())
                .load(conn)
                .await?
        });
        rows.into_iter()
            .map(
                |(id, user_id, method, created_at, last_used_at, ip, user_agent, sso)| {
                    Ok(SessionInfo {
                        id: FamilyId::from_uuid(id.0),
                        user_id: UserId::from_uuid(user_id.0),
                        method: SessionMethod::parse(&method).ok_or_else(|| {
                            StoreError::Corrupt(format!("session method {method:?}"))
                        })?,
                        created_at,
                        last_used_at,
                        ip,
                        user_agent,
                        sso_tenant: sso.map(|t| tenantry_kernel::TenantId::from_uuid(t.0)),
                    })
                },
            )
            .collect()
    }

    /// Ends a live session of `user`; whether there was one.
    async fn end_session(
        &self,
        user: UserId,
        session: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (user, family) = (DbUuid::from(user), DbUuid::from(session));
        let ended = tx!(self, write, platform, |conn| {
            Ok(revoke_live_tokens!(
                conn,
                now,
                refresh_tokens::family
                    .eq(family)
                    .and(refresh_tokens::user_id.eq(user))
                    .and(refresh_tokens::spent_at.is_null())
                    .and(refresh_tokens::expires_at.gt(now))
            ))
        })?;
        Ok(!ended.is_empty())
    }

    /// The sessions revoked since `since`, with when.
    async fn load_revoked_sessions(
        &self,
        since: RevokedSince,
    ) -> Result<Vec<(FamilyId, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(DbUuid, Option<DateTime<Utc>>)> = run!(self, read, |conn| {
            let q = refresh_tokens::table
                .select((refresh_tokens::family, refresh_tokens::revoked_at))
                .distinct()
                .into_boxed();
            let q = match since {
                RevokedSince::Time(at) => q.filter(refresh_tokens::revoked_at.ge(at)),
                RevokedSince::Version(v) => q.filter(refresh_tokens::revoked_version.gt(v)),
            };
            q.load(conn).await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(family, at)| Some((FamilyId::from_uuid(family.0), at?)))
            .collect())
    }

    /// Recent failures of one e-mail or one address. (Timestamps are loaded and counted here:
    /// diesel has no `max` for SQLite's timestamp type.)
    async fn failures_where(
        &self,
        of: FailuresOf<'_>,
        since: DateTime<Utc>,
    ) -> Result<Failures, StoreError> {
        let rows: Vec<DateTime<Utc>> = run!(self, read, |conn| {
            let q = login_failures::table
                .filter(login_failures::at.ge(since))
                .into_boxed();
            let q = match of {
                FailuresOf::Email(e) => q.filter(login_failures::email_key.eq(e)),
                FailuresOf::Ip(ip) => q.filter(login_failures::ip.eq(ip)),
            };
            q.select(login_failures::at).load(conn).await?
        });
        Ok(Failures {
            count: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            latest: rows.into_iter().max(),
        })
    }

    async fn insert_failure(
        &self,
        email_key: &str,
        ip: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = DbUuid(uuid::Uuid::now_v7());
        let cutoff = at - FAILURE_RETENTION;
        tx!(self, write, platform, |conn| {
            diesel::insert_into(login_failures::table)
                .values((
                    login_failures::id.eq(id),
                    login_failures::email_key.eq(email_key),
                    login_failures::ip.eq(ip),
                    login_failures::at.eq(at),
                ))
                .execute(conn)
                .await?;
            diesel::delete(login_failures::table.filter(login_failures::at.lt(cutoff)))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn delete_failures(&self, email_key: &str) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            diesel::delete(login_failures::table.filter(login_failures::email_key.eq(email_key)))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    /// The stored signing key, after storing `candidate` if there was none: every instance
    /// ends up with the first key ever stored. Returns `(kid, PKCS#8 PEM)`.
    pub async fn signing_key_or_insert(
        &self,
        kid: &str,
        pem: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String), StoreError> {
        let inserted: Result<(), StoreError> = async {
            tx!(self, write, platform, |conn| {
                diesel::insert_into(signing_keys::table)
                    .values((
                        signing_keys::slot.eq(1),
                        signing_keys::kid.eq(kid),
                        signing_keys::private_key_pem.eq(pem),
                        signing_keys::created_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                Ok(())
            })
        }
        .await;
        match inserted {
            // Another instance stored its key first: use that one.
            Err(e) if e.is_unique_violation() => {}
            other => other?,
        }
        let stored: (String, String) = run!(self, read, |conn| {
            signing_keys::table
                .find(1)
                .select((signing_keys::kid, signing_keys::private_key_pem))
                .first(conn)
                .await?
        });
        Ok(stored)
    }
}

/// Whose login failures to count.
enum FailuresOf<'a> {
    Email(&'a str),
    Ip(&'a str),
}

impl UserRepository for Db {
    async fn create_user(&self, user: &User, hash: &PasswordHash) -> Result<(), CreateUserError> {
        self.insert_user(user, hash).await.map_err(|e| {
            if e.is_unique_violation() {
                CreateUserError::EmailTaken
            } else {
                CreateUserError::Unexpected(e.into())
            }
        })
    }

    async fn credentials(&self, email: &Email) -> Result<Option<(User, PasswordHash)>, Unexpected> {
        Ok(self.load_user_by_email(email).await?)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, Unexpected> {
        Ok(self.load_user_by_id(id).await?.map(|(u, _)| u))
    }

    async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, Unexpected> {
        Ok(self.load_user_by_id(id).await?.map(|(_, h)| h))
    }

    async fn record_login(&self, id: UserId, at: DateTime<Utc>) -> Result<(), Unexpected> {
        Ok(self.update_last_login(id, at).await?)
    }

    async fn set_display_name(
        &self,
        id: UserId,
        name: &DisplayName,
    ) -> Result<Option<User>, Unexpected> {
        Ok(self.update_display_name(id, name).await?)
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<(User, Vec<FamilyId>)>, Unexpected> {
        Ok(self.update_status(id, status, at).await?)
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<FamilyId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, Unexpected> {
        Ok(self.update_password(id, hash, keep, at).await?)
    }
}

impl SessionRepository for Db {
    async fn open_session(
        &self,
        session: &SessionInfo,
        first: Option<&RefreshRecord>,
    ) -> Result<(), Unexpected> {
        Ok(self.insert_session(session, first).await?)
    }

    async fn rotate_refresh(
        &self,
        old: &TokenDigest,
        new_digest: &TokenDigest,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<Rotation, Unexpected> {
        Ok(self
            .rotate(old, new_digest, new_expires_at, now, origin)
            .await?)
    }

    async fn live_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, Unexpected> {
        Ok(self.load_live_sessions(user, now).await?)
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session: FamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        Ok(self.end_session(user, session, now).await?)
    }

    async fn revoke_family_of(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, FamilyId)>, Unexpected> {
        Ok(self.revoke_family(digest, now).await?)
    }

    async fn revoked_sessions(
        &self,
        since: RevokedSince,
    ) -> Result<Vec<(FamilyId, DateTime<Utc>)>, Unexpected> {
        Ok(self.load_revoked_sessions(since).await?)
    }
}

impl LoginThrottle for Db {
    async fn account_failures(
        &self,
        email_key: &str,
        since: DateTime<Utc>,
    ) -> Result<Failures, Unexpected> {
        Ok(self
            .failures_where(FailuresOf::Email(email_key), since)
            .await?)
    }

    async fn address_failures(
        &self,
        ip: &str,
        since: DateTime<Utc>,
    ) -> Result<Failures, Unexpected> {
        Ok(self.failures_where(FailuresOf::Ip(ip), since).await?)
    }

    async fn record_failure(
        &self,
        email_key: &str,
        ip: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.insert_failure(email_key, ip, at).await?)
    }

    async fn clear_failures(&self, email_key: &str) -> Result<(), Unexpected> {
        Ok(self.delete_failures(email_key).await?)
    }
}

impl PlatformAdmins for Db {
    async fn is_platform_admin(&self, user: UserId) -> Result<bool, Unexpected> {
        let id = DbUuid::from(user);
        let n: i64 = run!(self, read, |conn| {
            platform_admins::table
                .filter(platform_admins::user_id.eq(id))
                .count()
                .get_result(conn)
                .await
                .map_err(StoreError::from)?
        });
        Ok(n > 0)
    }

    async fn add_platform_admin(&self, user: UserId, at: DateTime<Utc>) -> Result<(), Unexpected> {
        let id = DbUuid::from(user);
        // Already one: nothing to do (the key makes a concurrent grant a no-op as well).
        let granted: Result<usize, StoreError> = run!(self, |conn| {
            diesel::insert_into(platform_admins::table)
                .values((
                    platform_admins::user_id.eq(id),
                    platform_admins::created_at.eq(at),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await
                .map_err(StoreError::from)
        });
        granted?;
        Ok(())
    }
}
