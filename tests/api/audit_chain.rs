//! The audit log's hash chains: intact after real activity, intact under
//! concurrent appends, and `keyward audit verify` finds an edit made behind
//! the triggers' back.

use crate::common::*;
use keyward::audit::AuditAction;
use keyward::audit::chain::verify;
use keyward::audit::store::{Actor, ClientInfo, NewEntry, append};
use serde_json::json;

async fn workspace_id(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT id FROM workspaces LIMIT 1")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Runs `keyward audit verify` against the app's database: (exit success, stdout).
fn verify_command(app: &TestApp) -> (bool, String) {
    verify_command_with(app, &[])
}

/// `keyward audit verify` with more arguments.
fn verify_command_with(app: &TestApp, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "verify"])
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("KEYWARD_LOG", "error")
        .output()
        .expect("run keyward audit verify");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn real_activity_leaves_an_intact_chain() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    invite(&admin, "bob@example.com", "viewer").await;
    admin.ok("sign_out", &[]).await;
    let verification = verify(&app.db, None).await.unwrap();
    assert_eq!(verification.broken, None);
    let total = count(&app, "SELECT COUNT(*) FROM audit_entries").await;
    assert_eq!(verification.entries_checked as i64, total);
    let (ok, output) = verify_command(&app);
    assert!(ok, "{output}");
    assert!(output.contains("intact"), "{output}");
}

#[tokio::test]
async fn concurrent_writers_never_fork_a_chain() {
    let app = spawn_app().await;
    admin(&app).await;
    let workspace = workspace_id(&app).await;
    let writers = (0..8).map(|writer| {
        let (db, workspace, clock) = (app.db.clone(), workspace.clone(), app.clock.clone());
        tokio::spawn(async move {
            let label = format!("writer {writer}");
            for _ in 0..500 {
                let mut tx = db.begin().await.unwrap();
                let entry = NewEntry {
                    workspace_id: Some(&workspace),
                    actor: Actor {
                        user_id: None,
                        label: &label,
                        email: Some("writer@example.com"),
                    },
                    action: AuditAction::SettingsChanged,
                    target: None,
                    client: &ClientInfo::default(),
                    changes: Some(json!({ "writer": writer })),
                };
                append(&mut tx, clock.now(), entry).await.unwrap();
                tx.commit().await.unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let verification = verify(&app.db, Some(&workspace)).await.unwrap();
    assert_eq!(verification.broken, None);
    assert!(verification.entries_checked >= 4000);
}

#[tokio::test]
async fn the_verify_command_finds_an_entry_edited_behind_the_triggers_back() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    invite(&admin, "bob@example.com", "viewer").await;
    invite(&admin, "eve@example.com", "viewer").await;
    let target: i64 = sqlx::query_scalar(
        "SELECT seq FROM audit_entries WHERE action = 'member.invited' ORDER BY seq LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let (disable, enable) = if app.backend == keyward::db::Backend::Postgres {
        (
            "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_refuse_update".to_owned(),
            "ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_refuse_update".to_owned(),
        )
    } else {
        (
            "DROP TRIGGER audit_entries_refuse_update".to_owned(),
            "CREATE TRIGGER audit_entries_refuse_update BEFORE UPDATE ON audit_entries
             BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
                .to_owned(),
        )
    };
    // One connection for all three, as someone with a database shell would do it.
    let mut conn = app.db.pool().acquire().await.unwrap();
    sqlx::raw_sql(&disable).execute(&mut *conn).await.unwrap();
    sqlx::query("UPDATE audit_entries SET target_label = 'mallory@example.com' WHERE seq = $1")
        .bind(target)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(&enable).execute(&mut *conn).await.unwrap();
    drop(conn);

    let verification = verify(&app.db, None).await.unwrap();
    assert_eq!(verification.broken.map(|link| link.seq), Some(target));
    let (ok, output) = verify_command(&app);
    assert!(!ok, "the command must fail: {output}");
    assert!(output.contains(&format!("seq {target}")), "{output}");
}

/// The chain alone cannot see its newest entries dropped: what is left still
/// links. A head read earlier from `GET /api/v1/audit/head` can.
#[tokio::test]
async fn a_checkpoint_catches_entries_dropped_behind_the_triggers_back() {
    use crate::fixtures::{answer, api, create_key};
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let auditor = create_key(&admin, json!({ "scopes": ["audit:read"] })).await;
    let (status, body) = answer(api(
        &app,
        &auditor.secret,
        reqwest::Method::GET,
        "/api/v1/audit/head",
    ))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let head = &body["head"];
    let (seq, hash) = (
        head["seq"].as_i64().unwrap(),
        head["hash"].as_str().unwrap().to_owned(),
    );
    let newest: i64 =
        sqlx::query_scalar("SELECT MAX(seq) FROM audit_entries WHERE workspace_id = $1")
            .bind(body["workspace_id"].as_str().unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(seq, newest, "{body}");
    assert!(head["at"].is_string(), "{body}");
    let checkpoint = format!("{seq}:{hash}");
    let (ok, output) = verify_command_with(&app, &["--checkpoint", &checkpoint]);
    assert!(ok, "{output}");
    assert!(output.contains("matches 1 checkpoint"), "{output}");

    // A developer's key cannot read the head (it covers every key's entries), nor a key without the scope.
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let devs = create_key(&dev, json!({ "scopes": ["audit:read"] })).await;
    let (status, body) = answer(api(
        &app,
        &devs.secret,
        reqwest::Method::GET,
        "/api/v1/audit/head",
    ))
    .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{body}");
    let plain = create_key(&admin, json!({})).await;
    let (status, body) = answer(api(
        &app,
        &plain.secret,
        reqwest::Method::GET,
        "/api/v1/audit/head",
    ))
    .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "INSUFFICIENT_SCOPE", "{body}");

    // Drop the checkpoint's entry and everything after it, as someone with a database shell would.
    let (disable, enable) = if app.backend == keyward::db::Backend::Postgres {
        (
            "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_refuse_update",
            "ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_refuse_update",
        )
    } else {
        (
            "DROP TRIGGER audit_entries_refuse_delete",
            "CREATE TRIGGER audit_entries_refuse_delete BEFORE DELETE ON audit_entries
             BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
        )
    };
    let mut conn = app.db.pool().acquire().await.unwrap();
    sqlx::raw_sql(disable).execute(&mut *conn).await.unwrap();
    sqlx::query("DELETE FROM audit_entries WHERE seq >= $1")
        .bind(seq)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(enable).execute(&mut *conn).await.unwrap();
    drop(conn);

    let (ok, output) = verify_command(&app);
    assert!(ok, "what is left still links: {output}");
    let (ok, output) = verify_command_with(&app, &["--checkpoint", &checkpoint]);
    assert!(!ok, "{output}");
    assert!(output.contains(&format!("no entry seq {seq}")), "{output}");
    assert!(output.contains("truncated or rewritten"), "{output}");

    // A wrong hash for an entry that is there: rewritten.
    let (kept, kept_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let forged = format!("{kept}:{}", "0".repeat(64));
    let (ok, output) = verify_command_with(&app, &["--checkpoint", &forged]);
    assert!(!ok, "{output}");
    assert!(output.contains(&kept_hash), "{output}");
    // A checkpoint that is not SEQ:HASH is refused before anything is read.
    let (ok, _) = verify_command_with(&app, &["--checkpoint", "12:nothex"]);
    assert!(!ok);
}
