//! Faults with the real binary (docs/reliability.md): an instance killed
//! with SIGKILL in the middle of dashboard writes loses no change whose
//! answer reached the client, and leaves nothing half-written.

use crate::binary::Binary;
use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// A server function's arguments: JSON, or a form.
enum Args<'a> {
    Json(Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// A server function called on `base` with the admin's session (sessions live
/// in the store); `None` when no answer arrived.
async fn rpc_on(
    admin: &Client,
    base: &str,
    name: &str,
    args: Args<'_>,
) -> Option<(StatusCode, Value)> {
    let request = admin
        .http
        .post(format!("{base}/rpc/{name}"))
        .header("origin", base);
    let request = match args {
        Args::Json(body) => request.json(&body),
        Args::Form(form) => request.form(form),
    };
    let response = request.send().await.ok()?;
    let status = response.status();
    let body = response.json().await.ok()?;
    Some((status, body))
}

#[tokio::test]
async fn sigkill_during_dashboard_writes_loses_no_acknowledged_change() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let server = Binary::start(&app.database_url).await;
    let base = server.base.clone();

    // Create and revoke keys in a loop on the binary, noting each change whose answer arrived.
    let writer = {
        let (admin, base) = (
            Client {
                http: admin.http.clone(),
                base: base.clone(),
            },
            base.clone(),
        );
        tokio::spawn(async move {
            let (mut created, mut revoked) = (Vec::new(), Vec::new());
            for n in 0.. {
                let form = json!({ "form": {
                    "name": format!("fault {n}"), "environment": "live",
                    "scopes": ["read-only"], "expiry": "never",
                }});
                let Some((StatusCode::OK, key)) =
                    rpc_on(&admin, &base, "create_key", Args::Json(form)).await
                else {
                    break;
                };
                let id = key["id"].as_str().unwrap().to_owned();
                created.push(id.clone());
                let revoke = [("key_id", id.as_str()), ("reason", "fault test")];
                let Some((status, _)) =
                    rpc_on(&admin, &base, "revoke_key", Args::Form(&revoke)).await
                else {
                    break;
                };
                if status.is_success() {
                    revoked.push(id);
                }
            }
            (created, revoked)
        })
    };
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.kill();
    let (created, revoked) = writer.await.unwrap();
    assert!(
        created.len() >= 5,
        "writes were under way: {}",
        created.len()
    );

    // Every acknowledged change is in the store, with its audit entry.
    for id in &created {
        let entries = count_bound(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'key.created' AND target_id = $1",
            id,
        )
        .await;
        assert_eq!(
            entries, 1,
            "key {id} was acknowledged: it and its entry are stored"
        );
    }
    for id in &revoked {
        let revoked_at: Option<i64> =
            sqlx::query_scalar("SELECT revoked_at FROM api_keys WHERE id = $1")
                .bind(id)
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        assert!(
            revoked_at.is_some(),
            "key {id}'s revocation was acknowledged"
        );
    }
    // Nothing half-written: every key has its creation entry, every revoked key its revocation entry.
    let keys = count(&app, "SELECT COUNT(*) FROM api_keys").await;
    let creations = count(
        &app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'key.created'",
    )
    .await;
    assert_eq!(keys, creations);
    let revocations = count(
        &app,
        "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL",
    )
    .await;
    let revocation_entries = count(
        &app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'key.revoked'",
    )
    .await;
    assert_eq!(revocations, revocation_entries);
    assert!(
        keys as usize <= created.len() + 1,
        "at most the one write in flight got in unacknowledged"
    );

    let verify = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &app.database_url)
        .env("KEYWARD_LOG", "error")
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // The binary starts again on the same store and serves the same keys.
    let again = Binary::start(&app.database_url).await;
    let base = again.base.clone();
    let (status, list) = rpc_on(&admin, &base, "load_keys", Args::Form(&[]))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{list}");
    again.kill();
}

async fn count_bound(app: &TestApp, sql: &str, value: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(value)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}
