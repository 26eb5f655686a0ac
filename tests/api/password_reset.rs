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

/// The Members page's "Reset password": the admin's link works like the
/// operator's, is audited in the workspace by the admin, and never names
/// the token anywhere but in the answer.
#[tokio::test]
async fn an_admin_makes_a_reset_link_for_a_member_which_works_once() {
    let app = spawn_app().await;
    let ana = admin(&app).await;
    member(&app, &ana, "bo@example.com", "developer").await;
    let bo_id = user_id_of(&app, "bo@example.com").await;
    let made = ana
        .ok("create_member_reset_link", &[("user_id", &bo_id)])
        .await;
    let link = made.as_str().expect("the link alone");
    let token = link.rsplit_once("/reset/").expect("a reset link").1;
    // A second link cancels the first.
    let newer = ana
        .ok("create_member_reset_link", &[("user_id", &bo_id)])
        .await;
    let newer_token = newer.as_str().unwrap().rsplit_once("/reset/").unwrap().1;
    let stranger = Client::new(&app);
    let (status, _) = stranger
        .rpc(
            "reset_password",
            &[("token", token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the older link stopped working"
    );
    stranger
        .ok(
            "reset_password",
            &[("token", newer_token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    Client::new(&app)
        .ok(
            "sign_in",
            &[("email", "bo@example.com"), ("password", NEW_PASSWORD)],
        )
        .await;

    let (actor, workspace, changes): (Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT actor_user_id, workspace_id, changes FROM audit_entries
         WHERE action = 'user.password_reset_link_created' ORDER BY seq LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(actor, Some(user_id_of(&app, "ana@example.com").await));
    assert!(workspace.is_some(), "in the workspace's log");
    let changes: Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(changes["by"], "admin");
    let everything: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(changes, '') || COALESCE(target_label, '') FROM audit_entries",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    for text in everything {
        assert!(
            !text.contains(token) && !text.contains(newer_token),
            "{text}"
        );
    }
}

/// What an admin must not do with it: their own account, a member of a
/// workspace they do not run (through a shared member, or by id from
/// another workspace), an id that is no one's; and nothing is made.
#[tokio::test]
async fn an_admin_cannot_make_reset_links_beyond_their_workspace() {
    let app = spawn_app().await;
    let ana = admin(&app).await;
    let ana_id = user_id_of(&app, "ana@example.com").await;
    let bo = member(&app, &ana, "bo@example.com", "developer").await;
    let bo_id = user_id_of(&app, "bo@example.com").await;
    member(&app, &ana, "cy@example.com", "viewer").await;
    let cy_id = user_id_of(&app, "cy@example.com").await;

    let (status, body) = ana
        .rpc("create_member_reset_link", &[("user_id", &ana_id)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("account page"),
        "{body}"
    );

    // Bo runs a workspace of his own: Ana's link would open it too.
    bo.ok("create_workspace", &[("name", "Bo's Lab")]).await;
    let (status, body) = ana
        .rpc("create_member_reset_link", &[("user_id", &bo_id)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("operator"),
        "{body}"
    );

    // From Bo's Lab, Bo is an admin, but Cy and Ana are not his members.
    for target in [&cy_id, &ana_id, &"no-such-user".to_owned()] {
        let (status, body) = bo
            .rpc("create_member_reset_link", &[("user_id", target)])
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{target}: {body}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM password_resets").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'user.password_reset_link_created'"
        )
        .await,
        0
    );
}

/// The check holds when the link is used too: a member who made a
/// workspace of their own within the link's hour is beyond the admin's reach.
#[tokio::test]
async fn an_admins_reset_link_stops_working_once_the_member_is_beyond_that_admin() {
    let app = spawn_app().await;
    let ana = admin(&app).await;
    let bo = member(&app, &ana, "bo@example.com", "developer").await;
    let bo_id = user_id_of(&app, "bo@example.com").await;
    let made = ana
        .ok("create_member_reset_link", &[("user_id", &bo_id)])
        .await;
    let token = made
        .as_str()
        .unwrap()
        .rsplit_once("/reset/")
        .unwrap()
        .1
        .to_owned();
    bo.ok("create_workspace", &[("name", "Bo's Lab")]).await;
    let (status, body) = Client::new(&app)
        .rpc(
            "reset_password",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no longer works"),
        "{body}"
    );
    Client::new(&app)
        .ok(
            "sign_in",
            &[("email", "bo@example.com"), ("password", PASSWORD)],
        )
        .await;
}
