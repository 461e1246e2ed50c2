//! Sessions that ended before their access tokens expire. An access token is checked without
//! the database, so each process keeps the set of revoked sessions in memory: it adds its own
//! revocations as it makes them, and reads the others' from the database (see
//! [`SessionRepository::revoked_sessions`]) when the shared access counter moves.
//!
//! [`SessionRepository::revoked_sessions`]: crate::ports::SessionRepository::revoked_sessions

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};

use crate::model::FamilyId;
use crate::ports::RevokedSince;

/// Kept beyond a session's last token's expiry: instances' clocks may differ by this much.
pub const CLOCK_MARGIN: Duration = Duration::minutes(5);

/// The revoked sessions whose access tokens may still be unexpired.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each revoked session, and until when its tokens must be refused.
    until: HashMap<FamilyId, DateTime<Utc>>,
    /// The access counter value up to which every revocation has been read.
    seen: Option<i64>,
}

impl RevokedSessions {
    /// True when the session was revoked (and its tokens might still look valid).
    pub fn contains(&self, family: FamilyId) -> bool {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.until.contains_key(&family)
    }

    /// Where the next read of the database starts: after the counter value already read up
    /// to, or, on the first look, far enough back in time to cover every token still
    /// unexpired at `now` (tokens live `keep`).
    pub fn read_from(&self, now: DateTime<Utc>, keep: Duration) -> RevokedSince {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.seen.map_or_else(
            || RevokedSince::Time(now - keep - CLOCK_MARGIN),
            RevokedSince::Version,
        )
    }

    /// Adds revocations (this process's own, or read from the database) made at their given
    /// times, and forgets those whose tokens have all expired by `now`; tokens live `keep`.
    /// `read_up_to` is the counter value the database read covered, when it was one.
    pub fn merge(
        &self,
        revoked: impl IntoIterator<Item = (FamilyId, DateTime<Utc>)>,
        read_up_to: Option<i64>,
        now: DateTime<Utc>,
        keep: Duration,
    ) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for (family, at) in revoked {
            let until = at + keep + CLOCK_MARGIN;
            let entry = inner.until.entry(family).or_insert(until);
            *entry = (*entry).max(until);
        }
        inner.until.retain(|_, until| *until > now);
        if let Some(v) = read_up_to {
            inner.seen = Some(inner.seen.map_or(v, |s| s.max(v)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_is_kept_until_its_tokens_expire_then_forgotten() {
        let set = RevokedSessions::default();
        let keep = Duration::minutes(15);
        let t0 = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let (a, b) = (FamilyId::new(), FamilyId::new());
        assert!(!set.contains(a));
        assert_eq!(
            set.read_from(t0, keep),
            RevokedSince::Time(t0 - keep - CLOCK_MARGIN)
        );

        // This process's own revocation: no counter value read yet.
        set.merge([(a, t0)], None, t0, keep);
        assert!(set.contains(a));
        assert!(!set.contains(b));
        assert_eq!(
            set.read_from(t0, keep),
            RevokedSince::Time(t0 - keep - CLOCK_MARGIN)
        );
        // A read of the database up to counter value 7: the next read starts after it.
        set.merge([(b, t0)], Some(7), t0, keep);
        assert_eq!(set.read_from(t0, keep), RevokedSince::Version(7));
        set.merge([], Some(5), t0, keep);
        assert_eq!(
            set.read_from(t0, keep),
            RevokedSince::Version(7),
            "never backwards"
        );

        // Still refused just before the last token could expire, forgotten after.
        let end = t0 + keep + CLOCK_MARGIN;
        set.merge([], None, end - Duration::seconds(1), keep);
        assert!(set.contains(a) && set.contains(b));
        set.merge([], None, end, keep);
        assert!(!set.contains(a) && !set.contains(b));
    }
}
