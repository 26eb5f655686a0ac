//! Setup link, sign-in, sessions, sign-out and throttling.

use crate::common::*;
use chrono::Duration;
use reqwest::StatusCode;

#[tokio::test]
async fn setup_link_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let token = setup_token(&app);
    let anonymous = Client::new(&app);
    let (_, status) = anonymous
        .rpc("check_setup_link", &[("token", "wrong")])
        .await;
    assert_eq!(status, "InvalidToken");

    let admin = admin(&app).await;
    let me = admin.ok("load_me", &[]).await;
    assert_eq!(me["email"], "ana@example.com");
    assert_eq!(me["workspace"]["name"], "Acme");
    assert_eq!(me["workspace"]["role"], "admin");

    let (_, status) = anonymous
        .rpc("check_setup_link", &[("token", &token)])
        .await;
    assert_eq!(status, "AlreadyDone");
    let (status, body) = anonymous
        .rpc(
            "complete_setup",
            &[
                ("token", &token),
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("workspace", "Evil"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn setup_refuses_a_wrong_token_and_creates_nothing() {
    let app = spawn_app().await;
    let (status, _) = Client::new(&app)
        .rpc(
            "complete_setup",
            &[
                ("token", "0000"),
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("workspace", "Evil"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM workspaces").await, 0);
}

#[tokio::test]
async fn sign_in_does_not_reveal_whether_the_email_exists() {
    let app = spawn_app().await;
    admin(&app).await;
    let client = Client::new(&app);
    let (wrong_password_status, wrong_password) = client
        .rpc(
            "sign_in",
            &[
                ("email", "ana@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    let (unknown_status, unknown) = client
        .rpc(
            "sign_in",
            &[
                ("email", "nobody@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong_password_status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown);
    let (status, _) = client.rpc("load_me", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_normalises_the_email_and_cycles_the_session_id() {
    let app = spawn_app().await;
    admin(&app).await;
    let client = Client::new(&app);
    // A session that exists before sign-in (e.g. planted by an attacker) must not
    // survive it: sign in once, keep that cookie, sign in again on it.
    let first = client
        .http
        .post(format!("{}/rpc/sign_in", app.base))
        .form(&[("email", "ana@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let before = first
        .cookies()
        .find(|c| c.name() == "keyward_session")
        .map(|c| c.value().to_owned())
        .expect("the first sign-in sets a session cookie");
    assert_eq!(client.ok("load_me", &[]).await["email"], "ana@example.com");
    let response = client
        .http
        .post(format!("{}/rpc/sign_in", app.base))
        .form(&[("email", "  ANA@Example.com "), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection());
    let cookie = response
        .cookies()
        .find(|c| c.name() == "keyward_session")
        .expect("session cookie");
    assert!(cookie.http_only());
    assert!(cookie.same_site_lax());
    assert!(!cookie.secure(), "KEYWARD_COOKIE_SECURE=false in tests");
    assert_ne!(
        cookie.value(),
        before,
        "the session id is new after sign-in"
    );
    // The old id no longer signs anyone in.
    let planted = http()
        .post(format!("{}/rpc/load_me", app.base))
        .header("origin", &app.base)
        .header("cookie", format!("keyward_session={before}"))
        .send()
        .await
        .unwrap();
    assert_eq!(planted.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client.ok("load_me", &[]).await["email"], "ana@example.com");
}

#[tokio::test]
async fn sign_out_deletes_the_session_on_the_server() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    assert_eq!(
        admin.get("/settings/api-keys").await.status(),
        StatusCode::OK
    );
    let sessions_before = session_count(&app).await;
    admin.ok("sign_out", &[]).await;
    let (status, _) = admin.rpc("load_me", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(session_count(&app).await, sessions_before - 1);
}

#[tokio::test]
async fn ten_failures_lock_the_email_for_fifteen_minutes() {
    let app = spawn_app().await;
    admin(&app).await;
    let client = Client::new(&app);
    for _ in 0..10 {
        let (status, _) = client
            .rpc(
                "sign_in",
                &[
                    ("email", "ana@example.com"),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = client
        .rpc(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["kind"], "too_many_attempts");
    assert_eq!(body["minutes"], 15);

    app.clock.advance(Duration::minutes(16));
    client
        .ok(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
}
