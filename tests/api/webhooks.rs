//! Webhooks out (issue 16): a real receiver (an axum server on a free port)
//! records what Keyward sends and answers as each test tells it — 200, 500,
//! or not at all. Signatures are checked here with HMAC-SHA256 directly, and
//! by the `standardwebhooks` Python package in an ignored test that ./test runs.

use crate::common::*;
use crate::fixtures::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Ok,
    ServerError,
    /// Answers only after a minute: longer than any test's timeout.
    Hang,
    /// 200 after this many milliseconds.
    SlowOk(u64),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Captured {
    headers: HeaderMap,
    body: String,
    answer: Answer,
}

impl Captured {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

#[derive(Default)]
struct ReceiverState {
    captured: Mutex<Vec<Captured>>,
    /// Answers for the next requests, in order; then `default`.
    script: Mutex<VecDeque<Answer>>,
    default: Mutex<Option<Answer>>,
    /// `webhook-id`s being answered right now, and how often one came twice at once.
    in_flight: Mutex<HashSet<String>>,
    overlaps: AtomicUsize,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start(default: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let state = Arc::new(ReceiverState::default());
        *state.default.lock().unwrap() = Some(default);
        let url = format!("http://{}/hooks/keyward", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .route("/hooks/keyward", axum::routing::post(receive))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    fn script(&self, answers: &[Answer]) {
        self.state.script.lock().unwrap().extend(answers);
    }

    fn answer_from_now_on(&self, answer: Answer) {
        *self.state.default.lock().unwrap() = Some(answer);
    }

    fn captured(&self) -> Vec<Captured> {
        self.state.captured.lock().unwrap().clone()
    }

    /// Waits until a request with `check` has come and been answered 2xx.
    async fn wait_for(&self, what: &str, check: impl Fn(&Captured) -> bool) -> Captured {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self
                .captured()
                .into_iter()
                .find(|c| matches!(c.answer, Answer::Ok | Answer::SlowOk(_)) && check(c))
            {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} arrived; got {:?}",
                self.captured()
                    .iter()
                    .map(|c| c.body.clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: String,
) -> (AxumStatus, &'static str) {
    let scripted = state.script.lock().unwrap().pop_front();
    let answer = scripted
        .or(*state.default.lock().unwrap())
        .unwrap_or(Answer::Ok);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.captured.lock().unwrap().push(Captured {
        headers,
        body,
        answer,
    });
    if !state.in_flight.lock().unwrap().insert(id.clone()) {
        state.overlaps.fetch_add(1, Ordering::SeqCst);
    }
    let reply = match answer {
        Answer::Ok => (AxumStatus::OK, "thanks"),
        Answer::ServerError => (AxumStatus::INTERNAL_SERVER_ERROR, "receiver broke"),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (AxumStatus::OK, "too late")
        }
        Answer::SlowOk(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (AxumStatus::OK, "thanks, slowly")
        }
    };
    state.in_flight.lock().unwrap().remove(&id);
    reply
}

/// Fast retries and a short timeout, and the receiver on 127.0.0.1 allowed.
const FAST: &[(&str, &str)] = &[
    ("KEYWARD_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("KEYWARD_WEBHOOK_TIMEOUT_MS", "1000"),
    ("KEYWARD_WEBHOOK_RETRY_FIRST_MS", "100"),
    ("KEYWARD_WEBHOOK_RETRY_LAST_MS", "300"),
    ("KEYWARD_WEBHOOK_ATTEMPTS", "4"),
    ("KEYWARD_WEBHOOK_POLL_MS", "50"),
];

/// Every event an endpoint can ask for.
const ALL_EVENTS: [&str; 8] = [
    "key.created",
    "key.rotated",
    "key.revoked",
    "key.leaked",
    "key.expired",
    "key.expiring_soon",
    "usage.rate_limited",
    "member.removed",
];

/// Registers `url` for `events`: `(endpoint id, whsec secret)`.
async fn register(client: &Client, url: &str, events: &[&str]) -> (String, String) {
    let (status, body) = client
        .rpc_json(
            "create_webhook",
            &json!({ "url": url, "description": "test receiver", "events": events }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "create_webhook: {body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (body["endpoint_id"].as_str().unwrap().to_owned(), secret)
}

/// The signatures in `webhook-signature` that `secret` made, checked here
/// without Keyward's code: HMAC-SHA256 of `id.timestamp.body`, keyed with the
/// base64-decoded secret.
fn signed_by(secret: &str, captured: &Captured) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            captured.header("webhook-id"),
            captured.header("webhook-timestamp"),
            captured.body
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    captured
        .header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
}

fn of_type(kind: &'static str) -> impl Fn(&Captured) -> bool {
    move |captured| captured.json()["type"] == kind
}

/// The delivery rows of an event: `(status, attempts)`.
async fn delivery_state(app: &TestApp, event_id: &str) -> (String, i64) {
    sqlx::query_as("SELECT status, attempts FROM webhook_deliveries WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Waits until the event's delivery has `status`.
async fn wait_for_status(app: &TestApp, event_id: &str, status: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (now, attempts) = delivery_state(app, event_id).await;
        if now == status {
            return attempts;
        }
        assert!(
            Instant::now() < deadline,
            "{event_id} stayed {now} after {attempts} attempts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every recorded attempt of an event's delivery, oldest first: `(status code, error)`.
async fn attempts_of(app: &TestApp, event_id: &str) -> Vec<(Option<i64>, Option<String>)> {
    sqlx::query_as(
        "SELECT a.status_code, a.error FROM webhook_attempts a
         JOIN webhook_deliveries d ON d.id = a.delivery_id
         WHERE d.event_id = $1 ORDER BY a.started_at",
    )
    .bind(event_id)
    .fetch_all(app.db.pool())
    .await
    .unwrap()
}

async fn send_test(client: &Client, endpoint_id: &str) -> String {
    let body = client
        .ok("send_test_webhook", &[("endpoint_id", endpoint_id)])
        .await;
    // A plain form post answers with a redirect; the id is in its location
    // for browsers and in the body for callers that ask for JSON.
    body.as_str().map(str::to_owned).unwrap_or_default()
}

/// The id of the newest `test` event.
async fn newest_test_event(app: &TestApp) -> String {
    sqlx::query_scalar(
        "SELECT id FROM webhook_events WHERE type = 'test' ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn webhooks_a_created_key_is_delivered_signed_and_without_secrets() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, secret) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    let key = create_key(&admin, json!({ "name": "billing backend" })).await;

    let delivered = receiver
        .wait_for("key.created", of_type("key.created"))
        .await;
    assert!(signed_by(&secret, &delivered), "{:?}", delivered.headers);
    assert!(
        !signed_by(
            &register(&admin, &receiver.url, &["key.created"]).await.1,
            &delivered
        ),
        "another secret must not match"
    );
    let payload = delivered.json();
    assert_eq!(payload["id"], delivered.header("webhook-id"));
    assert!(payload["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(payload["data"]["key"]["id"], key.id);
    assert_eq!(payload["data"]["key"]["name"], "billing backend");
    assert_eq!(payload["data"]["key"]["environment"], "live");
    assert_eq!(
        payload["data"]["key"]["last4"],
        &key.secret[key.secret.len() - 4..]
    );
    assert_eq!(payload["data"]["actor"]["kind"], "user");
    let workspace: String = sqlx::query_scalar("SELECT workspace_id FROM api_keys WHERE id = $1")
        .bind(&key.id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(payload["workspace_id"], workspace);
    assert!(payload["created_at"].as_str().is_some());
    let timestamp: i64 = delivered.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 300);
    assert_eq!(delivered.header("content-type"), "application/json");

    // No secret anywhere: not the key, its digest, or the signing secret.
    let digest = keyward::token::sha256_hex(&key.secret);
    for captured in receiver.captured() {
        for secret in [&key.secret, &digest, &secret] {
            assert!(
                !captured.body.contains(secret.as_str()),
                "{}",
                captured.body
            );
        }
    }
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(changes, '') || COALESCE(target_label, '') FROM audit_entries",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert!(stored.iter().all(|text| !text.contains(&secret)));
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM webhook_events")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(
        payloads
            .iter()
            .all(|p| !p.contains(&key.secret) && !p.contains(&digest))
    );
    let answers: Vec<Option<String>> =
        sqlx::query_scalar("SELECT response_body FROM webhook_attempts")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert!(answers.contains(&Some("thanks".to_owned())));

    // The page's data: the endpoint with its delivery, never its secret.
    let page = admin.ok("load_webhooks", &[]).await;
    let text = page.to_string();
    assert!(!text.contains(&secret));
    let endpoint = page["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == endpoint_id)
        .unwrap();
    let recent = endpoint["recent"].as_array().unwrap();
    assert_eq!(recent[0]["event_type"], "key.created");
    assert_eq!(recent[0]["status"], "Delivered");
    assert_eq!(recent[0]["last_status_code"], 200);
    assert_eq!(endpoint["success_rate"], 100);

    // The page as the server renders it (what end2end/tests/webhooks.spec.ts reads).
    let html = admin.get("/settings/webhooks").await.text().await.unwrap();
    for expected in [
        "data-testid=\"webhook-endpoint\"",
        &receiver.url,
        "data-testid=\"webhook-delivery\" data-status=\"delivered\"",
        "Send test event",
        "Rotate secret",
        "100% delivered in the last 7 days",
        "href=\"/settings/webhooks\"",
    ] {
        assert!(html.contains(expected), "{expected} missing:\n{html}");
    }
    assert!(!html.contains(&secret));
}

#[tokio::test]
async fn webhooks_rotate_revoke_leak_and_member_removal_are_told() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (_, secret) = register(&admin, &receiver.url, &ALL_EVENTS).await;

    let key = create_key(&admin, json!({})).await;
    let rotated = admin
        .ok("rotate_key", &[("key_id", &key.id), ("grace", "1h")])
        .await;
    let event = receiver
        .wait_for("key.rotated", of_type("key.rotated"))
        .await;
    assert_eq!(event.json()["data"]["key"]["id"], key.id);
    assert_eq!(event.json()["data"]["replaced_by"], rotated["id"]);
    assert!(signed_by(&secret, &event));

    let replacement = rotated["id"].as_str().unwrap();
    admin
        .ok(
            "revoke_key",
            &[("key_id", replacement), ("reason", "not needed")],
        )
        .await;
    let revoked = receiver
        .wait_for("key.revoked", |c| {
            c.json()["type"] == "key.revoked" && c.json()["data"]["key"]["id"] == replacement
        })
        .await;
    assert_eq!(revoked.json()["data"]["automatic"], false);
    assert_eq!(revoked.json()["data"]["reason"], "not needed");

    // A scanner's report: key.leaked (the default policy for scanners only flags).
    let leaked = create_key(&admin, json!({})).await;
    let token = service_token(&admin, "scanner").await;
    let response = http()
        .post(format!("{}/v1/leaks", app.base))
        .header("x-keyward-service-token", token)
        .json(&json!([{ "token": leaked.secret, "type": "keyward_api_key", "url": "https://example.com/leak", "source": "content" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let event = receiver.wait_for("key.leaked", of_type("key.leaked")).await;
    assert_eq!(event.json()["data"]["key"]["id"], leaked.id);
    assert_eq!(
        event.json()["data"]["found"]["url"],
        "https://example.com/leak"
    );
    assert_eq!(event.json()["data"]["actor"]["kind"], "system");

    // Removing a developer revokes their keys: key.revoked (automatic) and member.removed.
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let theirs = create_key(&developer, json!({})).await;
    let user_id = user_id_of(&app, "dev@example.com").await;
    admin.ok("remove_member", &[("user_id", &user_id)]).await;
    let removed = receiver
        .wait_for("member.removed", of_type("member.removed"))
        .await;
    assert_eq!(removed.json()["data"]["member"]["user_id"], user_id);
    assert_eq!(removed.json()["data"]["keys_revoked"], 1);
    let auto = receiver
        .wait_for("the automatic key.revoked", |c| {
            c.json()["type"] == "key.revoked" && c.json()["data"]["key"]["id"] == theirs.id
        })
        .await;
    assert_eq!(auto.json()["data"]["automatic"], true);
    assert_eq!(auto.json()["data"]["actor"]["kind"], "system");

    for captured in receiver.captured() {
        for secret in [&key.secret, &leaked.secret, &theirs.secret, &secret] {
            assert!(!captured.body.contains(secret.as_str()));
        }
    }
}

#[tokio::test]
async fn webhooks_expiry_is_announced_7_days_and_1_day_before_then_told() {
    use keyward::keys::expiry::{record_expired_keys, warn_of_expiring_keys};
    use keyward::mail::notices::Notices;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    register(&admin, &receiver.url, &["key.expiring_soon", "key.expired"]).await;
    let key = create_key(&admin, json!({ "expiry": "30d" })).await;
    let warn = || warn_of_expiring_keys(&app.db, Notices::Off, app.clock.now());
    assert_eq!(warn().await.unwrap(), 0, "30 days away: nothing yet");

    app.clock
        .advance(chrono::Duration::days(23) + chrono::Duration::minutes(1));
    assert_eq!(warn().await.unwrap(), 1);
    assert_eq!(warn().await.unwrap(), 0, "once");
    let week = receiver
        .wait_for("the 7-day notice", |c| c.json()["data"]["days_before"] == 7)
        .await;
    assert_eq!(week.json()["type"], "key.expiring_soon");
    assert_eq!(week.json()["data"]["key"]["id"], key.id);

    app.clock.advance(chrono::Duration::days(6));
    assert_eq!(warn().await.unwrap(), 1);
    assert_eq!(warn().await.unwrap(), 0, "once");
    receiver
        .wait_for("the 1-day notice", |c| c.json()["data"]["days_before"] == 1)
        .await;

    app.clock.advance(chrono::Duration::days(2));
    assert_eq!(warn().await.unwrap(), 0, "expired keys are not warned of");
    assert_eq!(
        record_expired_keys(&app.db, Notices::Off, app.clock.now())
            .await
            .unwrap(),
        1
    );
    let expired = receiver
        .wait_for("key.expired", of_type("key.expired"))
        .await;
    assert_eq!(expired.json()["data"]["key"]["id"], key.id);
    assert_eq!(expired.json()["data"]["rotated"], false);
    // Delivery is at least once: on a loaded machine an attempt can time out
    // after the receiver took it and be sent again with the same webhook-id.
    // What is counted is messages, not attempts.
    let mut seen = std::collections::HashSet::new();
    let kinds: Vec<String> = receiver
        .captured()
        .iter()
        .filter(|c| seen.insert(c.header("webhook-id").to_owned()))
        .map(|c| c.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["key.expiring_soon", "key.expiring_soon", "key.expired"]
    );
}

#[tokio::test]
async fn webhooks_rate_limiting_is_told_at_most_once_per_key_and_hour() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    register(&admin, &receiver.url, &["usage.rate_limited"]).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(&admin, json!({ "rate_limit_per_minute": "1" })).await;
    let refuse_twice = || async {
        let mut refused = 0;
        for _ in 0..2 {
            let (status, _) = verify(&app, &token, json!({ "key": key.secret })).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
        assert!(refused >= 1, "the second call within a minute is refused");
    };
    refuse_twice().await;
    app.verifier.flush_pending().await;
    let told = receiver
        .wait_for("usage.rate_limited", of_type("usage.rate_limited"))
        .await;
    assert_eq!(told.json()["data"]["key"]["id"], key.id);
    assert_eq!(told.json()["data"]["limit_per_minute"], 1);
    assert!(told.json()["data"]["refused"].as_u64().unwrap() >= 1);

    // Refused again within the hour: nothing more.
    refuse_twice().await;
    app.verifier.flush_pending().await;
    let queued = || {
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE type = 'usage.rate_limited'",
        )
    };
    assert_eq!(queued().await, 1);
    app.clock
        .advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    refuse_twice().await;
    app.verifier.flush_pending().await;
    assert_eq!(queued().await, 2);
}

#[tokio::test]
async fn webhooks_only_the_events_asked_for_reach_an_enabled_endpoint() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, &receiver.url, &["key.revoked"]).await;
    let key = create_key(&admin, json!({})).await;
    admin.ok("revoke_key", &[("key_id", &key.id)]).await;
    receiver
        .wait_for("key.revoked", of_type("key.revoked"))
        .await;
    assert!(
        receiver
            .captured()
            .iter()
            .all(|c| c.json()["type"] == "key.revoked")
    );

    // Disabled: nothing is queued for it.
    admin
        .ok(
            "set_webhook_enabled",
            &[("endpoint_id", &endpoint_id), ("enabled", "false")],
        )
        .await;
    let before = count(&app, "SELECT COUNT(*) FROM webhook_deliveries").await;
    let key = create_key(&admin, json!({})).await;
    admin.ok("revoke_key", &[("key_id", &key.id)]).await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_deliveries").await,
        before
    );
    let (status, body) = admin
        .rpc("send_test_webhook", &[("endpoint_id", &endpoint_id)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn webhooks_retry_after_500s_and_timeouts_in_order_then_deliver() {
    let receiver = Receiver::start(Answer::Ok).await;
    receiver.script(&[Answer::ServerError, Answer::Hang, Answer::ServerError]);
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, secret) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    send_test(&admin, &endpoint_id).await;
    let event_id = newest_test_event(&app).await;

    let attempts = wait_for_status(&app, &event_id, "delivered").await;
    assert_eq!(attempts, 4);
    let recorded = attempts_of(&app, &event_id).await;
    assert_eq!(recorded.len(), 4, "{recorded:?}");
    assert_eq!(recorded[0].0, Some(500));
    assert_eq!(recorded[1].0, None);
    assert!(
        recorded[1]
            .1
            .as_deref()
            .unwrap_or_default()
            .contains("Timed out"),
        "{recorded:?}"
    );
    assert_eq!(recorded[2].0, Some(500));
    assert_eq!(recorded[3].0, Some(200));
    let answered: Vec<Answer> = receiver.captured().iter().map(|c| c.answer).collect();
    assert_eq!(
        answered,
        [
            Answer::ServerError,
            Answer::Hang,
            Answer::ServerError,
            Answer::Ok
        ]
    );
    // The same message every time: one webhook-id, each attempt signed.
    let captured = receiver.captured();
    assert!(captured.iter().all(|c| c.header("webhook-id") == event_id));
    assert!(captured.iter().all(|c| signed_by(&secret, c)));
    let first_answer: Option<String> = sqlx::query_scalar(
        "SELECT a.response_body FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
         WHERE d.event_id = $1 AND a.status_code = 500 ORDER BY a.started_at LIMIT 1",
    )
    .bind(&event_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(first_answer.as_deref(), Some("receiver broke"));
}

#[tokio::test]
async fn webhooks_give_up_after_the_last_attempt_and_resend_starts_again() {
    let receiver = Receiver::start(Answer::ServerError).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    send_test(&admin, &endpoint_id).await;
    let event_id = newest_test_event(&app).await;
    assert_eq!(wait_for_status(&app, &event_id, "failed").await, 4);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.captured().len(), 4, "no attempt after the last");

    receiver.answer_from_now_on(Answer::Ok);
    let delivery_id: String =
        sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE event_id = $1")
            .bind(&event_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    admin
        .ok("resend_webhook_delivery", &[("delivery_id", &delivery_id)])
        .await;
    wait_for_status(&app, &event_id, "delivered").await;
    assert_eq!(attempts_of(&app, &event_id).await.len(), 5);
    let page = admin.ok("load_webhooks", &[]).await;
    assert_eq!(page["endpoints"][0]["recent"][0]["status"], "Delivered");
}

#[tokio::test]
async fn webhooks_an_endpoint_failing_for_three_days_is_disabled_and_says_why() {
    let receiver = Receiver::start(Answer::ServerError).await;
    let mut settings = FAST.to_vec();
    // Slow retries: the test moves the clock instead.
    settings.retain(|(name, _)| !name.starts_with("KEYWARD_WEBHOOK_RETRY"));
    settings.push(("KEYWARD_WEBHOOK_RETRY_FIRST_MS", "60000"));
    settings.push(("KEYWARD_WEBHOOK_RETRY_LAST_MS", "60000"));
    let app = spawn_app_with(&settings).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    send_test(&admin, &endpoint_id).await;
    let event_id = newest_test_event(&app).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while attempts_of(&app, &event_id).await.is_empty() {
        assert!(Instant::now() < deadline, "no first attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Two days later it still fails, but not yet for three days.
    app.clock.advance(chrono::Duration::days(2));
    while attempts_of(&app, &event_id).await.len() < 2 {
        assert!(Instant::now() < deadline, "no second attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = admin.ok("load_webhooks", &[]).await;
    assert!(page["endpoints"][0]["disabled_at"].is_null(), "{page}");
    app.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    let page = loop {
        let page = admin.ok("load_webhooks", &[]).await;
        if !page["endpoints"][0]["disabled_at"].is_null() {
            break page;
        }
        assert!(Instant::now() < deadline, "never disabled: {page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reason = page["endpoints"][0]["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("every delivery attempt since"), "{reason}");
    assert!(
        audit_actions(&app)
            .await
            .contains(&"webhook.updated".to_owned())
    );
    let system_entries = count(
        &app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'webhook.updated' AND actor_label = 'system'",
    )
    .await;
    assert_eq!(system_entries, 1);
    // Disabled: no more attempts, whatever time it is.
    let tried = attempts_of(&app, &event_id).await.len();
    app.clock.advance(chrono::Duration::hours(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(attempts_of(&app, &event_id).await.len(), tried);
    // An admin enables it again: the delivery goes on.
    receiver.answer_from_now_on(Answer::Ok);
    admin
        .ok(
            "set_webhook_enabled",
            &[("endpoint_id", &endpoint_id), ("enabled", "true")],
        )
        .await;
    app.clock.advance(chrono::Duration::minutes(2));
    wait_for_status(&app, &event_id, "delivered").await;
}

#[tokio::test]
async fn webhooks_a_rotated_secret_signs_beside_the_old_one_for_a_day() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, old) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    let rotated = admin
        .ok("rotate_webhook_secret", &[("endpoint_id", &endpoint_id)])
        .await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    send_test(&admin, &endpoint_id).await;
    let first_id = newest_test_event(&app).await;
    let during = receiver
        .wait_for("a test event", |c| c.header("webhook-id") == first_id)
        .await;
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(signed_by(&new, &during) && signed_by(&old, &during));

    app.clock
        .advance(chrono::Duration::hours(24) + chrono::Duration::minutes(1));
    send_test(&admin, &endpoint_id).await;
    let second_id = newest_test_event(&app).await;
    let after = receiver
        .wait_for("a second test event", |c| {
            c.header("webhook-id") == second_id
        })
        .await;
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert!(signed_by(&new, &after) && !signed_by(&old, &after));

    let actions = audit_actions(&app).await;
    for action in ["webhook.created", "webhook.secret_rotated"] {
        assert!(actions.contains(&action.to_owned()), "{actions:?}");
    }
    let texts: Vec<String> = sqlx::query_scalar("SELECT COALESCE(changes, '') FROM audit_entries")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(texts.iter().all(|t| !t.contains(&new) && !t.contains(&old)));
}

#[tokio::test]
async fn webhooks_private_destinations_are_refused_unless_allowed() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for (url, named) in [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://[::1]/hook", "loopback"),
        ("https://localhost/hook", "loopback"),
        ("https://100.64.0.1/hook", "CGNAT"),
        ("https://[fd00::1]/hook", "unique-local"),
        ("http://example.com/hook", "https://"),
        ("not a url", "full URL"),
    ] {
        let (status, body) = admin
            .rpc_json(
                "create_webhook",
                &json!({ "url": url, "description": "", "events": ["key.created"] }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(body.to_string().contains(named), "{url}: {body}");
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_endpoints").await,
        0
    );
    let (status, body) = admin
        .rpc_json(
            "create_webhook",
            &json!({ "url": "https://example.com/hook", "description": "", "events": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("at least one event"), "{body}");
}

#[tokio::test]
async fn webhooks_each_attempt_checks_the_address_again() {
    // An endpoint that was public when saved and now points at loopback (DNS
    // rebinding, or a row written before the check existed).
    let receiver = Receiver::start(Answer::Ok).await;
    let mut settings: Vec<(&str, &str)> = FAST
        .iter()
        .copied()
        .filter(|(name, _)| *name != "KEYWARD_WEBHOOK_ALLOW_PRIVATE")
        .collect();
    settings.push(("KEYWARD_WEBHOOK_ALLOW_PRIVATE", "false"));
    let app = spawn_app_with(&settings).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, "https://example.com/hook", &ALL_EVENTS).await;
    let https_receiver = receiver.url.replace("http://", "https://");
    sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2")
        .bind(&https_receiver)
        .bind(&endpoint_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    send_test(&admin, &endpoint_id).await;
    let event_id = newest_test_event(&app).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let recorded = loop {
        let recorded = attempts_of(&app, &event_id).await;
        if !recorded.is_empty() {
            break recorded;
        }
        assert!(Instant::now() < deadline, "no attempt recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = recorded[0].1.clone().unwrap_or_default();
    assert!(error.contains("loopback"), "{error}");
    assert!(
        receiver.captured().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn webhooks_only_admins_manage_them_and_only_their_workspaces() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    send_test(&admin, &endpoint_id).await;
    let event_id = newest_test_event(&app).await;
    wait_for_status(&app, &event_id, "delivered").await;
    let delivery_id: String =
        sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE event_id = $1")
            .bind(&event_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let developer = member(&app, &admin, "dev@example.com", "developer").await;
    let viewer = member(&app, &admin, "viewer@example.com", "viewer").await;
    for client in [&developer, &viewer] {
        for (name, form) in [
            ("load_webhooks", vec![]),
            (
                "send_test_webhook",
                vec![("endpoint_id", endpoint_id.as_str())],
            ),
            (
                "rotate_webhook_secret",
                vec![("endpoint_id", endpoint_id.as_str())],
            ),
            (
                "delete_webhook",
                vec![("endpoint_id", endpoint_id.as_str())],
            ),
            (
                "set_webhook_enabled",
                vec![("endpoint_id", endpoint_id.as_str()), ("enabled", "false")],
            ),
            (
                "resend_webhook_delivery",
                vec![("delivery_id", delivery_id.as_str())],
            ),
        ] {
            let (status, body) = client.rpc(name, &form).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        }
        let (status, _) = client
            .rpc_json(
                "create_webhook",
                &json!({ "url": receiver.url, "description": "", "events": ["key.created"] }),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            client.get("/settings/webhooks").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        admin.get("/settings/webhooks").await.status(),
        StatusCode::OK
    );

    // The same admin in another workspace cannot reach this one's endpoint.
    admin.ok("create_workspace", &[("name", "Other")]).await;
    for (name, form) in [
        (
            "send_test_webhook",
            vec![("endpoint_id", endpoint_id.as_str())],
        ),
        (
            "rotate_webhook_secret",
            vec![("endpoint_id", endpoint_id.as_str())],
        ),
        (
            "delete_webhook",
            vec![("endpoint_id", endpoint_id.as_str())],
        ),
        (
            "set_webhook_enabled",
            vec![("endpoint_id", endpoint_id.as_str()), ("enabled", "false")],
        ),
        (
            "resend_webhook_delivery",
            vec![("delivery_id", delivery_id.as_str())],
        ),
    ] {
        let (status, body) = admin.rpc(name, &form).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {body}");
    }
    let page = admin.ok("load_webhooks", &[]).await;
    assert_eq!(page["endpoints"], json!([]));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_endpoints").await,
        1
    );
    let enabled = count(
        &app,
        "SELECT COUNT(*) FROM webhook_endpoints WHERE disabled_at IS NULL",
    )
    .await;
    assert_eq!(enabled, 1);
}

#[tokio::test]
async fn webhooks_deleting_an_endpoint_is_audited_and_removes_its_deliveries() {
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    send_test(&admin, &endpoint_id).await;
    let event_id = newest_test_event(&app).await;
    wait_for_status(&app, &event_id, "delivered").await;
    admin
        .ok("delete_webhook", &[("endpoint_id", &endpoint_id)])
        .await;
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_endpoints").await,
        0
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_deliveries").await,
        0
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_attempts").await,
        0
    );
    assert!(
        audit_actions(&app)
            .await
            .contains(&"webhook.deleted".to_owned())
    );
    let (status, _) = admin
        .rpc("delete_webhook", &[("endpoint_id", &endpoint_id)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A `keyward` process of its own, so that it can be killed with SIGKILL.
struct Process {
    child: std::process::Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Process {
    fn start(database_url: &str, dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("KEYWARD_COOKIE_SECURE", "false")
            .env("LEPTOS_SITE_ROOT", dir.join("site"))
            .env("KEYWARD_LOG", "debug,sqlx=warn,tower_sessions=warn")
            .env("KEYWARD_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("KEYWARD_WEBHOOK_TIMEOUT_MS", "2000")
            .env("KEYWARD_WEBHOOK_RETRY_FIRST_MS", "100")
            .env("KEYWARD_WEBHOOK_RETRY_LAST_MS", "300")
            .env("KEYWARD_WEBHOOK_POLL_MS", "100")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the keyward binary");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut all = output.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            output,
        }
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http().get(format!("{}/readyz", self.base)).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "keyward did not start: {}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGKILL: no graceful shutdown, no flush.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A browser tab on a `keyward` process.
fn browser(base: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().unwrap());
    Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap(),
        base: base.to_owned(),
    }
}

#[tokio::test]
async fn webhooks_a_killed_instance_loses_no_event() {
    let receiver = Receiver::start(Answer::Hang).await;
    let (database_url, _) = fresh_database().await;
    let dir = std::env::temp_dir().join(format!("keyward-kill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut first = Process::start(&database_url, &dir);
    first.wait_until_ready().await;
    let link = first
        .output()
        .lines()
        .find_map(|line| {
            line.split_once("setup?token=")
                .map(|(_, t)| t.trim().to_owned())
        })
        .expect("the first start prints a setup link");
    let admin = browser(&first.base);
    admin
        .ok(
            "complete_setup",
            &[
                ("token", &link),
                ("name", "Ana Diaz"),
                ("email", "ana@example.com"),
                ("workspace", "Acme"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let (_, secret) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    let key = create_key(&admin, json!({})).await;
    // The first attempt is under way (the receiver holds it): kill the instance.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.captured().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no attempt began: {}",
            first.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let db = keyward::db::Db::open(&database_url).await.unwrap();
    let (status, locked): (String, Option<i64>) =
        sqlx::query_as("SELECT status, locked_until FROM webhook_deliveries")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(status, "pending");
    assert!(locked.is_some(), "the killed instance held the lease");

    receiver.answer_from_now_on(Answer::Ok);
    let mut second = Process::start(&database_url, &dir);
    second.wait_until_ready().await;
    let delivered = receiver
        .wait_for("key.created", of_type("key.created"))
        .await;
    assert!(signed_by(&secret, &delivered));
    assert_eq!(delivered.json()["data"]["key"]["id"], key.id);
    let ids: HashSet<String> = receiver
        .captured()
        .iter()
        .map(|c| c.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "the same message, delivered again");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM webhook_deliveries")
            .fetch_one(db.pool())
            .await
            .unwrap();
        if status == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.kill();
    // Neither instance logged a secret.
    for output in [first.output(), second.output()] {
        assert!(output.contains("Keyward is listening"), "{output}");
        assert!(!output.contains(&key.secret), "{output}");
        assert!(!output.contains(&secret), "{output}");
    }
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn webhooks_two_instances_never_deliver_one_delivery_twice_at_once() {
    let receiver = Receiver::start(Answer::SlowOk(150)).await;
    let app = spawn_app_with(FAST).await;
    assert_eq!(
        app.backend,
        keyward::db::Backend::Postgres,
        "set DATABASE_URL"
    );
    let second = spawn_second_instance_with(&app, FAST).await;
    let admin = admin(&app).await;
    let (endpoint_id, _) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    // Queue them together, so that both instances find them due at once.
    sqlx::query("UPDATE webhook_endpoints SET disabled_at = 1 WHERE id = $1")
        .bind(&endpoint_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let events = 40;
    for n in 0..events {
        let mut tx = app.db.begin().await.unwrap();
        let workspace: String =
            sqlx::query_scalar("SELECT workspace_id FROM webhook_endpoints WHERE id = $1")
                .bind(&endpoint_id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        keyward::webhooks::outbox::test_event(
            &mut tx,
            &workspace,
            &endpoint_id,
            keyward::webhooks::outbox::EventActor::SYSTEM,
            chrono::Utc::now() + chrono::Duration::milliseconds(n),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    sqlx::query("UPDATE webhook_endpoints SET disabled_at = NULL WHERE id = $1")
        .bind(&endpoint_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    keyward::webhooks::outbox::wake(&app.db);
    keyward::webhooks::outbox::wake(&second.db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(
        &app,
        "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'",
    )
    .await
        < events
    {
        assert!(Instant::now() < deadline, "not all delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receiver.state.overlaps.load(Ordering::SeqCst), 0);
    let captured = receiver.captured();
    let ids: HashSet<String> = captured
        .iter()
        .map(|c| c.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len() as i64, events);
    assert_eq!(captured.len() as i64, events, "each delivered exactly once");
}

/// Verifies a captured delivery with the `standardwebhooks` package from PyPI
/// (the reference library of the specification), as a receiver would.
/// `./test` installs it into the venv (scripts/bootstrap) and runs this with
/// `KEYWARD_WEBHOOK_PYTHON` naming that venv's python.
#[tokio::test]
#[ignore = "needs the standardwebhooks package: ./test runs it"]
async fn webhooks_standardwebhooks_verifies_a_delivery() {
    let python = std::env::var("KEYWARD_WEBHOOK_PYTHON").unwrap_or_else(|_| "python3".into());
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (_, secret) = register(&admin, &receiver.url, &ALL_EVENTS).await;
    let key = create_key(&admin, json!({})).await;
    let delivered = receiver
        .wait_for("key.created", of_type("key.created"))
        .await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/webhooks_verify.py");
    let run = |body: &str| {
        std::process::Command::new(&python)
            .arg(&script)
            .env("WEBHOOK_SECRET", &secret)
            .env("WEBHOOK_ID", delivered.header("webhook-id"))
            .env("WEBHOOK_TIMESTAMP", delivered.header("webhook-timestamp"))
            .env("WEBHOOK_SIGNATURE", delivered.header("webhook-signature"))
            .env("WEBHOOK_BODY", body)
            .output()
            .unwrap_or_else(|error| panic!("{python}: {error} (set KEYWARD_WEBHOOK_PYTHON)"))
    };
    let output = run(&delivered.body);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verified: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(verified["type"], "key.created");
    assert_eq!(verified["data"]["key"]["id"], key.id);
    // A body changed in transit is refused.
    let tampered = delivered.body.replace("key.created", "key.revoked");
    let output = run(&tampered);
    assert!(!output.status.success(), "a tampered body verified");
    assert!(String::from_utf8_lossy(&output.stdout).contains("refused"));
}

#[tokio::test]
async fn webhooks_the_audit_chain_head_goes_out_hourly_and_on_demand() {
    use keyward::audit::checkpoint::publish_due;
    let receiver = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (_, secret) = register(&admin, &receiver.url, &["audit.checkpoint"]).await;
    let checkpoints = || {
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE type = 'audit.checkpoint'",
        )
    };

    // Hourly: once per workspace and hour, however often (and on however many instances) it runs.
    assert_eq!(publish_due(&app.db, app.clock.now()).await.unwrap(), 1);
    assert_eq!(publish_due(&app.db, app.clock.now()).await.unwrap(), 0);
    let told = receiver
        .wait_for("audit.checkpoint", of_type("audit.checkpoint"))
        .await;
    assert!(signed_by(&secret, &told));
    let event = told.json();
    let workspace_id = event["workspace_id"].as_str().unwrap().to_owned();
    let data = &event["data"];
    let (seq, hash) = (
        data["seq"].as_i64().unwrap(),
        data["hash"].as_str().unwrap(),
    );
    let head: (i64, String) = sqlx::query_as(
        "SELECT seq, hash FROM audit_entries WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(&workspace_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    // The head as of when it was queued (registering the endpoint is an entry too).
    assert!(seq <= head.0);
    assert_eq!(data["checkpoint"], format!("{seq}:{hash}"));
    assert_eq!(data["actor"]["kind"], "system");
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(publish_due(&app.db, app.clock.now()).await.unwrap(), 1);
    assert_eq!(checkpoints().await, 2);

    // On demand from the audit page: an admin's form post; the page then says so.
    let (status, _) = admin.rpc("publish_audit_checkpoint", &[]).await;
    assert!(status.is_redirection() || status.is_success(), "{status}");
    assert_eq!(checkpoints().await, 3);
    let newest: (i64, String) = sqlx::query_as(
        "SELECT seq, hash FROM audit_entries WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(&workspace_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let page = admin
        .get("/settings/audit-log?published=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Checkpoint sent to 1 webhook endpoint."),
        "the notice"
    );
    assert!(
        page.contains(&format!("{}:{}", newest.0, newest.1)),
        "the page shows the head to copy"
    );

    // Developers and viewers can neither read the head nor publish one.
    let dev = member(&app, &admin, "dev@example.com", "developer").await;
    for name in ["publish_audit_checkpoint", "load_audit_head"] {
        let (status, _) = dev.rpc(name, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
    assert_eq!(checkpoints().await, 3);
    let page = dev.get("/settings/audit-log").await.text().await.unwrap();
    assert!(
        !page.contains("audit-checkpoint-value"),
        "no checkpoint panel for developers"
    );
}

#[tokio::test]
async fn webhooks_history_is_pruned_after_30_days_but_not_what_is_still_due() {
    use keyward::webhooks::worker::prune_history;
    let ok = Receiver::start(Answer::Ok).await;
    let app = spawn_app_with(FAST).await;
    let admin = admin(&app).await;
    let (delivered_to, _) = register(&admin, &ok.url, &["key.created"]).await;
    let event_to = |endpoint: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT event_id FROM webhook_deliveries WHERE endpoint_id = $1",
            )
            .bind(endpoint)
            .fetch_one(db.pool())
            .await
            .unwrap()
        }
    };
    send_test(&admin, &delivered_to).await;
    let delivered = event_to(delivered_to.clone()).await;
    wait_for_status(&app, &delivered, "delivered").await;
    let events = || count(&app, "SELECT COUNT(*) FROM webhook_events");
    let attempts = || count(&app, "SELECT COUNT(*) FROM webhook_attempts");
    assert_eq!(events().await, 1);
    assert!(attempts().await >= 1);
    // A delivery still pending (its endpoint down, retries scheduled) is kept however old.
    let down = Receiver::start(Answer::ServerError).await;
    let (failing, _) = register(&admin, &down.url, &["key.created"]).await;
    send_test(&admin, &failing).await;
    let pending = event_to(failing.clone()).await;
    assert_ne!(pending, delivered);

    assert_eq!(
        prune_history(&app.db, app.clock.now()).await.unwrap(),
        0,
        "nothing is old yet"
    );
    app.clock.advance(chrono::Duration::days(31));
    assert_eq!(prune_history(&app.db, app.clock.now()).await.unwrap(), 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM webhook_events")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        left,
        [pending],
        "the delivered event went, with its attempts"
    );
    let orphans = count(
        &app,
        "SELECT COUNT(*) FROM webhook_attempts a
         WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = a.delivery_id)",
    )
    .await;
    assert_eq!(orphans, 0);
}
