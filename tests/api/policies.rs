//! Workspace key policies (issue 17): a maximum lifetime, "every key must
//! expire", who may create live keys, a required note. Each is enforced on
//! create, rotate and edit, over the dashboard's server functions and
//! `/api/v1`; keys made before a rule are "outside policy", never revoked.
//! Also the list's "expiring within 7 days" and the key page's warning.

use crate::common::*;
use crate::fixtures::*;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Sets the key policy as `client`: `(status, body)`.
async fn set_policy(client: &Client, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![
        ("max_lifetime", "none"),
        ("live_key_creators", "developers"),
    ];
    for (name, value) in fields {
        form.retain(|(field, _)| field != name);
        form.push((name, value));
    }
    client.rpc("set_key_policy", &form).await
}

async fn set_ok(client: &Client, fields: &[(&str, &str)]) {
    let (status, body) = set_policy(client, fields).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
}

/// `create_key` through the dashboard, without asserting: `(status, body)`.
async fn try_create(client: &Client, settings: Value) -> (StatusCode, Value) {
    let mut form = json!({
        "name": format!("key {}", uuid::Uuid::new_v4().simple()),
        "environment": "live",
        "scopes": ["read-only"],
        "expiry": "never",
    });
    for (name, value) in settings.as_object().unwrap() {
        form[name] = value.clone();
    }
    client
        .rpc_json("create_key", &json!({ "form": form }))
        .await
}

/// `POST /api/v1/keys` as `caller`.
async fn try_mint(app: &TestApp, caller: &str, settings: Value) -> (StatusCode, Value) {
    let mut form = json!({
        "name": format!("minted {}", uuid::Uuid::new_v4().simple()),
        "environment": "live",
        "scopes": ["read-only"],
        "expiry": "never",
    });
    for (name, value) in settings.as_object().unwrap() {
        form[name] = value.clone();
    }
    answer(api(app, caller, Method::POST, "/api/v1/keys").json(&form)).await
}

async fn key_of(client: &Client, id: &str) -> Value {
    client.ok("load_key", &[("key_id", id)]).await["key"].clone()
}

async fn edit_ok(client: &Client, key_id: &str, changes: &[(&str, &str)]) {
    let (status, body) = edit_key(client, key_id, changes).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
}

fn refused_on(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let named = body["field"].as_str().or(body["error"]["field"].as_str());
    assert_eq!(named, Some(field), "{body}");
}

#[tokio::test]
async fn policies_only_admins_set_them_and_each_change_is_one_entry() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    for client in [&dev, &viewer] {
        let (status, _) = set_policy(client, &[("max_lifetime", "30")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Everyone reads it; only admins may change it.
    let view = viewer.ok("load_key_policy", &[]).await;
    assert_eq!(view["can_change"], false);
    assert_eq!(view["policy"]["max_lifetime_days"], Value::Null);
    for (field, value) in [
        ("max_lifetime", "45"),
        ("live_key_creators", "everyone"),
        ("note_required", "maybe"),
    ] {
        let (status, body) = set_policy(&admin, &[(field, value)]).await;
        refused_on(status, &body, field);
    }
    let changes = || async {
        let rows: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT changes FROM audit_entries WHERE action = 'settings.changed' ORDER BY seq",
        )
        .fetch_all(app.db.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|text| serde_json::from_str::<Value>(&text.unwrap()).unwrap())
            .collect::<Vec<_>>()
    };
    assert!(changes().await.is_empty());
    let policy = [
        ("max_lifetime", "90"),
        ("expiry_required", "true"),
        ("live_key_creators", "admins"),
        ("note_required", "true"),
    ];
    set_ok(&admin, &policy).await;
    set_ok(&admin, &policy).await;
    let entries = changes().await;
    assert_eq!(entries.len(), 1, "the same policy again records nothing");
    assert_eq!(
        entries[0],
        json!({
            "before": { "key_policy": {
                "max_lifetime_days": null, "expiry_required": false,
                "live_key_creators": "developers", "note_required": false,
            } },
            "after": { "key_policy": {
                "max_lifetime_days": 90, "expiry_required": true,
                "live_key_creators": "admins", "note_required": true,
            } },
        })
    );
    let view = admin.ok("load_key_policy", &[]).await;
    assert_eq!(view["can_change"], true);
    assert_eq!(view["policy"]["max_lifetime_days"], 90);
    // The settings page shows it to the admin as a form with the choices made.
    let page = admin.get("/settings/workspace").await.text().await.unwrap();
    assert!(page.contains("data-testid=\"key-policy\""), "{page}");
    assert!(
        page.contains("value=\"90\" selected"),
        "the chosen lifetime is selected"
    );
}

#[tokio::test]
async fn policies_a_maximum_lifetime_binds_create_rotate_and_edit_everywhere() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let before_policy = create_key(&admin, json!({ "name": "Old forever key" })).await;
    let to_rotate = create_key(&admin, json!({ "name": "Rotated into the policy" })).await;
    // Never expires, so that what it mints is bound by the policy alone.
    let writer = create_key(&admin, json!({ "scopes": ["read-only", "keys:write"] })).await;
    set_ok(&admin, &[("max_lifetime", "30")]).await;

    // Create: never and 90 days are refused on the expiry field; 30 days is fine.
    for expiry in ["never", "90d"] {
        let (status, body) = try_create(&admin, json!({ "expiry": expiry })).await;
        refused_on(status, &body, "expiry");
    }
    let in_40_days = (app.clock.now() + Duration::days(40))
        .format("%Y-%m-%d")
        .to_string();
    let (status, body) = try_create(
        &admin,
        json!({ "expiry": "date", "expiry_date": in_40_days }),
    )
    .await;
    refused_on(status, &body, "expiry");
    assert!(
        body["message"].as_str().unwrap().contains("30 days"),
        "{body}"
    );
    let (status, body) = try_create(&admin, json!({ "expiry": "30d" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same over /api/v1.
    let (status, body) = try_mint(&app, &writer.secret, json!({ "expiry": "never" })).await;
    refused_on(status, &body, "expiry");
    let (status, body) = try_mint(&app, &writer.secret, json!({ "expiry": "30d" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The key made before the rule: outside policy, on the list and its page, still working.
    let listed = admin.ok("load_keys", &[]).await["keys"].clone();
    let old = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["id"] == before_policy.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["outside_policy"], json!(["It never expires."]), "{old}");
    let outside: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key.get("outside_policy").is_some())
        .map(|key| key["id"].as_str().unwrap())
        .collect();
    assert_eq!(outside.len(), 3, "the three keys made before: {listed}");
    assert!(outside.contains(&before_policy.id.as_str()) && outside.contains(&writer.id.as_str()));
    let page = admin
        .get(&format!("/settings/api-keys/{}", before_policy.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"outside-policy\""),
        "the key page shows the badge"
    );
    let list_page = admin.get("/settings/api-keys").await.text().await.unwrap();
    assert_eq!(
        list_page.matches("data-testid=\"outside-policy\"").count(),
        3
    );
    let (status, _) = verify(&app, &token, json!({ "key": before_policy.secret })).await;
    assert_eq!(status, StatusCode::OK, "never revoked by a policy");

    // Rotate: the replacement of a key that never expired gets the policy's
    // maximum, so an old key is never stuck outside it.
    let rotated = admin
        .ok("rotate_key", &[("key_id", &to_rotate.id), ("grace", "1h")])
        .await;
    let replacement = key_of(&admin, rotated["id"].as_str().unwrap()).await;
    assert!(replacement.get("outside_policy").is_none(), "{replacement}");
    let expires_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(replacement["expires_at"].clone()).unwrap();
    let thirty_days = app.clock.now() + Duration::days(30);
    assert!(
        (expires_at - thirty_days).num_seconds().abs() < 60,
        "{replacement}"
    );

    // Edit: an expiry beyond its 30 days is refused; within, it is fine, and
    // the key is then within policy (and rotates).
    let (status, body) = edit_key(&admin, &before_policy.id, &[("expiry_date", &in_40_days)]).await;
    refused_on(status, &body, "expiry_date");
    let (status, body) = answer(
        api(
            &app,
            &writer.secret,
            Method::PATCH,
            &format!("/api/v1/keys/{}", before_policy.id),
        )
        .json(&json!({ "expires_at": app.clock.now() + Duration::days(31) })),
    )
    .await;
    refused_on(status, &body, "expires_at");
    let in_20_days = (app.clock.now() + Duration::days(20))
        .format("%Y-%m-%d")
        .to_string();
    edit_ok(&admin, &before_policy.id, &[("expiry_date", &in_20_days)]).await;
    assert!(
        key_of(&admin, &before_policy.id)
            .await
            .get("outside_policy")
            .is_none()
    );
    admin
        .ok(
            "rotate_key",
            &[("key_id", &before_policy.id), ("grace", "1h")],
        )
        .await;

    // A key older than the maximum cannot be brought within it by an edit.
    set_ok(&admin, &[("max_lifetime", "none")]).await;
    let ancient = create_key(&admin, json!({})).await;
    set_ok(&admin, &[("max_lifetime", "30")]).await;
    app.clock.advance(Duration::days(31));
    let tomorrow = (app.clock.now() + Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let (status, body) = edit_key(&admin, &ancient.id, &[("expiry_date", &tomorrow)]).await;
    refused_on(status, &body, "expiry_date");
    assert!(
        body["message"].as_str().unwrap().contains("Rotate"),
        "{body}"
    );
}

#[tokio::test]
async fn policies_every_key_must_expire_but_may_live_long() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    set_ok(&admin, &[("expiry_required", "true")]).await;
    let (status, body) = try_create(&admin, json!({ "expiry": "never" })).await;
    refused_on(status, &body, "expiry");
    let far = (app.clock.now() + Duration::days(5 * 365))
        .format("%Y-%m-%d")
        .to_string();
    let (status, body) = try_create(&admin, json!({ "expiry": "date", "expiry_date": far })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Unchecked again: a key that never expires is fine.
    set_ok(&admin, &[]).await;
    let (status, body) = try_create(&admin, json!({ "expiry": "never" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn policies_live_keys_for_admins_only_binds_developers_everywhere() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    let devs_live = create_key(&dev, json!({ "name": "Dev live" })).await;
    let devs_writer = create_key(&dev, json!({ "scopes": ["read-only", "keys:write"] })).await;
    set_ok(&admin, &[("live_key_creators", "admins")]).await;

    let (status, body) = try_create(&dev, json!({})).await;
    refused_on(status, &body, "environment");
    let (status, body) = try_create(&dev, json!({ "environment": "test" })).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "developers still create test keys: {body}"
    );
    let (status, body) = try_create(&admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A developer's key acts as the developer.
    let (status, body) = try_mint(&app, &devs_writer.secret, json!({})).await;
    refused_on(status, &body, "environment");
    // Rotating makes a live key too; an admin may rotate it for them.
    let (status, body) = dev
        .rpc("rotate_key", &[("key_id", &devs_live.id), ("grace", "1h")])
        .await;
    refused_on(status, &body, "environment");
    admin
        .ok("rotate_key", &[("key_id", &devs_live.id), ("grace", "1h")])
        .await;
    // Editing what is there is not creating.
    let (status, body) = edit_key(&dev, &devs_writer.id, &[("note", "CI")]).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
}

#[tokio::test]
async fn policies_a_note_is_required_on_create_rotate_and_edit() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let noteless = create_key(&admin, json!({})).await;
    let noted = create_key(&admin, json!({ "note": "billing export" })).await;
    let writer = create_key(
        &admin,
        json!({ "scopes": ["read-only", "keys:write"], "note": "CI" }),
    )
    .await;
    set_ok(&admin, &[("note_required", "true")]).await;

    for note in [json!(null), json!("  ")] {
        let (status, body) = try_create(&admin, json!({ "note": note })).await;
        refused_on(status, &body, "note");
    }
    let (status, body) = try_mint(&app, &writer.secret, json!({})).await;
    refused_on(status, &body, "note");
    let (status, body) = try_mint(&app, &writer.secret, json!({ "note": "nightly" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_eq!(
        key_of(&admin, &noteless.id).await["outside_policy"],
        json!(["It has no note."])
    );
    let (status, body) = admin
        .rpc("rotate_key", &[("key_id", &noteless.id), ("grace", "0")])
        .await;
    refused_on(status, &body, "note");
    // Removing a note is refused; the form's other fields alone are fine.
    let (status, body) = edit_key(&admin, &noted.id, &[("note", "")]).await;
    refused_on(status, &body, "note");
    let (status, body) = answer(
        api(
            &app,
            &writer.secret,
            Method::PATCH,
            &format!("/api/v1/keys/{}", noted.id),
        )
        .json(&json!({ "note": "" })),
    )
    .await;
    refused_on(status, &body, "note");
    edit_ok(&admin, &noteless.id, &[("name", "Renamed, still noteless")]).await;
    edit_ok(&admin, &noteless.id, &[("note", "the reporting job")]).await;
    assert!(
        key_of(&admin, &noteless.id)
            .await
            .get("outside_policy")
            .is_none()
    );
    admin
        .ok("rotate_key", &[("key_id", &noteless.id), ("grace", "0")])
        .await;
}

#[tokio::test]
async fn policies_the_list_filters_keys_expiring_within_7_days_and_the_page_says_so() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let in_3_days = (app.clock.now() + Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let soon = create_key(
        &admin,
        json!({ "name": "Soon", "expiry": "date", "expiry_date": in_3_days }),
    )
    .await;
    let month = create_key(&admin, json!({ "name": "Month", "expiry": "30d" })).await;
    create_key(&admin, json!({ "name": "Never" })).await;
    let gone = create_key(
        &admin,
        json!({ "name": "Gone", "expiry": "date", "expiry_date": in_3_days }),
    )
    .await;
    admin.ok("revoke_key", &[("key_id", &gone.id)]).await;
    let rotated = create_key(&admin, json!({ "name": "Rotated" })).await;
    admin
        .ok("rotate_key", &[("key_id", &rotated.id), ("grace", "24h")])
        .await;

    let names = |page: Value| {
        let mut names: Vec<String> = page["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    let expiring = admin.ok("load_keys", &[("expiring", "7d")]).await;
    assert_eq!(
        names(expiring),
        ["Rotated", "Soon"],
        "the rotated one stops in 24 h"
    );
    let (status, body) = admin.rpc("load_keys", &[("expiring", "soon")]).await;
    refused_on(status, &body, "expiring");
    // Over /api/v1 too.
    let reader = create_key(&admin, json!({ "scopes": ["keys:read"] })).await;
    let (status, page) = answer(api(
        &app,
        &reader.secret,
        Method::GET,
        "/api/v1/keys?expiring=7d",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(names(page), ["Rotated", "Soon"]);

    // The key page says it first; a key with a month left does not.
    let page = admin
        .get(&format!("/settings/api-keys/{}", soon.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Expires in 3 days"), "{page}");
    let page = admin
        .get(&format!("/settings/api-keys/{}", month.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("data-testid=\"expires-soon\""));
    // Time passes: the month key comes within the week.
    app.clock.advance(Duration::days(25));
    let expiring = admin.ok("load_keys", &[("expiring", "7d")]).await;
    assert_eq!(names(expiring), ["Month"]);
    let page = admin
        .get(&format!("/settings/api-keys/{}", month.id))
        .await
        .text()
        .await
        .unwrap();
    // A little under 5 days are left: the whole days are said.
    assert!(page.contains("Expires in 4 days"), "{page}");
}
