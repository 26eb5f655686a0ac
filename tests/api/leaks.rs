//! Leak reports in (issue 16): GitHub's signed secret-scanning reports and the
//! company's own scanners. The tests make their own P-256 key pair, serve the
//! public-keys document from a local server, and sign real payloads.

use crate::common::*;
use crate::fixtures::*;
use axum::extract::State;
use base64::Engine;
use keyward::keys::Environment;
use keyward::keys::format::SecretKey;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A stand-in for `api.github.com/meta/public_keys/secret_scanning`: serves
/// whatever document the test sets, and counts how often it was fetched.
#[derive(Clone)]
struct KeysServer {
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    url: String,
}

impl KeysServer {
    async fn start(listed: &[(&str, &SigningKey)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Self {
            document: Arc::new(Mutex::new(document(listed))),
            fetches: Arc::default(),
            url: format!(
                "http://{}/meta/public_keys/secret_scanning",
                listener.local_addr().unwrap()
            ),
        };
        let router = axum::Router::new()
            .route(
                "/meta/public_keys/secret_scanning",
                axum::routing::get(|State(server): State<KeysServer>| async move {
                    server.fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(server.document.lock().unwrap().clone())
                }),
            )
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        server
    }

    fn list(&self, listed: &[(&str, &SigningKey)]) {
        *self.document.lock().unwrap() = document(listed);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn document(listed: &[(&str, &SigningKey)]) -> Value {
    let keys: Vec<Value> = listed
        .iter()
        .map(|(id, key)| {
            json!({
                "key_identifier": id,
                "key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                "is_current": true,
            })
        })
        .collect();
    json!({ "public_keys": keys })
}

fn new_signing_key() -> SigningKey {
    SigningKey::random(&mut rand::rngs::OsRng)
}

fn sign(key: &SigningKey, body: &[u8]) -> String {
    let signature: Signature = key.sign(body);
    base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
}

/// `POST /v1/leaks/github` with these bytes and headers: `(status, body text)`.
async fn post_github(
    app: &TestApp,
    body: Vec<u8>,
    key_id: Option<&str>,
    signature: Option<&str>,
) -> (StatusCode, String) {
    let mut request = http()
        .post(format!("{}/v1/leaks/github", app.base))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key_id) = key_id {
        request = request.header("github-public-key-identifier", key_id);
    }
    if let Some(signature) = signature {
        request = request.header("github-public-key-signature", signature);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// A report signed by `key` under `key_id`: `(status, JSON answer)`.
async fn github_report(
    app: &TestApp,
    key_id: &str,
    key: &SigningKey,
    report: &Value,
) -> (StatusCode, Value) {
    let body = serde_json::to_vec(report).unwrap();
    let signature = sign(key, &body);
    let (status, text) = post_github(app, body, Some(key_id), Some(&signature)).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn reported(token: &str, url: &str) -> Value {
    json!({ "token": token, "type": "keyward_api_key", "url": url, "source": "content" })
}

fn sha256_hex(text: &str) -> String {
    keyward::token::sha256_hex(text)
}

/// The label GitHub's feedback gives the token, found by its hash.
fn label_of<'a>(feedback: &'a Value, token: &str) -> &'a str {
    let hash = sha256_hex(token);
    feedback
        .as_array()
        .expect("feedback is an array")
        .iter()
        .find(|entry| entry["token_hash"] == hash.as_str())
        .and_then(|entry| entry["label"].as_str())
        .unwrap_or("(not in the feedback)")
}

/// A key of this deployment's format that no workspace holds.
fn unknown_key() -> String {
    SecretKey::generate("kw", Environment::Live)
        .expose()
        .to_owned()
}

async fn app_with_keys(server: &KeysServer) -> TestApp {
    spawn_app_with(&[("KEYWARD_GITHUB_KEYS_URL", &server.url)]).await
}

/// Every stored audit entry as text (actions, labels, changes), for "never the token".
async fn audit_text(app: &TestApp) -> String {
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT action, target_label, changes FROM audit_entries ORDER BY seq")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    format!("{rows:?}")
}

async fn entries(app: &TestApp, action: &str, key_id: &str) -> Vec<(String, Value)> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT actor_label, changes FROM audit_entries WHERE action = $1 AND target_id = $2 ORDER BY seq",
    )
    .bind(action)
    .bind(key_id)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(actor, changes)| {
            (
                actor,
                serde_json::from_str(&changes.unwrap_or_default()).unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[tokio::test]
async fn leaks_a_signed_report_revokes_a_live_key_marks_it_and_answers_feedback() {
    let github = new_signing_key();
    let server = KeysServer::start(&[("gh-1", &github)]).await;
    let app = app_with_keys(&server).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(&admin, json!({})).await;
    let (status, _) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::OK, "the key works before the report");

    let url = "https://github.com/acme/app/blob/abc123/config.env";
    let stranger = unknown_key();
    let report = json!([
        reported(&key.secret, url),
        reported(
            &key.secret,
            "https://github.com/acme/app/blob/abc123/other.env"
        ),
        reported("ghp_not_ours_at_all", url),
        reported(&stranger, url),
    ]);
    let (status, feedback) = github_report(&app, "gh-1", &github, &report).await;
    assert_eq!(status, StatusCode::OK, "{feedback}");
    assert_eq!(
        feedback.as_array().unwrap().len(),
        3,
        "duplicates answered once: {feedback}"
    );
    assert_eq!(label_of(&feedback, &key.secret), "true_positive");
    assert_eq!(label_of(&feedback, "ghp_not_ours_at_all"), "false_positive");
    assert_eq!(label_of(&feedback, &stranger), "false_positive");
    assert_eq!(feedback[0]["token_type"], "keyward_api_key");
    assert!(!feedback.to_string().contains(&key.secret));

    // Revoked at once, on this instance's cache too.
    let (status, body) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "REVOKED");

    // The badge's data, in the list and on the key page.
    let listed = admin.ok("load_keys", &[]).await["keys"][0].clone();
    assert_eq!(listed["id"], key.id.as_str());
    assert_eq!(listed["leaked_url"], url);
    assert!(listed["leaked_at"].is_string(), "{listed}");
    assert_eq!(listed["status"], "revoked");
    let detail = admin.ok("load_key", &[("key_id", &key.id)]).await;
    assert_eq!(detail["key"]["leaked_url"], url);
    assert_eq!(
        detail["key"]["revoke_reason"],
        format!("leaked: found at {url}")
    );
    let page = admin
        .get(&format!("/settings/api-keys/{}", key.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("badge leaked"),
        "the key page shows the badge"
    );
    assert!(page.contains(url));
    let list_page = admin.get("/settings/api-keys").await.text().await.unwrap();
    assert!(list_page.contains("data-testid=\"key-leaked\""));

    // Audited by system, with where it was found.
    let leaked = entries(&app, "key.leaked", &key.id).await;
    assert_eq!(leaked.len(), 1);
    assert_eq!(leaked[0].0, "system");
    assert_eq!(leaked[0].1["found"]["url"], url);
    assert_eq!(leaked[0].1["found"]["source"], "content");
    assert_eq!(leaked[0].1["reported_by"], "github");
    assert_eq!(leaked[0].1["outcome"], "revoked");
    let revoked = entries(&app, "key.revoked", &key.id).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].0, "system");
    assert_eq!(
        revoked[0].1["after"]["reason"],
        format!("leaked: found at {url}")
    );

    // Reported again: recorded, not repeated.
    let (status, feedback) = github_report(
        &app,
        "gh-1",
        &github,
        &json!([reported(&key.secret, "https://gist.github.com/x")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(label_of(&feedback, &key.secret), "true_positive");
    let leaked = entries(&app, "key.leaked", &key.id).await;
    assert_eq!(leaked.len(), 2);
    assert_eq!(leaked[1].1["outcome"], "already_revoked");
    assert_eq!(leaked[1].1["first_report"], false);
    assert_eq!(entries(&app, "key.revoked", &key.id).await.len(), 1);
    let detail = admin.ok("load_key", &[("key_id", &key.id)]).await;
    assert_eq!(detail["key"]["leaked_url"], url, "the first location stays");

    let audit = audit_text(&app).await;
    assert!(
        !audit.contains(&key.secret),
        "the token is not in the audit log"
    );
    assert!(!audit.contains(&stranger));
    assert!(!audit.contains("ghp_not_ours_at_all"));
    assert!(!page.contains(&key.secret) && !list_page.contains(&key.secret));
    assert_eq!(server.fetches(), 1, "the keys are cached");
}

#[tokio::test]
async fn leaks_a_tampered_body_a_wrong_key_id_or_no_signature_is_refused() {
    let github = new_signing_key();
    let impostor = new_signing_key();
    let server = KeysServer::start(&[("gh-1", &github)]).await;
    let app = app_with_keys(&server).await;
    let admin = admin(&app).await;
    let key = create_key(&admin, json!({})).await;
    let body = serde_json::to_vec(&json!([reported(&key.secret, "https://x")])).unwrap();
    let signature = sign(&github, &body);

    let mut tampered = body.clone();
    let at = tampered.len() - 3;
    tampered[at] = b'y';
    let (status, text) = post_github(&app, tampered, Some("gh-1"), Some(&signature)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("INVALID_SIGNATURE"), "{text}");

    let (status, _) = post_github(
        &app,
        body.clone(),
        Some("gh-1"),
        Some(&sign(&impostor, &body)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another key's signature");
    let (status, _) = post_github(&app, body.clone(), Some("gh-2"), Some(&signature)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unlisted key id");
    let (status, _) = post_github(&app, body.clone(), Some("gh-1"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no signature");
    let (status, _) = post_github(&app, body.clone(), None, Some(&signature)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no key id");
    let (status, _) = post_github(&app, body.clone(), Some("gh-1"), Some("bm90IERFUg==")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not DER");
    let (status, _) = post_github(&app, body.clone(), Some("gh-1"), Some("%%%")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not base64");

    // Well signed but not a report: 400, without quoting the body.
    for malformed in [
        format!("[\"{}\"]", key.secret),
        "{\"token\": 1}".to_owned(),
        "not json".to_owned(),
    ] {
        let bytes = malformed.into_bytes();
        let signature = sign(&github, &bytes);
        let (status, text) = post_github(&app, bytes, Some("gh-1"), Some(&signature)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert!(!text.contains(&key.secret), "{text}");
    }

    // Over 1 MiB: 413, declared or not.
    let huge = vec![b' '; 1024 * 1024 + 1];
    let (status, _) = post_github(&app, huge, Some("gh-1"), Some(&signature)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, body) = verify(
        &app,
        &service_token(&admin, "api").await,
        json!({ "key": key.secret }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "no refused report touched the key: {body}"
    );
    assert!(entries(&app, "key.leaked", &key.id).await.is_empty());
}

#[tokio::test]
async fn leaks_an_unknown_key_id_fetches_the_keys_once_then_follows_a_rotation() {
    let old = new_signing_key();
    let rotated = new_signing_key();
    let server = KeysServer::start(&[("gh-old", &old)]).await;
    let app = app_with_keys(&server).await;
    let admin = admin(&app).await;
    let first = create_key(&admin, json!({ "environment": "test" })).await;
    let report = |key: &str| json!([reported(key, "https://x")]);

    let (status, _) = github_report(&app, "gh-old", &old, &report(&first.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.fetches(), 1);

    // GitHub rotates: the old key is no longer listed, a new one is.
    server.list(&[("gh-new", &rotated)]);
    app.clock.advance(chrono::Duration::minutes(11));
    let (status, _) = github_report(&app, "gh-new", &rotated, &report(&first.secret)).await;
    assert_eq!(status, StatusCode::OK, "an unknown id makes one re-fetch");
    assert_eq!(server.fetches(), 2);

    // A made-up id: refused, and within ten minutes no further fetch.
    let (status, _) = github_report(&app, "gh-made-up", &old, &report(&first.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = github_report(&app, "gh-made-up-2", &old, &report(&first.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.fetches(), 2, "at most one fetch in ten minutes");

    // After that, the old id (no longer listed) gets exactly one re-fetch, then 401.
    app.clock.advance(chrono::Duration::minutes(11));
    let (status, _) = github_report(&app, "gh-old", &old, &report(&first.secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a rotated-out key");
    assert_eq!(server.fetches(), 3);

    // An hour on, the cache is refreshed before use.
    app.clock.advance(chrono::Duration::hours(1));
    let (status, _) = github_report(&app, "gh-new", &rotated, &report(&first.secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.fetches(), 4);
}

#[tokio::test]
async fn leaks_a_keys_url_that_is_down_is_a_503_not_a_500() {
    // Bound and dropped: nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(&[("KEYWARD_GITHUB_KEYS_URL", &url)]).await;
    let github = new_signing_key();
    let (status, body) = github_report(&app, "gh-1", &github, &json!([])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "GITHUB_KEYS_UNAVAILABLE");
}

#[tokio::test]
async fn leaks_a_thousand_tokens_in_one_report_are_answered_in_one_go() {
    let github = new_signing_key();
    let server = KeysServer::start(&[("gh-1", &github)]).await;
    let app = app_with_keys(&server).await;
    let admin = admin(&app).await;
    let ours = [
        create_key(&admin, json!({})).await,
        create_key(&admin, json!({ "environment": "test" })).await,
        create_key(&admin, json!({})).await,
    ];
    let mut tokens: Vec<Value> = Vec::with_capacity(1_000);
    for (n, key) in ours.iter().enumerate() {
        tokens.push(reported(&key.secret, &format!("https://x/{n}")));
    }
    while tokens.len() < 1_000 {
        // Half in our format (unknown keys, a lookup each), half not.
        let token = if tokens.len().is_multiple_of(2) {
            unknown_key()
        } else {
            format!("ghp_{}", uuid::Uuid::new_v4().simple())
        };
        tokens.push(reported(&token, "https://x/other"));
    }
    let (status, feedback) = github_report(&app, "gh-1", &github, &Value::Array(tokens)).await;
    assert_eq!(status, StatusCode::OK);
    let feedback = feedback.as_array().unwrap();
    assert_eq!(feedback.len(), 1_000);
    let true_positives = feedback
        .iter()
        .filter(|entry| entry["label"] == "true_positive")
        .count();
    assert_eq!(true_positives, 3);
    for key in &ours {
        assert_eq!(entries(&app, "key.leaked", &key.id).await.len(), 1);
    }
    // The live keys are revoked, the test key flagged (the default policy).
    assert_eq!(entries(&app, "key.revoked", &ours[0].id).await.len(), 1);
    assert!(entries(&app, "key.revoked", &ours[1].id).await.is_empty());
}

#[tokio::test]
async fn leaks_flag_only_leaves_the_key_working_but_marked() {
    let github = new_signing_key();
    let server = KeysServer::start(&[("gh-1", &github)]).await;
    let app = app_with_keys(&server).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let test_key = create_key(&admin, json!({ "environment": "test" })).await;

    // Test keys are flagged by default.
    let (status, _) = github_report(
        &app,
        "gh-1",
        &github,
        &json!([reported(&test_key.secret, "https://t")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = verify(&app, &token, json!({ "key": test_key.secret })).await;
    assert_eq!(status, StatusCode::OK, "a flagged key keeps working");
    let detail = admin.ok("load_key", &[("key_id", &test_key.id)]).await;
    assert_eq!(detail["key"]["status"], "active");
    assert_eq!(detail["key"]["leaked_url"], "https://t");
    assert_eq!(
        entries(&app, "key.leaked", &test_key.id).await[0].1["outcome"],
        "flagged"
    );

    // An admin sets live keys to flag-only too: audited with before and after.
    admin
        .ok("set_leak_policy", &[("live", "flag"), ("test", "flag")])
        .await;
    let policy = admin.ok("load_leak_policy", &[]).await;
    assert_eq!(
        policy["policy"],
        json!({ "live": "flag", "test": "flag", "scanners": "flag" })
    );
    let change: String = sqlx::query_scalar(
        "SELECT changes FROM audit_entries WHERE action = 'settings.changed' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let change: Value = serde_json::from_str(&change).unwrap();
    assert_eq!(change["before"]["leak_policy"]["live"], "revoke");
    assert_eq!(change["after"]["leak_policy"]["live"], "flag");

    let live_key = create_key(&admin, json!({})).await;
    let (status, _) = github_report(
        &app,
        "gh-1",
        &github,
        &json!([reported(&live_key.secret, "https://l")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = verify(&app, &token, json!({ "key": live_key.secret })).await;
    assert_eq!(status, StatusCode::OK, "flag-only for live keys now");
    assert!(entries(&app, "key.revoked", &live_key.id).await.is_empty());

    let page = admin.get("/settings/workspace").await.text().await.unwrap();
    assert!(page.contains("Save leak policy"), "admins get the form");
}

#[tokio::test]
async fn leaks_only_admins_change_the_policy() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    for (who, client) in [("developer", &developer), ("viewer", &viewer)] {
        let (status, body) = client
            .rpc("set_leak_policy", &[("live", "flag"), ("test", "flag")])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        let view = client.ok("load_leak_policy", &[]).await;
        assert_eq!(view["can_change"], false, "{who}");
        let page = client
            .get("/settings/workspace")
            .await
            .text()
            .await
            .unwrap();
        assert!(!page.contains("Save leak policy"), "{who} sees no form");
    }
    let (status, body) = admin
        .rpc("set_leak_policy", &[("live", "delete"), ("test", "flag")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let view = admin.ok("load_leak_policy", &[]).await;
    assert_eq!(
        view["policy"],
        json!({ "live": "revoke", "test": "flag", "scanners": "flag" })
    );
    assert_eq!(view["can_change"], true);
    assert!(
        !audit_actions(&app)
            .await
            .contains(&"settings.changed".to_owned())
    );
}

#[tokio::test]
async fn leaks_a_scanner_acts_only_on_its_own_workspaces_keys() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let acme_token = service_token(&admin, "acme scanner").await;
    let acme_key = create_key(&admin, json!({})).await;
    // A second workspace, with its own token.
    admin.ok("create_workspace", &[("name", "Other")]).await;
    let other_token = service_token(&admin, "other scanner").await;

    let scan = |token: Option<String>, body: Value| {
        let mut request = http().post(format!("{}/v1/leaks", app.base)).json(&body);
        if let Some(token) = token {
            request = request.header("x-keyward-service-token", token);
        }
        answer(request)
    };
    let report = json!([{ "token": acme_key.secret, "type": "gitleaks", "url": "ticket #42" }]);
    let (status, _) = scan(None, report.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, feedback) = scan(Some(other_token), report.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(label_of(&feedback, &acme_key.secret), "false_positive");
    assert!(entries(&app, "key.leaked", &acme_key.id).await.is_empty());
    let (status, _) = verify(&app, &acme_token, json!({ "key": acme_key.secret })).await;
    assert_eq!(status, StatusCode::OK, "another workspace cannot touch it");

    // A service token's report flags only, even for a live key: the token is
    // held by every API server, and must not revoke keys on its own.
    let (status, feedback) = scan(Some(acme_token.clone()), report.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(label_of(&feedback, &acme_key.secret), "true_positive");
    let leaked = entries(&app, "key.leaked", &acme_key.id).await;
    assert_eq!(leaked[0].1["found"]["url"], "ticket #42");
    assert_eq!(leaked[0].1["outcome"], "flagged");
    assert!(leaked[0].1["reported_by"]["service_token"].is_string());
    let (status, _) = verify(&app, &acme_token, json!({ "key": acme_key.secret })).await;
    assert_eq!(status, StatusCode::OK, "flagged, still working");
    // An admin lets the workspace's scanners follow the policy: now it is revoked.
    admin
        .ok(
            "switch_workspace",
            &[("workspace_id", &acme_workspace(&app, &acme_key.id).await)],
        )
        .await;
    admin
        .ok(
            "set_leak_policy",
            &[("live", "revoke"), ("test", "flag"), ("scanners", "revoke")],
        )
        .await;
    let (status, _) = scan(Some(acme_token.clone()), report).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = verify(&app, &acme_token, json!({ "key": acme_key.secret })).await;
    assert_eq!(code(&body), "REVOKED", "{status}");
    assert!(!audit_text(&app).await.contains(&acme_key.secret));
}

/// The workspace a key belongs to.
async fn acme_workspace(app: &TestApp, key_id: &str) -> String {
    sqlx::query_scalar("SELECT workspace_id FROM api_keys WHERE id = $1")
        .bind(key_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Collects everything the server logs.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const LOG_CHILD: &str = "KEYWARD_TEST_LEAK_LOG_CHILD";

/// Runs itself again in a process of its own, where it can be the only log
/// subscriber (as `web_hardening` does): no reported token in any log line.
#[test]
fn leaks_no_reported_token_reaches_the_log() {
    if std::env::var_os(LOG_CHILD).is_some() {
        return log_while_reporting();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "leaks::leaks_no_reported_token_reaches_the_log",
            "--exact",
            "--test-threads=1",
        ])
        .env(LOG_CHILD, "1")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child ran: {stdout}");
}

fn log_while_reporting() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let secrets = runtime.block_on(async {
        let github = new_signing_key();
        let server = KeysServer::start(&[("gh-1", &github)]).await;
        let app = app_with_keys(&server).await;
        let admin = admin(&app).await;
        let key = create_key(&admin, json!({})).await;
        let stranger = unknown_key();
        let report = json!([
            reported(&key.secret, "https://x"),
            reported(&stranger, "https://x")
        ]);
        let (status, _) = github_report(&app, "gh-1", &github, &report).await;
        assert_eq!(status, StatusCode::OK);
        // Refused ones too: a bad signature, a malformed body.
        let body = serde_json::to_vec(&report).unwrap();
        post_github(&app, body, Some("gh-1"), Some("bm90IERFUg==")).await;
        let bad = format!("[\"{}\"]", key.secret).into_bytes();
        let signature = sign(&github, &bad);
        post_github(&app, bad, Some("gh-1"), Some(&signature)).await;
        let token = service_token(&admin, "scanner").await;
        answer(
            http()
                .post(format!("{}/v1/leaks", app.base))
                .header("x-keyward-service-token", token)
                .json(&report),
        )
        .await;
        vec![key.secret, stranger]
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("a leak report named a key"),
        "the log was captured: {text}"
    );
    for secret in secrets {
        assert!(!text.contains(&secret), "a token in the log:\n{text}");
    }
}

/// The one regular expression the three rule files in docs/secret-scanning/ share.
const DOCUMENTED_REGEX: &str = r"\bkw_(?:live|test)_[0-9A-Za-z]{36}\b";

fn rule_file(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/secret-scanning")
            .join(name),
    )
    .unwrap()
}

#[test]
fn leaks_the_rule_files_share_the_key_formats_regex() {
    // The body is the random part and its checksum: the length the regex names.
    let body_len = keyward::keys::format::RANDOM_LEN + keyward::keys::format::CHECKSUM_LEN;
    assert!(DOCUMENTED_REGEX.contains(&format!("{{{body_len}}}")));
    let gitleaks: toml::Table = toml::from_str(&rule_file("gitleaks.toml")).unwrap();
    assert_eq!(
        gitleaks["rules"][0]["regex"].as_str(),
        Some(DOCUMENTED_REGEX)
    );
    assert!(rule_file("trufflehog.yaml").contains(&format!("'{DOCUMENTED_REGEX}'")));
    let v2: Value = serde_json::from_str(&rule_file("trufflehog-v2-rules.json")).unwrap();
    assert_eq!(v2["keyward_api_key"], DOCUMENTED_REGEX);
    for environment in [Environment::Live, Environment::Test] {
        let key = SecretKey::generate("kw", environment);
        let (_, body) = key.expose().rsplit_once('_').unwrap();
        assert_eq!(body.len(), body_len);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}

/// PyPI packages TruffleHog 2 (`pip install truffleHog==2.2.1`, the Python one;
/// v3 and gitleaks are Go binaries that neither Debian bookworm nor PyPI
/// package). This runs it with the documented rule over a git repository
/// holding a freshly minted key. `./test` installs it (scripts/bootstrap) and
/// runs this with `KEYWARD_TRUFFLEHOG` pointing at it.
#[test]
#[ignore = "needs TruffleHog 2 (KEYWARD_TRUFFLEHOG); ./test runs it"]
fn leaks_trufflehog_finds_a_minted_key_with_the_documented_rule() {
    let program = std::env::var("KEYWARD_TRUFFLEHOG").unwrap_or_else(|_| "trufflehog".into());
    let help = std::process::Command::new(&program)
        .arg("--help")
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error} (set KEYWARD_TRUFFLEHOG)"));
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("--rules"),
        "{program} is not TruffleHog 2 (no --rules)"
    );
    let repo = std::env::temp_dir().join(format!("keyward-leak-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    git(&["init", "-q", "."]);
    std::fs::write(repo.join("README"), "app\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "start"]);
    // TruffleHog 2 reads commits' diffs: the key arrives in the second one.
    let key = SecretKey::generate("kw", Environment::Live);
    std::fs::write(
        repo.join("config.env"),
        format!("API_KEY={}\n", key.expose()),
    )
    .unwrap();
    let decoy = SecretKey::generate("rk", Environment::Live);
    std::fs::write(
        repo.join("other.env"),
        format!("OTHER={}x\n", decoy.expose()),
    )
    .unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "oops"]);
    let rules = repo.with_extension("rules.json");
    std::fs::write(&rules, rule_file("trufflehog-v2-rules.json")).unwrap();
    let output = std::process::Command::new(&program)
        .args(["--regex", "--entropy=False", "--json", "--rules"])
        .arg(&rules)
        .arg(format!("file://{}", repo.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let found: Vec<String> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .flat_map(|finding| {
            finding["stringsFound"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|found| found.as_str().map(str::to_owned))
        .collect();
    std::fs::remove_dir_all(&repo).ok();
    std::fs::remove_file(&rules).ok();
    assert!(
        found.iter().any(|found| found == key.expose()),
        "TruffleHog found {found:?}; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !found.iter().any(|found| found.contains(decoy.expose())),
        "another prefix is not ours"
    );
}
