//! Counters in Redis, shared by every instance: one atomic script per call (GCRA on the key's
//! stored arrival time, with Redis's own clock so instances' clocks do not matter), the key
//! expiring when its quota is whole again. Connected lazily and reconnected by the client's
//! connection manager; while Redis cannot be reached each check fails fast (the caller lets
//! the request through) and a new connection is tried at most once a second.
//!
//! Checks of one key that arrive while a call for it is in flight wait for the next call and
//! go in it together (the script takes a count and admits as many as fit, in order): under
//! load a busy tenant costs a round trip per batch, not per request, and the verdicts are the
//! ones one call per request would have given. The calls of a key run in one task at a time,
//! spawned by the check that found none in flight, so a request dropped midway (its client
//! gone) never strands the checks waiting behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tenantry_kernel::Unexpected;

use crate::{Policy, RateStore, Verdict, ceil_secs};

/// GCRA for `ARGV[3]` requests in order: KEYS[1] the key, ARGV[1] the emission interval and
/// ARGV[2] the window (ms). Admits the first as many as fit; returns {how many, now, the
/// arrival time before them}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local fit = math.floor((now + window - tat) / emission)
if fit > n then fit = n end
if fit < 0 then fit = 0 end
if fit > 0 then
  local nxt = tat + fit * emission
  redis.call('SET', KEYS[1], nxt, 'PX', nxt - now)
end
return {fit, now, tat}
";

/// The verdicts of `n` requests in order when the first `fit` were admitted, at Redis's `now`
/// with the key's arrival time `tat` before them (what [`crate::gcra`] gives one at a time).
fn verdicts(policy: Policy, n: usize, fit: u64, now: u64, tat: u64) -> Vec<Verdict> {
    let window = policy.window_secs.saturating_mul(1000);
    let emission = (window / policy.quota.max(1)).max(1);
    let last = tat + fit * emission;
    (0..n as u64)
        .map(|i| {
            if i < fit {
                let after = tat + (i + 1) * emission;
                Verdict {
                    policy,
                    allowed: true,
                    remaining: (now + window).saturating_sub(after) / emission,
                    reset_secs: ceil_secs(after.saturating_sub(now)),
                    retry_after_secs: 0,
                }
            } else {
                Verdict {
                    policy,
                    allowed: false,
                    remaining: 0,
                    reset_secs: ceil_secs(last.saturating_sub(now)),
                    retry_after_secs: ceil_secs((last + emission).saturating_sub(window + now))
                        .max(1),
                }
            }
        })
        .collect()
}

type Reply = tokio::sync::oneshot::Sender<Result<Verdict, Unexpected>>;

/// How long a check may wait for Redis before the request goes on without it.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    script: redis::Script,
    manager: tokio::sync::OnceCell<ConnectionManager>,
    /// When the last failed connection attempt was: the next waits a second.
    failed_at: Mutex<Option<Instant>>,
    /// Per key and policy with a call in flight: the checks waiting for the next call.
    lanes: Mutex<HashMap<(String, Policy), Vec<Reply>>>,
}

impl RedisStore {
    /// A store for `url` (`redis://host:port/db`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, Unexpected> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(url)
                    .map_err(|e| Unexpected::msg(format!("TENANTRY_REDIS_URL: {e}")))?,
                script: redis::Script::new(GCRA),
                manager: tokio::sync::OnceCell::new(),
                failed_at: Mutex::new(None),
                lanes: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Inner {
    /// The checks waiting on `lane`, taken; `None` (and the lane closed) when there are none.
    fn next_batch(&self, lane: &(String, Policy)) -> Option<Vec<Reply>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        match lanes.get_mut(lane) {
            Some(waiting) if !waiting.is_empty() => Some(std::mem::take(waiting)),
            _ => {
                lanes.remove(lane);
                None
            }
        }
    }

    /// Sends `batch`, then the lane's checks that wait by then, a call per batch, until none
    /// wait.
    async fn drain(self: Arc<Self>, lane: (String, Policy), batch: Vec<Reply>) {
        let mut next = Some(batch);
        while let Some(batch) = next {
            match self.call(&lane.0, lane.1, batch.len()).await {
                Ok(verdicts) => {
                    for (reply, v) in batch.into_iter().zip(verdicts) {
                        let _ = reply.send(Ok(v));
                    }
                }
                Err(e) => {
                    for reply in batch {
                        let _ = reply.send(Err(Unexpected::unavailable(e.to_string())));
                    }
                }
            }
            next = self.next_batch(&lane);
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, Unexpected> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        let recent_failure = self
            .failed_at
            .lock()
            .ok()
            .and_then(|f| *f)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1));
        if recent_failure {
            return Err(Unexpected::unavailable("Redis is unreachable"));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let connected = self
            .manager
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await;
        match connected {
            Ok(m) => Ok(m.clone()),
            Err(e) => {
                if let Ok(mut f) = self.failed_at.lock() {
                    *f = Some(Instant::now());
                }
                Err(Unexpected::unavailable(format!("Redis: {e}")))
            }
        }
    }

    /// One script call for `n` requests of `key` under `policy`: their verdicts, in order.
    async fn call(&self, key: &str, policy: Policy, n: usize) -> Result<Vec<Verdict>, Unexpected> {
        let mut conn = self.connection().await?;
        let window = policy.window_secs.saturating_mul(1000);
        let emission = (window / policy.quota.max(1)).max(1);
        let mut invocation = self.script.key(format!("tenantry:rl:{key}"));
        invocation.arg(emission).arg(window).arg(n);
        let run = invocation.invoke_async::<(i64, i64, i64)>(&mut conn);
        let (fit, now, tat) = tokio::time::timeout(TIMEOUT, run)
            .await
            .map_err(|_| Unexpected::unavailable("Redis did not answer in time"))?
            .map_err(|e| Unexpected::unavailable(format!("Redis: {e}")))?;
        let num = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(verdicts(policy, n, num(fit), num(now), num(tat)))
    }
}

impl RateStore for RedisStore {
    fn check<'a>(
        &'a self,
        key: &'a str,
        policy: Policy,
        _now_ms: u64,
    ) -> BoxFuture<'a, Result<Verdict, Unexpected>> {
        Box::pin(async move {
            let lane = (key.to_owned(), policy);
            let (reply, answer) = tokio::sync::oneshot::channel();
            let lead = {
                let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
                match lanes.get_mut(&lane) {
                    // A call for the key is in flight: this check goes in the next one.
                    Some(waiting) => {
                        waiting.push(reply);
                        None
                    }
                    None => {
                        lanes.insert(lane.clone(), Vec::new());
                        Some(reply)
                    }
                }
            };
            // The calls run in a task of their own: a request that goes away (its client
            // disconnected) cannot leave the lane without a sender.
            if let Some(reply) = lead {
                tokio::spawn(self.inner.clone().drain(lane, vec![reply]));
            }
            // At most a connection, the call in flight and this check's own.
            match tokio::time::timeout(TIMEOUT * 3 + Duration::from_millis(50), answer).await {
                Ok(Ok(verdict)) => verdict,
                _ => Err(Unexpected::unavailable("Redis did not answer in time")),
            }
        })
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
    fn a_batch_gets_the_verdicts_one_call_each_would_give() {
        let now = 1_000_000_000;
        // Six requests against a fresh key: four fit.
        let batch = verdicts(TIER, 6, 4, now, now);
        let mut tat = None;
        for v in &batch {
            let (next, one) = crate::gcra(tat, now, TIER);
            assert_eq!(*v, one);
            tat = next.or(tat);
        }
        assert_eq!(batch.iter().filter(|v| v.allowed).count(), 4);
    }
}
