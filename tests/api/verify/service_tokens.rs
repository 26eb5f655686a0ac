//! Service tokens: checked before the key, admin-only, one workspace each,
//! and the command line that makes the first one.

use super::*;

#[tokio::test]
async fn the_service_token_is_checked_before_the_key() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { secret, .. } = create_key(&admin, json!({})).await;
    let no_token = http()
        .post(format!("{}/v1/keys/verify", app.base))
        .json(&json!({ "key": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let body: Value = no_token.json().await.unwrap();
    assert_eq!(code(&body), "SERVICE_UNAUTHORIZED");
    for wrong in ["", "kwsvc_0000", &format!("{token}x")] {
        let (status, body) = verify_key(&app, wrong, &secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "SERVICE_UNAUTHORIZED");
    }
    // Never looked up: a wrong token with a malformed key is still about the token.
    let (_, body) = verify_key(&app, "wrong", "garbage").await;
    assert_eq!(code(&body), "SERVICE_UNAUTHORIZED");

    // Revoking the token takes effect at once, cached or not.
    assert_eq!(verify_key(&app, &token, &secret).await.0, StatusCode::OK);
    let tokens = admin.ok("load_service_tokens", &[]).await;
    let token_id = tokens[0]["id"].as_str().unwrap();
    assert!(tokens[0]["masked"].as_str().unwrap().starts_with("kwsvc_…"));
    admin
        .ok("revoke_service_token", &[("token_id", token_id)])
        .await;
    let (_, body) = verify_key(&app, &token, &secret).await;
    assert_eq!(code(&body), "SERVICE_UNAUTHORIZED");
    let actions = audit_actions(&app).await;
    assert!(actions.contains(&"service_token.created".to_owned()));
    assert!(actions.contains(&"service_token.revoked".to_owned()));
}

#[tokio::test]
async fn only_admins_manage_service_tokens() {
    let Setup { app, admin, .. } = setup().await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    for client in [&developer, &viewer] {
        let (status, _) = client.rpc("create_service_token", &[("name", "x")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = client.rpc("load_service_tokens", &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM service_tokens").await, 1);
    let (status, body) = admin.rpc("create_service_token", &[("name", " ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = admin
        .rpc("create_service_token", &[("name", "billing-api")])
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "duplicate: {body}"
    );
}

#[tokio::test]
async fn a_service_token_verifies_its_own_workspace_only() {
    let Setup { app, admin, token } = setup().await;
    admin.ok("create_workspace", &[("name", "Other Co")]).await;
    // The admin now works in the new workspace: its keys are not the token's.
    let CreatedKey { secret: other, .. } = create_key(&admin, json!({})).await;
    let (status, body) = verify_key(&app, &token, &other).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "NOT_FOUND")
    );
}

#[tokio::test]
async fn the_command_line_creates_a_working_service_token() {
    let Setup { app, admin, .. } = setup().await;
    let CreatedKey { secret, .. } = create_key(&admin, json!({})).await;
    let slug: String = sqlx::query_scalar("SELECT slug FROM workspaces")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let run = |workspace: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["service-token", "create", "--workspace", workspace])
            .args(["--name", "deploy script"])
            .env("DATABASE_URL", &app.database_url)
            .env("KEYWARD_LOG", "error")
            .output()
            .expect("run keyward service-token create")
    };
    let output = run(&slug);
    assert!(output.status.success(), "{output:?}");
    let cli_token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(cli_token.starts_with("kwsvc_"), "{cli_token}");
    assert_eq!(
        verify_key(&app, &cli_token, &secret).await.0,
        StatusCode::OK
    );
    let missing = run("no-such-workspace");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-workspace"));
}
