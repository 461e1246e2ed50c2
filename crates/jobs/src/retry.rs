//! When a failed job runs again.

use std::time::Duration;

use tenantry_kernel::JobId;

/// Exponential backoff with jitter: attempt `n` failed → wait `base · 2^(n-1)`, capped at
/// `max`, scaled by a factor in [0.5, 1) drawn from the job id and attempt (so retries of
/// many jobs that failed together spread out, and the same inputs give the same delay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt `attempt` (from 1) of job `id` failed.
    pub fn delay(&self, id: JobId, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self
            .base
            .saturating_mul(1u32 << exp)
            .min(self.max)
            .max(Duration::from_millis(1));
        // splitmix64 of (id, attempt): a well-spread fraction without a random source.
        let mut x = (id.as_uuid().as_u128() as u64) ^ (u64::from(attempt) << 32);
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let fraction = 0.5 + (x >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
        full.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let p = RetryPolicy {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        let id = JobId::new();
        for (attempt, full) in [(1, 2), (2, 4), (3, 8), (6, 60), (40, 60)] {
            let d = p.delay(id, attempt);
            let full = Duration::from_secs(full);
            assert!(
                d >= full / 2 && d < full,
                "attempt {attempt}: {d:?} of {full:?}"
            );
            assert_eq!(d, p.delay(id, attempt), "deterministic");
        }
        let spread: std::collections::BTreeSet<_> =
            (0..50).map(|_| p.delay(JobId::new(), 3)).collect();
        assert!(
            spread.len() > 40,
            "jitter spreads jobs that failed together"
        );
    }
}
