//! Prometheus metrics for `/metrics`: verifications by outcome, their latency,
//! and cache hits and misses. The recorder is process-wide (the `metrics`
//! crate's global), installed once; handles are registered up front so the hot
//! path does no name lookups.

use metrics::{Counter, Histogram, counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

const VERIFICATIONS: &str = "keyward_verifications_total";
const DURATION: &str = "keyward_verify_duration_seconds";
const CACHE: &str = "keyward_verify_cache_total";

/// Every outcome label, so that all series exist from the start.
pub const OUTCOMES: [&str; 12] = [
    "valid",
    "missing",
    "malformed",
    "not_found",
    "revoked",
    "expired",
    "wrong_environment",
    "insufficient_scope",
    "rate_limited",
    "service_unauthorized",
    "unavailable",
    "bad_request",
];

/// The Prometheus handle that renders `/metrics`.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(DURATION.into()),
                &[
                    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 1.0,
                ],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (an embedding program) keeps the metrics to itself.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

/// Handles to this process's verification metrics.
pub struct VerifyMetrics {
    outcomes: Vec<(&'static str, Counter)>,
    duration: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
}

impl VerifyMetrics {
    pub fn register() -> Self {
        prometheus();
        Self {
            outcomes: OUTCOMES
                .iter()
                .map(|outcome| (*outcome, counter!(VERIFICATIONS, "outcome" => *outcome)))
                .collect(),
            duration: histogram!(DURATION),
            cache_hits: counter!(CACHE, "result" => "hit"),
            cache_misses: counter!(CACHE, "result" => "miss"),
        }
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
}
