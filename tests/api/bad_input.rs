//! Every form refuses bad input with a message on the right field, and writes nothing.

use crate::common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn setup_form_names_the_field_that_is_wrong() {
    let app = spawn_app().await;
    let token = setup_token(&app);
    let client = Client::new(&app);
    let long_password = "p".repeat(1025);
    let long_name = "n".repeat(81);
    let cases: Vec<([(&str, &str); 4], &str)> = vec![
        (
            [
                ("name", " "),
                ("email", "ana@example.com"),
                ("workspace", "Acme"),
                ("password", PASSWORD),
            ],
            "name",
        ),
        (
            [
                ("name", &long_name),
                ("email", "ana@example.com"),
                ("workspace", "Acme"),
                ("password", PASSWORD),
            ],
            "name",
        ),
        (
            [
                ("name", "Ana"),
                ("email", "not-an-email"),
                ("workspace", "Acme"),
                ("password", PASSWORD),
            ],
            "email",
        ),
        (
            [
                ("name", "Ana"),
                ("email", ""),
                ("workspace", "Acme"),
                ("password", PASSWORD),
            ],
            "email",
        ),
        (
            [
                ("name", "Ana"),
                ("email", "ana@example.com"),
                ("workspace", ""),
                ("password", PASSWORD),
            ],
            "workspace",
        ),
        (
            [
                ("name", "Ana"),
                ("email", "ana@example.com"),
                ("workspace", "Acme"),
                ("password", "too short"),
            ],
            "password",
        ),
        (
            [
                ("name", "Ana"),
                ("email", "ana@example.com"),
                ("workspace", "Acme"),
                ("password", &long_password),
            ],
            "password",
        ),
    ];
    for (fields, field) in cases {
        let mut form = vec![("token", token.as_str())];
        form.extend(fields);
        let (status, body) = client.rpc("complete_setup", &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM workspaces").await, 0);
}

#[tokio::test]
async fn invite_and_member_forms_refuse_bad_values() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for (email, role, field) in [
        ("nope", "viewer", "email"),
        ("bob@example.com", "owner", "role"),
        ("", "viewer", "email"),
    ] {
        let (status, body) = admin
            .rpc("invite_member", &[("email", email), ("role", role)])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], field);
    }
    let bob = member(&app, &admin, "bob@example.com", "viewer").await;
    let bob_id = user_id_of(&app, "bob@example.com").await;
    let (status, body) = admin
        .rpc(
            "change_member_role",
            &[("user_id", &bob_id), ("role", "superuser")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = admin
        .rpc("remove_member", &[("user_id", "no-such-user")])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(bob.ok("load_me", &[]).await["workspace"]["role"], "viewer");

    let token = invite(&admin, "carol@example.com", "viewer").await;
    let (status, body) = Client::new(&app)
        .rpc(
            "accept_invite",
            &[("token", &token), ("name", ""), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "name");
    let (status, body) = Client::new(&app)
        .rpc(
            "accept_invite",
            &[("token", &token), ("name", "Carol"), ("password", "short")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "password");
    // The invite is still usable after refused attempts.
    Client::new(&app)
        .ok(
            "accept_invite",
            &[("token", &token), ("name", "Carol"), ("password", PASSWORD)],
        )
        .await;
}

#[tokio::test]
async fn malformed_requests_get_a_client_error_not_a_crash() {
    let app = spawn_app().await;
    let client = Client::new(&app);
    let (status, body) = client.rpc("sign_in", &[("email", "ana@example.com")]).await;
    assert!(status.is_client_error(), "{status}: {body}");
    let (status, body) = client
        .rpc(
            "sign_in",
            &[("email", "not an email"), ("password", "whatever")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "email");
    let response = client
        .http
        .post(format!("{}/rpc/sign_in", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn a_key_id_with_a_control_character_is_no_such_key_not_a_store_error() {
    // PostgreSQL refuses NUL in text; every way in to one key answers as for any unknown id.
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let unknown = admin.get("/settings/api-keys/no-such-id").await;
    let (unknown_status, unknown_page) = (unknown.status(), unknown.text().await.unwrap());
    assert!(unknown_page.contains("no such key"), "{unknown_page}");
    let page = admin.get("/settings/api-keys/%00").await;
    assert_eq!(page.status(), unknown_status);
    assert!(page.text().await.unwrap().contains("no such key"));
    for function in ["load_key", "revoke_key"] {
        let (status, body) = admin.rpc(function, &[("key_id", "a\u{0}b")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{function}: {body}");
    }
}
