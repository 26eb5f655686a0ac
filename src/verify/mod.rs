//! The verification hot path (docs/design.md §4, §6): is this presented key good,
//! whose is it, and what may it do?
//!
//! parse + checksum (malformed keys never reach the store) → SHA-256 → cache of
//! keys by digest → the store on a miss (and a short-lived "unknown" entry) →
//! status at "now", environment, scopes → IP allowlist → rate limit → usage
//! credits (spent in the store) → last used, in memory.
//! Any store failure without a cached answer is [`Rejection::Unavailable`]:
//! never a "valid" that was not checked.

pub mod cache;
pub mod credits;
pub mod last_used;
pub mod listener;
pub mod lookup;
pub mod metrics;
pub mod rate_limit;
pub mod redis_limit;
pub mod rejection;
pub mod request;
pub mod response;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Backend, Db};
use crate::keys::catalogue::ScopeCatalogue;
use crate::keys::format::{self, KeyDigest};
use crate::keys::{Environment, KeyStatus};
use crate::service_tokens::store::{ServiceCaller, caller_by_digest};
use crate::token::TokenDigest;
use crate::usage::Outcome;
use crate::usage::recorder::UsageRecorder;
use crate::usage::retention::UsagePolicy;
use cache::{Cached, VerifyCache};
use chrono::{DateTime, Utc};
use credits::CreditState;
use last_used::LastUsed;
use lookup::{KeyLookups, KeyRecord};
use metrics::VerifyMetrics;
use rate_limit::{KeyLimits, RateLimitState, RateShape};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use rejection::Rejection;

/// After a failed store read, how long keys with a last known answer are
/// answered from it without trying the store again.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(1);
/// While the cache is distrusted, how long a read of a key (or service token)
/// with a last known answer may take before that answer is given instead.
const OUTAGE_READ_LIMIT: Duration = Duration::from_millis(250);

/// What the caller requires of the key, beyond being good.
#[derive(Clone, Debug)]
pub struct Requirements {
    pub environment: Option<Environment>,
    pub scopes: Vec<String>,
    /// The credits a valid verification spends, of a key that has credits (0–1000).
    pub cost: u32,
}

impl Default for Requirements {
    fn default() -> Self {
        Self {
            environment: None,
            scopes: Vec::new(),
            cost: 1,
        }
    }
}

/// Whose keys the caller may verify.
#[derive(Clone, Debug)]
pub enum Audience {
    /// A service token's workspace: other workspaces' keys are "not found".
    Workspace(String),
    /// Forward-auth without a service token: the gateway is trusted with every workspace.
    AnyWorkspace,
}

/// A good key, and where it stands against its rate limit.
#[derive(Clone, Debug)]
pub struct Verified {
    pub key: Arc<KeyRecord>,
    pub ratelimit: Option<RateLimitState>,
    /// What is left of the key's credits, when it has them.
    pub credits: Option<CreditState>,
}

#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: Clock,
    key_prefix: crate::keys::format::KeyPrefix,
    scopes: Arc<ScopeCatalogue>,
    cache: Arc<VerifyCache>,
    /// Cache misses, looked up in batches.
    lookups: KeyLookups,
    limits: KeyLimits,
    last_used: LastUsed,
    usage: UsageRecorder,
    usage_policy: UsagePolicy,
    /// How long cached answers outlive the change listener while the store cannot be read.
    outage_answers: Duration,
    /// When a store read last failed.
    store_failed_at: parking_lot::Mutex<Option<Instant>>,
    /// One flush at a time: the shutdown flush waits for the timer's, so the
    /// store is not closed under a flush that would then lose its counts.
    flushing: tokio::sync::Mutex<()>,
    metrics: VerifyMetrics,
}

impl Verifier {
    /// A verifier whose cache hears about this instance's changes. On
    /// PostgreSQL the cache stays unused until [`Verifier::start`] has it
    /// listening. Fails only if `KEYWARD_REDIS_URL` cannot make a client.
    pub fn new(db: Db, clock: Clock, config: &Config) -> Result<Self, redis::RedisError> {
        let trusted = db.backend() == Backend::Sqlite;
        let cache = Arc::new(VerifyCache::new(config.key_cache_capacity, trusted));
        let forget = cache.clone();
        db.changes().subscribe(move |change| forget.forget(change));
        let metrics = VerifyMetrics::register();
        let limits = KeyLimits::new(
            config.key_cache_capacity,
            &config.redis,
            metrics.rate_limit_fallbacks(),
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                lookups: KeyLookups::new(db.clone(), metrics.store_lookups()),
                db,
                clock,
                key_prefix: config.key_prefix.clone(),
                scopes: config.scopes.clone(),
                cache,
                limits,
                last_used: LastUsed::default(),
                usage: UsageRecorder::default(),
                usage_policy: config.usage,
                outage_answers: Duration::from_secs(config.outage_answer_secs),
                store_failed_at: parking_lot::Mutex::new(None),
                flushing: tokio::sync::Mutex::new(()),
                metrics,
            }),
        })
    }

    /// Connects to Redis when rate limits are counted there (a failure is
    /// logged, and verifications fall back until it answers).
    pub async fn connect_shared_limits(&self) {
        self.inner.limits.connect().await;
    }

    /// Starts the background work: the flusher of last-used times and usage,
    /// usage's roll-up and pruning, and, on PostgreSQL, the change listener.
    pub fn start(&self, config: &Config) {
        if self.inner.db.backend() == Backend::Postgres {
            listener::spawn(
                self.inner.db.clone(),
                config.database_url.clone(),
                self.inner.cache.clone(),
            );
        }
        let verifier = self.clone();
        let interval = Duration::from_millis(config.last_used_flush_ms);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                verifier.flush_pending().await;
            }
        });
        let verifier = self.clone();
        tokio::spawn(async move {
            // First one period after start: at start every background task would
            // run at once and each open a connection of its own.
            let every = crate::usage::retention::INTERVAL;
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                verifier.roll_up_usage().await;
            }
        });
    }

    /// Writes pending last-used times and usage counts now (every interval, and at shutdown).
    pub async fn flush_pending(&self) {
        let inner = &self.inner;
        let _one_at_a_time = inner.flushing.lock().await;
        if let Err(error) = inner.last_used.flush(&inner.db).await {
            tracing::warn!(%error, "could not write last-used times; will retry");
        }
        let usage = inner.usage.take();
        if usage.is_empty() {
            return;
        }
        if let Err(error) = crate::usage::store::write(&inner.db, &usage).await {
            // A commit whose answer was lost may have landed: then these are
            // counted twice. Rare, and better than losing them (docs/usage.md).
            tracing::warn!(%error, "could not write usage counts; will retry");
            let dropped = inner.usage.put_back(usage);
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "usage minutes dropped: the store has been away too long"
                );
            }
            return;
        }
        // Off the hot path: the flush knows which keys were refused for their rate.
        let now = inner.clock.now();
        if let Err(error) = crate::webhooks::outbox::rate_limited(&inner.db, &usage, now).await {
            tracing::warn!(%error, "could not queue usage.rate_limited");
        }
    }

    /// Rolls minute usage up into hours and prunes what is past retention.
    pub async fn roll_up_usage(&self) {
        let inner = &self.inner;
        let now = inner.clock.now();
        if let Err(error) = crate::usage::retention::run(&inner.db, &inner.usage_policy, now).await
        {
            tracing::warn!(%error, "could not roll up usage; will retry");
        }
    }

    /// Whether answers may come from memory (false on PostgreSQL while the change
    /// listener is not subscribed).
    pub fn cache_is_trusted(&self) -> bool {
        self.inner.cache.is_trusted()
    }

    /// Checks the `X-Keyward-Service-Token` a caller presented.
    pub async fn authenticate_service(
        &self,
        presented: Option<&str>,
    ) -> Result<ServiceCaller, Rejection> {
        let presented = presented
            .filter(|token| !token.is_empty())
            .ok_or(Rejection::ServiceUnauthorized)?;
        let digest = TokenDigest::of(presented);
        let cache = &self.inner.cache;
        let caller = match cache.service_token(digest.as_str()) {
            Some(known) => known,
            // Only a token with a last known answer skips the store: any other
            // still asks it, as a key without one does.
            None if self.store_failed_recently()
                && cache
                    .last_known_service_token(digest.as_str(), self.inner.outage_answers)
                    .is_some() =>
            {
                cache.last_known_service_token(digest.as_str(), self.inner.outage_answers)
            }
            None => {
                let seen = cache.generation();
                let outage = self.inner.outage_answers;
                let lookup = caller_by_digest(&self.inner.db, &digest);
                let read = match cache.last_known_service_token(digest.as_str(), outage) {
                    None => lookup.await,
                    Some(_) => tokio::time::timeout(OUTAGE_READ_LIMIT, lookup)
                        .await
                        .unwrap_or(Err(sqlx::Error::PoolTimedOut)),
                };
                match read {
                    Ok(caller) => {
                        cache.remember_service_token(seen, digest.as_str(), caller.clone());
                        caller
                    }
                    Err(error) => {
                        self.note_store_failure();
                        let known = cache
                            .last_known_service_token(digest.as_str(), self.inner.outage_answers);
                        if known.is_none() {
                            return Err(store_unreachable(&error));
                        }
                        known
                    }
                }
            }
        };
        caller.ok_or(Rejection::ServiceUnauthorized)
    }

    /// Verifies a presented key, counting it in the metrics.
    pub async fn verify_presented_key(
        &self,
        presented: Option<&str>,
        audience: &Audience,
        required: &Requirements,
        client_ip: Option<IpAddr>,
    ) -> Result<Verified, Rejection> {
        let started = Instant::now();
        let result = self.check(presented, audience, required, client_ip).await;
        let outcome = match &result {
            Ok(_) => "valid",
            Err(rejection) => rejection.outcome(),
        };
        self.inner.metrics.verification(outcome, started.elapsed());
        result
    }

    /// This instance's metrics as Prometheus text.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(self.inner.cache.key_count())
    }

    /// Counts a request refused before any key was looked at (bad body, no service token).
    pub fn count_refused_request(&self, rejection: &Rejection) {
        self.inner
            .metrics
            .verification(rejection.outcome(), Duration::ZERO);
    }

    async fn check(
        &self,
        presented: Option<&str>,
        audience: &Audience,
        required: &Requirements,
        client_ip: Option<IpAddr>,
    ) -> Result<Verified, Rejection> {
        let presented = presented
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or(Rejection::Missing)?;
        let now = self.inner.clock.now();
        if format::parse(presented, self.inner.key_prefix.as_str()).is_err() {
            self.count_unmatched(audience, Outcome::Malformed, now);
            return Err(Rejection::Malformed);
        }
        let key = self.key_by_digest(&KeyDigest::of(presented)).await?;
        let key = match (key, audience) {
            (Some(key), Audience::Workspace(workspace_id)) if *workspace_id == key.workspace_id => {
                key
            }
            (Some(key), Audience::AnyWorkspace) => key,
            // Another workspace's key is "not found" to this caller, and counted as such.
            _ => {
                self.count_unmatched(audience, Outcome::NotFound, now);
                return Err(Rejection::NotFound);
            }
        };
        let result = self.judge(&key, required, client_ip, now).await;
        // A limit that could not be counted (Redis away, fallback `refuse`) judged nothing: not usage.
        let judged = !matches!(result, Err(Rejection::Unavailable));
        if self.inner.usage_policy.recording && judged {
            let outcome = match &result {
                Ok(_) => Outcome::Valid,
                Err(rejection) => rejection.usage_outcome(),
            };
            let at = crate::clock::to_micros(now);
            self.inner
                .usage
                .key(&key.id, &key.workspace_id, outcome, at, client_ip);
        }
        let (ratelimit, credits) = result?;
        self.inner.last_used.record(&key.id, now, client_ip);
        Ok(Verified {
            key,
            ratelimit,
            credits,
        })
    }

    /// Status, environment, scopes and the IP allowlist, then the rate limit
    /// (spent only by a key that passed the rest), then the credits (spent only
    /// by a key within its rate). Only a limited key awaits anything (Redis,
    /// when configured); only a key with credits writes to the store.
    async fn judge(
        &self,
        key: &KeyRecord,
        required: &Requirements,
        client_ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(Option<RateLimitState>, Option<CreditState>), Rejection> {
        check_usable(key, required, &self.inner.scopes, now)
            .and_then(|()| check_client_ip(key, client_ip))
            .inspect_err(|rejection| {
                tracing::debug!(key = %key.masked, reason = rejection.code(), "key refused");
            })?;
        let ratelimit = match key.rate_limit_per_minute {
            None => None,
            Some(per_minute) => {
                let shape = RateShape::new(per_minute, key.rate_limit_burst);
                Some(
                    self.inner
                        .limits
                        .check(&key.id, shape, now.timestamp())
                        .await?,
                )
            }
        };
        let credits = match key.credits {
            None => None,
            Some(terms) => {
                credits::spend(&self.inner.db, &key.id, terms, required.cost, now).await?
            }
        };
        Ok((ratelimit, credits))
    }

    /// Counts a key that matched nothing against the caller's workspace (a
    /// gateway trusted with every workspace has none to count it against).
    fn count_unmatched(&self, audience: &Audience, outcome: Outcome, now: DateTime<Utc>) {
        if let (true, Audience::Workspace(workspace_id)) =
            (self.inner.usage_policy.recording, audience)
        {
            let at = crate::clock::to_micros(now);
            self.inner.usage.unmatched(workspace_id, outcome, at);
        }
    }

    async fn key_by_digest(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, Rejection> {
        let cache = &self.inner.cache;
        match cache.key(digest.as_str()) {
            Some(Cached::Found(record)) => {
                self.inner.metrics.cache_hit();
                return Ok(Some(record));
            }
            Some(Cached::Unknown) => {
                self.inner.metrics.cache_hit();
                return Ok(None);
            }
            None => self.inner.metrics.cache_miss(),
        }
        if let Some(record) = self.answer_while_store_fails(digest.as_str()) {
            return Ok(Some(record));
        }
        let seen = cache.generation();
        let last_known = cache.last_known_key(digest.as_str(), self.inner.outage_answers);
        let lookup = self.inner.lookups.key_by_digest(digest.as_str());
        // A key with an answer to give waits for the store only so long: a
        // store that is going away may hold a read in its connect for seconds.
        let read = match &last_known {
            None => lookup.await,
            Some(_) => tokio::time::timeout(OUTAGE_READ_LIMIT, lookup)
                .await
                .unwrap_or(Err(lookup::StoreUnreadable)),
        };
        match read {
            Ok(record) => {
                cache.remember_key(seen, digest.as_str(), record.clone());
                Ok(record)
            }
            // The failure is logged by the lookup, once for its batch.
            Err(_) => {
                self.note_store_failure();
                match last_known {
                    Some(record) => {
                        self.inner.metrics.outage_answer();
                        Ok(Some(record))
                    }
                    None => Err(Rejection::Unavailable),
                }
            }
        }
    }

    fn note_store_failure(&self) {
        *self.inner.store_failed_at.lock() = Some(Instant::now());
    }

    /// Whether a store read failed less than [`STORE_RETRY_AFTER`] ago.
    fn store_failed_recently(&self) -> bool {
        self.inner
            .store_failed_at
            .lock()
            .is_some_and(|at| at.elapsed() <= STORE_RETRY_AFTER)
    }

    /// A key's last known answer without asking the store, while a store read
    /// failed less than [`STORE_RETRY_AFTER`] ago: during an outage every
    /// lookup waits for a connection that does not come (up to the pool's
    /// acquire timeout), and a key with an answer to give need not wait.
    fn answer_while_store_fails(&self, digest: &str) -> Option<Arc<KeyRecord>> {
        if !self.store_failed_recently() {
            return None;
        }
        let record = self
            .inner
            .cache
            .last_known_key(digest, self.inner.outage_answers)?;
        self.inner.metrics.outage_answer();
        Some(record)
    }
}

/// Status, environment and scopes, in the order callers would fix them (public for the stage benchmarks).
pub fn check_usable(
    key: &KeyRecord,
    required: &Requirements,
    catalogue: &ScopeCatalogue,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    match key.status(now) {
        KeyStatus::Revoked => return Err(Rejection::Revoked),
        KeyStatus::Expired => return Err(Rejection::Expired),
        KeyStatus::Active | KeyStatus::Expiring => {}
    }
    if required
        .environment
        .is_some_and(|environment| environment != key.environment)
    {
        return Err(Rejection::WrongEnvironment);
    }
    let missing: Vec<String> = required
        .scopes
        .iter()
        .filter(|scope| !catalogue.grants(&key.scopes, scope))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Rejection::InsufficientScope { missing });
    }
    Ok(())
}

/// A key with an allowlist works only from an address in it; without a
/// reported client IP it does not work at all (fail closed: an API server that
/// forgets to send the address must not turn the allowlist off).
pub fn check_client_ip(key: &KeyRecord, client_ip: Option<IpAddr>) -> Result<(), Rejection> {
    match (&key.ip_allowlist, client_ip) {
        (None, _) => Ok(()),
        (Some(allowlist), Some(ip)) if allowlist.allows(ip) => Ok(()),
        (Some(_), _) => Err(Rejection::IpNotAllowed),
    }
}

fn store_unreachable(error: &sqlx::Error) -> Rejection {
    tracing::error!(%error, "verification could not read the store");
    Rejection::Unavailable
}
