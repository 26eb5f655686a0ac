//! API keys over HTTP: create (shown once), list, rotate with grace, revoke,
//! auto-revoke, offboarding, the role matrix and every bad input.

use crate::common::*;
use crate::fixtures::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The create form's fields for a live `read-only` key named `name`.
fn key_form(name: &str) -> Value {
    json!({
        "name": name,
        "note": "used by the billing worker",
        "environment": "live",
        "scopes": ["read-only"],
        "expiry": "never",
    })
}

async fn load_key(client: &Client, id: &str) -> Value {
    client.ok("load_key", &[("key_id", id)]).await["key"].clone()
}

async fn list(client: &Client, filters: &[(&str, &str)]) -> Vec<Value> {
    client.ok("load_keys", filters).await["keys"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every text column of every row of `table`, concatenated: for "no secret here" checks.
async fn table_text(app: &TestApp, table: &str, columns: &str) -> String {
    let sql = format!("SELECT {columns} FROM {table}");
    let rows: Vec<String> = sqlx::query_scalar(&sql)
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    rows.join("\n")
}

#[tokio::test]
async fn a_created_key_is_stored_as_a_digest_and_listed_masked() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey { id, secret } = create_key(&admin, key_form("Billing backend")).await;
    assert!(secret.starts_with("kw_live_"), "{secret}");

    let digest: String = sqlx::query_scalar("SELECT digest FROM api_keys WHERE id = $1")
        .bind(&id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(digest.len(), 64);
    let stored = table_text(
        &app,
        "api_keys",
        "id || name || COALESCE(note, '') || environment || digest || prefix || body_start || last4 || scopes",
    )
    .await;
    assert!(!stored.contains(&secret));
    let body = &secret["kw_live_".len()..];
    assert!(
        !stored.contains(&body[..20]),
        "no long run of the secret is stored"
    );
    let audit = table_text(
        &app,
        "audit_entries",
        "COALESCE(target_label, '') || COALESCE(changes, '')",
    )
    .await;
    assert!(!audit.contains(&secret) && !audit.contains(&body[..20]));

    let keys = list(&admin, &[]).await;
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    let last4 = &secret[secret.len() - 4..];
    assert_eq!(key["masked"], format!("kw_live_{}…{last4}", &body[..4]));
    assert_eq!(key["name"], "Billing backend");
    assert_eq!(key["environment"], "live");
    assert_eq!(key["status"], "active");
    assert_eq!(key["scopes"], json!(["read-only"]));
    assert_eq!(key["created_by"], "Ana Diaz");
    assert_eq!(key["last_used_at"], Value::Null);
    assert_eq!(key["can_manage"], true);
    let listed = admin.ok("load_keys", &[]).await.to_string();
    assert!(
        !listed.contains(&secret),
        "the list never carries the secret"
    );
    assert!(
        audit_actions(&app)
            .await
            .contains(&"key.created".to_owned())
    );
}

#[tokio::test]
async fn names_are_unique_among_active_keys() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey { id, .. } = create_key(&admin, key_form("Billing backend")).await;
    let (status, body) = admin
        .rpc_json(
            "create_key",
            &json!({ "form": key_form("billing BACKEND") }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "name");
    admin.ok("revoke_key", &[("key_id", &id)]).await;
    create_key(&admin, key_form("Billing backend")).await;
}

#[tokio::test]
async fn every_bad_field_of_the_create_form_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "name": "" }), "name"),
        (json!({ "name": "x".repeat(81) }), "name"),
        (json!({ "name": "tab\tname" }), "name"),
        (json!({ "note": "n".repeat(501) }), "note"),
        (json!({ "environment": "production" }), "environment"),
        (json!({ "scopes": [] }), "scopes"),
        (json!({ "scopes": ["rockets:launch"] }), "scopes"),
        (
            json!({ "scopes": ["read-only", "invoices:write"] }),
            "scopes",
        ),
        (json!({ "expiry": "someday" }), "expiry"),
        (json!({ "expiry": "date" }), "expiry_date"),
        (
            json!({ "expiry": "date", "expiry_date": "2001-01-01" }),
            "expiry_date",
        ),
        (
            json!({ "expiry": "date", "expiry_date": "tomorrow" }),
            "expiry_date",
        ),
        (
            json!({ "rate_limit_per_minute": "0" }),
            "rate_limit_per_minute",
        ),
        (
            json!({ "rate_limit_per_minute": "ten" }),
            "rate_limit_per_minute",
        ),
    ];
    for (change, field) in cases {
        let mut form = key_form("Bad input");
        for (name, value) in change.as_object().unwrap() {
            form[name] = value.clone();
        }
        let (status, body) = admin.rpc_json("create_key", &json!({ "form": form })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {body}");
        assert_eq!(body["field"], field, "{change}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, _) = admin
        .rpc_json("create_key", &json!({ "form": { "name": 5 } }))
        .await;
    assert!(
        status.is_client_error(),
        "a malformed body is a client error: {status}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM api_keys").await, 0);
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_each_grace_window() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let windows = [("0", 0), ("1h", 1), ("12h", 12), ("24h", 24), ("7d", 168)];
    for (window, hours) in windows {
        let mut form = key_form(&format!("Worker {window}"));
        form["scopes"] = json!(["invoices:read", "invoices:write"]);
        form["rate_limit_per_minute"] = json!("120");
        let CreatedKey {
            id: old_id,
            secret: old_secret,
        } = create_key(&admin, form).await;
        let rotated = admin
            .ok("rotate_key", &[("key_id", &old_id), ("grace", window)])
            .await;
        let new_secret = rotated["secret"].as_str().unwrap();
        assert_ne!(new_secret, old_secret);
        let new = load_key(&admin, rotated["id"].as_str().unwrap()).await;
        assert_eq!(new["name"], format!("Worker {window}"));
        assert_eq!(new["scopes"], json!(["invoices:read", "invoices:write"]));
        assert_eq!(new["rate_limit_per_minute"], 120);
        assert_eq!(new["status"], "active");

        let old = load_key(&admin, &old_id).await;
        if hours == 0 {
            assert_eq!(old["status"], "expired", "{window}");
            continue;
        }
        assert_eq!(old["status"], "expiring", "{window}");
        let (status, body) = admin
            .rpc("rotate_key", &[("key_id", &old_id), ("grace", "1h")])
            .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "an expiring key cannot be rotated again: {body}"
        );

        app.clock
            .advance(Duration::hours(hours) - Duration::minutes(1));
        assert_eq!(load_key(&admin, &old_id).await["status"], "expiring");
        app.clock.advance(Duration::minutes(2));
        assert_eq!(load_key(&admin, &old_id).await["status"], "expired");
    }
    let actions = audit_actions(&app).await;
    assert_eq!(actions.iter().filter(|a| *a == "key.rotated").count(), 5);
}

#[tokio::test]
async fn revoking_is_immediate_final_and_keeps_the_reason() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey { id, .. } = create_key(&admin, key_form("Leaked key")).await;
    admin
        .ok(
            "revoke_key",
            &[("key_id", &id), ("reason", "posted in a public gist")],
        )
        .await;
    let key = load_key(&admin, &id).await;
    assert_eq!(key["status"], "revoked");
    assert_eq!(key["revoke_reason"], "posted in a public gist");
    let (status, _) = admin.rpc("revoke_key", &[("key_id", &id)]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin
        .rpc("rotate_key", &[("key_id", &id), ("grace", "1h")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let detail = admin.ok("load_key", &[("key_id", &id)]).await;
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["key.revoked", "key.created"]);
    let (status, _) = admin.rpc("load_key", &[("key_id", "no-such-key")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_role_matrix_is_enforced_on_the_server() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let other_dev = member(&app, &admin, "other@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    let CreatedKey { id: admins_key, .. } = create_key(&admin, key_form("Admin's key")).await;
    let CreatedKey { id: devs_key, .. } = create_key(&dev, key_form("Dev's key")).await;

    // Viewers read the list, and nothing else.
    assert_eq!(list(&viewer, &[]).await.len(), 2);
    let (status, _) = viewer
        .rpc_json("create_key", &json!({ "form": key_form("Viewer's key") }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (name, args) in [
        ("revoke_key", vec![("key_id", devs_key.as_str())]),
        (
            "rotate_key",
            vec![("key_id", devs_key.as_str()), ("grace", "1h")],
        ),
        ("offboard_workspace", vec![("confirmation", "Acme")]),
    ] {
        let (status, _) = viewer.rpc(name, &args).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewer {name}");
    }
    // A developer manages their own keys only.
    for (name, args) in [
        ("revoke_key", vec![("key_id", admins_key.as_str())]),
        (
            "rotate_key",
            vec![("key_id", admins_key.as_str()), ("grace", "1h")],
        ),
    ] {
        let (status, _) = other_dev.rpc(name, &args).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "developer {name} on another's key"
        );
    }
    let (status, _) = other_dev.rpc("revoke_key", &[("key_id", &devs_key)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = dev
        .rpc("offboard_workspace", &[("confirmation", "Acme")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let listed = list(&other_dev, &[]).await;
    assert!(listed.iter().all(|key| key["can_manage"] == false));
    assert_eq!(load_key(&admin, &admins_key).await["status"], "active");
    assert_eq!(load_key(&admin, &devs_key).await["status"], "active");

    dev.ok("rotate_key", &[("key_id", &devs_key), ("grace", "1h")])
        .await;
    admin.ok("revoke_key", &[("key_id", &devs_key)]).await;
    // Signed out: nothing at all.
    let (status, _) = Client::new(&app).rpc("load_keys", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn removing_a_member_revokes_their_keys_in_the_same_change() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let CreatedKey { id: devs_key, .. } = create_key(&dev, key_form("Dev's key")).await;
    let CreatedKey { id: second, .. } = create_key(&dev, key_form("Dev's other key")).await;
    let CreatedKey { id: admins_key, .. } = create_key(&admin, key_form("Admin's key")).await;
    let dev_id = user_id_of(&app, "dev@example.com").await;
    admin.ok("remove_member", &[("user_id", &dev_id)]).await;
    assert_eq!(load_key(&admin, &devs_key).await["status"], "revoked");
    assert_eq!(load_key(&admin, &second).await["status"], "revoked");
    assert_eq!(load_key(&admin, &admins_key).await["status"], "active");
    let actions = audit_actions(&app).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "key.auto_revoked").count(),
        2
    );
}

#[tokio::test]
async fn offboarding_revokes_every_key_after_the_name_is_typed() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey { id: first, .. } = create_key(&admin, key_form("First")).await;
    let CreatedKey { id: second, .. } = create_key(&admin, key_form("Second")).await;
    let (status, body) = admin
        .rpc("offboard_workspace", &[("confirmation", "acme")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "confirmation");
    assert_eq!(load_key(&admin, &first).await["status"], "active");
    let revoked = admin
        .ok("offboard_workspace", &[("confirmation", "Acme")])
        .await;
    assert_eq!(revoked, 2);
    assert_eq!(load_key(&admin, &first).await["status"], "revoked");
    assert_eq!(load_key(&admin, &second).await["status"], "revoked");
    assert!(
        audit_actions(&app)
            .await
            .contains(&"workspace.offboarded".to_owned())
    );
}

#[tokio::test]
async fn the_list_filters_searches_and_pages_newest_first() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let CreatedKey {
        id: live_id,
        secret: live_secret,
    } = create_key(&admin, key_form("Live worker")).await;
    let mut test_form = key_form("Test worker");
    test_form["environment"] = json!("test");
    let CreatedKey { id: test_id, .. } = create_key(&admin, test_form).await;
    admin.ok("revoke_key", &[("key_id", &test_id)]).await;

    let ids = |keys: Vec<Value>| -> Vec<String> {
        keys.iter()
            .map(|key| key["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(list(&admin, &[]).await),
        [test_id.as_str(), live_id.as_str()]
    );
    assert_eq!(
        ids(list(&admin, &[("environment", "live")]).await),
        [live_id.as_str()]
    );
    assert_eq!(
        ids(list(&admin, &[("status", "revoked")]).await),
        [test_id.as_str()]
    );
    assert_eq!(
        ids(list(&admin, &[("status", "active")]).await),
        [live_id.as_str()]
    );
    assert_eq!(
        ids(list(&admin, &[("search", "LIVE wor")]).await),
        [live_id.as_str()]
    );
    let pasted = format!("{}…", &live_secret[..12]);
    assert_eq!(
        ids(list(&admin, &[("search", &pasted)]).await),
        [live_id.as_str()]
    );
    assert!(list(&admin, &[("search", "100%_")]).await.is_empty());
    for (filter, value) in [("environment", "prod"), ("status", "deleted")] {
        let (status, body) = admin.rpc("load_keys", &[(filter, value)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{filter}={value}");
        assert_eq!(body["field"], filter);
    }

    for n in 0..55 {
        create_key(&admin, key_form(&format!("Bulk {n:02}"))).await;
    }
    let first = admin.ok("load_keys", &[]).await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 50);
    let cursor = first["older"].as_str().unwrap();
    let second = admin.ok("load_keys", &[("before", cursor)]).await;
    let rest = second["keys"].as_array().unwrap();
    assert_eq!(rest.len(), 7);
    assert_eq!(second["older"], Value::Null);
    let mut all = ids(first["keys"].as_array().unwrap().clone());
    all.extend(ids(rest.clone()));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 57, "no key skipped or repeated across pages");
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_an_error_not_a_default() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let key = create_key(&admin, json!({})).await;
    // Behind the application's back: scopes that are not a JSON list.
    sqlx::query("UPDATE api_keys SET scopes = 'read-only' WHERE id = $1")
        .bind(&key.id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let (status, body) = admin.rpc("load_keys", &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (status, _) = admin.rpc("load_key", &[("key_id", &key.id)]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}
