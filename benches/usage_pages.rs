//! How long the usage pages take to render with a lot of data behind them
//! (issue 15's target: under 50 ms), on SQLite, and on PostgreSQL when
//! `DATABASE_URL` names one. `./bench usage` runs it; results in docs/benchmarks.md.
//!
//! The real server in process, signed in like a browser; every timing is a
//! whole `GET` of the server-rendered page (queries, chart, HTML). Seeded:
//! - one key with 90 days of hourly buckets (2 160 hours × 3 outcomes) and 48
//!   hours of minute buckets, with 50 client IPs;
//! - 1 000 more keys, each verified every hour of the last 30 days.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/api/common.rs"]
mod common;

use chrono::{Duration, Utc};
use common::{Client, TestApp, admin, spawn_app_with};
use keyward::clock::to_micros;
use std::time::Instant;

const OTHER_KEYS: usize = 1_000;
const SAMPLES: usize = 15;

#[tokio::main]
async fn main() {
    let app = spawn_app_with(&[("KEYWARD_LAST_USED_FLUSH_MS", "86400000")]).await;
    let admin = admin(&app).await;
    let store = format!("{:?}", app.backend);
    eprintln!("{store}: seeding");
    let busy_key = create_key(&admin, "busy").await;
    let mut others = Vec::with_capacity(OTHER_KEYS);
    for n in 0..OTHER_KEYS {
        others.push(create_key(&admin, &format!("key {n}")).await);
    }
    let workspace_id: String = sqlx::query_scalar("SELECT workspace_id FROM api_keys LIMIT 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    seed(&app, &workspace_id, &busy_key, &others).await;

    println!("| store | page | median | p90 | max |");
    println!("|---|---|---|---|---|");
    for range in ["24h", "7d", "30d"] {
        let path = format!("/settings/api-keys/{busy_key}?range={range}");
        report(
            &store,
            &format!("key page, {range}"),
            &time_page(&admin, &path).await,
        );
    }
    for range in ["24h", "7d", "30d"] {
        let path = format!("/settings/usage?range={range}");
        report(
            &store,
            &format!("Usage page, {} keys, {range}", OTHER_KEYS + 1),
            &time_page(&admin, &path).await,
        );
    }
    report(
        &store,
        "API keys list (sparklines)",
        &time_page(&admin, "/settings/api-keys").await,
    );
    drop_database(&app).await;
}

/// A PostgreSQL run's throwaway database goes when the run ends (a SQLite file stays in the temp directory).
async fn drop_database(app: &TestApp) {
    let (Ok(admin_url), keyward::db::Backend::Postgres) =
        (std::env::var("DATABASE_URL"), app.backend)
    else {
        return;
    };
    use sqlx::Connection;
    app.db.close().await;
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

async fn create_key(admin: &Client, name: &str) -> String {
    let form = serde_json::json!({ "form": {
        "name": name, "environment": "live", "scopes": ["read-only"], "expiry": "never",
    }});
    let (status, body) = admin.rpc_json("create_key", &form).await;
    assert!(status.is_success(), "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Usage rows straight into the tables, in multi-row statements.
async fn seed(app: &TestApp, workspace_id: &str, busy_key: &str, others: &[String]) {
    let now = Utc::now();
    let hour = |back: i64| to_micros(now - Duration::hours(back)) / 3_600_000_000 * 3_600_000_000;
    let minute = |back: i64| to_micros(now - Duration::minutes(back)) / 60_000_000 * 60_000_000;
    let mut hours: Vec<(String, i64, &str, i64)> = Vec::new();
    for back in 1..=2_160 {
        for (outcome, count) in [("valid", 900), ("rate_limited", 40), ("revoked", 3)] {
            hours.push((busy_key.to_owned(), hour(back), outcome, count));
        }
    }
    for key in others {
        for back in 1..=720 {
            hours.push((key.clone(), hour(back), "valid", 12));
        }
    }
    insert(app, "usage_hours", workspace_id, &hours).await;
    let minutes: Vec<(String, i64, &str, i64)> = (0..2_880)
        .map(|back| (busy_key.to_owned(), minute(back), "valid", 15))
        .collect();
    insert(app, "usage_minutes", workspace_id, &minutes).await;
    // Hours before the current one are rolled up.
    sqlx::query("UPDATE usage_rollup SET rolled_until = $1")
        .bind(hour(0))
        .execute(app.db.pool())
        .await
        .unwrap();
    keyward::usage::retention::rebuild_summaries(&app.db)
        .await
        .unwrap();
    for n in 0..50 {
        sqlx::query(
            "INSERT INTO key_client_ips (key_id, ip, first_seen, last_seen, count) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(busy_key)
        .bind(format!("203.0.113.{n}"))
        .bind(minute(n * 60))
        .bind(minute(n))
        .bind(100_i64)
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    // A running PostgreSQL's autovacuum analyzes tables this size within a
    // minute and sets their visibility maps; without it the planner guesses
    // a table of a few rows, and index-only scans read the heap after all.
    // Measure the steady state (SQLite has no such daemon: left as it is).
    if app.backend == keyward::db::Backend::Postgres {
        sqlx::query("VACUUM ANALYZE")
            .execute(app.db.pool())
            .await
            .unwrap();
    }
}

async fn insert(app: &TestApp, table: &str, workspace_id: &str, rows: &[(String, i64, &str, i64)]) {
    let mut tx = app.db.begin().await.unwrap();
    for chunk in rows.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|n| {
                format!(
                    "($1, ${}, ${}, ${}, ${})",
                    4 * n + 2,
                    4 * n + 3,
                    4 * n + 4,
                    4 * n + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} (workspace_id, key_id, bucket_start, outcome, count) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(workspace_id);
        for (key, at, outcome, count) in chunk {
            query = query
                .bind(key.as_str())
                .bind(*at)
                .bind(*outcome)
                .bind(*count);
        }
        query.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Milliseconds per whole page load, after one warm-up load.
async fn time_page(client: &Client, path: &str) -> Vec<f64> {
    let load = || async {
        let started = Instant::now();
        let response = client.get(path).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let html = response.text().await.unwrap();
        assert!(html.len() > 1_000, "{path}: a whole page");
        started.elapsed().as_secs_f64() * 1_000.0
    };
    load().await;
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        samples.push(load().await);
    }
    samples.sort_by(f64::total_cmp);
    samples
}

fn report(store: &str, page: &str, samples: &[f64]) {
    let at = |share: f64| samples[((samples.len() - 1) as f64 * share).round() as usize];
    println!(
        "| {store} | {page} | {:.1} ms | {:.1} ms | {:.1} ms |",
        at(0.5),
        at(0.9),
        samples[samples.len() - 1]
    );
}
