//! The JSON API for scripts (`/api/v1/keys`, `/api/v1/audit`), authenticated by
//! the workspace's own API keys through the verifier: scopes, the creator's role
//! as the ceiling, and the key named in the audit log.

use crate::common::*;
use crate::fixtures::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_key_with_keys_scopes_lists_creates_and_revokes() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey {
        secret: automation, ..
    } = create_key(
        &admin,
        json!({ "name": "CI automation", "scopes": ["read-only", "keys:read", "keys:write"] }),
    )
    .await;
    let CreatedKey {
        id: target_id,
        secret: target,
    } = create_key(
        &admin,
        json!({ "name": "Old worker", "scopes": ["read-only"] }),
    )
    .await;

    let (status, page) = answer(api(&app, &automation, reqwest::Method::GET, "/api/v1/keys")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let names: Vec<&str> = page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Old worker", "CI automation"]);
    assert!(!page.to_string().contains(&target), "no secret in the list");

    let (status, created) = answer(
        api(&app, &automation, reqwest::Method::POST, "/api/v1/keys").json(&json!({
            "name": "Made by CI", "environment": "live", "scopes": ["invoices:read"], "expiry": "30d",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("kw_live_"));

    let (status, invalid) = answer(
        api(&app, &automation, reqwest::Method::POST, "/api/v1/keys")
            .json(&json!({ "name": "", "environment": "live", "scopes": [], "expiry": "never" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid["error"]["field"], "name");

    let (status, _) = answer(api(
        &app,
        &automation,
        reqwest::Method::POST,
        &format!("/api/v1/keys/{target_id}/revoke"),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let actor: String = sqlx::query_scalar(
        "SELECT actor_label FROM audit_entries WHERE action = 'key.revoked' AND target_id = $1",
    )
    .bind(&target_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(
        actor.starts_with("API key CI automation (kw_live_") && actor.ends_with("of Ana Diaz"),
        "{actor}"
    );
}

#[tokio::test]
async fn scopes_and_the_creators_role_limit_what_a_key_may_do() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let CreatedKey {
        id: admin_key_id, ..
    } = create_key(
        &admin,
        json!({ "name": "Admin's key", "scopes": ["read-only"] }),
    )
    .await;
    let CreatedKey { secret: reader, .. } =
        create_key(&admin, json!({ "name": "Reader", "scopes": ["keys:read"] })).await;
    let CreatedKey {
        secret: dev_writer, ..
    } = create_key(
        &developer,
        json!({ "name": "Dev automation", "scopes": ["keys:write", "audit:read"] }),
    )
    .await;

    // Missing scope: 403 with the verification envelope, and nothing created.
    let before = count(&app, "SELECT COUNT(*) FROM api_keys").await;
    let (status, body) = answer(
        api(&app, &reader, reqwest::Method::POST, "/api/v1/keys")
            .json(&json!({ "name": "x", "environment": "live", "scopes": ["read-only"], "expiry": "never" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "INSUFFICIENT_SCOPE");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM api_keys").await, before);

    // A developer's key cannot revoke an admin's key, and reads only entries about the
    // developer's own keys.
    let (status, _) = answer(api(
        &app,
        &dev_writer,
        reqwest::Method::POST,
        &format!("/api/v1/keys/{admin_key_id}/revoke"),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = answer(api(
        &app,
        &dev_writer,
        reqwest::Method::GET,
        "/api/v1/audit",
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let targets: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["target"].as_str().unwrap_or_default())
        .collect();
    assert!(!targets.is_empty());
    assert!(
        targets.iter().all(|t| t.starts_with("Dev automation")),
        "{targets:?}"
    );

    // No key, or a malformed one: one 401 without a reason (see key_powers.rs).
    let (status, body) = answer(http().get(format!("{}/api/v1/keys", app.base))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    let (status, body) = answer(api(
        &app,
        "kw_live_nope",
        reqwest::Method::GET,
        "/api/v1/keys",
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
}

#[tokio::test]
async fn an_admins_key_with_audit_read_pages_the_log() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey {
        secret: auditor, ..
    } = create_key(
        &admin,
        json!({ "name": "Auditor", "scopes": ["audit:read"] }),
    )
    .await;
    // More than two pages (50 each): setup, the auditor's key.created, and 105 more.
    for n in 0..105 {
        create_key(
            &admin,
            json!({ "name": format!("Worker {n}"), "scopes": ["read-only"] }),
        )
        .await;
    }
    let total = count(&app, "SELECT COUNT(*) FROM audit_entries").await;
    assert!(total > 100, "{total}");
    let (status, page) = answer(api(&app, &auditor, reqwest::Method::GET, "/api/v1/audit")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 50);
    assert!(page.to_string().contains("key.created"), "{page}");
    // Keyset paging: `older` is the cursor for the next page back.
    let newest_first: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let cursor = page["older"]
        .as_i64()
        .expect("a full first page has a cursor to the older one");
    let (status, older) = answer(api(
        &app,
        &auditor,
        reqwest::Method::GET,
        &format!("/api/v1/audit?before={cursor}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let older = older["entries"].as_array().unwrap();
    assert_eq!(older.len(), 50, "the second page is full too");
    for entry in older {
        assert!(!newest_first.contains(&entry["id"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn a_store_that_is_away_is_a_503_to_retry_not_a_500() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey { secret, .. } =
        create_key(&admin, json!({ "name": "Reader", "scopes": ["keys:read"] })).await;
    let list = || api(&app, &secret, reqwest::Method::GET, "/api/v1/keys");
    let (status, page) = answer(list()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The key is cached now; the dashboard's pool, which the list reads, goes away.
    app.db.pool().close().await;
    let response = list().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
}

#[tokio::test]
async fn a_revoke_reason_without_a_json_content_type_is_refused_not_dropped() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey { secret: writer, .. } = create_key(
        &admin,
        json!({ "name": "Writer", "scopes": ["keys:read", "keys:write"] }),
    )
    .await;
    let CreatedKey { id, .. } = create_key(&admin, json!({ "name": "Target" })).await;
    let revoke = || {
        api(
            &app,
            &writer,
            reqwest::Method::POST,
            &format!("/api/v1/keys/{id}/revoke"),
        )
    };
    let (status, body) =
        answer(revoke().body(r#"{"reason": "Leaked in a CI log"}"#.to_owned())).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let revoked = count(
        &app,
        &format!("SELECT COUNT(*) FROM api_keys WHERE id = '{id}' AND revoked_at IS NOT NULL"),
    )
    .await;
    assert_eq!(revoked, 0, "nothing changed");
    // With the content type the reason is kept.
    let (status, _) = answer(
        revoke()
            .header("content-type", "application/json")
            .body(r#"{"reason": "Leaked in a CI log"}"#.to_owned()),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let reason: Option<String> =
        sqlx::query_scalar("SELECT revoke_reason FROM api_keys WHERE id = $1")
            .bind(&id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("Leaked in a CI log"));
}
