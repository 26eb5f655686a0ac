//! Rate limits counted in Redis (`KEYWARD_REDIS_URL`), so that every instance
//! spends from one budget: k instances give a key exactly N per minute.
//!
//! One Lua script per verification of a limited key does what governor does in
//! memory (rate_limit.rs), GCRA with "N per minute, bursts of B", atomically and
//! on Redis' own clock, so instances whose clocks differ still agree. The script
//! is sent once and then called by its SHA-1 (`EVALSHA`; redis::Script loads it
//! again after a Redis restart). Each key's state is one string under
//! [`KEY_PREFIX`] with a TTL of the time until its bucket is full again: an idle
//! key's entry vanishes, which loses nothing.
//!
//! Every call is bounded by a short timeout, and after a failure Redis is left
//! alone for a while (`KEYWARD_REDIS_RETRY_MS`), so that a hung or stopped Redis
//! costs the hot path almost nothing: the caller falls back at once.

use super::rate_limit::{RateLimitState, RateShape};
use crate::config::RedisUrl;
use parking_lot::Mutex;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

/// Where each key's state lives: `keyward:ratelimit:<key id>`.
pub const KEY_PREFIX: &str = "keyward:ratelimit:";

/// GCRA as governor counts it (gcra.rs there): one request every T = 60 s / N,
/// a tolerance of T × (B − 1), so bursts of up to B (B = N unless the key has
/// a burst). KEYS[1] holds the key's theoretical arrival time (TAT) in
/// microseconds of Redis' clock; ARGV[1] is N, ARGV[2] is B.
/// Returns {allowed, remaining, µs until the next request may pass, µs until
/// the full N is back}. Times go through string.format: Lua's own number to
/// string conversion keeps 14 digits, too few for microseconds since 1970.
const GCRA: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local limit = tonumber(ARGV[1])
local burst = tonumber(ARGV[2]) or limit
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = math.max(math.floor(60000000 / limit), 1)
local tolerance = interval * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local earliest = tat - tolerance
if now < earliest then
  return {0, 0, earliest - now, tat - now}
end
local next_tat = math.max(tat, now) + interval
local until_full = next_tat - now
redis.call('SET', KEYS[1], string.format('%.0f', next_tat),
  'PX', string.format('%.0f', math.ceil(until_full / 1000)))
local remaining = math.floor(math.min(tolerance + interval - until_full, tolerance + interval) / interval)
return {1, remaining, 0, until_full}
"#;

/// Why Redis gave no answer (the verification then falls back).
#[derive(Debug, thiserror::Error)]
pub enum RedisLimitError {
    #[error("Redis is left alone for a moment after a failure")]
    BackingOff,
    #[error("Redis did not answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
    #[error("Redis failed: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The connection, shared by every request (one multiplexed TCP connection).
enum Link {
    Up(MultiplexedConnection),
    /// One request is connecting; the others fall back meanwhile.
    Connecting,
    /// Not connected; the next request after `retry_at` tries again.
    Down {
        retry_at: Instant,
    },
}

/// The shared counter: a Redis client, the GCRA script and the state of the link.
pub struct RedisLimits {
    client: redis::Client,
    script: redis::Script,
    timeout: Duration,
    retry_after: Duration,
    link: Mutex<Link>,
}

/// What the script answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counted {
    allowed: bool,
    remaining: u32,
    wait_micros: i64,
    until_full_micros: i64,
}

impl RedisLimits {
    /// A counter that has not connected yet (see [`RedisLimits::connect`]).
    pub fn new(
        url: &RedisUrl,
        timeout: Duration,
        retry_after: Duration,
    ) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url.expose())?,
            script: redis::Script::new(GCRA),
            timeout,
            retry_after,
            link: Mutex::new(Link::Down {
                retry_at: Instant::now(),
            }),
        })
    }

    /// Connects and loads the script now (at start), so that the first
    /// verifications need neither; on failure the counter backs off as after any other.
    pub async fn connect(&self) -> Result<(), RedisLimitError> {
        let loaded = tokio::time::timeout(self.timeout, async {
            let mut connection = self.connection().await?;
            self.script.load_async(&mut connection).await?;
            Ok::<(), RedisLimitError>(())
        })
        .await;
        self.settle(loaded)
    }

    /// Counts one request of `key_id` against `per_minute` in Redis: the inner
    /// `Err` is a refusal (over the limit), the outer one that Redis gave no answer.
    pub async fn check(
        &self,
        key_id: &str,
        shape: impl Into<RateShape>,
        now_unix: i64,
    ) -> Result<Result<RateLimitState, RateLimitState>, RedisLimitError> {
        let shape = shape.into();
        let counted = tokio::time::timeout(self.timeout, self.count(key_id, shape)).await;
        self.settle(counted)
            .map(|counted| counted.state(shape.per_minute, now_unix))
    }

    /// A timeout or a failure backs off (and drops the connection, which may be broken).
    fn settle<T>(
        &self,
        outcome: Result<Result<T, RedisLimitError>, tokio::time::error::Elapsed>,
    ) -> Result<T, RedisLimitError> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(RedisLimitError::BackingOff)) => return Err(RedisLimitError::BackingOff),
            Ok(Err(error)) => error,
            Err(_) => RedisLimitError::TimedOut(self.timeout),
        };
        self.back_off();
        Err(error)
    }

    fn back_off(&self) {
        *self.link.lock() = Link::Down {
            retry_at: Instant::now() + self.retry_after,
        };
    }

    /// Counts in Redis. A connection found broken (Redis restarted, say) is
    /// replaced once, within the same timeout; a second failure backs off.
    async fn count(&self, key_id: &str, shape: RateShape) -> Result<Counted, RedisLimitError> {
        let mut connection = self.connection().await?;
        match self.invoke(&mut connection, key_id, shape).await {
            Err(RedisLimitError::Redis(error)) if error.is_unrecoverable_error() => {
                self.forget_connection();
                let mut connection = self.connection().await?;
                self.invoke(&mut connection, key_id, shape).await
            }
            counted => counted,
        }
    }

    /// Drops a broken connection so that the next request connects at once.
    fn forget_connection(&self) {
        let mut link = self.link.lock();
        if matches!(*link, Link::Up(_)) {
            *link = Link::Down {
                retry_at: Instant::now(),
            };
        }
    }

    async fn invoke(
        &self,
        connection: &mut MultiplexedConnection,
        key_id: &str,
        shape: RateShape,
    ) -> Result<Counted, RedisLimitError> {
        let (allowed, remaining, wait_micros, until_full_micros): (i64, i64, i64, i64) = self
            .script
            .key(format!("{KEY_PREFIX}{key_id}"))
            .arg(shape.per_minute)
            .arg(shape.burst)
            .invoke_async(connection)
            .await?;
        Ok(Counted {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(shape.burst),
            wait_micros,
            until_full_micros,
        })
    }

    /// The shared connection; while there is none, one request (the first after
    /// the back-off) connects and the others get [`RedisLimitError::BackingOff`].
    async fn connection(&self) -> Result<MultiplexedConnection, RedisLimitError> {
        {
            let mut link = self.link.lock();
            match &*link {
                Link::Up(connection) => return Ok(connection.clone()),
                Link::Connecting => return Err(RedisLimitError::BackingOff),
                Link::Down { retry_at } if Instant::now() < *retry_at => {
                    return Err(RedisLimitError::BackingOff);
                }
                Link::Down { .. } => *link = Link::Connecting,
            }
        }
        // Dropped unfinished (a timeout, a caller gone): back off, or no one would connect again.
        let mut attempt = ConnectAttempt {
            limits: self,
            connected: false,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        attempt.connected = true;
        *self.link.lock() = Link::Up(connection.clone());
        tracing::info!(
            "connected to Redis: rate limits are counted there, shared by every instance"
        );
        Ok(connection)
    }
}

/// Backs the counter off when dropped before the connection was made.
struct ConnectAttempt<'a> {
    limits: &'a RedisLimits,
    connected: bool,
}

impl Drop for ConnectAttempt<'_> {
    fn drop(&mut self) {
        if !self.connected {
            self.limits.back_off();
        }
    }
}

impl Counted {
    /// The response's view: `reset` on this instance's clock, as without Redis.
    fn state(self, limit: u32, now_unix: i64) -> Result<RateLimitState, RateLimitState> {
        let reset = now_unix + ceil_secs(self.until_full_micros);
        if self.allowed {
            Ok(RateLimitState {
                limit,
                remaining: self.remaining,
                reset,
                retry_after_secs: 0,
            })
        } else {
            Err(RateLimitState {
                limit,
                remaining: 0,
                reset,
                retry_after_secs: ceil_secs(self.wait_micros).max(1) as u64,
            })
        }
    }
}

fn ceil_secs(micros: i64) -> i64 {
    (micros.max(0) + 999_999) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_headers_rounded_up_to_whole_seconds() {
        let allowed = Counted {
            allowed: true,
            remaining: 7,
            wait_micros: 0,
            until_full_micros: 18_000_001,
        };
        assert_eq!(
            allowed.state(10, 1_000),
            Ok(RateLimitState {
                limit: 10,
                remaining: 7,
                reset: 1_019,
                retry_after_secs: 0,
            })
        );
        let refused = Counted {
            allowed: false,
            remaining: 0,
            wait_micros: 400_000,
            until_full_micros: 59_400_000,
        };
        assert_eq!(
            refused.state(100, 1_000),
            Err(RateLimitState {
                limit: 100,
                remaining: 0,
                reset: 1_060,
                retry_after_secs: 1,
            })
        );
    }
}
