//! The audit log's filters, role scopes, keyset paging under concurrent writes,
//! and the streamed CSV / JSON Lines exports.

use crate::common::*;
use crate::fixtures::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One page with this filter (`group`, `actor`, `key`, `from`, `to`) and cursor.
async fn page(client: &Client, filter: &[(&str, &str)], cursor: &[(&str, &str)]) -> Value {
    let mut form: Vec<(String, String)> = filter
        .iter()
        .map(|(name, value)| (format!("filter[{name}]"), value.to_string()))
        .collect();
    form.extend(cursor.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    client.ok("load_audit_page", &form).await
}

fn actions(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Every entry the filter selects, paging back from the newest.
async fn all_pages(client: &Client, filter: &[(&str, &str)]) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let before: Vec<(&str, &str)> = cursor.iter().map(|c| ("before", c.as_str())).collect();
        let page = page(client, filter, &before).await;
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["older"].as_i64() {
            Some(seq) => cursor = Some(seq.to_string()),
            None => return entries,
        }
    }
}

#[tokio::test]
async fn filters_by_group_actor_key_and_dates() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let first = create_key(&admin, json!({ "name": "First" })).await.id;
    app.clock.advance(Duration::days(3));
    let second = create_key(&developer, json!({ "name": "Second" })).await.id;
    admin
        .ok("revoke_key", &[("key_id", &first), ("reason", "done")])
        .await;

    let keys = page(&admin, &[("group", "keys")], &[]).await;
    assert_eq!(
        actions(&keys),
        vec!["key.revoked", "key.created", "key.created"]
    );

    let dev_id = user_id_of(&app, "dev@example.com").await;
    let by_dev = page(&admin, &[("actor", &dev_id), ("group", "keys")], &[]).await;
    assert_eq!(actions(&by_dev), vec!["key.created"]);

    let about_first = page(&admin, &[("key", &first)], &[]).await;
    assert_eq!(actions(&about_first), vec!["key.revoked", "key.created"]);

    let today = app.clock.now().date_naive().to_string();
    let earlier = (app.clock.now() - Duration::days(3))
        .date_naive()
        .to_string();
    let recent = page(&admin, &[("group", "keys"), ("from", &today)], &[]).await;
    assert_eq!(actions(&recent), vec!["key.revoked", "key.created"]);
    let old = page(
        &admin,
        &[("group", "keys"), ("from", &earlier), ("to", &earlier)],
        &[],
    )
    .await;
    assert_eq!(actions(&old), vec!["key.created"]);
    assert!(old.to_string().contains("First"));
    let _ = second;

    // Unknown values are refused on their field, never silently ignored.
    let (status, body) = admin
        .rpc("load_audit_page", &[("filter[group]", "rockets")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "group");
    let (status, body) = admin
        .rpc(
            "load_audit_page",
            &[("filter[from]", "2026-03-02"), ("filter[to]", "2026-03-01")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "to");
}

#[tokio::test]
async fn developers_see_entries_about_their_own_keys_and_viewers_nothing() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    create_key(&admin, json!({ "name": "Admin's key" })).await;
    let own = create_key(&developer, json!({ "name": "Dev key" }))
        .await
        .id;
    admin
        .ok(
            "revoke_key",
            &[("key_id", &own), ("reason", "rotating staff")],
        )
        .await;

    let seen = all_pages(&developer, &[]).await;
    let targets: Vec<&str> = seen
        .iter()
        .map(|entry| entry["target"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(seen.len(), 2, "{targets:?}");
    assert!(
        targets.iter().all(|t| t.starts_with("Dev key")),
        "{targets:?}"
    );

    let (status, _) = viewer.rpc("load_audit_page", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let export = export(&viewer, &[("format", "csv")]).await;
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn paging_back_skips_and_repeats_nothing_while_entries_arrive() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for n in 0..120 {
        create_key(&admin, json!({ "name": format!("key {n:03}") })).await;
    }
    let filter = [("group", "keys")];
    let first = page(&admin, &filter, &[]).await;
    let mut seen: Vec<String> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first["older"].as_i64();
    while let Some(seq) = cursor {
        // New entries land at the top while someone pages back through history.
        create_key(&admin, json!({ "name": format!("late {}", seen.len()) })).await;
        let next = page(&admin, &filter, &[("before", &seq.to_string())]).await;
        seen.extend(
            next["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        cursor = next["older"].as_i64();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "an entry was repeated");
    assert_eq!(
        seen.len(),
        120,
        "every entry that existed at the start, once"
    );
}

#[tokio::test]
async fn exports_match_the_filtered_pages_and_are_recorded() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for name in ["=HYPERLINK(\"http://evil\")", "Billing, \"prod\"", "plain"] {
        create_key(&admin, json!({ "name": name })).await;
    }
    invite(&admin, "bob@example.com", "viewer").await;
    let filter = [("group", "keys")];
    let pages = all_pages(&admin, &filter).await;

    let csv = export(&admin, &[("format", "csv"), ("group", "keys")]).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = csv.text().await.unwrap();
    let mut reader = csv_reader(&text);
    let ids: Vec<String> = reader.iter().map(|row| row[9].clone()).collect();
    let page_ids: Vec<String> = pages
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids, page_ids,
        "the export holds exactly the filtered entries, in order"
    );
    let actors_and_targets: String = reader
        .drain(..)
        .map(|row| row[4].clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        actors_and_targets.contains("'=HYPERLINK"),
        "{actors_and_targets}"
    );
    assert!(actors_and_targets.contains("Billing, \"prod\""));
    assert!(!text.contains("member.invited"));

    let jsonl = export(&admin, &[("format", "jsonl"), ("group", "keys")])
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), pages.len());
    assert_eq!(lines[0]["id"], pages[0]["id"]);

    let exported = count(
        &app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'audit.exported'",
    )
    .await;
    assert_eq!(exported, 2);
    let bad = export(&admin, &[("format", "xlsx")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Posts the export form, as the page's export buttons do.
async fn export(client: &Client, form: &[(&str, &str)]) -> reqwest::Response {
    client
        .http
        .post(format!("{}/settings/audit-log/export", client.base))
        .form(form)
        .send()
        .await
        .expect("request sent")
}

/// Parses the export (header row dropped) with a real CSV reader.
fn csv_reader(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn keys_that_run_out_get_one_key_expired_entry_each() {
    use keyward::keys::expiry::record_expired_keys;
    use keyward::mail::notices::Notices;
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (status, _) = admin
        .rpc_json(
            "create_key",
            &json!({ "form": {
                "name": "Thirty days", "environment": "live", "scopes": ["read-only"], "expiry": "30d",
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rotated = create_key(&admin, json!({ "name": "Rotated" })).await.id;
    admin
        .ok("rotate_key", &[("key_id", &rotated), ("grace", "1h")])
        .await;
    assert_eq!(
        record_expired_keys(&app.db, Notices::Off, app.clock.now())
            .await
            .unwrap(),
        0
    );

    app.clock.advance(Duration::days(31));
    assert_eq!(
        record_expired_keys(&app.db, Notices::Off, app.clock.now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        record_expired_keys(&app.db, Notices::Off, app.clock.now())
            .await
            .unwrap(),
        0
    );
    let expired = page(&admin, &[("group", "keys")], &[]).await;
    let entries: Vec<&Value> = expired["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "key.expired")
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|entry| entry["actor"] == "system"));
}

#[tokio::test]
async fn entries_name_the_actors_email_and_the_chain_covers_it() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    create_key(&admin, json!({ "name": "Emailed" })).await;
    let latest = page(&admin, &[("group", "keys")], &[]).await;
    assert_eq!(latest["entries"][0]["actor_email"], "ana@example.com");
    let verification = keyward::audit::chain::verify(&app.db, None).await.unwrap();
    assert_eq!(verification.broken, None);
}

/// The expiry sweeps run every minute on every instance. On a store of a
/// million keys a scan of `api_keys` took seconds (docs/benchmarks.md), so
/// their plans must search the end-time indexes (migration 0023).
#[tokio::test]
async fn the_expiry_sweeps_search_the_end_time_indexes() {
    use keyward::keys::expiry::{KEYS_DUE_SQL, KEYS_EXPIRING_SQL};
    let app = spawn_app().await;
    let due = query_plan(&app, KEYS_DUE_SQL, 2).await;
    assert!(due.contains("api_keys_by_expiry"), "{due}");
    assert!(due.contains("api_keys_by_grace_end"), "{due}");
    let expiring = query_plan(&app, KEYS_EXPIRING_SQL, 4).await;
    assert!(expiring.contains("api_keys_by_expiry"), "{expiring}");
    for plan in [due, expiring] {
        assert!(!plan.contains("SCAN api_keys"), "{plan}");
        assert!(!plan.contains("Seq Scan on api_keys"), "{plan}");
    }
}

/// The plan of `sql` with `params` whole-number parameters, one line per step.
/// On PostgreSQL with sequential scans priced out: its tables here are a few
/// rows, which a scan would read fastest whatever the indexes.
async fn query_plan(app: &TestApp, sql: &str, params: usize) -> String {
    use keyward::db::Backend;
    use sqlx::Row;
    let mut tx = app.db.pool().begin().await.unwrap();
    let explain = match app.backend {
        Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
        Backend::Postgres => {
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await
                .unwrap();
            format!("EXPLAIN {sql}")
        }
    };
    let mut query = sqlx::query(&explain);
    for _ in 0..params {
        query = query.bind(0_i64);
    }
    let rows = query.fetch_all(&mut *tx).await.unwrap();
    let column = match app.backend {
        Backend::Sqlite => "detail",
        Backend::Postgres => "QUERY PLAN",
    };
    rows.iter()
        .map(|row| row.get::<String, _>(column))
        .collect::<Vec<_>>()
        .join("\n")
}
