//! The verification API over HTTP: every status and reason code, service
//! tokens, environments, scopes, expiry, rotation grace, rate limits, bad
//! requests, forward-auth header forms, last-used batching, fail-closed, and
//! revocation reaching the cache at once (and across instances on PostgreSQL).

use crate::common::*;
use chrono::Duration;
use keyward::keys::Environment;
use keyward::keys::format::SecretKey;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Instant;

/// A signed-in admin, a service token and the app.
struct Setup {
    app: TestApp,
    admin: Client,
    token: String,
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

async fn setup_with(settings: &[(&str, &str)]) -> Setup {
    let app = spawn_app_with(settings).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "billing-api").await;
    Setup { app, admin, token }
}

async fn service_token(admin: &Client, name: &str) -> String {
    let created = admin.ok("create_service_token", &[("name", name)]).await;
    created["secret"].as_str().expect("token secret").to_owned()
}

/// Creates a key with these settings over the dashboard's API: `(id, secret)`.
async fn create_key(client: &Client, settings: Value) -> (String, String) {
    let mut form = json!({
        "name": format!("key {}", uuid::Uuid::new_v4().simple()),
        "environment": "live",
        "scopes": ["read-only"],
        "expiry": "never",
    });
    for (name, value) in settings.as_object().unwrap() {
        form[name] = value.clone();
    }
    let (status, body) = client
        .rpc_json("create_key", &json!({ "form": form }))
        .await;
    assert_eq!(status, StatusCode::OK, "create_key: {body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// `POST /v1/keys/verify` with a service token: `(status, headers, body)`.
async fn verify(
    app: &TestApp,
    token: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/keys/verify", app.base))
        .header("x-keyward-service-token", token)
        .json(&body)
        .send()
        .await
        .expect("verify request");
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn verify_key(app: &TestApp, token: &str, key: &str) -> (StatusCode, Value) {
    let (status, _, body) = verify(app, token, json!({ "key": key })).await;
    (status, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("(no code)")
}

async fn revoke(client: &Client, key_id: &str) {
    client
        .ok("revoke_key", &[("key_id", key_id), ("reason", "test")])
        .await;
}

#[tokio::test]
async fn a_good_key_answers_with_its_identity() {
    let Setup { app, admin, token } = setup().await;
    let (id, secret) = create_key(&admin, json!({ "scopes": ["invoices:read"] })).await;
    let (status, body) = verify_key(&app, &token, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["key_id"], id.as_str());
    assert_eq!(body["environment"], "live");
    assert_eq!(body["scopes"], json!(["invoices:read"]));
    assert_eq!(
        body["owner_id"],
        user_id_of(&app, "ana@example.com").await.as_str()
    );
    assert!(body["workspace_id"].is_string());
    assert!(body["name"].as_str().unwrap().starts_with("key "));
    assert!(body.get("expires_at").is_none() && body.get("ratelimit").is_none());
}

#[tokio::test]
async fn each_refused_key_gets_its_reason_code() {
    let Setup { app, admin, token } = setup().await;
    let (revoked_id, revoked) = create_key(&admin, json!({})).await;
    revoke(&admin, &revoked_id).await;
    let (_, live) = create_key(&admin, json!({})).await;
    let unknown = SecretKey::generate("kw", Environment::Live);
    let other_prefix = SecretKey::generate("zz", Environment::Live);
    // One character changed: the checksum no longer matches.
    let mut typo = live.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });

    for (body, expected) in [
        (json!({}), "MISSING"),
        (json!({ "key": null }), "MISSING"),
        (json!({ "key": "  " }), "MISSING"),
        (json!({ "key": "not a key" }), "MALFORMED"),
        (json!({ "key": typo }), "MALFORMED"),
        (json!({ "key": other_prefix.expose() }), "MALFORMED"),
        (json!({ "key": unknown.expose() }), "NOT_FOUND"),
        (json!({ "key": revoked }), "REVOKED"),
        (
            json!({ "key": live, "environment": "test" }),
            "WRONG_ENVIRONMENT",
        ),
    ] {
        let (status, headers, response) = verify(&app, &token, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}: {response}");
        assert_eq!(code(&response), expected, "{body}: {response}");
        assert_eq!(response["error"]["type"], "unauthorized");
        assert_eq!(
            response["error"]["message"], "Invalid or missing API key.",
            "the reason is in the code only"
        );
        assert!(headers.get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn scopes_are_checked_with_presets_expanded() {
    let Setup { app, admin, token } = setup().await;
    let (_, read_only) = create_key(&admin, json!({ "scopes": ["read-only"] })).await;
    let (_, read_write) = create_key(&admin, json!({ "scopes": ["read-write"] })).await;
    let (_, invoices) = create_key(&admin, json!({ "scopes": ["invoices:write"] })).await;

    let check = |key: &str, scopes: &[&str]| json!({ "key": key, "scopes": scopes });
    for (body, expected) in [
        (check(&read_only, &["invoices:read", "customers:read"]), 200),
        (check(&read_only, &["invoices:write"]), 403),
        (
            check(&read_write, &["invoices:write", "payments:read"]),
            200,
        ),
        (check(&invoices, &["invoices:write"]), 200),
        (check(&invoices, &["invoices:read"]), 403),
        (check(&invoices, &[]), 200),
    ] {
        let (status, _, response) = verify(&app, &token, body.clone()).await;
        assert_eq!(status.as_u16(), expected, "{body}: {response}");
        if expected == 403 {
            assert_eq!(code(&response), "INSUFFICIENT_SCOPE");
            assert_eq!(response["error"]["type"], "forbidden");
        }
    }
}

#[tokio::test]
async fn expiry_and_rotation_grace_follow_the_clock() {
    let Setup { app, admin, token } = setup().await;
    let (_, expiring) = create_key(&admin, json!({ "expiry": "30d" })).await;
    let (old_id, old) = create_key(&admin, json!({})).await;
    // Cache both keys first: expiry must not depend on the cache being empty.
    assert_eq!(verify_key(&app, &token, &expiring).await.0, StatusCode::OK);
    assert_eq!(verify_key(&app, &token, &old).await.0, StatusCode::OK);

    let rotated = admin
        .ok("rotate_key", &[("key_id", &old_id), ("grace", "1h")])
        .await;
    let new = rotated["secret"].as_str().unwrap();
    let (status, body) = verify_key(&app, &token, &old).await;
    assert_eq!(status, StatusCode::OK, "inside the grace window: {body}");
    assert!(body["expires_at"].is_string(), "the grace end is reported");
    assert_eq!(verify_key(&app, &token, new).await.0, StatusCode::OK);

    app.clock.advance(Duration::hours(2));
    let (status, body) = verify_key(&app, &token, &old).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "EXPIRED"));
    assert_eq!(verify_key(&app, &token, new).await.0, StatusCode::OK);

    app.clock.advance(Duration::days(30));
    let (status, body) = verify_key(&app, &token, &expiring).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "EXPIRED"));
}

#[tokio::test]
async fn a_rate_limited_key_counts_down_then_gets_429() {
    let Setup { app, admin, token } = setup().await;
    let (_, secret) = create_key(&admin, json!({ "rate_limit_per_minute": "2" })).await;
    for remaining in ["1", "0"] {
        let (status, headers, body) = verify(&app, &token, json!({ "key": secret })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["x-ratelimit-limit"], "2");
        assert_eq!(headers["x-ratelimit-remaining"], remaining);
        assert!(headers.contains_key("x-ratelimit-reset"));
        assert_eq!(body["ratelimit"]["limit"], 2);
    }
    let (status, headers, body) = verify(&app, &token, json!({ "key": secret })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "RATE_LIMITED");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn the_service_token_is_checked_before_the_key() {
    let Setup { app, admin, token } = setup().await;
    let (_, secret) = create_key(&admin, json!({})).await;
    let no_token = reqwest::Client::new()
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
    let (_, other) = create_key(&admin, json!({})).await;
    let (status, body) = verify_key(&app, &token, &other).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "NOT_FOUND")
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors_never_500() {
    let Setup { app, token, .. } = setup().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/keys/verify", app.base);
    let send = |content_type: &'static str, body: Vec<u8>| {
        http.post(&url)
            .header("x-keyward-service-token", &token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            format!(r#"{{"key":"{}"}}"#, "a".repeat(9000)).into_bytes(),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        ("text/plain", b"{}".to_vec(), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            b"[1,2]".to_vec(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            br#"{"key":"kw_live_x","environment":"staging"}"#.to_vec(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            br#"{"key":"kw_live_x","client_ip":"nope"}"#.to_vec(),
            400,
            "INVALID_REQUEST",
        ),
    ];
    for (content_type, body, expected, expected_code) in cases {
        let response = send(content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), expected);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), expected_code, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let staging: Value = send(
        "application/json",
        br#"{"key":"k","environment":"staging"}"#.to_vec(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        staging["error"]["message"]
            .as_str()
            .unwrap()
            .contains("live")
    );
}

#[tokio::test]
async fn forward_auth_reads_every_header_form() {
    let Setup { app, admin, token } = setup().await;
    let (id, secret) = create_key(&admin, json!({ "scopes": ["invoices:read"] })).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/auth", app.base);
    let with_token = |request: reqwest::RequestBuilder| {
        request.header("x-keyward-service-token", token.as_str())
    };
    for request in [
        http.get(&url).bearer_auth(&secret),
        http.get(&url).basic_auth(&secret, None::<&str>),
        http.get(&url).header("x-api-key", &secret),
    ] {
        let response = with_token(request).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["x-keyward-key-id"], id.as_str());
        assert_eq!(headers["x-keyward-environment"], "live");
        assert_eq!(headers["x-keyward-scopes"], "invoices:read");
        assert!(headers.contains_key("x-keyward-workspace-id"));
    }
    let refused = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, code(&body).to_owned())
    };
    assert_eq!(
        refused(with_token(http.get(&url))).await,
        (StatusCode::UNAUTHORIZED, "MISSING".into())
    );
    assert_eq!(
        refused(with_token(http.get(&url).bearer_auth(&secret).header(
            "x-keyward-required-scopes",
            "invoices:read,invoices:write"
        )))
        .await,
        (StatusCode::FORBIDDEN, "INSUFFICIENT_SCOPE".into())
    );
    assert_eq!(
        refused(with_token(
            http.get(&url)
                .bearer_auth(&secret)
                .header("x-keyward-environment", "test")
        ))
        .await,
        (StatusCode::UNAUTHORIZED, "WRONG_ENVIRONMENT".into())
    );
    // Required by default: no service token, no answer.
    assert_eq!(
        refused(http.get(&url).bearer_auth(&secret)).await,
        (StatusCode::UNAUTHORIZED, "SERVICE_UNAUTHORIZED".into())
    );
}

#[tokio::test]
async fn forward_auth_can_trust_the_gateway_without_a_token() {
    let Setup { app, admin, .. } =
        setup_with(&[("KEYWARD_FORWARD_AUTH_SERVICE_TOKEN", "false")]).await;
    let (_, secret) = create_key(&admin, json!({})).await;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/auth", app.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn last_used_is_written_in_batches() {
    let Setup { app, admin, token } = setup().await;
    let (id, secret) = create_key(&admin, json!({})).await;
    for _ in 0..5 {
        let (status, _, _) = verify(
            &app,
            &token,
            json!({ "key": secret, "client_ip": "203.0.113.7" }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The flusher runs every second by default.
    let started = Instant::now();
    let ip = loop {
        let ip: Option<String> =
            sqlx::query_scalar("SELECT last_used_ip FROM api_keys WHERE id = $1")
                .bind(&id)
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        if ip.is_some() || started.elapsed().as_secs() > 10 {
            break ip;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(ip.as_deref(), Some("203.0.113.7"));
    let listed = admin.ok("load_key", &[("key_id", &id)]).await;
    assert!(listed["key"]["last_used_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn last_used_is_flushed_on_graceful_shutdown() {
    let Setup { app, admin, token } = setup().await;
    let (id, secret) = create_key(&admin, json!({})).await;
    // The real binary on the same database, flushing only at shutdown.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .env("DATABASE_URL", &app.database_url)
        .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYWARD_LAST_USED_FLUSH_MS", "86400000")
        .env("KEYWARD_LOG", "warn")
        .env(
            "LEPTOS_SITE_ROOT",
            std::env::temp_dir().join("keyward-test-site"),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start keyward");
    let url = format!("http://127.0.0.1:{port}/v1/keys/verify");
    let http = reqwest::Client::new();
    let mut verified = false;
    for _ in 0..100 {
        let response = http
            .post(&url)
            .header("x-keyward-service-token", &token)
            .json(&json!({ "key": secret, "client_ip": "198.51.100.20" }))
            .send()
            .await;
        if let Ok(response) = response {
            assert_eq!(response.status(), StatusCode::OK);
            verified = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(verified, "the binary answered");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before: Option<String> =
        sqlx::query_scalar("SELECT last_used_ip FROM api_keys WHERE id = $1")
            .bind(&id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(before, None, "nothing is written before the flush");
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    assert!(server.wait().unwrap().success());
    let after: Option<String> =
        sqlx::query_scalar("SELECT last_used_ip FROM api_keys WHERE id = $1")
            .bind(&id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(after.as_deref(), Some("198.51.100.20"));
}

#[tokio::test]
async fn an_unreachable_store_fails_closed() {
    let Setup { app, admin, token } = setup().await;
    let (_, seen) = create_key(&admin, json!({})).await;
    let (_, unseen) = create_key(&admin, json!({})).await;
    let trusted_cache = app.backend == keyward::db::Backend::Sqlite;
    assert_eq!(verify_key(&app, &token, &seen).await.0, StatusCode::OK);
    app.db.pool().close().await;
    let (status, body) = verify_key(&app, &token, &unseen).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "UNAVAILABLE");
    if trusted_cache {
        // A still-valid cached answer keeps serving while the store is away.
        assert_eq!(verify_key(&app, &token, &seen).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn metrics_count_outcomes_and_cache_use() {
    let Setup { app, admin, token } = setup().await;
    let (_, secret) = create_key(&admin, json!({})).await;
    // Each server counts on its own (tests run several in one process), so the
    // counts are exactly this test's.
    let before = metrics(&app).await;
    let unknown = SecretKey::generate("kw", Environment::Live);
    verify_key(&app, &token, &secret).await; // read from the store: a miss
    verify_key(&app, &token, &secret).await; // a hit
    verify_key(&app, &token, &secret).await; // a hit
    verify_key(&app, &token, "nope").await; // malformed: no lookup at all
    verify_key(&app, &token, unknown.expose()).await; // not found: a miss
    verify_key(&app, &token, unknown.expose()).await; // remembered as unknown: a hit
    let after = metrics(&app).await;
    let grew = |series: &str| after.value(series) - before.value(series);
    for (series, expected) in [
        ("keyward_verifications_total{outcome=\"valid\"}", 3.0),
        ("keyward_verifications_total{outcome=\"malformed\"}", 1.0),
        ("keyward_verifications_total{outcome=\"not_found\"}", 2.0),
        ("keyward_verifications_total{outcome=\"revoked\"}", 0.0),
        ("keyward_verify_cache_total{result=\"hit\"}", 3.0),
        ("keyward_verify_cache_total{result=\"miss\"}", 2.0),
        ("keyward_verify_duration_seconds_count", 6.0),
    ] {
        assert_eq!(grew(series), expected, "{series}");
    }
}

/// Prometheus text, one value per series line.
struct Metrics(std::collections::HashMap<String, f64>);

impl Metrics {
    fn value(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }
}

async fn metrics(app: &TestApp) -> Metrics {
    let text = Client::new(app).get("/metrics").await.text().await.unwrap();
    Metrics(
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect(),
    )
}

#[tokio::test]
async fn no_verification_is_valid_after_the_revoke_returned() {
    let Setup { app, admin, token } = setup().await;
    let (id, secret) = create_key(&admin, json!({})).await;
    let revoked_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (base, token, secret, revoked_at) = (
            app.base.clone(),
            token.clone(),
            secret.clone(),
            revoked_at.clone(),
        );
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut late_valid = 0;
            let mut after = 0;
            while after < 20 {
                let started = Instant::now();
                let status = http
                    .post(format!("{base}/v1/keys/verify"))
                    .header("x-keyward-service-token", &token)
                    .json(&json!({ "key": secret }))
                    .send()
                    .await
                    .unwrap()
                    .status();
                if revoked_at.lock().unwrap().is_some_and(|at| started > at) {
                    after += 1;
                    if status == StatusCode::OK {
                        late_valid += 1;
                    }
                }
            }
            late_valid
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    revoke(&admin, &id).await;
    *revoked_at.lock().unwrap() = Some(Instant::now());
    for worker in workers {
        assert_eq!(worker.await.unwrap(), 0, "valid after the revoke returned");
    }
}

/// Fails when run on SQLite: these tests are marked `#[ignore = "needs PostgreSQL"]`
/// and run with `--include-ignored` in `./test`'s PostgreSQL step.
fn require_postgres(app: &TestApp) {
    assert_eq!(
        app.backend,
        keyward::db::Backend::Postgres,
        "run with DATABASE_URL=postgres://… (this test needs PostgreSQL)"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: one SQLite file serves one instance"]
async fn a_revoke_on_one_instance_reaches_the_other() {
    let Setup { app, admin, token } = setup().await;
    require_postgres(&app);
    let other = spawn_second_instance(&app).await;
    let (id, secret) = create_key(&admin, json!({})).await;
    // Instance B answers from its cache once its change listener is subscribed.
    wait_until_trusted(&other).await;
    for _ in 0..2 {
        assert_eq!(verify_key(&other, &token, &secret).await.0, StatusCode::OK);
    }
    revoke(&admin, &id).await;
    let revoked = Instant::now();
    loop {
        let (status, body) = verify_key(&other, &token, &secret).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(code(&body), "REVOKED");
            break;
        }
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(2),
            "instance B still accepts the key 2 s after the revoke"
        );
    }
    println!(
        "revocation reached the other instance in {:?}",
        revoked.elapsed()
    );
}

#[tokio::test]
async fn the_command_line_creates_a_working_service_token() {
    let Setup { app, admin, .. } = setup().await;
    let (_, secret) = create_key(&admin, json!({})).await;
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

async fn wait_until_trusted(app: &TestApp) {
    let started = Instant::now();
    while !app.verifier.cache_is_trusted() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the change listener did not subscribe"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SQLite has no change listener"]
async fn a_lost_listener_connection_distrusts_the_cache_until_it_is_back() {
    let Setup { app, admin, token } = setup().await;
    require_postgres(&app);
    let (id, secret) = create_key(&admin, json!({})).await;
    wait_until_trusted(&app).await;
    assert_eq!(verify_key(&app, &token, &secret).await.0, StatusCode::OK);
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    // Cut the LISTEN connection, as a network blip or a server restart would.
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&database)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(terminated, vec![true]);
    // Whatever happens meanwhile is answered from the store, then the cache returns.
    revoke(&admin, &id).await;
    let (status, body) = verify_key(&app, &token, &secret).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "REVOKED"));
    wait_until_trusted(&app).await;
}
