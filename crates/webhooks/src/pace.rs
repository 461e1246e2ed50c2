//! Per-endpoint rate limits: deliveries to an endpoint with a limit of `r` per second leave
//! at least `1/r` apart. A delivery whose turn is near waits for it; one whose turn is further
//! off goes back to the queue, due then, without counting as an attempt.
//!
//! The pace is kept per process: N dispatching processes may together send up to N × the
//! limit (decision 0028).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenantry_kernel::WebhookId;

use crate::model::RateLimit;

/// The longest a delivery waits for its turn while claimed; later turns go back to the queue.
pub const PACE_HORIZON: Duration = Duration::from_secs(1);

/// Endpoints tracked before those whose turn has passed are forgotten.
const TRACKED: usize = 4096;

/// When a delivery may leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// After this wait (zero: now).
    After(Duration),
    /// Not in this claim: due again at this time.
    Later(DateTime<Utc>),
}

/// The next free turn of each rate-limited endpoint.
#[derive(Debug, Default)]
pub struct Pacer {
    next: HashMap<WebhookId, DateTime<Utc>>,
}

fn spacing(limit: RateLimit) -> chrono::Duration {
    chrono::Duration::nanoseconds(1_000_000_000 / i64::from(limit.per_second().max(1)))
}

impl Pacer {
    /// The pace of one delivery to `endpoint` at `now`; `deferred` is how many of this
    /// endpoint's deliveries this claim already sent back (they are spread out after the
    /// last turn taken, one spacing apart, without taking turns).
    pub fn pace(
        &mut self,
        endpoint: WebhookId,
        limit: Option<RateLimit>,
        now: DateTime<Utc>,
        deferred: u32,
    ) -> Pace {
        let Some(limit) = limit else {
            return Pace::After(Duration::ZERO);
        };
        if self.next.len() > TRACKED {
            self.next.retain(|_, next| *next > now);
        }
        let step = spacing(limit);
        let turn = self.next.get(&endpoint).copied().unwrap_or(now).max(now);
        let wait = (turn - now).to_std().unwrap_or_default();
        if wait <= PACE_HORIZON {
            self.next.insert(endpoint, turn + step);
            Pace::After(wait)
        } else {
            Pace::Later(turn + step * i32::try_from(deferred).unwrap_or(i32::MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_leave_one_spacing_apart() {
        let now = Utc::now();
        let e = WebhookId::new();
        let two = RateLimit::parse(2).unwrap();
        let mut p = Pacer::default();
        assert_eq!(
            p.pace(WebhookId::new(), None, now, 0),
            Pace::After(Duration::ZERO)
        );
        assert_eq!(p.pace(e, Some(two), now, 0), Pace::After(Duration::ZERO));
        assert_eq!(
            p.pace(e, Some(two), now, 0),
            Pace::After(Duration::from_millis(500))
        );
        assert_eq!(
            p.pace(e, Some(two), now, 0),
            Pace::After(Duration::from_secs(1))
        );
        // Further than the horizon: back to the queue, spread out, taking no turn.
        let later = p.pace(e, Some(two), now, 0);
        assert_eq!(
            later,
            Pace::Later(now + chrono::Duration::milliseconds(1500))
        );
        assert_eq!(
            p.pace(e, Some(two), now, 1),
            Pace::Later(now + chrono::Duration::milliseconds(2000))
        );
        // Once the time has come, the turn is free.
        let then = now + chrono::Duration::milliseconds(1500);
        assert_eq!(p.pace(e, Some(two), then, 0), Pace::After(Duration::ZERO));
        // Another endpoint is not held back.
        assert_eq!(
            p.pace(WebhookId::new(), Some(two), now, 0),
            Pace::After(Duration::ZERO)
        );
    }
}
