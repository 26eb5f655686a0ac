//! Access control over raw HTTP: every server function and page checks the
//! session and the role itself, and cross-site requests change nothing.

use crate::common::*;
use reqwest::StatusCode;

/// Admin-only server functions with plausible arguments.
fn admin_calls(user_id: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    vec![
        ("load_members", vec![]),
        (
            "invite_member",
            vec![
                ("email", "eve@example.com".into()),
                ("role", "admin".into()),
            ],
        ),
        ("revoke_invite", vec![("invite_id", "anything".into())]),
        (
            "change_member_role",
            vec![("user_id", user_id.into()), ("role", "viewer".into())],
        ),
        ("remove_member", vec![("user_id", user_id.into())]),
        (
            "create_member_reset_link",
            vec![("user_id", user_id.into())],
        ),
    ]
}

#[tokio::test]
async fn developers_and_viewers_are_refused_every_admin_function_and_nothing_changes() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    let ana_id = user_id_of(&app, "ana@example.com").await;
    let invites_before = count(&app, "SELECT COUNT(*) FROM invites").await;
    let audit_before = count(&app, "SELECT COUNT(*) FROM audit_entries").await;
    for client in [&developer, &viewer] {
        for (name, args) in admin_calls(&ana_id) {
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = client.rpc(name, &args).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
            assert_eq!(body["kind"], "forbidden");
        }
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM invites").await,
        invites_before
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM audit_entries").await,
        audit_before
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM memberships WHERE role = 'admin'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn without_a_session_every_function_answers_401_and_pages_redirect_to_sign_in() {
    let app = spawn_app().await;
    admin(&app).await;
    let stranger = Client::new(&app);
    let ana_id = user_id_of(&app, "ana@example.com").await;
    let mut calls = admin_calls(&ana_id);
    calls.push(("load_me", vec![]));
    calls.push(("create_workspace", vec![("name", "Sneaky".into())]));
    calls.push(("switch_workspace", vec![("workspace_id", "x".into())]));
    for (name, args) in calls {
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = stranger.rpc(name, &args).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    }
    for page in [
        "/",
        "/settings/api-keys",
        "/settings/members",
        "/settings/audit-log",
    ] {
        let response = stranger.get(page).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
        assert_eq!(response.headers()["location"], "/signin");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM workspaces").await, 1);
}

#[tokio::test]
async fn admin_pages_answer_403_to_other_roles() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    assert_eq!(
        developer.get("/settings/api-keys").await.status(),
        StatusCode::OK
    );
    for page in ["/settings/members", "/settings/service-tokens"] {
        assert_eq!(
            developer.get(page).await.status(),
            StatusCode::FORBIDDEN,
            "{page}"
        );
        assert_eq!(admin.get(page).await.status(), StatusCode::OK, "{page}");
    }
    // Developers read the entries and the usage of their own keys; viewers neither.
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    for page in ["/settings/audit-log", "/settings/usage"] {
        assert_eq!(developer.get(page).await.status(), StatusCode::OK, "{page}");
        assert_eq!(
            viewer.get(page).await.status(),
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    admin(&app).await;
    // The admin's browser holds a valid session; another site's page makes it post.
    let session = admin_session_id(&app).await;
    let response = http()
        .post(format!("{}/rpc/invite_member", app.base))
        .header("origin", "https://evil.example")
        .header("cookie", format!("keyward_session={session}"))
        .form(&[("email", "eve@example.com"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // And with no Origin or Referer at all.
    let response = http()
        .post(format!("{}/rpc/invite_member", app.base))
        .header("cookie", format!("keyward_session={session}"))
        .form(&[("email", "eve@example.com"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM invites").await, 0);
}

/// A fresh session id of the admin, from signing in.
async fn admin_session_id(app: &TestApp) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
        .post(format!("{}/rpc/sign_in", app.base))
        .header("origin", &app.base)
        .form(&[("email", "ana@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    response
        .cookies()
        .find(|c| c.name() == "keyward_session")
        .expect("session cookie")
        .value()
        .to_owned()
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let client = Client::new(&app);
    assert_eq!(client.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(client.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(
        client.get("/no/such/page").await.status(),
        StatusCode::NOT_FOUND
    );
}
