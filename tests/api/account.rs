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

/// How many audit entries of `action` there are.
async fn entries(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE action = $1")
        .bind(action)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
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
    assert_eq!(entries(&app, "user.password_changed").await, 0);
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

    let (mine, laptops) = (id_of(&listed, true), id_of(&listed, false));
    let (status, body) = admin.rpc("end_session", &[("session_id", &mine)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = admin.rpc("end_session", &[("session_id", "made-up")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // The laptop signed in later: this older browser may not sign it out.
    let laptop_row = listed.iter().find(|s| s["id"] == laptops.as_str()).unwrap();
    assert_eq!(laptop_row["can_sign_out"], false, "{laptop_row}");
    let (status, body) = admin.rpc("end_session", &[("session_id", &laptops)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string().contains("signed in after this one"),
        "{body}"
    );
    assert!(signed_in(&laptop).await);

    // The newer laptop signs the older browser out.
    let from_laptop = sessions(&laptop).await;
    let admin_row = from_laptop
        .iter()
        .find(|s| s["id"] == mine.as_str())
        .unwrap();
    assert_eq!(admin_row["can_sign_out"], true, "{admin_row}");
    laptop.ok("end_session", &[("session_id", &mine)]).await;
    assert!(!signed_in(&admin).await, "the older browser is signed out");
    assert!(signed_in(&laptop).await);
    assert_eq!(sessions(&laptop).await.len(), 1);
    let (status, _) = laptop.rpc("end_session", &[("session_id", &mine)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already ended");
    assert_eq!(entries(&app, "user.sessions_ended").await, 1);
}

/// Signs in without a cookie jar: the session cookie, as a `Cookie` header.
async fn session_cookie(app: &TestApp, email: &str, password: &str) -> String {
    let response = answer_with_cookie(
        app,
        None,
        "sign_in",
        &[("email", email), ("password", password)],
    )
    .await;
    response.1.expect("sign-in sets the session cookie")
}

/// A server function called with `cookie`: its status and the session cookie it set, if any.
async fn answer_with_cookie(
    app: &TestApp,
    cookie: Option<&str>,
    name: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client
        .post(format!("{}/rpc/{name}", app.base))
        .header("origin", &app.base)
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("keyward_session="))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    (response.status(), set)
}

#[tokio::test]
async fn a_copied_cookie_cannot_lock_its_owner_out() {
    let app = spawn_app().await;
    let _admin = admin(&app).await;
    // A thief copies the cookie of the owner's browser.
    let copied = session_cookie(&app, "ana@example.com", PASSWORD).await;
    // The owner signs in again: the newer session, which the copy cannot sign out.
    let owner = sign_in(&app, "ana@example.com", PASSWORD).await;
    let (status, _) = answer_with_cookie(&app, Some(&copied), "end_other_sessions", &[]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "ends nothing newer, and says so by ending nothing"
    );
    assert!(
        signed_in(&owner).await,
        "the copy did not sign the owner out"
    );
    let owners = id_of(&sessions(&owner).await, true);
    let (status, _) = answer_with_cookie(
        &app,
        Some(&copied),
        "end_session",
        &[("session_id", &owners)],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(signed_in(&owner).await);
    // The owner ends the copy.
    owner.ok("end_other_sessions", &[]).await;
    let (status, _) = answer_with_cookie(&app, Some(&copied), "load_me", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_gives_this_browser_a_new_session_id() {
    let app = spawn_app().await;
    let _admin = admin(&app).await;
    let cookie = session_cookie(&app, "ana@example.com", PASSWORD).await;
    let (status, renewed) = answer_with_cookie(
        &app,
        Some(&cookie),
        "change_password",
        &[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert!(status.is_success() || status.is_redirection(), "{status}");
    let renewed = renewed.expect("a new session cookie");
    assert_ne!(renewed, cookie);
    let (status, _) = answer_with_cookie(&app, Some(&cookie), "load_me", &[]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a copy of the old cookie is worthless"
    );
    let (status, _) = answer_with_cookie(&app, Some(&renewed), "load_me", &[]).await;
    assert_eq!(status, StatusCode::OK, "this browser stays signed in");
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
    let middle = sign_in(&app, "ana@example.com", PASSWORD).await;
    let newest = sign_in(&app, "ana@example.com", PASSWORD).await;
    // From the middle one, only the older admin session ends.
    middle.ok("end_other_sessions", &[]).await;
    assert!(!signed_in(&admin).await);
    assert!(signed_in(&newest).await, "a newer browser stays");
    newest.ok("end_other_sessions", &[]).await;
    assert!(signed_in(&newest).await);
    assert!(!signed_in(&middle).await);
    assert_eq!(entries(&app, "user.sessions_ended").await, 2);
    // The cookie of a signed-out browser opens no page either.
    let page = admin.get("/settings/api-keys").await;
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "redirected to sign in"
    );
}

#[tokio::test]
async fn parallel_sign_outs_of_one_session_end_it_once() {
    let app = spawn_app().await;
    let _admin = admin(&app).await;
    let laptop = sign_in(&app, "ana@example.com", PASSWORD).await;
    let older = id_of(&sessions(&laptop).await, false);
    let form = [("session_id", older.as_str())];
    let burst = (0..6).map(|_| laptop.rpc("end_session", &form));
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
    assert_eq!(entries(&app, "user.sessions_ended").await, 1);
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
