//! Invites, roles, removal and switching workspaces.

use crate::common::*;
use chrono::Duration;
use reqwest::StatusCode;

#[tokio::test]
async fn an_invite_creates_an_account_with_the_role_and_works_once() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = invite(&admin, "Bob@Example.com", "developer").await;
    let bob = Client::new(&app);
    let (_, status) = bob.rpc("load_invite", &[("token", &token)]).await;
    assert_eq!(status["Open"]["email"], "bob@example.com");
    assert_eq!(status["Open"]["account_exists"], false);

    bob.ok(
        "accept_invite",
        &[
            ("token", &token),
            ("name", "Bob Ray"),
            ("password", PASSWORD),
        ],
    )
    .await;
    let me = bob.ok("load_me", &[]).await;
    assert_eq!(me["workspace"]["role"], "developer");
    assert_eq!(me["name"], "Bob Ray");

    let (status, body) = Client::new(&app)
        .rpc(
            "accept_invite",
            &[
                ("token", &token),
                ("name", "Mallory"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["message"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (_, status) = bob.rpc("load_invite", &[("token", &token)]).await;
    assert_eq!(status, "Used");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 2);
}

#[tokio::test]
async fn expired_and_revoked_invites_are_refused_clearly() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let expiring = invite(&admin, "late@example.com", "viewer").await;
    let revoked = invite(&admin, "gone@example.com", "viewer").await;
    let members = admin.ok("load_members", &[]).await;
    let invite_id = members["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|invite| invite["email"] == "gone@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .ok("revoke_invite", &[("invite_id", &invite_id)])
        .await;
    let (status, body) = Client::new(&app)
        .rpc(
            "accept_invite",
            &[
                ("token", &revoked),
                ("name", "Gone"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );

    app.clock.advance(Duration::days(7) + Duration::minutes(1));
    let (status, body) = Client::new(&app)
        .rpc(
            "accept_invite",
            &[
                ("token", &expiring),
                ("name", "Late"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn existing_users_join_another_workspace_with_their_password_and_switch() {
    let app = spawn_app().await;
    let ana = admin(&app).await;
    let bob = member(&app, &ana, "bob@example.com", "developer").await;
    bob.ok("create_workspace", &[("name", "Bob's Lab")]).await;
    assert_eq!(
        bob.ok("load_me", &[]).await["workspace"]["name"],
        "Bob's Lab"
    );

    // Bob invites Ana into his workspace; she already has an account.
    let token = invite(&bob, "ana@example.com", "viewer").await;
    let (_, status) = ana.rpc("load_invite", &[("token", &token)]).await;
    assert_eq!(status["Open"]["account_exists"], true);
    let (status, body) = ana
        .rpc(
            "accept_invite",
            &[("token", &token), ("password", "not her password")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "password");
    ana.ok(
        "accept_invite",
        &[("token", &token), ("password", PASSWORD)],
    )
    .await;
    let me = ana.ok("load_me", &[]).await;
    assert_eq!(me["workspace"]["name"], "Bob's Lab");
    assert_eq!(me["workspace"]["role"], "viewer");
    assert_eq!(me["workspaces"].as_array().unwrap().len(), 2);

    let acme = me["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "Acme")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ana.ok("switch_workspace", &[("workspace_id", &acme)]).await;
    assert_eq!(ana.ok("load_me", &[]).await["workspace"]["role"], "admin");
}

#[tokio::test]
async fn switching_to_a_workspace_you_are_not_in_is_refused() {
    let app = spawn_app().await;
    let ana = admin(&app).await;
    let bob = member(&app, &ana, "bob@example.com", "developer").await;
    bob.ok("create_workspace", &[("name", "Bob's Lab")]).await;
    let labs = bob.ok("load_me", &[]).await["workspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = ana
        .rpc("switch_workspace", &[("workspace_id", &labs)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(ana.ok("load_me", &[]).await["workspace"]["name"], "Acme");
}

#[tokio::test]
async fn admins_change_roles_but_never_leave_a_workspace_without_an_admin() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let ana_id = user_id_of(&app, "ana@example.com").await;
    let (status, body) = admin
        .rpc(
            "change_member_role",
            &[("user_id", &ana_id), ("role", "viewer")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("last admin"),
        "{body}"
    );
    let (status, _) = admin.rpc("remove_member", &[("user_id", &ana_id)]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let bob = member(&app, &admin, "bob@example.com", "viewer").await;
    let bob_id = user_id_of(&app, "bob@example.com").await;
    admin
        .ok(
            "change_member_role",
            &[("user_id", &bob_id), ("role", "admin")],
        )
        .await;
    assert_eq!(bob.ok("load_me", &[]).await["workspace"]["role"], "admin");
    // Now Ana may step down, since Bob is an admin.
    admin
        .ok(
            "change_member_role",
            &[("user_id", &ana_id), ("role", "developer")],
        )
        .await;
    assert_eq!(
        admin.ok("load_me", &[]).await["workspace"]["role"],
        "developer"
    );
}

#[tokio::test]
async fn removing_a_member_ends_their_access_at_once() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let bob = member(&app, &admin, "bob@example.com", "admin").await;
    bob.ok("load_members", &[]).await;
    let bob_id = user_id_of(&app, "bob@example.com").await;
    admin.ok("remove_member", &[("user_id", &bob_id)]).await;
    let (status, _) = bob.rpc("load_members", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob.rpc("load_me", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        bob.get("/settings/members").await.status(),
        StatusCode::FORBIDDEN
    );
    let members = admin.ok("load_members", &[]).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn inviting_a_member_or_a_pending_email_again_is_refused() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (status, body) = admin
        .rpc(
            "invite_member",
            &[("email", "ana@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already a member"),
        "{body}"
    );
    invite(&admin, "bob@example.com", "viewer").await;
    let (status, body) = admin
        .rpc(
            "invite_member",
            &[("email", "bob@example.com"), ("role", "admin")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already pending"),
        "{body}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM invites").await, 1);
}

#[tokio::test]
async fn renaming_the_workspace_is_admin_only_and_recorded_as_settings_changed() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let (status, _) = developer
        .rpc("rename_workspace", &[("name", "Hijacked")])
        .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    let (status, body) = admin.rpc("rename_workspace", &[("name", "  ")]).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    admin.ok("rename_workspace", &[("name", "Acme Corp")]).await;
    let name: String = sqlx::query_scalar("SELECT name FROM workspaces")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(name, "Acme Corp");
    let changes: String =
        sqlx::query_scalar("SELECT changes FROM audit_entries WHERE action = 'settings.changed'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(
        changes.contains("\"Acme\"") && changes.contains("\"Acme Corp\""),
        "{changes}"
    );
}
