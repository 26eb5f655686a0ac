//! Per-key rate limits ("N requests per minute", optionally "burst B": at most
//! B at once, then one every 60/N s; set when the key is created or edited):
//! [`KeyLimits`] counts them in Redis when `KEYWARD_REDIS_URL` is set (shared by
//! every instance, redis_limit.rs), else in this instance's memory with
//! governor's GCRA limiter ([`RateLimits`]), where several instances behind a
//! load balancer each count on their own: up to N per minute from each (README,
//! "Verification"). While Redis cannot be reached, `KEYWARD_REDIS_FALLBACK`
//! decides: count in memory again (`local`), or refuse with 503 (`refuse`).

use axum::http::{HeaderMap, HeaderValue};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use moka::sync::Cache;
use serde::Serialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::redis_limit::{RedisLimitError, RedisLimits};
use super::rejection::Rejection;
use crate::config::{RedisFallback, RedisSettings};
use parking_lot::Mutex;
use std::time::Instant;

type KeyLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// A limiter left idle for longer than this is full again: dropping it loses nothing.
const IDLE_LIMITER_TTL: Duration = Duration::from_secs(120);

/// A key's limit: `per_minute` on average, at most `burst` (≤ `per_minute`) at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateShape {
    pub per_minute: u32,
    pub burst: u32,
}

impl RateShape {
    /// `burst` of `None` is a burst of the whole limit.
    pub fn new(per_minute: u32, burst: Option<u32>) -> Self {
        Self {
            per_minute,
            burst: burst.unwrap_or(per_minute).clamp(1, per_minute.max(1)),
        }
    }
}

/// N per minute, in bursts of up to N.
impl From<u32> for RateShape {
    fn from(per_minute: u32) -> Self {
        Self::new(per_minute, None)
    }
}

/// Where a key stands against its limit, as the response reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateLimitState {
    /// Requests per minute.
    pub limit: u32,
    /// Requests that may still be made right now.
    pub remaining: u32,
    /// Unix time (seconds) when the full limit is available again.
    pub reset: i64,
    #[serde(skip)]
    pub retry_after_secs: u64,
}

impl RateLimitState {
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
    }

    fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs.max(1);
        self
    }
}

/// At most one warning about an unreachable Redis per this interval (the metric counts each fallback).
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The verifier's rate limits: in Redis when configured, else in memory.
pub struct KeyLimits {
    local: RateLimits,
    shared: Option<SharedLimits>,
}

/// Redis, and what to do while it gives no answer.
struct SharedLimits {
    redis: RedisLimits,
    fallback: RedisFallback,
    /// `keyward_rate_limit_fallback_total`.
    fallbacks: metrics::Counter,
    last_warning: Mutex<Option<Instant>>,
}

impl KeyLimits {
    /// In-memory limits for up to `capacity` keys, and Redis when `settings` name one.
    /// `fallbacks` counts the verifications Redis did not count.
    pub fn new(
        capacity: u64,
        settings: &RedisSettings,
        fallbacks: metrics::Counter,
    ) -> Result<Self, redis::RedisError> {
        let shared = match &settings.url {
            None => None,
            Some(url) => Some(SharedLimits {
                redis: RedisLimits::new(url, settings.timeout, settings.retry_after)?,
                fallback: settings.fallback,
                fallbacks,
                last_warning: Mutex::new(None),
            }),
        };
        Ok(Self {
            local: RateLimits::new(capacity),
            shared,
        })
    }

    /// Connects to Redis, if configured, so that the first verifications need not.
    pub async fn connect(&self) {
        if let Some(shared) = &self.shared
            && let Err(error) = shared.redis.connect().await
        {
            shared.warn(&error);
        }
    }

    /// Counts one request of `key_id` against its limit.
    pub async fn check(
        &self,
        key_id: &str,
        shape: RateShape,
        now_unix: i64,
    ) -> Result<RateLimitState, Rejection> {
        let Some(shared) = &self.shared else {
            return self.count_locally(key_id, shape, now_unix);
        };
        match shared.redis.check(key_id, shape, now_unix).await {
            Ok(counted) => counted.map_err(Rejection::RateLimited),
            Err(error) => {
                shared.fallbacks.increment(1);
                shared.warn(&error);
                match shared.fallback {
                    RedisFallback::Local => self.count_locally(key_id, shape, now_unix),
                    RedisFallback::Refuse => Err(Rejection::Unavailable),
                }
            }
        }
    }

    fn count_locally(
        &self,
        key_id: &str,
        shape: RateShape,
        now_unix: i64,
    ) -> Result<RateLimitState, Rejection> {
        self.local
            .check(key_id, shape, now_unix)
            .map_err(Rejection::RateLimited)
    }
}

impl SharedLimits {
    /// Logs a failure, at most once per [`WARNING_INTERVAL`]; a back-off is no news.
    fn warn(&self, error: &RedisLimitError) {
        if matches!(error, RedisLimitError::BackingOff) {
            return;
        }
        {
            let mut last = self.last_warning.lock();
            if last.is_some_and(|at| at.elapsed() < WARNING_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let fallback = match self.fallback {
            RedisFallback::Local => "counting rate limits in this instance's memory",
            RedisFallback::Refuse => "refusing rate-limited keys with 503",
        };
        tracing::warn!(%error, "Redis unreachable: {fallback} until it answers again (at most one such warning per 10 s)");
    }
}

/// A key's limiter, with the limit it was built for and what was left in it
/// at its last check.
struct KeyBucket {
    shape: RateShape,
    limiter: KeyLimiter,
    remaining: AtomicU32,
}

impl KeyBucket {
    /// `shape` has a limit of at least 1 (and so a burst of at least 1).
    fn new(shape: RateShape) -> Self {
        let per_minute = NonZeroU32::new(shape.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(shape.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            shape,
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst))
                .with_middleware::<StateInformationMiddleware>(),
            remaining: AtomicU32::new(burst.get()),
        }
    }

    /// A bucket for a changed limit that holds no more than `self` had left
    /// at its last check (less, if it refilled since: never more), so that
    /// changing a limit back and forth never buys a fresh burst.
    fn changed_to(&self, shape: RateShape) -> Self {
        let bucket = Self::new(shape);
        let left = self.remaining.load(Ordering::Relaxed).min(shape.burst);
        if let Some(spent) = NonZeroU32::new(shape.burst - left) {
            let _ = bucket.limiter.check_n(spent);
        }
        bucket.remaining.store(left, Ordering::Relaxed);
        bucket
    }
}

/// One limiter per limited key, created on first use.
pub struct RateLimits {
    limiters: Cache<String, Arc<KeyBucket>>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(capacity: u64) -> Self {
        Self {
            limiters: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(IDLE_LIMITER_TTL)
                .build(),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `key_id` against its limit; `Err` when over it.
    pub fn check(
        &self,
        key_id: &str,
        shape: impl Into<RateShape>,
        now_unix: i64,
    ) -> Result<RateLimitState, RateLimitState> {
        let shape = shape.into();
        let per_minute = shape.per_minute;
        if per_minute == 0 {
            return Err(exhausted(per_minute, now_unix, 60));
        }
        let mut bucket = self
            .limiters
            .get_with_by_ref(key_id, || Arc::new(KeyBucket::new(shape)));
        // An edit changes a key's limit (issue 17): the next request counts against the new one.
        if bucket.shape != shape {
            bucket = Arc::new(bucket.changed_to(shape));
            self.limiters.insert(key_id.to_owned(), bucket.clone());
        }
        let limiter = &bucket.limiter;
        // One request every 60/N seconds refills the bucket of B.
        let refill = Duration::from_secs(60) / per_minute;
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                bucket.remaining.store(remaining, Ordering::Relaxed);
                let until_full = refill * (shape.burst - remaining);
                Ok(RateLimitState {
                    limit: per_minute,
                    remaining,
                    reset: now_unix + until_full.as_secs_f64().ceil() as i64,
                    retry_after_secs: 0,
                })
            }
            Err(not_until) => {
                bucket.remaining.store(0, Ordering::Relaxed);
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = wait.as_secs_f64().ceil() as u64;
                Err(exhausted(
                    per_minute,
                    now_unix,
                    (wait + refill * (shape.burst - 1)).as_secs_f64().ceil() as i64,
                )
                .with_retry_after(retry_after))
            }
        }
    }
}

fn exhausted(limit: u32, now_unix: i64, until_full_secs: i64) -> RateLimitState {
    RateLimitState {
        limit,
        remaining: 0,
        reset: now_unix + until_full_secs,
        retry_after_secs: 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses_with_a_retry_time() {
        let limits = RateLimits::new(100);
        for expected_remaining in [2, 1, 0] {
            let state = limits.check("key", 3, 1_000).unwrap();
            assert_eq!(state.limit, 3);
            assert_eq!(state.remaining, expected_remaining);
            assert!(state.reset > 1_000 && state.reset <= 1_060);
        }
        let refused = limits.check("key", 3, 1_000).unwrap_err();
        assert_eq!(refused.remaining, 0);
        assert!((1..=20).contains(&refused.retry_after_secs), "{refused:?}");
        // Another key has its own budget.
        assert!(limits.check("other", 3, 1_000).is_ok());
    }

    #[test]
    fn a_burst_lets_only_that_many_through_at_once() {
        let limits = RateLimits::new(100);
        // 600 per minute, burst 5: five at once, then one per 100 ms.
        let shape = RateShape::new(600, Some(5));
        for expected_remaining in (0..5).rev() {
            let state = limits.check("key", shape, 1_000).unwrap();
            assert_eq!((state.limit, state.remaining), (600, expected_remaining));
        }
        let refused = limits.check("key", shape, 1_000).unwrap_err();
        assert_eq!((refused.limit, refused.retry_after_secs), (600, 1));
        assert!(refused.reset <= 1_001, "{refused:?}");
        std::thread::sleep(Duration::from_millis(120));
        assert!(limits.check("key", shape, 1_000).is_ok());
        // Without a burst the same limit takes 600 at once.
        for _ in 0..600 {
            limits.check("other", 600, 1_000).unwrap();
        }
        assert!(limits.check("other", 600, 1_000).is_err());
    }

    #[test]
    fn a_changed_limit_keeps_what_was_spent() {
        let limits = RateLimits::new(100);
        for _ in 0..5 {
            limits.check("key", 5, 1_000).unwrap();
        }
        // Spent: toggling the limit (as an edit over /api/v1 could) buys nothing.
        for per_minute in [4, 5, 4, 5] {
            assert!(limits.check("key", per_minute, 1_000).is_err());
        }
        // A lower limit holds at most what was left; a higher one no more than that.
        limits.check("fresh", 100, 1_000).unwrap();
        let state = limits.check("fresh", 2, 1_000).unwrap();
        assert_eq!((state.limit, state.remaining), (2, 1));
        let state = limits.check("fresh", 100, 1_000).unwrap();
        assert_eq!(state.remaining, 0, "{state:?}");
        assert!(limits.check("fresh", 100, 1_000).is_err());
    }
}
