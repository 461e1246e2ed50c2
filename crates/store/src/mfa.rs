//! Second factors (the identity's [`MfaRepository`]): TOTP authenticators, recovery codes and
//! MFA tickets. Platform tables: they belong to a person, and are used before a tenant is
//! known.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tenantry_identity::{FamilyId, MfaRepository, TokenDigest, TotpRecord};
use tenantry_kernel::{Unexpected, UserId};

use crate::db::Db;
use crate::error::StoreError;
use crate::identity::{revoke_live_tokens, revoke_other_sessions};
use crate::tenancy::bump_access_version;
use crate::types::DbUuid;

/// Inserts the user's recovery codes (after deleting the old ones) in `$conn`'s transaction.
macro_rules! put_recovery_codes {
    ($conn:ident, $user:expr, $digests:expr, $at:expr) => {{
        let user: DbUuid = $user;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user)))
            .execute($conn)
            .await?;
        // One statement per code (ten): SQLite has no multi-row insert through diesel.
        for d in $digests {
            let d: &TokenDigest = d;
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(user),
                    recovery_codes::digest.eq(&d.0),
                    recovery_codes::created_at.eq($at),
                ))
                .execute($conn)
                .await?;
        }
    }};
}

impl Db {
    async fn load_totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        let row: Option<(String, DateTime<Utc>, Option<DateTime<Utc>>)> =
            run!(self, read, |conn| {
                user_totp::table
                    .find(DbUuid::from(user))
                    .select((
                        user_totp::secret,
                        user_totp::created_at,
                        user_totp::confirmed_at,
                    ))
                    .first(conn)
                    .await
                    .optional()?
            });
        Ok(
            row.map(|(sealed_secret, created_at, confirmed_at)| TotpRecord {
                sealed_secret,
                created_at,
                confirmed_at,
            }),
        )
    }

    async fn upsert_pending_totp(
        &self,
        user: UserId,
        sealed: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let user = DbUuid::from(user);
        tx!(self, write, platform, |conn| {
            let confirmed: Option<Option<DateTime<Utc>>> = user_totp::table
                .find(user)
                .select(user_totp::confirmed_at)
                .first(conn)
                .await
                .optional()?;
            match confirmed {
                Some(Some(_)) => Ok(false),
                Some(None) => {
                    diesel::update(user_totp::table.find(user))
                        .set((
                            user_totp::secret.eq(sealed),
                            user_totp::created_at.eq(at),
                            user_totp::last_step.eq(None::<i64>),
                        ))
                        .execute(conn)
                        .await?;
                    Ok(true)
                }
                None => {
                    diesel::insert_into(user_totp::table)
                        .values((
                            user_totp::user_id.eq(user),
                            user_totp::secret.eq(sealed),
                            user_totp::created_at.eq(at),
                        ))
                        .execute(conn)
                        .await?;
                    Ok(true)
                }
            }
        })
    }

    async fn confirm_pending_totp(
        &self,
        user: UserId,
        step: i64,
        digests: &[TokenDigest],
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<FamilyId>>, StoreError> {
        let (user, keep) = (DbUuid::from(user), DbUuid::from(keep));
        tx!(self, write, platform, |conn| {
            let confirmed = diesel::update(
                user_totp::table
                    .find(user)
                    .filter(user_totp::confirmed_at.is_null()),
            )
            .set((
                user_totp::confirmed_at.eq(Some(at)),
                user_totp::last_step.eq(Some(step)),
            ))
            .execute(conn)
            .await?;
            if confirmed == 0 {
                return Ok(None);
            }
            put_recovery_codes!(conn, user, digests, at);
            Ok(Some(revoke_other_sessions!(conn, at, user, keep)))
        })
    }

    async fn advance_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let user = DbUuid::from(user);
        let n = tx!(self, write, platform, |conn| {
            Ok(diesel::update(
                user_totp::table
                    .find(user)
                    .filter(user_totp::confirmed_at.is_not_null())
                    .filter(
                        user_totp::last_step
                            .is_null()
                            .or(user_totp::last_step.lt(step)),
                    ),
            )
            .set(user_totp::last_step.eq(Some(step)))
            .execute(conn)
            .await?)
        })?;
        Ok(n == 1)
    }

    async fn spend_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let user = DbUuid::from(user);
        let n = tx!(self, write, platform, |conn| {
            Ok(diesel::update(
                recovery_codes::table
                    .find((user, &digest.0))
                    .filter(recovery_codes::used_at.is_null()),
            )
            .set(recovery_codes::used_at.eq(Some(at)))
            .execute(conn)
            .await?)
        })?;
        Ok(n == 1)
    }

    async fn store_recovery_codes(
        &self,
        user: UserId,
        digests: &[TokenDigest],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let user = DbUuid::from(user);
        tx!(self, write, platform, |conn| {
            put_recovery_codes!(conn, user, digests, at);
            Ok(())
        })
    }

    async fn count_recovery_codes(&self, user: UserId) -> Result<u32, StoreError> {
        let user = DbUuid::from(user);
        let n: i64 = run!(self, read, |conn| {
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user))
                .filter(recovery_codes::used_at.is_null())
                .count()
                .get_result(conn)
                .await?
        });
        Ok(u32::try_from(n).unwrap_or(0))
    }

    async fn delete_totp(
        &self,
        user: UserId,
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let (user, keep) = (DbUuid::from(user), DbUuid::from(keep));
        tx!(self, write, platform, |conn| {
            diesel::delete(user_totp::table.find(user))
                .execute(conn)
                .await?;
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user)))
                .execute(conn)
                .await?;
            Ok(revoke_other_sessions!(conn, at, user, keep))
        })
    }

    async fn add_mfa_ticket(
        &self,
        digest: &TokenDigest,
        user: UserId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tx!(self, write, platform, |conn| {
            // Tickets live minutes: the expired ones go as new ones arrive.
            diesel::delete(mfa_tickets::table.filter(mfa_tickets::expires_at.lt(at)))
                .execute(conn)
                .await?;
            diesel::insert_into(mfa_tickets::table)
                .values((
                    mfa_tickets::digest.eq(&digest.0),
                    mfa_tickets::user_id.eq(DbUuid::from(user)),
                    mfa_tickets::created_at.eq(at),
                    mfa_tickets::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
    }

    async fn load_ticket_user(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let row: Option<DbUuid> = run!(self, read, |conn| {
            mfa_tickets::table
                .find(&digest.0)
                .filter(mfa_tickets::used_at.is_null())
                .filter(mfa_tickets::expires_at.gt(now))
                .select(mfa_tickets::user_id)
                .first(conn)
                .await
                .optional()?
        });
        Ok(row.map(|u| UserId::from_uuid(u.0)))
    }

    async fn use_ticket(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = tx!(self, write, platform, |conn| {
            Ok(diesel::update(
                mfa_tickets::table
                    .find(&digest.0)
                    .filter(mfa_tickets::used_at.is_null())
                    .filter(mfa_tickets::expires_at.gt(now)),
            )
            .set(mfa_tickets::used_at.eq(Some(now)))
            .execute(conn)
            .await?)
        })?;
        Ok(n == 1)
    }
}

impl MfaRepository for Db {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, Unexpected> {
        Ok(self.load_totp(user).await?)
    }

    async fn mfa_enabled(&self, user: UserId) -> Result<bool, Unexpected> {
        Ok(self
            .load_totp(user)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some()))
    }

    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        Ok(self.upsert_pending_totp(user, sealed_secret, at).await?)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_digests: &[TokenDigest],
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<FamilyId>>, Unexpected> {
        Ok(self
            .confirm_pending_totp(user, step, recovery_digests, keep, at)
            .await?)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, Unexpected> {
        Ok(self.advance_totp_step(user, step).await?)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &TokenDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        Ok(self.spend_recovery_code(user, digest, at).await?)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[TokenDigest],
        at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.store_recovery_codes(user, digests, at).await?)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, Unexpected> {
        Ok(self.count_recovery_codes(user).await?)
    }

    async fn remove_totp(
        &self,
        user: UserId,
        keep: FamilyId,
        at: DateTime<Utc>,
    ) -> Result<Vec<FamilyId>, Unexpected> {
        Ok(self.delete_totp(user, keep, at).await?)
    }

    async fn insert_mfa_ticket(
        &self,
        digest: &TokenDigest,
        user: UserId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        Ok(self.add_mfa_ticket(digest, user, at, expires_at).await?)
    }

    async fn mfa_ticket_user(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, Unexpected> {
        Ok(self.load_ticket_user(digest, now).await?)
    }

    async fn spend_mfa_ticket(
        &self,
        digest: &TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<bool, Unexpected> {
        Ok(self.use_ticket(digest, now).await?)
    }
}
