//! Each stage of the verify hot path on its own, in nanoseconds:
//! `cargo bench --features ssr --bench verify_stages`. Results and method in
//! docs/benchmarks.md. Not part of `./test`.

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use keyward::keys::Environment;
use keyward::keys::catalogue::ScopeCatalogue;
use keyward::keys::format::{self, KeyDigest, SecretKey};
use keyward::service_tokens::store::ServiceCaller;
use keyward::token::TokenDigest;
use keyward::verify::cache::VerifyCache;
use keyward::verify::last_used::LastUsed;
use keyward::verify::lookup::KeyRecord;
use keyward::verify::metrics::VerifyMetrics;
use keyward::verify::rate_limit::RateLimits;
use keyward::verify::request::VerifyRequest;
use keyward::verify::response::{VerifiedBody, identity_headers};
use keyward::verify::{Requirements, Verified, check_usable};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const SERVICE_TOKEN: &str = "kwsvc_5f0c9d0e8e0b4c5fa54e1f5d1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4";

fn record() -> KeyRecord {
    KeyRecord {
        id: "0b7e3a52-6f0e-4d7c-9d7a-1d6f0f2b9c11".into(),
        workspace_id: "6a1f1f0c-2b1e-4f53-8d43-0c1c6d7f9e21".into(),
        environment: Environment::Live,
        scopes: vec!["read-only".into()],
        owner_id: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f".into(),
        name: "Billing backend".into(),
        expires_at: None,
        grace_ends_at: None,
        revoked_at: None,
        rate_limit_per_minute: None,
        rate_limit_burst: None,
        ip_allowlist: None,
        credits: None,
        masked: "kw_live_3fJ9…a1b2".into(),
    }
}

fn stages(c: &mut Criterion) {
    let key = SecretKey::generate("kw", Environment::Live);
    let key = key.expose();
    let digest = KeyDigest::of(key);
    let token_digest = TokenDigest::of(SERVICE_TOKEN);
    let body = format!(r#"{{"key":"{key}","scopes":["invoices:read"]}}"#);
    let cache = VerifyCache::new(100_000, true);
    let seen = cache.generation();
    let record = Arc::new(record());
    cache.remember_key(seen, digest.as_str(), Some(record.clone()));
    cache.remember_service_token(
        seen,
        token_digest.as_str(),
        Some(ServiceCaller {
            token_id: "t".into(),
            workspace_id: record.workspace_id.clone(),
        }),
    );
    let catalogue = ScopeCatalogue::default();
    let required = Requirements {
        scopes: vec!["invoices:read".into()],
        ..Requirements::default()
    };
    let limits = RateLimits::new(100_000);
    let metrics = VerifyMetrics::register();
    let last_used = LastUsed::default();
    let verified = Verified {
        key: record.clone(),
        ratelimit: None,
        credits: None,
    };
    let now = Utc::now();

    let mut group = c.benchmark_group("verify");
    group.bench_function("service token: SHA-256", |b| {
        b.iter(|| TokenDigest::of(black_box(SERVICE_TOKEN)))
    });
    group.bench_function("service token: cache lookup", |b| {
        b.iter(|| cache.service_token(black_box(token_digest.as_str())))
    });
    group.bench_function("body decode (JSON)", |b| {
        b.iter(|| VerifyRequest::from_json(Some("application/json"), black_box(body.as_bytes())))
    });
    group.bench_function("key parse + checksum", |b| {
        b.iter(|| format::parse(black_box(key), "kw"))
    });
    group.bench_function("key: SHA-256", |b| b.iter(|| KeyDigest::of(black_box(key))));
    group.bench_function("key: cache lookup", |b| {
        b.iter(|| cache.key(black_box(digest.as_str())))
    });
    group.bench_function("status, environment, scopes", |b| {
        b.iter(|| check_usable(black_box(&record), &required, &catalogue, now))
    });
    group.bench_function("rate limit", |b| {
        b.iter(|| limits.check(black_box(&record.id), 1_000_000_000, now.timestamp()))
    });
    group.bench_function("metrics", |b| {
        b.iter(|| metrics.verification(black_box("valid"), Duration::from_micros(20)))
    });
    group.bench_function("last-used record", |b| {
        b.iter(|| last_used.record(black_box(&record.id), now, None))
    });
    group.bench_function("response encode (JSON)", |b| {
        b.iter(|| serde_json::to_vec(&VerifiedBody::of(black_box(&verified))))
    });
    group.bench_function("identity headers", |b| {
        b.iter(|| {
            let mut headers = axum::http::HeaderMap::new();
            identity_headers(black_box(&verified), &mut headers);
            headers
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = stages
}
criterion_main!(benches);
