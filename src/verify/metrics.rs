//! Prometheus metrics for `/metrics`: verifications by outcome, their latency,
//! cache hits and misses, the store lookups the misses took, and rate limits
//! Redis did not count, per server instance.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;

const VERIFICATIONS: &str = "keyward_verifications_total";
const DURATION: &str = "keyward_verify_duration_seconds";
const CACHE: &str = "keyward_verify_cache_total";
const CACHED_KEYS: &str = "keyward_verify_cached_keys";
const RATE_LIMIT_FALLBACKS: &str = "keyward_rate_limit_fallback_total";
const STORE_LOOKUPS: &str = "keyward_verify_store_lookups_total";
const OUTAGE_ANSWERS: &str = "keyward_verify_outage_answers_total";

/// Latency buckets, in seconds: the hot path lives in the lowest ones.
const BUCKETS: [f64; 13] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Every outcome label, so that all series exist from the start.
pub const OUTCOMES: [&str; 14] = [
    "valid",
    "missing",
    "malformed",
    "not_found",
    "revoked",
    "expired",
    "wrong_environment",
    "insufficient_scope",
    "rate_limited",
    "ip_not_allowed",
    "usage_exceeded",
    "service_unauthorized",
    "unavailable",
    "bad_request",
];

/// Handles to one server instance's verification metrics, and what renders them.
pub struct VerifyMetrics {
    handle: PrometheusHandle,
    outcomes: Vec<(&'static str, Counter)>,
    duration: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    cached_keys: Gauge,
    rate_limit_fallbacks: Counter,
    store_lookups: Counter,
    outage_answers: Counter,
}

impl VerifyMetrics {
    /// A recorder of this instance's own (not the `metrics` crate's global), so
    /// that two servers in one process, as the tests run them, count apart. The
    /// handles are registered up front: the hot path only adds to atomics.
    pub fn register() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || Self {
            handle,
            outcomes: OUTCOMES
                .iter()
                .map(|outcome| (*outcome, counter!(VERIFICATIONS, "outcome" => *outcome)))
                .collect(),
            duration: histogram!(DURATION),
            cache_hits: counter!(CACHE, "result" => "hit"),
            cache_misses: counter!(CACHE, "result" => "miss"),
            cached_keys: gauge!(CACHED_KEYS),
            rate_limit_fallbacks: counter!(RATE_LIMIT_FALLBACKS),
            store_lookups: counter!(STORE_LOOKUPS),
            outage_answers: counter!(OUTAGE_ANSWERS),
        })
    }

    /// The Prometheus text for `/metrics`, with the number of keys the cache
    /// holds now (what its memory grows with).
    pub fn render(&self, cached_keys: u64) -> String {
        self.cached_keys.set(cached_keys as f64);
        self.handle.render()
    }

    pub fn verification(&self, outcome: &str, took: Duration) {
        if let Some((_, counter)) = self.outcomes.iter().find(|(name, _)| *name == outcome) {
            counter.increment(1);
        }
        self.duration.record(took.as_secs_f64());
    }

    pub fn cache_hit(&self) {
        self.cache_hits.increment(1);
    }

    pub fn cache_miss(&self) {
        self.cache_misses.increment(1);
    }

    /// A key answered from its last known record: the store could not be read.
    pub fn outage_answer(&self) {
        self.outage_answers.increment(1);
    }

    /// The counter of limited verifications that Redis did not count (it gave
    /// no answer in time): the rate limiter increments it.
    pub fn rate_limit_fallbacks(&self) -> Counter {
        self.rate_limit_fallbacks.clone()
    }

    /// The counter of statements that looked up cache misses: fewer than the
    /// misses when they were batched. The lookup workers increment it.
    pub fn store_lookups(&self) -> Counter {
        self.store_lookups.clone()
    }
}
