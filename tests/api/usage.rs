//! Usage: verifications counted per key, minute and outcome; client IPs per
//! key; the roll-up into hours and pruning by the clock; who may read it, in
//! the dashboard and over `/api/v1`.

use crate::common::*;
use crate::fixtures::*;
use chrono::Duration;
use futures::StreamExt;
use keyward::usage::retention::{self, UsagePolicy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    admin: Client,
    token: String,
}

/// Flushes happen only when a test asks (the interval is a day), so counts are exact.
async fn setup() -> Setup {
    let app = spawn_app_with(&[("KEYWARD_LAST_USED_FLUSH_MS", "86400000")]).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "billing-api").await;
    Setup { app, admin, token }
}

async fn verify_times(app: &TestApp, token: &str, body: Value, times: usize) {
    for _ in 0..times {
        verify(app, token, body.clone()).await;
    }
}

/// The key page's usage as the dashboard loads it.
async fn key_usage(client: &Client, key_id: &str, range: &str) -> Value {
    client
        .ok("load_key_usage", &[("key_id", key_id), ("range", range)])
        .await
}

/// Totals by outcome of a dashboard series (`OutcomeCounts` in `Outcome::ALL` order).
fn totals(series: &Value) -> [u64; OUTCOMES] {
    let mut totals = [0u64; OUTCOMES];
    for bucket in series["buckets"].as_array().expect("buckets") {
        for (at, count) in bucket["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .enumerate()
        {
            totals[at] += count.as_u64().unwrap();
        }
    }
    totals
}

const VALID: usize = 0;
const RATE_LIMITED: usize = 1;
const INSUFFICIENT_SCOPE: usize = 2;
const WRONG_ENVIRONMENT: usize = 3;
const REVOKED: usize = 5;
const NOT_FOUND: usize = 8;
const MALFORMED: usize = 9;
/// Every outcome, as `Outcome::ALL` orders them.
const OUTCOMES: usize = keyward::usage::Outcome::COUNT;

#[tokio::test]
async fn every_outcome_of_a_known_key_is_counted_and_unknown_keys_per_workspace() {
    let Setup { app, admin, token } = setup().await;
    let key = create_key(&admin, json!({ "rate_limit_per_minute": "3" })).await;
    let ok = json!({ "key": key.secret, "client_ip": "203.0.113.5" });
    verify_times(&app, &token, ok.clone(), 5).await; // 3 valid, 2 rate limited
    verify_times(
        &app,
        &token,
        json!({ "key": key.secret, "scopes": ["invoices:write"] }),
        1,
    )
    .await;
    verify_times(
        &app,
        &token,
        json!({ "key": key.secret, "environment": "test" }),
        2,
    )
    .await;
    // Keys that are not in the format, and another workspace's key.
    let unknown = create_key(&admin, json!({})).await;
    admin
        .ok("revoke_key", &[("key_id", &unknown.id), ("reason", "test")])
        .await;
    verify_times(&app, &token, json!({ "key": "kw_live_notakeyatall" }), 2).await;
    let bob = member(&app, &admin, "bob@example.com", "developer").await;
    bob.ok("create_workspace", &[("name", "Bob's Lab")]).await;
    let bobs = create_key(&bob, json!({})).await;
    verify_times(&app, &token, json!({ "key": bobs.secret }), 1).await;
    // The revoked key is still tried.
    verify_times(&app, &token, json!({ "key": unknown.secret }), 3).await;
    app.verifier.flush_pending().await;

    let usage = key_usage(&admin, &key.id, "24h").await;
    let counted = totals(&usage["series"]);
    assert_eq!(counted[VALID], 3, "{usage}");
    assert_eq!(counted[RATE_LIMITED], 2);
    assert_eq!(counted[INSUFFICIENT_SCOPE], 1);
    assert_eq!(counted[WRONG_ENVIRONMENT], 2);
    assert_eq!(
        counted.iter().sum::<u64>(),
        8,
        "nothing else counted against the key"
    );
    assert_eq!(usage["ips"][0]["ip"], "203.0.113.5");
    assert_eq!(usage["ips"][0]["count"], 5);
    assert_eq!(usage["series"]["buckets"].as_array().unwrap().len(), 24);

    let revoked = key_usage(&admin, &unknown.id, "24h").await;
    assert_eq!(totals(&revoked["series"])[REVOKED], 3);

    let workspace = admin.ok("load_workspace_usage", &[("range", "7d")]).await;
    let counted = totals(&workspace["series"]);
    assert_eq!(counted[MALFORMED], 2, "{workspace}");
    assert_eq!(
        counted[NOT_FOUND], 1,
        "Bob's key is unknown to this workspace's token"
    );
    assert_eq!(counted.iter().sum::<u64>(), 8 + 3 + 2 + 1);
    assert_eq!(workspace["top_keys"][0]["key_id"], key.id.as_str());
    assert_eq!(
        workspace["refused_keys"][0]["key_id"],
        unknown.id.as_str(),
        "the revoked key still being tried comes first"
    );
    // Bob's workspace saw none of it.
    let bobs_usage = key_usage(&bob, &bobs.id, "24h").await;
    assert_eq!(totals(&bobs_usage["series"]).iter().sum::<u64>(), 0);
}

#[tokio::test]
async fn two_instances_add_up_in_the_same_bucket() {
    let Setup { app, admin, token } = setup().await;
    let second = spawn_second_instance(&app).await;
    let key = create_key(&admin, json!({})).await;
    let body = json!({ "key": key.secret, "client_ip": "198.51.100.1" });
    verify_times(&app, &token, body.clone(), 7).await;
    verify_times(&second, &token, body.clone(), 5).await;
    app.verifier.flush_pending().await;
    second.verifier.flush_pending().await;
    // Again, into rows that now exist.
    verify_times(&app, &token, body.clone(), 2).await;
    verify_times(&second, &token, body, 1).await;
    let (a, b) = (app.verifier.clone(), second.verifier.clone());
    tokio::join!(a.flush_pending(), b.flush_pending());
    let stored: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(count) AS BIGINT) FROM usage_minutes WHERE key_id = $1",
    )
    .bind(&key.id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(stored, 15);
    let ip_count: i64 = sqlx::query_scalar("SELECT count FROM key_client_ips WHERE key_id = $1")
        .bind(&key.id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(ip_count, 15);
}

#[tokio::test]
async fn a_flood_of_client_ips_keeps_the_store_bounded() {
    let Setup { app, admin, token } = setup().await;
    let key = create_key(&admin, json!({})).await;
    let http = http();
    for round in 0..4u32 {
        // 32 at a time: a burst, without running the test machine out of sockets.
        let statuses: Vec<Result<StatusCode, String>> = futures::stream::iter(0..2_500u32)
            .map(|n| {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 + round * 2_500 + n);
                let request = http
                    .post(format!("{}/v1/keys/verify", app.base))
                    .header("x-keyward-service-token", &token)
                    .json(&json!({ "key": key.secret, "client_ip": ip.to_string() }))
                    .send();
                async move { request.await.map(|r| r.status()).map_err(|e| e.to_string()) }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let refused: Vec<_> = statuses
            .iter()
            .filter(|s| !matches!(s, Ok(StatusCode::OK)))
            .collect();
        assert!(refused.is_empty(), "{:?}", &refused[..refused.len().min(5)]);
        app.verifier.flush_pending().await;
    }
    let stored = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM key_client_ips WHERE key_id = '{}'",
            key.id
        ),
    )
    .await;
    assert_eq!(stored, 50);
    // The most recent ones are kept: the last round's.
    let usage = key_usage(&admin, &key.id, "24h").await;
    let ips = usage["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 50);
    let last_round = |ip: &Value| {
        let ip: std::net::Ipv4Addr = ip["ip"].as_str().unwrap().parse().unwrap();
        u32::from(ip) >= 0x0a00_0000 + 3 * 2_500
    };
    assert!(ips.iter().all(last_round), "{ips:?}");
    assert_eq!(totals(&usage["series"])[VALID], 10_000);
}

#[tokio::test]
async fn minutes_roll_up_into_hours_and_are_pruned_by_the_clock() {
    let Setup { app, admin, token } = setup().await;
    let key = create_key(&admin, json!({})).await;
    verify_times(&app, &token, json!({ "key": key.secret }), 4).await;
    app.verifier.flush_pending().await;
    let policy = UsagePolicy::default();
    let minutes = || count(&app, "SELECT COUNT(*) FROM usage_minutes");
    let hours = || count(&app, "SELECT COUNT(*) FROM usage_hours");
    let hour_total = || {
        count(
            &app,
            "SELECT COALESCE(CAST(SUM(count) AS BIGINT), 0) FROM usage_hours",
        )
    };

    // The four may straddle a minute (or an hour) boundary: one or two rows each.
    let minute_rows = minutes().await;
    assert!((1..=2).contains(&minute_rows));

    // Within the hour nothing is rolled up yet, but the page already counts it.
    retention::run(&app.db, &policy, app.clock.now())
        .await
        .unwrap();
    assert_eq!(hours().await, 0);
    assert_eq!(
        totals(&key_usage(&admin, &key.id, "24h").await["series"])[VALID],
        4
    );

    // Three hours later the hour is rolled up; twice over changes nothing.
    app.clock.advance(Duration::hours(3));
    let mut hour_rows = 0;
    for _ in 0..2 {
        retention::run(&app.db, &policy, app.clock.now())
            .await
            .unwrap();
        hour_rows = hours().await;
        assert!((1..=2).contains(&hour_rows));
        assert_eq!(hour_total().await, 4);
        assert_eq!(minutes().await, minute_rows, "minutes are kept 48 hours");
    }
    // A late flush into the rolled-up hour (an instance whose store was away) still lands.
    sqlx::query("UPDATE usage_minutes SET count = count + 1")
        .execute(app.db.pool())
        .await
        .unwrap();
    let late = 4 + minute_rows as u64;
    retention::run(&app.db, &policy, app.clock.now())
        .await
        .unwrap();
    assert_eq!(hour_total().await, late as i64);
    assert_eq!(
        totals(&key_usage(&admin, &key.id, "24h").await["series"])[VALID],
        late
    );

    // After 48 hours the minutes go; the hours stay, and the 7-day chart still shows them.
    app.clock.advance(Duration::hours(48));
    let run = retention::run(&app.db, &policy, app.clock.now())
        .await
        .unwrap();
    assert_eq!(run.minutes_pruned, minute_rows as u64);
    assert_eq!((minutes().await, hour_total().await), (0, late as i64));
    assert_eq!(
        totals(&key_usage(&admin, &key.id, "7d").await["series"])[VALID],
        late
    );
    assert_eq!(
        totals(&key_usage(&admin, &key.id, "24h").await["series"])[VALID],
        0
    );

    // After 90 days the hours go too.
    app.clock.advance(Duration::days(90));
    let run = retention::run(&app.db, &policy, app.clock.now())
        .await
        .unwrap();
    assert_eq!((run.hours_pruned, hours().await), (hour_rows as u64, 0));
}

#[tokio::test]
async fn usage_is_for_admins_and_the_keys_owner() {
    let Setup { app, admin, token } = setup().await;
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    let admins_key = create_key(&admin, json!({})).await;
    let devs_key = create_key(&dev, json!({})).await;
    verify_times(&app, &token, json!({ "key": admins_key.secret }), 3).await;
    verify_times(&app, &token, json!({ "key": devs_key.secret }), 2).await;
    verify_times(&app, &token, json!({ "key": "kw_live_notakeyatall" }), 1).await;
    app.verifier.flush_pending().await;

    // The Usage page: viewers are refused; a developer sees their own key only, no unknown keys.
    let (status, _) = viewer.rpc("load_workspace_usage", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mine = dev.ok("load_workspace_usage", &[]).await;
    assert_eq!(totals(&mine["series"]).iter().sum::<u64>(), 2, "{mine}");
    assert_eq!(mine["only_own_keys"], true);
    let top: Vec<&str> = mine["top_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(top, [devs_key.id.as_str()]);
    let all = admin.ok("load_workspace_usage", &[]).await;
    assert_eq!(totals(&all["series"]).iter().sum::<u64>(), 6);

    // A key's usage: the owner and admins; not a viewer, not another developer.
    assert!(key_usage(&viewer, &admins_key.id, "24h").await.is_null());
    assert!(key_usage(&dev, &admins_key.id, "24h").await.is_null());
    assert!(key_usage(&dev, &devs_key.id, "24h").await.is_object());
    assert!(key_usage(&admin, &devs_key.id, "24h").await.is_object());
    // Another workspace's key id is "not found"; a bad range names itself.
    let (status, body) = dev
        .rpc("load_key_usage", &[("key_id", "nope"), ("range", "24h")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = admin
        .rpc(
            "load_key_usage",
            &[("key_id", &admins_key.id), ("range", "1y")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("range"), "{body}");
    // The list's sparkline: for the keys the member may see usage of.
    let list = dev.ok("load_keys", &[]).await;
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{list}");
    for key in keys {
        let own = key["id"] == devs_key.id.as_str();
        assert_eq!(key["recent_use"].is_object(), own, "{key}");
    }
    let own = keys
        .iter()
        .find(|key| key["id"] == devs_key.id.as_str())
        .unwrap();
    assert_eq!(own["recent_use"]["daily"][6], 2);
    assert_eq!(own["recent_use"]["new_ip"], false);
}

/// A management key of `client`'s with `scopes`.
async fn management_key(client: &Client, scopes: &[&str]) -> String {
    create_key(client, json!({ "scopes": scopes })).await.secret
}

#[tokio::test]
async fn the_usage_api_needs_its_scope_and_checks_every_parameter() {
    let Setup { app, admin, token } = setup().await;
    let key = create_key(&admin, json!({})).await;
    verify_times(&app, &token, json!({ "key": key.secret }), 3).await;
    app.verifier.flush_pending().await;
    let reader = management_key(&admin, &["usage:read"]).await;
    let other = management_key(&admin, &["keys:read", "audit:read"]).await;
    let path = format!("/api/v1/keys/{}/usage", key.id);

    let (status, body) = answer(api(&app, &other, Method::GET, &path)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE")
    );

    let (status, body) = answer(api(&app, &reader, Method::GET, &path)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totals"]["valid"], 3);
    assert_eq!(body["totals"]["total"], 3);
    assert_eq!(body["granularity"], "hour");
    assert_eq!(
        body["buckets"].as_array().unwrap().len(),
        25,
        "24 hours back, the current one included"
    );
    assert!(body["buckets"][0]["start"].as_str().unwrap().ends_with('Z'));

    let (status, body) = answer(api(
        &app,
        &reader,
        Method::GET,
        &format!(
            "{path}?granularity=minute&from={}",
            (app.clock.now() - Duration::minutes(10))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totals"]["valid"], 3);

    let (status, body) = answer(api(
        &app,
        &reader,
        Method::GET,
        "/api/v1/usage?granularity=day",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totals"]["valid"], 3);

    // A start within the minute data's 48 hours, whatever day the test runs:
    // only the end (far in the future) is wrong.
    let recent =
        (app.clock.now() - Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let too_late_end = format!("granularity=minute&to=2099-01-01T00:00:00Z&from={recent}");
    for (query, names) in [
        ("granularity=week", "granularity"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "from"),
        ("granularity=minute&from=2020-01-01T00:00:00Z", "from"),
        ("granularity=hour&from=2000-01-01T00:00:00Z", "from"),
        (too_late_end.as_str(), "to"),
    ] {
        let (status, body) =
            answer(api(&app, &reader, Method::GET, &format!("{path}?{query}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{names}`")),
            "{query}: {body}"
        );
    }

    // Someone else's key, for a developer's key; a key of the other environment; an unknown id.
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let devs_reader = management_key(&dev, &["usage:read"]).await;
    let (status, _) = answer(api(&app, &devs_reader, Method::GET, &path)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let test_key = create_key(&admin, json!({ "environment": "test" })).await;
    let (status, body) = answer(api(
        &app,
        &reader,
        Method::GET,
        &format!("/api/v1/keys/{}/usage", test_key.id),
    ))
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "ENVIRONMENT_NOT_ALLOWED")
    );
    let (status, _) = answer(api(&app, &reader, Method::GET, "/api/v1/keys/nope/usage")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A developer's key counts only its owner's keys in the workspace series.
    let (status, body) = answer(api(&app, &devs_reader, Method::GET, "/api/v1/usage")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["totals"]["valid"], 0, "{body}");
}

/// Totals by outcome of one key's row in the Usage page's top-keys table
/// (zeros when the key was not used in the range, so it has no row).
fn key_row_totals(workspace: &Value, key_id: &str) -> [u64; OUTCOMES] {
    let mut totals = [0u64; OUTCOMES];
    let Some(row) = workspace["top_keys"]
        .as_array()
        .expect("top keys")
        .iter()
        .find(|row| row["key_id"] == key_id)
    else {
        return totals;
    };
    for (at, count) in row["counts"].as_array().expect("counts").iter().enumerate() {
        totals[at] = count.as_u64().unwrap();
    }
    totals
}

/// The Usage page reads days and the workspace's hourly totals; the key page
/// reads hours and minutes. Over three weeks of daily traffic, rolled up day
/// by day, both readings agree for every range, and so does the sparkline.
#[tokio::test]
async fn the_usage_page_agrees_with_every_key_page_over_weeks() {
    let Setup { app, admin, token } = setup().await;
    let policy = UsagePolicy::default();
    let (a, b) = (
        create_key(&admin, json!({})).await,
        create_key(&admin, json!({})).await,
    );
    for day in 0..21 {
        verify_times(&app, &token, json!({ "key": a.secret }), day % 4 + 1).await;
        // b: two valid, one asking for a scope it lacks.
        verify_times(&app, &token, json!({ "key": b.secret }), 2).await;
        let unscoped = json!({ "key": b.secret, "scopes": ["invoices:write"] });
        verify_times(&app, &token, unscoped, 1).await;
        app.verifier.flush_pending().await;
        retention::run(&app.db, &policy, app.clock.now())
            .await
            .unwrap();
        app.clock
            .advance(Duration::hours(23) + Duration::minutes(7));
    }
    // The last hours stay in minutes; keys that matched none count for the workspace.
    verify_times(&app, &token, json!({ "key": a.secret }), 5).await;
    verify_times(&app, &token, json!({ "key": "kw_live_notakeyatall" }), 2).await;
    app.verifier.flush_pending().await;
    retention::run(&app.db, &policy, app.clock.now())
        .await
        .unwrap();
    assert!(count(&app, "SELECT COUNT(*) FROM usage_days").await > 0);

    for range in ["24h", "7d", "30d"] {
        let workspace = admin.ok("load_workspace_usage", &[("range", range)]).await;
        let mut expected = [0u64; OUTCOMES];
        for key in [&a, &b] {
            let by_hours = totals(&key_usage(&admin, &key.id, range).await["series"]);
            assert_eq!(key_row_totals(&workspace, &key.id), by_hours, "{range}");
            for (sum, count) in expected.iter_mut().zip(by_hours) {
                *sum += count;
            }
        }
        expected[MALFORMED] += 2;
        assert_eq!(totals(&workspace["series"]), expected, "{range}");
    }
    // The 30-day totals: every verification.
    let month = admin.ok("load_workspace_usage", &[("range", "30d")]).await;
    let a_total: usize = (0..21).map(|day| day % 4 + 1).sum::<usize>() + 5;
    assert_eq!(key_row_totals(&month, &a.id)[VALID], a_total as u64);
    assert_eq!(key_row_totals(&month, &b.id)[VALID], 42);
    assert_eq!(key_row_totals(&month, &b.id)[INSUFFICIENT_SCOPE], 21);

    // The list's sparkline (days) matches the last 7 days of the 30-day chart (hours).
    let by_hours = key_usage(&admin, &a.id, "30d").await;
    let last_week: Vec<u64> = by_hours["series"]["buckets"].as_array().unwrap()[23..]
        .iter()
        .map(|bucket| {
            bucket["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|count| count.as_u64().unwrap())
                .sum()
        })
        .collect();
    let list = admin.ok("load_keys", &[]).await;
    let row = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["id"] == a.id.as_str())
        .unwrap()
        .clone();
    let daily: Vec<u64> = row["recent_use"]["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|count| count.as_u64().unwrap())
        .collect();
    assert_eq!(daily, last_week, "{row}");

    // Summaries are pruned with the hours they sum.
    app.clock.advance(Duration::days(91));
    retention::run(&app.db, &policy, app.clock.now())
        .await
        .unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM usage_days").await, 0);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM usage_workspace_hours").await,
        0
    );
}
