//! The dashboard's smaller holes (issue 12, section 7), over HTTP: security
//! headers and the CSP nonce, the export behind the origin check, the origin
//! check itself against DNS rebinding, no caching of links and secrets, a
//! request log without query strings or invite tokens, names without hidden
//! characters, error text never taken from the URL, one first admin under a
//! burst of setups, and service tokens that outlive their creator's membership.

use crate::common::*;
use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The nonce a page's policy names.
fn nonce_of(headers: &HeaderMap) -> String {
    let policy = headers
        .get("content-security-policy")
        .expect("a page sends a CSP")
        .to_str()
        .unwrap();
    let start = policy.find("'nonce-").expect("the policy names a nonce") + "'nonce-".len();
    policy[start..].split('\'').next().unwrap().to_owned()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Every `<script` opening tag in the page, as written.
fn script_tags(html: &str) -> Vec<&str> {
    html.match_indices("<script")
        .map(|(at, _)| &html[at..at + html[at..].find('>').unwrap()])
        .collect()
}

/// Asserts the page's headers, and that each inline script carries the nonce its policy names.
async fn assert_page_is_protected(response: reqwest::Response) -> String {
    let url = response.url().to_string();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let headers = response.headers().clone();
    let policy = header(&headers, "content-security-policy").to_owned();
    for directive in [
        "frame-ancestors 'none'",
        "'wasm-unsafe-eval'",
        "default-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ] {
        assert!(policy.contains(directive), "{url}: {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{url}: {policy}");
    assert_eq!(header(&headers, "x-frame-options"), "DENY", "{url}");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    // Not no-referrer: Chromium would send `Origin: null` with the page's own forms.
    assert_eq!(header(&headers, "referrer-policy"), "same-origin");
    assert_eq!(header(&headers, "cache-control"), "no-store", "{url}");
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    let nonce = nonce_of(&headers);
    assert!(nonce.len() >= 16, "{nonce}");
    let html = response.text().await.unwrap();
    let scripts = script_tags(&html);
    assert!(
        !scripts.is_empty(),
        "{url}: the page hydrates, so it has scripts"
    );
    for tag in scripts {
        assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{url}: {tag}");
    }
    nonce
}

#[tokio::test]
async fn every_page_sends_security_headers_and_each_inline_script_its_nonce() {
    let app = spawn_app().await;
    let visitor = Client::new(&app);
    let setup = visitor
        .get(&format!("/setup?token={}", setup_token(&app)))
        .await;
    assert_page_is_protected(setup).await;
    let admin = admin(&app).await;
    let invite_token = invite(&admin, "bob@example.com", "viewer").await;
    assert_page_is_protected(visitor.get(&format!("/invite/{invite_token}")).await).await;
    // The API reference is public (README, "API contract").
    assert_page_is_protected(visitor.get("/docs/api").await).await;
    let first = assert_page_is_protected(visitor.get("/signin").await).await;
    let second = assert_page_is_protected(visitor.get("/signin").await).await;
    assert_ne!(first, second, "a fresh nonce for every response");
    for page in [
        "/settings/api-keys",
        "/settings/members",
        "/settings/audit-log",
        "/settings/service-tokens",
        "/settings/workspace",
        "/settings/workspaces/new",
    ] {
        assert_page_is_protected(admin.get(page).await).await;
    }
}

#[tokio::test]
async fn json_files_and_refusals_are_not_sniffed_framed_or_referred() {
    let app = spawn_app().await;
    let anonymous = Client::new(&app);
    let api = anonymous.get("/api/v1/keys").await;
    let rpc = anonymous
        .http
        .post(format!("{}/rpc/load_me", app.base))
        .send()
        .await
        .unwrap();
    let cross_site = anonymous
        .http
        .post(format!("{}/rpc/sign_in", app.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    for response in [
        anonymous.get("/healthz").await,
        anonymous.get("/favicon.svg").await,
        anonymous.get("/no/such/page").await,
        api,
        rpc,
        cross_site,
    ] {
        let url = response.url().to_string();
        let headers = response.headers();
        assert_eq!(
            header(headers, "x-content-type-options"),
            "nosniff",
            "{url}"
        );
        assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{url}");
        assert_eq!(header(headers, "x-frame-options"), "DENY", "{url}");
        let policy = header(headers, "content-security-policy");
        assert!(policy.contains("frame-ancestors 'none'"), "{url}: {policy}");
        assert!(policy.contains("default-src 'none'"), "{url}: {policy}");
    }
}

#[tokio::test]
async fn strict_transport_security_is_sent_when_the_public_url_is_https() {
    let app = spawn_app_with(&[("KEYWARD_PUBLIC_URL", "https://keys.example.test")]).await;
    let response = Client::new(&app).get("/signin").await;
    assert_eq!(
        header(response.headers(), "strict-transport-security"),
        "max-age=31536000"
    );
}

/// A client that sends no Origin of its own, signed in as the first admin.
async fn admin_without_origin(app: &TestApp) -> reqwest::Client {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let token = setup_token(app);
    let response = http
        .post(format!("{}/rpc/complete_setup", app.base))
        .header("origin", &app.base)
        .form(&[
            ("token", token.as_str()),
            ("name", "Ana Diaz"),
            ("email", "ana@example.com"),
            ("workspace", "Acme"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection());
    http
}

async fn exports_recorded(app: &TestApp) -> i64 {
    count(
        app,
        "SELECT COUNT(*) FROM audit_entries WHERE action = 'audit.exported'",
    )
    .await
}

#[tokio::test]
async fn the_audit_export_is_a_post_that_a_cross_site_request_cannot_trigger() {
    let app = spawn_app().await;
    let admin = admin_without_origin(&app).await;
    let export = format!("{}/settings/audit-log/export", app.base);

    // A link (or an <img>) on another site is a GET.
    let linked = admin
        .get(format!("{export}?format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), StatusCode::METHOD_NOT_ALLOWED);
    let form = [("format", "csv"), ("group", "sign-in")];
    let no_origin = admin.post(&export).form(&form).send().await.unwrap();
    assert_eq!(no_origin.status(), StatusCode::FORBIDDEN);
    let other_site = admin
        .post(&export)
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(other_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(exports_recorded(&app).await, 0);

    let own = admin
        .post(&export)
        .header("origin", &app.base)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(header(own.headers(), "content-disposition").contains("attachment"));
    assert_eq!(header(own.headers(), "cache-control"), "no-store");
    let csv = own.text().await.unwrap();
    assert!(csv.contains("user.setup"), "the filter kept: {csv}");
    assert!(!csv.contains("workspace.created"), "only sign-in: {csv}");
    assert_eq!(exports_recorded(&app).await, 1);
}

/// `POST /rpc/sign_in` with this Origin and Host: its status.
async fn sign_in_from(app: &TestApp, origin: &str, host: &str) -> StatusCode {
    http()
        .post(format!("{}/rpc/sign_in", app.base))
        .header("origin", origin)
        .header("host", host)
        .form(&[("email", "ana@example.com"), ("password", "wrong")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn with_a_public_url_the_origin_check_does_not_believe_the_host() {
    let app = spawn_app_with(&[("KEYWARD_PUBLIC_URL", "http://keys.example.test")]).await;
    let port = app.base.rsplit(':').next().unwrap();
    let rebound = format!("rebind.evil.example:{port}");
    // DNS rebinding: the attacker's name points at Keyward, so Origin and Host agree.
    let status = sign_in_from(&app, &format!("http://{rebound}"), &rebound).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = sign_in_from(&app, "http://keys.example.test", "keys.example.test").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the public origin passes");
}

#[tokio::test]
async fn without_a_public_url_local_development_may_use_any_host_name() {
    let app = spawn_app().await;
    let port = app.base.rsplit(':').next().unwrap();
    let local = format!("localhost:{port}");
    let status = sign_in_from(&app, &format!("http://{local}"), &local).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = sign_in_from(&app, "http://evil.example", &local).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn responses_with_links_or_secrets_are_never_cached() {
    let app = spawn_app().await;
    let setup_page = Client::new(&app)
        .get(&format!("/setup?token={}", setup_token(&app)))
        .await;
    assert_eq!(header(setup_page.headers(), "cache-control"), "no-store");
    let admin = admin(&app).await;
    let invited = admin
        .http
        .post(format!("{}/rpc/invite_member", app.base))
        .form(&[("email", "bob@example.com"), ("role", "viewer")])
        .send()
        .await
        .unwrap();
    assert_eq!(header(invited.headers(), "cache-control"), "no-store");
    let link: Value = invited.json().await.unwrap();
    let token = link["link"].as_str().unwrap().rsplit('/').next().unwrap();
    let invite_page = Client::new(&app).get(&format!("/invite/{token}")).await;
    assert_eq!(header(invite_page.headers(), "cache-control"), "no-store");
    let loaded = admin
        .http
        .post(format!("{}/rpc/load_invite", app.base))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(header(loaded.headers(), "cache-control"), "no-store");
    let service_token = admin
        .http
        .post(format!("{}/rpc/create_service_token", app.base))
        .form(&[("name", "billing-api")])
        .send()
        .await
        .unwrap();
    assert_eq!(service_token.status(), StatusCode::OK);
    assert_eq!(header(service_token.headers(), "cache-control"), "no-store");
    let key = admin
        .http
        .post(format!("{}/rpc/create_key", app.base))
        .json(&json!({ "form": { "name": "Billing", "environment": "live",
            "scopes": ["read-only"], "expiry": "never" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), StatusCode::OK);
    assert_eq!(header(key.headers(), "cache-control"), "no-store");
}

/// Collects everything the server logs on this thread, at every level.
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

/// Set in the child process that runs the log test alone.
const LOG_CHILD: &str = "KEYWARD_TEST_LOG_CHILD";

/// Runs itself again in a process of its own, where it can be the only log
/// subscriber: tracing caches per call site whether anyone listens, so a
/// thread-local subscriber beside the other tests misses events.
#[test]
fn the_request_log_holds_no_query_string_or_invite_token() {
    if std::env::var_os(LOG_CHILD).is_some() {
        return log_while_setting_up_and_inviting();
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "web_hardening::the_request_log_holds_no_query_string_or_invite_token",
            "--exact",
            "--test-threads=1",
        ])
        .env(LOG_CHILD, "1")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran the test: {stdout}"
    );
}

fn log_while_setting_up_and_inviting() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (setup, invite_token) = runtime.block_on(async {
        let app = spawn_app().await;
        let setup = setup_token(&app);
        let visitor = Client::new(&app);
        visitor.get(&format!("/setup?token={setup}")).await;
        let admin = admin(&app).await;
        let invite_token = invite(&admin, "bob@example.com", "viewer").await;
        visitor.get(&format!("/invite/{invite_token}")).await;
        admin
            .get("/settings/audit-log?group=keys&marker=query-text")
            .await;
        (setup, invite_token)
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("path=/invite/…"),
        "the log was captured: {text}"
    );
    assert!(text.contains("path=/setup"), "{text}");
    assert!(text.contains("path=/settings/audit-log"), "{text}");
    for secret in [
        setup.as_str(),
        invite_token.as_str(),
        "query-text",
        "token=",
    ] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}

#[tokio::test]
async fn names_shown_to_others_refuse_bidi_and_invisible_characters() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let reversed = "Billing\u{202E}gpj.exe";
    let (status, body) = admin
        .rpc("create_service_token", &[("name", reversed)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "name");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invisible or text-direction characters (found U+202E)"),
        "{body}"
    );
    let (status, body) = admin
        .rpc_json(
            "create_key",
            &json!({ "form": { "name": "Bill\u{200B}ing", "environment": "live",
                "scopes": ["read-only"], "expiry": "never" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("U+200B"),
        "{body}"
    );
    let (status, _) = admin
        .rpc("rename_workspace", &[("name", "Acme\u{2066}")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let token = invite(&admin, "bob@example.com", "viewer").await;
    let (status, _) = Client::new(&app)
        .rpc(
            "accept_invite",
            &[
                ("token", &token),
                ("name", "Bob\u{FEFF}"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM service_tokens").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM api_keys").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
}

/// `?__err=` as leptos writes it: the error's JSON in URL-safe base64.
fn crafted_error(error: Value) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(error.to_string())
}

#[tokio::test]
async fn a_crafted_error_link_shows_keywards_words_not_its_own() {
    let app = spawn_app().await;
    let visitor = Client::new(&app);
    let crafted = "Your account is locked, call +1 555 0100";
    for (error, ours) in [
        (
            json!({ "kind": "invalid", "field": "email", "message": crafted }),
            "Check the email address and try again.",
        ),
        (
            json!({ "kind": "conflict", "message": crafted }),
            "it clashes with something that already exists",
        ),
        (
            json!({ "kind": "transport", "message": crafted }),
            "please try again.",
        ),
    ] {
        let page = visitor
            .get(&format!("/signin?__err={}", crafted_error(error)))
            .await
            .text()
            .await
            .unwrap();
        assert!(!page.contains("locked"), "the crafted text is shown");
        assert!(page.contains(ours), "Keyward's own words are shown");
    }
    // Not even the raw text, unencoded.
    let page = visitor
        .get("/signin?__err=Your%20account%20is%20locked")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("locked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_setup_completions_makes_exactly_one_admin() {
    // Several rounds on fresh servers: one race lost without the lock is enough to fail.
    for _ in 0..3 {
        let app = spawn_app().await;
        let statuses = setup_burst(&app, 12).await;
        let succeeded = statuses
            .iter()
            .filter(|status| status.is_success() || status.is_redirection())
            .count();
        assert_eq!(succeeded, 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|status| status.is_success()
                || status.is_redirection()
                || *status == StatusCode::CONFLICT
                || *status == StatusCode::NOT_FOUND),
            "{statuses:?}"
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM workspaces").await, 1);
        let admins = "SELECT COUNT(*) FROM memberships WHERE role = 'admin'";
        assert_eq!(count(&app, admins).await, 1);
    }
}

/// `n` people completing setup with the valid link at once, each with their own email.
async fn setup_burst(app: &TestApp, n: usize) -> Vec<StatusCode> {
    let token = setup_token(app);
    let attempts: Vec<_> = (0..n)
        .map(|n| {
            let client = Client::new(app);
            let token = token.clone();
            tokio::spawn(async move {
                let email = format!("admin{n}@example.com");
                let workspace = format!("Workspace {n}");
                let form = [
                    ("token", token.as_str()),
                    ("name", "Ana Diaz"),
                    ("email", &email),
                    ("workspace", &workspace),
                    ("password", PASSWORD),
                ];
                client.rpc("complete_setup", &form).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn a_service_token_outlives_its_creators_membership_and_shows_who_made_it() {
    let app = spawn_app().await;
    let ana = admin(&app).await;
    let bob = member(&app, &ana, "bob@example.com", "admin").await;
    let created = bob
        .ok("create_service_token", &[("name", "billing-api")])
        .await;
    let token = created["secret"].as_str().unwrap().to_owned();
    let (status, key) = ana
        .rpc_json(
            "create_key",
            &json!({ "form": { "name": "Billing", "environment": "live",
                "scopes": ["read-only"], "expiry": "never" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let bob_id = user_id_of(&app, "bob@example.com").await;
    ana.ok("remove_member", &[("user_id", &bob_id)]).await;

    let verified = http()
        .post(format!("{}/v1/keys/verify", app.base))
        .header("x-keyward-service-token", &token)
        .json(&json!({ "key": key["secret"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    let body: Value = verified.json().await.unwrap();
    assert_eq!(body["valid"], true);

    let listed = ana.ok("load_service_tokens", &[]).await;
    assert_eq!(listed[0]["created_by"], "bob");
    assert_eq!(listed[0]["creator_left"], true);
    let page = ana
        .get("/settings/service-tokens")
        .await
        .text()
        .await
        .unwrap();
    let cell = &page[page.find("data-testid=\"service-token-creator\"").unwrap()..];
    let cell = &cell[..cell.find("</td>").unwrap()];
    assert!(cell.contains("bob"), "{cell}");
    assert!(cell.contains("no longer a member"), "{cell}");
}
