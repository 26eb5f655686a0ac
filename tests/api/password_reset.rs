//! Password reset links (issue 20, without email): made by the operator's
//! `keyward user reset-password`, used once within an hour over raw HTTP.

use crate::common::*;
use chrono::Duration;
use keyward::auth::email::Email;
use keyward::auth::password_reset;
use reqwest::StatusCode;
use serde_json::Value;

const NEW_PASSWORD: &str = "a freshly reset passphrase";

async fn link_for(app: &TestApp, email: &str) -> String {
    let link = password_reset::create(
        &app.db,
        &Email::parse(email).unwrap(),
        password_reset::Requester::CommandLine,
        app.clock.now(),
        &Default::default(),
    )
    .await
    .expect("a link");
    link.token.expose().to_owned()
}

async fn signs_in(app: &TestApp, password: &str) -> StatusCode {
    let client = Client::new(app);
    client
        .rpc(
            "sign_in",
            &[("email", "ana@example.com"), ("password", password)],
        )
        .await
        .0
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_signs_out_everywhere() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = link_for(&app, "ana@example.com").await;
    let stranger = Client::new(&app);
    assert_eq!(
        stranger.ok("check_reset_link", &[("token", &token)]).await,
        "ana@example.com"
    );
    // The store has a digest, never the token.
    let stored = count(
        &app,
        &format!("SELECT COUNT(*) FROM password_resets WHERE token_digest = '{token}'"),
    )
    .await;
    assert_eq!(stored, 0);

    let (status, body) = stranger
        .rpc(
            "reset_password",
            &[("token", &token), ("new_password", "short")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "new_password");
    stranger
        .ok(
            "reset_password",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(
        admin.rpc("load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    assert_eq!(
        stranger.rpc("load_me", &[]).await.0,
        StatusCode::UNAUTHORIZED,
        "a reset signs nobody in"
    );
    assert_eq!(signs_in(&app, PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert!(signs_in(&app, NEW_PASSWORD).await.is_success());

    // Spent: neither the page nor the function takes it again.
    assert_eq!(
        stranger.ok("check_reset_link", &[("token", &token)]).await,
        serde_json::Value::Null
    );
    let (status, _) = stranger
        .rpc(
            "reset_password",
            &[
                ("token", &token),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&"user.password_reset_link_created".to_owned()));
    assert!(actions.contains(&"user.password_reset".to_owned()));
    let logged: String = sqlx::query_scalar(
        "SELECT COALESCE(changes, '') FROM audit_entries WHERE action = 'user.password_reset_link_created'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(!logged.contains(&token));
}

/// Links made at once (several "Forgot your password?" requests in flight)
/// still leave one working link, on PostgreSQL as on SQLite.
#[tokio::test]
async fn links_made_in_a_parallel_burst_leave_one_that_works() {
    let app = spawn_app().await;
    admin(&app).await;
    let tokens = futures::future::join_all((0..8).map(|_| link_for(&app, "ana@example.com"))).await;
    let working = count(
        &app,
        "SELECT COUNT(*) FROM password_resets WHERE used_at IS NULL",
    )
    .await;
    assert_eq!(working, 1);
    let stranger = Client::new(&app);
    let mut opened = 0;
    for token in &tokens {
        if stranger.ok("check_reset_link", &[("token", token)]).await != Value::Null {
            opened += 1;
        }
    }
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn a_link_expires_after_an_hour_and_a_newer_one_cancels_it() {
    let app = spawn_app().await;
    admin(&app).await;
    let client = Client::new(&app);
    let first = link_for(&app, "ana@example.com").await;
    let second = link_for(&app, "ana@example.com").await;
    let (status, _) = client
        .rpc(
            "reset_password",
            &[("token", &first), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the newer link replaced it");
    app.clock.advance(Duration::minutes(61));
    let (status, _) = client
        .rpc(
            "reset_password",
            &[("token", &second), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "expired");
    let (status, _) = client
        .rpc(
            "reset_password",
            &[("token", "not-a-token"), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(signs_in(&app, PASSWORD).await.is_success());
    let unknown = password_reset::create(
        &app.db,
        &Email::parse("nobody@example.com").unwrap(),
        password_reset::Requester::CommandLine,
        app.clock.now(),
        &Default::default(),
    )
    .await;
    assert!(unknown.is_err());
}

#[tokio::test]
async fn the_same_link_in_a_parallel_burst_resets_once() {
    let app = spawn_app().await;
    admin(&app).await;
    let token = link_for(&app, "ana@example.com").await;
    let clients: Vec<Client> = (0..6).map(|_| Client::new(&app)).collect();
    let passwords: Vec<String> = (0..6).map(|n| format!("parallel passphrase {n}")).collect();
    let tries = clients
        .iter()
        .zip(&passwords)
        .map(|(client, password)| async {
            client
                .rpc(
                    "reset_password",
                    &[("token", token.as_str()), ("new_password", password)],
                )
                .await
                .0
        });
    let statuses = futures::future::join_all(tries).await;
    let done = statuses.iter().filter(|status| status.is_success()).count();
    assert_eq!(done, 1, "{statuses:?}");
}

#[tokio::test]
async fn the_command_prints_a_link_that_works() {
    let app = spawn_app().await;
    admin(&app).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["user", "reset-password", "--email", "ana@example.com"])
        .env("DATABASE_URL", &app.database_url)
        .env("KEYWARD_PUBLIC_URL", "https://keys.example.com")
        .env("KEYWARD_LOG", "error")
        .output()
        .expect("run keyward");
    assert!(output.status.success(), "{output:?}");
    let link = String::from_utf8(output.stdout).unwrap();
    let token = link
        .trim()
        .strip_prefix("https://keys.example.com/reset/")
        .unwrap_or_else(|| panic!("{link}"));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains(token), "{stderr}");
    let client = Client::new(&app);
    client
        .ok(
            "reset_password",
            &[("token", token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert!(signs_in(&app, NEW_PASSWORD).await.is_success());

    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["user", "reset-password", "--email", "nobody@example.com"])
        .env("DATABASE_URL", &app.database_url)
        .env("KEYWARD_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stdout.is_empty());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody@example.com"));
}
