//! Settings → Account (issue 20) over raw HTTP: a user's own name, password
//! and sessions, and what an attacker with a session, or without one, can do.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Another browser signed in as `email`.
async fn sign_in(app: &TestApp, email: &str, password: &str) -> Client {
    let client = Client::new(app);
    client
        .ok("sign_in", &[("email", email), ("password", password)])
        .await;
    client
}

async fn signed_in(client: &Client) -> bool {
    let (status, body) = client.rpc("load_me", &[]).await;
    match status {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("load_me answered {other}: {body}"),
    }
}

fn field(body: &Value) -> &str {
    body["field"].as_str().unwrap_or("(no field)")
}

async fn sessions(client: &Client) -> Vec<Value> {
    let account = client.ok("load_account", &[]).await;
    account["sessions"].as_array().unwrap().clone()
}

fn id_of(sessions: &[Value], current: bool) -> String {
    sessions
        .iter()
        .find(|session| session["current"] == current)
        .expect("such a session")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn changing_the_password_signs_out_every_other_session() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let laptop = sign_in(&app, "ana@example.com", PASSWORD).await;
    let phone = sign_in(&app, "ana@example.com", PASSWORD).await;

    let (status, body) = admin
        .rpc(
            "change_password",
            &[
                ("current_password", "not my password"),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body), "current_password", "{body}");
    let (status, body) = admin
        .rpc(
            "change_password",
            &[("current_password", PASSWORD), ("new_password", "short")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body), "new_password", "{body}");
    assert!(signed_in(&laptop).await, "a refused change ends nothing");

    admin
        .ok(
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert!(signed_in(&admin).await, "the session that changed it stays");
    assert!(!signed_in(&laptop).await, "other sessions are signed out");
    assert!(!signed_in(&phone).await);

    let (status, _) = Client::new(&app)
        .rpc(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let again = sign_in(&app, "ana@example.com", NEW_PASSWORD).await;
    assert!(signed_in(&again).await);

    let changes: String = sqlx::query_scalar(
        "SELECT changes FROM audit_entries WHERE action = 'user.password_changed'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let changes: Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(changes["other_sessions_ended"], 2, "{changes}");
    let entries: Vec<String> =
        sqlx::query_scalar("SELECT COALESCE(changes, '') FROM audit_entries")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert!(
        entries
            .iter()
            .all(|entry| !entry.contains(NEW_PASSWORD) && !entry.contains("argon2")),
        "no password or hash in the audit log"
    );
}

#[tokio::test]
async fn the_current_password_is_throttled_like_a_sign_in() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for _ in 0..10 {
        let (status, body) = admin
            .rpc(
                "change_password",
                &[
                    ("current_password", "a wrong guess"),
                    ("new_password", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let (status, body) = admin
        .rpc(
            "change_password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'user.password_changed'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn sessions_are_listed_and_another_can_be_signed_out() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let laptop = sign_in(&app, "ana@example.com", PASSWORD).await;

    let listed = sessions(&admin).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        listed
            .iter()
            .filter(|session| session["current"] == true)
            .count(),
        1
    );
    let session = &listed[0];
    assert_eq!(session["ip"], "127.0.0.1", "{session}");
    assert_eq!(session["user_agent"], "keyward-tests/1.0", "{session}");
    assert!(session["signed_in_at"].is_string() && session["last_active_at"].is_string());

    let mine = id_of(&listed, true);
    let (status, body) = admin.rpc("end_session", &[("session_id", &mine)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = admin.rpc("end_session", &[("session_id", "made-up")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let theirs = id_of(&listed, false);
    admin.ok("end_session", &[("session_id", &theirs)]).await;
    assert!(!signed_in(&laptop).await, "the laptop is signed out");
    assert!(signed_in(&admin).await);
    assert_eq!(sessions(&admin).await.len(), 1);
    let (status, _) = admin.rpc("end_session", &[("session_id", &theirs)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already ended");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'user.sessions_ended'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn nobody_ends_or_sees_another_users_sessions() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let viewer = member(&app, &admin, "vic@example.com", "viewer").await;
    let admins_session = id_of(&sessions(&admin).await, true);

    let listed = sessions(&viewer).await;
    assert_eq!(listed.len(), 1, "only their own: {listed:?}");
    let (status, body) = viewer
        .rpc("end_session", &[("session_id", &admins_session)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    viewer.ok("end_other_sessions", &[]).await;
    assert!(signed_in(&admin).await, "the admin is still signed in");

    // An admin of the workspace is no different: the account is the user's own.
    let viewers_session = id_of(&listed, true);
    let (status, _) = admin
        .rpc("end_session", &[("session_id", &viewers_session)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(signed_in(&viewer).await);
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_this_browser() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let others = [
        sign_in(&app, "ana@example.com", PASSWORD).await,
        sign_in(&app, "ana@example.com", PASSWORD).await,
    ];
    admin.ok("end_other_sessions", &[]).await;
    assert!(signed_in(&admin).await);
    for other in &others {
        assert!(!signed_in(other).await);
    }
    // The cookie of a signed-out browser opens no page either.
    let page = others[0].get("/settings/api-keys").await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "redirected to sign in"
    );
}

#[tokio::test]
async fn parallel_sign_outs_of_one_session_end_it_once() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let _laptop = sign_in(&app, "ana@example.com", PASSWORD).await;
    let theirs = id_of(&sessions(&admin).await, false);
    let form = [("session_id", theirs.as_str())];
    let burst = (0..6).map(|_| admin.rpc("end_session", &form));
    let statuses: Vec<StatusCode> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|status| status.is_success()).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|status| status.is_success() || *status == StatusCode::NOT_FOUND)
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'user.sessions_ended'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_name_is_changed_and_recorded() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (status, body) = admin.rpc("rename_account", &[("name", "   ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body), "name");
    admin
        .ok("rename_account", &[("name", "Ana María Díaz")])
        .await;
    let me = admin.ok("load_me", &[]).await;
    assert_eq!(me["name"], "Ana María Díaz");
    let changes: String =
        sqlx::query_scalar("SELECT changes FROM audit_entries WHERE action = 'user.updated'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let changes: Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(changes["name"]["before"], "Ana Diaz");
    assert_eq!(changes["name"]["after"], "Ana María Díaz");
}

#[tokio::test]
async fn without_a_session_the_account_is_closed() {
    let app = spawn_app().await;
    let _admin = admin(&app).await;
    let stranger = Client::new(&app);
    for (name, form) in [
        ("load_account", vec![]),
        ("rename_account", vec![("name", "Mallory")]),
        (
            "change_password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        ),
        ("end_session", vec![("session_id", "x")]),
        ("end_other_sessions", vec![]),
    ] {
        let (status, body) = stranger.rpc(name, &form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    let page = stranger.get("/settings/account").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}
