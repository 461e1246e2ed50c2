//! Request limits with GCRA (the generic cell rate algorithm): one timestamp per key — the
//! theoretical arrival time of the next request — from which whether a request fits, how many
//! remain and when to come back all follow. The counters live in this process
//! ([`InProcess`]) or in Redis ([`RedisStore`]), shared by every instance; both implement
//! [`RateStore`] with the same arithmetic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tenantry_kernel::Unexpected;

mod redis_store;
pub use redis_store::RedisStore;

/// A limit: `quota` requests per `window_secs`, named as the headers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    pub name: &'static str,
    pub quota: u64,
    pub window_secs: u64,
}

/// One check of one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub policy: Policy,
    pub allowed: bool,
    /// Requests left now.
    pub remaining: u64,
    /// Seconds until the whole quota is available again.
    pub reset_secs: u64,
    /// Seconds until the next request would be allowed (0 when allowed).
    pub retry_after_secs: u64,
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// GCRA over one key: `tat` is its stored theoretical arrival time (ms since the epoch;
/// `None` for a fresh key). Gives the new time to store (`None`: refused, nothing changes)
/// and the verdict.
pub fn gcra(tat: Option<u64>, now: u64, p: Policy) -> (Option<u64>, Verdict) {
    let window = p.window_secs.saturating_mul(1000);
    let emission = (window / p.quota.max(1)).max(1);
    let tat = tat.unwrap_or(now).max(now);
    let next = tat + emission;
    if next > now + window {
        let verdict = Verdict {
            policy: p,
            allowed: false,
            remaining: 0,
            reset_secs: ceil_secs(tat - now),
            retry_after_secs: ceil_secs(next - window - now).max(1),
        };
        return (None, verdict);
    }
    let verdict = Verdict {
        policy: p,
        allowed: true,
        remaining: (now + window - next) / emission,
        reset_secs: ceil_secs(next - now),
        retry_after_secs: 0,
    };
    (Some(next), verdict)
}

/// Where the limits' state lives: this process, or a store every instance shares.
pub trait RateStore: Send + Sync + 'static {
    /// Checks (and, when allowed, counts) one request against `policy` under `key`.
    fn check<'a>(
        &'a self,
        key: &'a str,
        policy: Policy,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Verdict, Unexpected>>;
}

/// This process's counters: one atomic timestamp per key, dropped after an hour unused (an
/// older timestamp means the same as none).
pub struct InProcess {
    cells: moka::sync::Cache<String, Arc<AtomicU64>>,
}

impl Default for InProcess {
    fn default() -> Self {
        Self {
            cells: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }
}

impl InProcess {
    fn check_now(&self, key: &str, policy: Policy, now: u64) -> Verdict {
        let cell = self
            .cells
            .get_with_by_ref(key, || Arc::new(AtomicU64::new(0)));
        loop {
            let current = cell.load(Ordering::Acquire);
            let (next, verdict) = gcra((current != 0).then_some(current), now, policy);
            match next {
                None => return verdict,
                Some(n) => {
                    if cell
                        .compare_exchange(current, n, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        return verdict;
                    }
                }
            }
        }
    }
}

impl RateStore for InProcess {
    fn check<'a>(
        &'a self,
        key: &'a str,
        policy: Policy,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Verdict, Unexpected>> {
        Box::pin(async move { Ok(self.check_now(key, policy, now_ms)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIER: Policy = Policy {
        name: "tenant",
        quota: 4,
        window_secs: 3600,
    };

    #[test]
    fn a_fresh_key_has_the_whole_quota_and_refusals_say_when_to_come_back() {
        let now = 1_000_000_000;
        let mut tat = None;
        for left in (0..4).rev() {
            let (next, v) = gcra(tat, now, TIER);
            assert!(v.allowed);
            assert_eq!(v.remaining, left);
            tat = next;
        }
        let (next, v) = gcra(tat, now, TIER);
        assert!(!v.allowed && next.is_none());
        assert_eq!(v.retry_after_secs, 900, "one emission interval: 3600 s / 4");
        assert_eq!(v.reset_secs, 3600);
        // A quarter hour later, one more.
        let (_, v) = gcra(tat, now + 900_000, TIER);
        assert!(v.allowed);
        assert_eq!(v.remaining, 0);
    }

    #[test]
    fn concurrent_checks_never_allow_more_than_the_quota() {
        let store = Arc::new(InProcess::default());
        let now = 5_000_000;
        let allowed = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let store = store.clone();
                    s.spawn(move || {
                        (0..10)
                            .filter(|_| store.check_now("k", TIER, now).allowed)
                            .count()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .sum::<usize>()
        });
        assert_eq!(allowed, 4);
    }
}
