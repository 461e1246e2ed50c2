//! Sessions that ended before their access tokens expire. An access token is checked without
//! the database, so each process keeps the set of revoked sessions in memory: filled at once
//! by its own revocations, and from the database (see [`SessionRepository::revoked_sessions`])
//! when the shared change counter says another process revoked one.
//!
//! [`SessionRepository::revoked_sessions`]: crate::ports::SessionRepository::revoked_sessions

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};

use crate::model::FamilyId;

/// How far back each read of the database looks before the newest revocation already seen:
/// a revocation stamped by a transaction (or a clock) that lagged this much is still found.
pub const REVOCATION_OVERLAP: Duration = Duration::seconds(60);

/// The revoked sessions whose access tokens may still be unexpired.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each revoked session, and until when its tokens must be refused.
    until: HashMap<FamilyId, DateTime<Utc>>,
    /// The latest revocation time read so far.
    newest: Option<DateTime<Utc>>,
}

impl RevokedSessions {
    /// True when the session was revoked (and its tokens might still look valid).
    pub fn contains(&self, family: FamilyId) -> bool {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        // An empty set (the usual case) costs one uncontended read lock.
        !inner.until.is_empty() && inner.until.contains_key(&family)
    }

    /// Where the next read of the database starts: just before the newest revocation seen,
    /// or, before any, far enough back to cover every token still unexpired at `now`.
    pub fn read_from(&self, now: DateTime<Utc>, keep: Duration) -> DateTime<Utc> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.newest.map_or(now - keep, |n| n.min(now)) - REVOCATION_OVERLAP
    }

    /// Adds revocations read from the database and forgets those whose tokens have all
    /// expired by `now`; a session's tokens are refused until `keep` after its revocation.
    pub fn merge(
        &self,
        revoked: impl IntoIterator<Item = (FamilyId, DateTime<Utc>)>,
        now: DateTime<Utc>,
        keep: Duration,
    ) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for (family, at) in revoked {
            inner.newest = Some(inner.newest.map_or(at, |n| n.max(at)));
            let until = at + keep + REVOCATION_OVERLAP;
            let entry = inner.until.entry(family).or_insert(until);
            *entry = (*entry).max(until);
        }
        inner.until.retain(|_, until| *until > now);
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
        assert_eq!(set.read_from(t0, keep), t0 - keep - REVOCATION_OVERLAP);

        set.merge([(a, t0)], t0, keep);
        assert!(set.contains(a));
        assert!(!set.contains(b));
        assert_eq!(set.read_from(t0, keep), t0 - REVOCATION_OVERLAP);

        // Still refused just before the last token could expire, forgotten after.
        set.merge(
            [],
            t0 + keep + REVOCATION_OVERLAP - Duration::seconds(1),
            keep,
        );
        assert!(set.contains(a));
        set.merge([], t0 + keep + REVOCATION_OVERLAP, keep);
        assert!(!set.contains(a));
        // The watermark stays: the next read does not go back over what was read.
        assert_eq!(set.read_from(t0 + keep, keep), t0 - REVOCATION_OVERLAP);
    }
}
