//! What a key may do to Keyward itself (issue 12 §1–4): management scopes apart
//! from the product catalogue, no escalation through `/api/v1`, ownership that
//! survives rotation, and who sees a key's history. Each test is what an
//! attacker holding a key, or a member with too little role, would try.

use crate::common::*;
use crate::fixtures::*;
use keyward::clock::Clock;
use keyward::config::Config;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

#[tokio::test]
async fn preset_keys_cannot_call_keywards_own_api() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for preset in ["read-only", "read-write"] {
        let key = create_key(&admin, json!({ "scopes": [preset] })).await;
        let before = count(&app, "SELECT COUNT(*) FROM api_keys").await;
        for (method, path) in [
            (Method::GET, "/api/v1/audit"),
            (Method::GET, "/api/v1/keys"),
            (Method::POST, "/api/v1/keys"),
            (Method::POST, &format!("/api/v1/keys/{}/revoke", key.id)),
        ] {
            let body = json!({ "name": "minted", "environment": "live", "scopes": [preset], "expiry": "never" });
            let (status, reply) =
                answer(api(&app, &key.secret, method.clone(), path).json(&body)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{preset} {method} {path}: {reply}"
            );
            assert_eq!(code(&reply), "INSUFFICIENT_SCOPE", "{reply}");
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM api_keys").await, before);
    }
}

#[tokio::test]
async fn presets_are_matched_against_the_catalogue_not_by_suffix() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let read_write = create_key(&admin, json!({ "scopes": ["read-write"] })).await;
    for (scope, expected) in [
        ("invoices:write", StatusCode::OK),
        ("customers:read", StatusCode::OK),
        ("billing-admin:read", StatusCode::FORBIDDEN),
        ("keys:read", StatusCode::FORBIDDEN),
        ("audit:read", StatusCode::FORBIDDEN),
    ] {
        let (status, body) = verify(
            &app,
            &token,
            json!({ "key": read_write.secret, "scopes": [scope] }),
        )
        .await;
        assert_eq!(status, expected, "{scope}: {body}");
    }
}

#[tokio::test]
async fn management_scopes_are_chosen_explicitly_beside_a_preset() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let key = create_key(&admin, json!({ "scopes": ["read-only", "keys:read"] })).await;
    let (status, page) = answer(api(&app, &key.secret, Method::GET, "/api/v1/keys")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Still refused: two presets, or a preset mixed with product scopes.
    for scopes in [
        json!(["read-only", "read-write"]),
        json!(["read-only", "invoices:read"]),
    ] {
        let (status, body) = admin
            .rpc_json(
                "create_key",
                &json!({ "form": { "name": "x", "environment": "live", "scopes": scopes, "expiry": "never" } }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "scopes");
    }
}

fn scopes_file(text: &str) -> String {
    let path = std::env::temp_dir().join(format!("keyward-scopes-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).expect("write the scopes file");
    path.display().to_string()
}

#[tokio::test]
async fn the_catalogue_comes_from_the_deployments_file() {
    let catalogue = scopes_file(
        "[[scope]]\nname = \"reports:read\"\ndescription = \"Read reports\"\n\n\
         [[scope]]\nname = \"reports:export\"\ndescription = \"Export reports\"\n",
    );
    let app = spawn_app_with(&[("KEYWARD_SCOPES_FILE", &catalogue)]).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;

    // The built-in example scopes are gone; the file's are offered and checked.
    let (status, body) = admin
        .rpc_json(
            "create_key",
            &json!({ "form": { "name": "x", "environment": "live", "scopes": ["invoices:read"], "expiry": "never" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let reader = create_key(&admin, json!({ "scopes": ["read-only"] })).await;
    let exporter = create_key(&admin, json!({ "scopes": ["reports:export"] })).await;
    for (key, scope, expected) in [
        (&reader, "reports:read", StatusCode::OK),
        (&reader, "reports:export", StatusCode::FORBIDDEN),
        (&reader, "invoices:read", StatusCode::FORBIDDEN),
        (&exporter, "reports:export", StatusCode::OK),
    ] {
        let (status, body) = verify(
            &app,
            &token,
            json!({ "key": key.secret, "scopes": [scope] }),
        )
        .await;
        assert_eq!(status, expected, "{scope}: {body}");
    }
    let (status, page) = admin.rpc("load_keys", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let offered: Vec<&str> = page["product_scopes"]
        .as_array()
        .expect("the page lists the product scopes")
        .iter()
        .map(|scope| scope["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["reports:export", "reports:read"]);

    // A catalogue without a scope that a key still holds is refused at start, with the count.
    let shrunk =
        scopes_file("[[scope]]\nname = \"reports:read\"\ndescription = \"Read reports\"\n");
    let vars = HashMap::from([
        ("DATABASE_URL", app.database_url.clone()),
        ("KEYWARD_SCOPES_FILE", shrunk),
        ("KEYWARD_ADDR", "127.0.0.1:0".to_owned()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let refusal = match keyward::server::prepare(config, Clock::default()).await {
        Ok(_) => panic!("a catalogue that drops a held scope must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(
        refusal.contains("KEYWARD_SCOPES_FILE")
            && refusal.contains("reports:export (held by 1 key(s))"),
        "{refusal}"
    );
}

/// A date well inside the automation keys' 30 days, as the create form takes it.
fn in_ten_days() -> String {
    (chrono::Utc::now() + chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string()
}

/// A test-environment automation key: `read-only` and management scopes, limited and expiring.
async fn test_automation(admin: &Client) -> CreatedKey {
    create_key(
        admin,
        json!({
            "name": "CI automation",
            "environment": "test",
            "scopes": ["read-only", "keys:read", "keys:write", "audit:read"],
            "expiry": "30d",
            "rate_limit_per_minute": "100",
        }),
    )
    .await
}

#[tokio::test]
async fn a_key_cannot_mint_a_more_powerful_key() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let automation = test_automation(&admin).await;
    let within = json!({
        "name": "minted", "environment": "test", "scopes": ["invoices:read"],
        "expiry": "date", "expiry_date": in_ten_days(), "rate_limit_per_minute": "100",
    });
    let before = count(&app, "SELECT COUNT(*) FROM api_keys").await;
    for (change, expected_code) in [
        (json!({ "scopes": ["read-write"] }), "SCOPE_NOT_HELD"),
        (json!({ "scopes": ["invoices:write"] }), "SCOPE_NOT_HELD"),
        (
            json!({ "scopes": ["read-only", "webhooks:write"] }),
            "(no code)",
        ),
        (json!({ "environment": "live" }), "ENVIRONMENT_NOT_ALLOWED"),
        (
            json!({ "rate_limit_per_minute": "" }),
            "RATE_LIMIT_TOO_GENEROUS",
        ),
        (
            json!({ "rate_limit_per_minute": "101" }),
            "RATE_LIMIT_TOO_GENEROUS",
        ),
        (json!({ "expiry": "never" }), "EXPIRES_TOO_LATE"),
        (json!({ "expiry": "60d" }), "EXPIRES_TOO_LATE"),
        (json!({ "expiry": "30d" }), "EXPIRES_TOO_LATE"),
    ] {
        let mut body = within.clone();
        for (name, value) in change.as_object().unwrap() {
            body[name] = value.clone();
        }
        let (status, reply) =
            answer(api(&app, &automation.secret, Method::POST, "/api/v1/keys").json(&body)).await;
        if expected_code == "(no code)" {
            // Not a scope at all: the form's own validation refuses it.
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{change}: {reply}"
            );
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{change}: {reply}");
            assert_eq!(code(&reply), expected_code, "{change}: {reply}");
        }
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM api_keys").await,
        before,
        "nothing was created"
    );

    let (status, created) =
        answer(api(&app, &automation.secret, Method::POST, "/api/v1/keys").json(&within)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The audit entry names the key that minted it.
    let changes: String = sqlx::query_scalar(
        "SELECT changes FROM audit_entries WHERE action = 'key.created' AND target_id = $1",
    )
    .bind(created["id"].as_str().unwrap())
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let changes: Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(changes["after"]["minted_by_key"], automation.id.as_str());
}

#[tokio::test]
async fn a_test_key_reads_and_changes_test_keys_only() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let automation = test_automation(&admin).await;
    let live = create_key(
        &admin,
        json!({ "name": "Live backend", "environment": "live" }),
    )
    .await;
    let test = create_key(
        &admin,
        json!({ "name": "Test backend", "environment": "test" }),
    )
    .await;

    let (status, page) = answer(api(&app, &automation.secret, Method::GET, "/api/v1/keys")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let names: Vec<&str> = page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Test backend") && !names.contains(&"Live backend"),
        "{names:?}"
    );
    let (status, body) = answer(api(
        &app,
        &automation.secret,
        Method::GET,
        "/api/v1/keys?environment=live",
    ))
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "ENVIRONMENT_NOT_ALLOWED")
    );

    let revoke_live = format!("/api/v1/keys/{}/revoke", live.id);
    let (status, body) = answer(api(&app, &automation.secret, Method::POST, &revoke_live)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "ENVIRONMENT_NOT_ALLOWED")
    );
    let (status, _) = verify(&app, &token, json!({ "key": live.secret })).await;
    assert_eq!(status, StatusCode::OK, "the live key still works");

    // The audit log through a test key leaves out entries about live keys.
    let (status, log) = answer(api(&app, &automation.secret, Method::GET, "/api/v1/audit")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let targets: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["target"].as_str().map(str::to_owned))
        .collect();
    assert!(
        targets.iter().any(|t| t.starts_with("Test backend")),
        "{targets:?}"
    );
    assert!(
        !targets.iter().any(|t| t.starts_with("Live backend")),
        "{targets:?}"
    );

    // Entries with no target (sign-ins) are not about the other environment: still shown.
    Client::new(&app)
        .ok(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    let (_, log) = answer(api(&app, &automation.secret, Method::GET, "/api/v1/audit")).await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert!(actions.contains(&"user.signed_in"), "{actions:?}");

    let revoke_test = format!("/api/v1/keys/{}/revoke", test.id);
    let (status, _) = answer(api(&app, &automation.secret, Method::POST, &revoke_test)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn revoking_a_minting_key_can_take_what_it_minted() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let mint = |automation: String| {
        let app_base = app.base.clone();
        async move {
            let (status, created) = answer(
                http()
                    .post(format!("{app_base}/api/v1/keys"))
                    .bearer_auth(&automation)
                    .json(&json!({
                        "name": format!("minted {}", uuid::Uuid::new_v4().simple()),
                        "environment": "test", "scopes": ["invoices:read", "keys:write"],
                        "expiry": "date", "expiry_date": in_ten_days(), "rate_limit_per_minute": "50",
                    })),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            (
                created["id"].as_str().unwrap().to_owned(),
                created["secret"].as_str().unwrap().to_owned(),
            )
        }
    };
    // Through the API, with ?cascade=true: the minted key and what it minted in turn.
    let first = test_automation(&admin).await;
    let (_, child) = mint(first.secret.clone()).await;
    let (_, grandchild) = mint(child.clone()).await;
    let other = test_automation_named(&admin, "Other automation").await;
    let (status, _) = answer(api(
        &app,
        &other.secret,
        Method::POST,
        &format!("/api/v1/keys/{}/revoke?cascade=true", first.id),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for key in [&first.secret, &child, &grandchild] {
        let (status, body) = verify(&app, &token, json!({ "key": key })).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "REVOKED"));
    }

    // In the dashboard: without the cascade the minted key keeps working; with it, it stops.
    let second = test_automation_named(&admin, "Second automation").await;
    let (_, minted) = mint(second.secret.clone()).await;
    let (status, page) = admin.rpc("load_key", &[("key_id", &second.id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["minted_unrevoked"], 1,
        "the key page counts what a cascade would stop"
    );
    admin
        .ok(
            "revoke_key",
            &[("key_id", &second.id), ("cascade", "false")],
        )
        .await;
    let (status, _) = verify(&app, &token, json!({ "key": minted })).await;
    assert_eq!(status, StatusCode::OK);
    let third = test_automation_named(&admin, "Third automation").await;
    let (_, minted_by_third) = mint(third.secret.clone()).await;
    admin
        .ok("revoke_key", &[("key_id", &third.id), ("cascade", "true")])
        .await;
    let (status, body) = verify(&app, &token, json!({ "key": minted_by_third })).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "REVOKED"));
    let auto_revoked = count(
        &app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'key.auto_revoked'",
    )
    .await;
    assert_eq!(
        auto_revoked, 3,
        "two by the API's cascade, one by the dashboard's"
    );
}

async fn test_automation_named(admin: &Client, name: &str) -> CreatedKey {
    create_key(
        admin,
        json!({
            "name": name,
            "environment": "test",
            "scopes": ["read-only", "keys:write"],
            "expiry": "30d",
            "rate_limit_per_minute": "100",
        }),
    )
    .await
}

#[tokio::test]
async fn a_rotated_key_keeps_its_owner_and_goes_when_the_owner_goes() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let developer_id = user_id_of(&app, "dev@example.com").await;
    let old = create_key(&developer, json!({ "name": "Dev backend" })).await;

    let rotated = admin
        .ok("rotate_key", &[("key_id", &old.id), ("grace", "24h")])
        .await;
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    let (status, body) = verify(&app, &token, json!({ "key": new_secret })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["owner_id"],
        developer_id.as_str(),
        "the owner survives the rotation"
    );
    // The developer still manages the replacement, and the entry names who rotated.
    let (status, page) = developer
        .rpc("load_key", &[("key_id", rotated["id"].as_str().unwrap())])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["key"]["can_manage"], true);
    let rotator: String = sqlx::query_scalar(
        "SELECT actor_label FROM audit_entries WHERE action = 'key.rotated' AND target_id = $1",
    )
    .bind(&old.id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(rotator, "Ana Diaz");

    admin
        .ok("remove_member", &[("user_id", &developer_id)])
        .await;
    for key in [&old.secret, &new_secret] {
        let (status, body) = verify(&app, &token, json!({ "key": key })).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "REVOKED"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_keys_history_is_for_admins_and_its_owner() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let owner = member(&app, &admin, "owner@example.com", "developer").await;
    let other = member(&app, &admin, "other@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    let key = create_key(&owner, json!({ "name": "Owner's backend" })).await;

    for (who, client, sees_history) in [
        ("admin", &admin, true),
        ("owner", &owner, true),
        ("another developer", &other, false),
        ("viewer", &viewer, false),
    ] {
        let (status, page) = client.rpc("load_key", &[("key_id", &key.id)]).await;
        assert_eq!(status, StatusCode::OK, "{who}: {page}");
        assert_eq!(
            page["key"]["name"], "Owner's backend",
            "{who} sees the key's facts"
        );
        if sees_history {
            let history = page["history"].as_array().expect("history");
            assert!(!history.is_empty(), "{who}");
            assert!(page.to_string().contains("owner@example.com"), "{who}");
        } else {
            assert_eq!(page["history"], Value::Null, "{who}: {page}");
            assert!(!page.to_string().contains("127.0.0.1"), "{who}: no IPs");
        }
    }
}

#[tokio::test]
async fn api_v1_answers_every_bad_key_alike() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let revoked = create_key(&admin, json!({ "scopes": ["keys:read"] })).await;
    admin.ok("revoke_key", &[("key_id", &revoked.id)]).await;
    let expired = create_key(&admin, json!({ "scopes": ["keys:read"] })).await;
    admin
        .ok("rotate_key", &[("key_id", &expired.id), ("grace", "0")])
        .await;
    let unknown =
        keyward::keys::format::SecretKey::generate("kw", keyward::keys::Environment::Live);
    let (status, body) = answer(http().get(format!("{}/api/v1/keys", app.base))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "UNAUTHORIZED", "no key at all: {body}");
    for (what, key) in [
        ("malformed", "kw_live_nope"),
        ("unknown", unknown.expose()),
        ("revoked", revoked.secret.as_str()),
        ("expired", expired.secret.as_str()),
    ] {
        let (status, body) = answer(api(&app, key, Method::GET, "/api/v1/keys")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            body,
            json!({ "error": { "type": "unauthorized", "code": "UNAUTHORIZED", "message": "Invalid or missing API key." } }),
            "{what}"
        );
    }
}

#[tokio::test]
async fn offboarding_revokes_the_workspaces_service_tokens_too() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let key = create_key(&admin, json!({})).await;
    let (status, _) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::OK);
    admin
        .ok("offboard_workspace", &[("confirmation", "Acme")])
        .await;
    let (status, body) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "SERVICE_UNAUTHORIZED")
    );
    let entries = count(
        &app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'service_token.revoked'",
    )
    .await;
    assert_eq!(entries, 1);
}

/// Mints a key through `/api/v1` of the server at `base` with `minting`:
/// `(id, secret)`, or the refusal's status.
async fn try_mint(base: &str, minting: &str) -> Result<(String, String), StatusCode> {
    let (status, created) = answer(
        http()
            .post(format!("{base}/api/v1/keys"))
            .bearer_auth(minting)
            .json(&json!({
                "name": format!("minted {}", uuid::Uuid::new_v4().simple()),
                "environment": "test", "scopes": ["invoices:read", "keys:write"],
                "expiry": "date", "expiry_date": in_ten_days(), "rate_limit_per_minute": "50",
            })),
    )
    .await;
    if status != StatusCode::CREATED {
        return Err(status);
    }
    Ok((
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    ))
}

#[tokio::test]
async fn no_key_minted_during_a_cascade_revoke_survives_it() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;
    let leaked = test_automation(&admin).await;
    // A burst of mints races the revoke: each one was checked before the revoke
    // committed, and some wait for the workspace lock behind it.
    let mints: Vec<_> = (0..20)
        .map(|_| {
            let (base, secret) = (app.base.clone(), leaked.secret.clone());
            tokio::spawn(async move { try_mint(&base, &secret).await })
        })
        .collect();
    admin
        .ok("revoke_key", &[("key_id", &leaked.id), ("cascade", "true")])
        .await;
    let mut minted = Vec::new();
    for mint in mints {
        if let Ok(key) = mint.await.unwrap() {
            minted.push(key);
        }
    }
    let survivors = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM api_keys WHERE minted_by_key = '{}' AND revoked_at IS NULL",
            leaked.id
        ),
    )
    .await;
    assert_eq!(survivors, 0, "{} minted, some still usable", minted.len());
    for (_, secret) in &minted {
        let (status, _) = verify(&app, &token, json!({ "key": secret })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_cascade_follows_rotations_and_works_after_a_key_only_revoke() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "gateway").await;

    // Minted by X, then X rotated: revoking the replacement takes what X minted.
    let original = test_automation(&admin).await;
    let (_, minted) = try_mint(&app.base, &original.secret).await.unwrap();
    let rotated = admin
        .ok("rotate_key", &[("key_id", &original.id), ("grace", "24h")])
        .await;
    let replacement = rotated["id"].as_str().unwrap().to_owned();
    let (_, page) = admin.rpc("load_key", &[("key_id", &replacement)]).await;
    assert_eq!(page["minted_unrevoked"], 1, "{page}");
    admin
        .ok(
            "revoke_key",
            &[("key_id", &replacement), ("cascade", "true")],
        )
        .await;
    let (status, body) = verify(&app, &token, json!({ "key": minted })).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "REVOKED"));

    // Revoked alone first, then "with what it minted": the minted keys still go.
    let minting = test_automation_named(&admin, "Second automation").await;
    let (_, minted) = try_mint(&app.base, &minting.secret).await.unwrap();
    admin.ok("revoke_key", &[("key_id", &minting.id)]).await;
    let (status, _) = verify(&app, &token, json!({ "key": minted })).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a key-only revoke leaves the minted key"
    );
    let (status, _) = admin.rpc("revoke_key", &[("key_id", &minting.id)]).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "revoking it alone again is refused"
    );
    admin
        .ok(
            "revoke_key",
            &[("key_id", &minting.id), ("cascade", "true")],
        )
        .await;
    let (status, body) = verify(&app, &token, json!({ "key": minted })).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "REVOKED"));
}

#[tokio::test]
async fn rotating_a_minted_key_keeps_its_bounds() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let minting = create_key(
        &admin,
        json!({ "environment": "test", "scopes": ["read-only", "keys:write"], "expiry": "60d" }),
    )
    .await;
    // A 30-day key minted by a 60-day key, rotated 0 days later: a fresh 30 days would still
    // fit today, so the bound shows through `expiry_days`: the replacement keeps the end date.
    let (status, created) = answer(api(&app, &minting.secret, Method::POST, "/api/v1/keys").json(&json!({
        "name": "Minted worker", "environment": "test", "scopes": ["invoices:read"], "expiry": "30d",
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let minted_id = created["id"].as_str().unwrap();
    let (_, before) = admin.rpc("load_key", &[("key_id", minted_id)]).await;
    let rotated = admin
        .ok("rotate_key", &[("key_id", minted_id), ("grace", "1h")])
        .await;
    let (_, after) = admin
        .rpc("load_key", &[("key_id", rotated["id"].as_str().unwrap())])
        .await;
    assert_eq!(after["key"]["expires_at"], before["key"]["expires_at"]);
    assert_eq!(after["key"]["minted_by_key"], minting.id.as_str());
    let expiry_days = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM api_keys WHERE id = '{}' AND expiry_days IS NULL",
            rotated["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        expiry_days, 1,
        "the replacement has a fixed end, not a fresh period"
    );
}

#[tokio::test]
async fn a_developers_management_key_cannot_touch_another_members_keys() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let developer_id = user_id_of(&app, "dev@example.com").await;
    let other = member(&app, &admin, "other@example.com", "developer").await;
    let others_key = create_key(&other, json!({ "environment": "test" })).await;
    let automation = create_key(
        &developer,
        json!({ "environment": "test", "scopes": ["read-only", "keys:write"] }),
    )
    .await;
    let (status, _) = answer(api(
        &app,
        &automation.secret,
        Method::POST,
        &format!("/api/v1/keys/{}/revoke?cascade=true", others_key.id),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, minted) = try_mint(&app.base, &automation.secret).await.unwrap();
    let token = service_token(&admin, "gateway").await;
    let (_, body) = verify(&app, &token, json!({ "key": minted })).await;
    assert_eq!(
        body["owner_id"],
        developer_id.as_str(),
        "a minted key is its minter's owner's"
    );
}
