//! Counters in Redis, shared by every instance: one atomic script per check (GCRA on the key's
//! stored arrival time, with Redis's own clock so instances' clocks do not matter), the key
//! expiring when its quota is whole again. Connected lazily and reconnected by the client's
//! connection manager; while Redis cannot be reached each check fails fast (the caller lets
//! the request through) and a new connection is tried at most once a second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tenantry_kernel::Unexpected;

use crate::{Policy, RateStore, Verdict, ceil_secs};

/// GCRA in one step: KEYS[1] the key, ARGV[1] the emission interval and ARGV[2] the window
/// (ms). Returns {allowed (1/0), now, the arrival time stored (after this request when
/// allowed)}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + emission
if nxt > now + window then
  return {0, now, tat}
end
redis.call('SET', KEYS[1], nxt, 'PX', nxt - now)
return {1, now, nxt}
";

/// How long a check may wait for Redis before the request goes on without it.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisStore {
    client: redis::Client,
    script: redis::Script,
    manager: tokio::sync::OnceCell<ConnectionManager>,
    /// When the last failed connection attempt was: the next waits a second.
    failed_at: Mutex<Option<Instant>>,
}

impl RedisStore {
    /// A store for `url` (`redis://host:port/db`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, Unexpected> {
        Ok(Self {
            client: redis::Client::open(url)
                .map_err(|e| Unexpected::msg(format!("TENANTRY_REDIS_URL: {e}")))?,
            script: redis::Script::new(GCRA),
            manager: tokio::sync::OnceCell::new(),
            failed_at: Mutex::new(None),
        })
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
}

impl RateStore for RedisStore {
    fn check<'a>(
        &'a self,
        key: &'a str,
        policy: Policy,
        _now_ms: u64,
    ) -> BoxFuture<'a, Result<Verdict, Unexpected>> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            let window = policy.window_secs.saturating_mul(1000);
            let emission = (window / policy.quota.max(1)).max(1);
            let mut invocation = self.script.key(format!("tenantry:rl:{key}"));
            invocation.arg(emission).arg(window);
            let run = invocation.invoke_async::<(i64, i64, i64)>(&mut conn);
            let (allowed, now, tat) = tokio::time::timeout(TIMEOUT, run)
                .await
                .map_err(|_| Unexpected::unavailable("Redis did not answer in time"))?
                .map_err(|e| Unexpected::unavailable(format!("Redis: {e}")))?;
            let (now, tat) = (
                u64::try_from(now).unwrap_or(0),
                u64::try_from(tat).unwrap_or(0),
            );
            Ok(if allowed == 1 {
                Verdict {
                    policy,
                    allowed: true,
                    remaining: (now + window).saturating_sub(tat) / emission,
                    reset_secs: ceil_secs(tat.saturating_sub(now)),
                    retry_after_secs: 0,
                }
            } else {
                Verdict {
                    policy,
                    allowed: false,
                    remaining: 0,
                    reset_secs: ceil_secs(tat.saturating_sub(now)),
                    retry_after_secs: ceil_secs((tat + emission).saturating_sub(window + now))
                        .max(1),
                }
            })
        })
    }
}
