//! Email (issue 20): "Forgot your password?" and invites, through a real SMTP
//! server. `aiosmtpd` (PyPI, installed into the venv by scripts/bootstrap)
//! listens on a free port and writes every message it takes to a maildir,
//! which the tests read as a person's inbox. The flows run against the real
//! binary with debug logging, so that its log can be searched for tokens.

use crate::binary::Binary;
use crate::common::*;
use crate::fixtures::{answer, create_key, service_token};
use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An aiosmtpd server with a maildir behind it; stopped on drop.
struct Smtpd {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

impl Smtpd {
    /// Starts `python -m aiosmtpd` with `KEYWARD_SMTP_PYTHON` (the venv's
    /// python), returning once it accepts connections.
    async fn start() -> Self {
        let python = std::env::var("KEYWARD_SMTP_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = free_port();
        let maildir =
            std::env::temp_dir().join(format!("keyward-maildir-{}", uuid::Uuid::new_v4()));
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "--nosetuid", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--class", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{python}: {error} (set KEYWARD_SMTP_PYTHON)"));
        let server = Self {
            child,
            port,
            maildir,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far, oldest first, as raw text.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        files.sort_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|path| std::fs::read_to_string(path).expect("a readable message"))
            .collect()
    }

    /// Waits (at most 20 s) until `count` messages have arrived; all of them.
    async fn wait_for(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{count} message(s) expected, {} arrived",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The text of a message's body with quoted-printable soft line breaks
/// undone, so that a long link reads as one line.
fn body_text(message: &str) -> String {
    let body = message
        .split_once("\n\n")
        .or_else(|| message.split_once("\r\n\r\n"))
        .map_or(message, |(_, body)| body);
    body.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in {message}"))
}

/// The first `http` link in a message that goes to `path`.
fn link_in(message: &str, path: &str) -> String {
    body_text(message)
        .split_whitespace()
        .find(|word| word.starts_with("http") && word.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {message}"))
        .to_owned()
}

/// The binary on `app`'s store, sending through `smtp_url`, logging at debug level to `log`.
async fn binary_with_email(app: &TestApp, smtp_url: &str, log: &Path) -> Binary {
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    Binary::start_logged(
        &app.database_url,
        port,
        &[
            ("KEYWARD_SMTP_URL", smtp_url),
            ("KEYWARD_SMTP_FROM", "Keyward <keys@acme.test>"),
            ("KEYWARD_PUBLIC_URL", &public_url),
            ("KEYWARD_LOG", "debug"),
        ],
        log,
    )
    .await
}

/// A browser on the binary (its own origin).
fn browser_on(app: &TestApp, binary: &Binary) -> Client {
    Client::through(app, &binary.base, &[("origin", &binary.base)])
}

/// Asks for a reset link as the page's form does: the status and where the
/// answer sends the browser.
async fn ask_for_reset(client: &Client, email: &str) -> (StatusCode, String) {
    let response = client
        .http
        .post(format!("{}/rpc/request_password_reset", client.base))
        .form(&[("email", email)])
        .send()
        .await
        .expect("request sent");
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (response.status(), location)
}

#[tokio::test]
#[ignore = "needs aiosmtpd from PyPI: ./test runs it"]
async fn email_a_forgotten_password_is_reset_through_the_emailed_link_and_no_token_is_logged() {
    let smtpd = Smtpd::start().await;
    let app = spawn_app().await;
    admin(&app).await;
    let log = std::env::temp_dir().join(format!("keyward-email-{}.log", uuid::Uuid::new_v4()));
    let binary = binary_with_email(&app, &smtpd.url(), &log).await;
    let stranger = browser_on(&app, &binary);
    assert_eq!(stranger.ok("password_reset_by_email", &[]).await, true);

    // An address without an account gets the same answer as one with, and no message.
    let unknown = ask_for_reset(&stranger, "nobody@example.com").await;
    let known = ask_for_reset(&stranger, "Ana@Example.com").await;
    assert_eq!(unknown, known);
    assert_eq!(known.0, StatusCode::OK, "{known:?}");
    assert!(known.1.ends_with("/forgot?sent"), "{known:?}");
    let messages = smtpd.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtpd.messages().len(),
        1,
        "only the account's address gets a message"
    );
    let message = &messages[0];
    assert_eq!(header(message, "To"), "ana@example.com");
    assert_eq!(header(message, "From"), "Keyward <keys@acme.test>");
    assert_eq!(header(message, "Subject"), "Reset your Keyward password");
    let link = link_in(message, "/reset/");
    assert!(
        link.starts_with(&format!("{}/reset/", binary.base)),
        "{link}"
    );
    let token = link.rsplit_once("/reset/").unwrap().1.to_owned();
    assert_eq!(token.len(), 64, "{link}");

    // The page the link opens, then the new password; the link is spent.
    let page = stranger.get(&format!("/reset/{token}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("ana@example.com"));
    let new_password = "a password from the inbox";
    stranger
        .ok(
            "reset_password",
            &[("token", &token), ("new_password", new_password)],
        )
        .await;
    let (status, _) = stranger
        .rpc(
            "reset_password",
            &[
                ("token", &token),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let ana = browser_on(&app, &binary);
    ana.ok(
        "sign_in",
        &[("email", "ana@example.com"), ("password", new_password)],
    )
    .await;

    // An invite is emailed as well as shown, with the same link.
    let created = ana
        .ok(
            "invite_member",
            &[("email", "bo@example.com"), ("role", "developer")],
        )
        .await;
    assert_eq!(created["emailed"], true);
    let invite = smtpd.wait_for(2).await.remove(1);
    assert_eq!(header(&invite, "To"), "bo@example.com");
    assert_eq!(
        header(&invite, "Subject"),
        "You're invited to a workspace on Keyward"
    );
    assert!(body_text(&invite).contains("Ana Diaz invited you to join the workspace Acme"));
    let invite_link = link_in(&invite, "/invite/");
    assert_eq!(invite_link, created["link"].as_str().unwrap());

    // Neither token is in anything the binary printed, at debug level.
    drop(binary);
    let printed = std::fs::read_to_string(&log).expect("the binary's log");
    let _ = std::fs::remove_file(&log);
    assert!(
        printed.contains("/reset/…"),
        "the reset page's request is logged"
    );
    let invite_token = invite_link.rsplit_once("/invite/").unwrap().1;
    for secret in [token.as_str(), invite_token] {
        assert!(!printed.contains(secret), "a token in the log:\n{printed}");
    }
}

#[tokio::test]
#[ignore = "needs aiosmtpd from PyPI: ./test runs it"]
async fn email_reset_requests_are_throttled_per_email_and_per_ip_existing_or_not() {
    let smtpd = Smtpd::start().await;
    let app = spawn_app_with(&[("KEYWARD_SMTP_URL", &smtpd.url())]).await;
    admin(&app).await;
    let client = Client::new(&app);
    for email in ["ana@example.com", "nobody@example.com"] {
        for n in 0..3 {
            let (status, _) = ask_for_reset(&client, email).await;
            assert_eq!(status, StatusCode::OK, "{email}: request {n}");
        }
        // Over the limit, a parallel burst is refused whole, for either address.
        let answers =
            futures::future::join_all((0..6).map(|_| ask_for_reset(&client, email))).await;
        assert!(
            answers
                .iter()
                .all(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS),
            "{email}: {answers:?}"
        );
        let (status, body) = client
            .rpc("request_password_reset", &[("email", email)])
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["kind"], "too_many_attempts", "{body}");
        assert_eq!(body["minutes"], 60, "{body}");
    }
    // Ana's three requests made three links; only the newest works.
    let messages = smtpd.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtpd.messages().len(), 3);
    let working = count(
        &app,
        "SELECT COUNT(*) FROM password_resets WHERE used_at IS NULL",
    )
    .await;
    assert_eq!(working, 1);
    assert!(
        messages
            .iter()
            .all(|m| header(m, "To") == "ana@example.com")
    );

    // The IP's own limit: ten requests an hour from one address, whatever the emails.
    for n in 0..4 {
        let (status, _) = ask_for_reset(&client, &format!("someone{n}@example.com")).await;
        assert_eq!(status, StatusCode::OK, "request {n}");
    }
    let (status, body) = client
        .rpc(
            "request_password_reset",
            &[("email", "one-too-many@example.com")],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

/// Anyone may make a workspace and invite from it: the relay mails at most
/// 20 invites of one person an hour; later ones are made but not mailed.
#[tokio::test]
#[ignore = "needs aiosmtpd from PyPI: ./test runs it"]
async fn email_invites_are_mailed_at_most_twenty_an_hour_per_inviter() {
    let smtpd = Smtpd::start().await;
    let app = spawn_app_with(&[("KEYWARD_SMTP_URL", &smtpd.url())]).await;
    let admin = admin(&app).await;
    for n in 1..=21 {
        let created = admin
            .ok(
                "invite_member",
                &[
                    ("email", &format!("person{n}@example.com")),
                    ("role", "viewer"),
                ],
            )
            .await;
        assert_eq!(created["emailed"], n <= 20, "invite {n}: {created}");
        assert!(created["link"].as_str().unwrap().contains("/invite/"));
    }
    smtpd.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtpd.messages().len(), 20);
}

/// No SMTP server is needed to see what happens when it cannot be reached.
#[tokio::test]
async fn with_the_mail_server_down_invites_still_show_their_link_and_say_so() {
    let closed = format!("smtp://127.0.0.1:{}", free_port());
    let app = spawn_app_with(&[("KEYWARD_SMTP_URL", &closed)]).await;
    let admin = admin(&app).await;
    let created = admin
        .ok(
            "invite_member",
            &[("email", "bo@example.com"), ("role", "developer")],
        )
        .await;
    assert_eq!(created["emailed"], false);
    assert!(created["link"].as_str().unwrap().contains("/invite/"));
    // The reset request answers as usual: whether a message went out is not its business.
    let (status, location) = ask_for_reset(&Client::new(&app), "ana@example.com").await;
    assert_eq!(status, StatusCode::OK, "{location}");
}

#[tokio::test]
async fn without_email_forgot_password_says_who_to_ask() {
    let app = spawn_app().await;
    admin(&app).await;
    let stranger = Client::new(&app);
    assert_eq!(stranger.ok("password_reset_by_email", &[]).await, false);
    let (status, body) = stranger
        .rpc("request_password_reset", &[("email", "ana@example.com")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("operator"),
        "{body}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM password_resets").await, 0);
    let page = stranger.get("/forgot").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("keyward user reset-password")
    );
    // A bad address is refused on its field, email on or off.
    let app = spawn_app_with(&[("KEYWARD_SMTP_URL", "smtp://127.0.0.1:1")]).await;
    let (status, body) = Client::new(&app)
        .rpc("request_password_reset", &[("email", "not an address")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "email", "{body}");
}

/// A mailer on `url` as the server builds one, for calling the notice sender directly.
fn mailer(url: &str) -> keyward::mail::Mailer {
    let settings = keyward::mail::SmtpSettings::parse(url, None, "http://127.0.0.1")
        .expect("a loopback SMTP URL");
    keyward::mail::Mailer::new(&settings).expect("a mailer")
}

const PUBLIC_URL: &str = "https://keys.acme.test";

/// The server's own sender waits an hour between passes, so that the test's
/// calls of `send_due` are the only ones and every attempt is counted.
const QUIET_SENDER: (&str, &str) = ("KEYWARD_NOTICE_POLL_MS", "3600000");

/// The `expected` messages that arrived after the first `seen` (which then
/// counts them too), as (To, Subject, body) sorted.
async fn new_messages(
    smtpd: &Smtpd,
    seen: &mut usize,
    expected: usize,
) -> Vec<(String, String, String)> {
    let messages = smtpd.wait_for(*seen + expected).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        smtpd.messages().len(),
        *seen + expected,
        "no more than expected"
    );
    let mut new: Vec<_> = messages[*seen..]
        .iter()
        .map(|m| {
            (
                header(m, "To").to_owned(),
                header(m, "Subject").to_owned(),
                body_text(m),
            )
        })
        .collect();
    *seen += expected;
    new.sort();
    new
}

#[tokio::test]
#[ignore = "needs aiosmtpd from PyPI: ./test runs it"]
async fn email_expiry_and_leak_notices_reach_the_owner_and_the_admins_once() {
    use keyward::keys::expiry::{record_expired_keys, warn_of_expiring_keys};
    use keyward::mail::notices::{Notices, send_due};
    let smtpd = Smtpd::start().await;
    let app = spawn_app_with(&[("KEYWARD_SMTP_URL", &smtpd.url()), QUIET_SENDER]).await;
    let ana = admin(&app).await;
    let bo = member(&app, &ana, "bo@example.com", "developer").await;
    member(&app, &ana, "cy@example.com", "viewer").await;
    let key = create_key(&bo, json!({ "name": "Billing sync", "expiry": "30d" })).await;
    let mailer = mailer(&smtpd.url());
    let send = || send_due(&app.db, &mailer, PUBLIC_URL, &app.clock);
    let mut seen = smtpd.wait_for(2).await.len(); // the two invites

    // A week before: Bo (the owner) and Ana (the admin), not Cy (a viewer).
    app.clock
        .advance(chrono::Duration::days(23) + chrono::Duration::minutes(1));
    assert_eq!(
        warn_of_expiring_keys(&app.db, Notices::Emailed, app.clock.now())
            .await
            .unwrap(),
        1
    );
    send().await.unwrap();
    let week = new_messages(&smtpd, &mut seen, 2).await;
    let to: Vec<&str> = week.iter().map(|(to, _, _)| to.as_str()).collect();
    assert_eq!(to, ["ana@example.com", "bo@example.com"]);
    for (_, subject, body) in &week {
        assert_eq!(subject, "An API key expires within a week");
        assert!(
            body.contains("The API key Billing sync (kw_live_"),
            "{body}"
        );
        assert!(body.contains("Owner: bo"), "{body}");
        assert!(body.contains("Workspace: Acme"), "{body}");
        assert!(
            body.contains(&format!("{PUBLIC_URL}/settings/api-keys/{}", key.id)),
            "{body}"
        );
        assert!(!body.contains(&key.secret));
    }
    assert_eq!(send().await.unwrap(), 0, "sent once");

    // A day before, then the expiry itself.
    app.clock.advance(chrono::Duration::days(6));
    warn_of_expiring_keys(&app.db, Notices::Emailed, app.clock.now())
        .await
        .unwrap();
    send().await.unwrap();
    let day = new_messages(&smtpd, &mut seen, 2).await;
    assert!(
        day.iter()
            .all(|(_, s, _)| s == "An API key expires within a day")
    );
    app.clock.advance(chrono::Duration::days(2));
    record_expired_keys(&app.db, Notices::Emailed, app.clock.now())
        .await
        .unwrap();
    send().await.unwrap();
    let expired = new_messages(&smtpd, &mut seen, 2).await;
    assert!(
        expired
            .iter()
            .all(|(_, s, b)| s == "An API key expired and stopped working"
                && b.contains("requests made with it are refused")),
        "{expired:?}"
    );

    // Two of Ana's keys reported found: one message with both; a second report says nothing new.
    let first = create_key(&ana, json!({ "name": "Deploys" })).await;
    let second = create_key(&ana, json!({ "name": "Exports" })).await;
    let token = service_token(&ana, "scanner").await;
    let report = json!([
        { "token": first.secret, "type": "gitleaks", "url": "https://github.com/acme/app/blob/main/.env" },
        { "token": second.secret, "type": "gitleaks", "url": "javascript:alert(1)" },
    ]);
    for _ in 0..2 {
        let (status, _) = answer(
            http()
                .post(format!("{}/v1/leaks", app.base))
                .header("x-keyward-service-token", &token)
                .json(&report),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    send().await.unwrap();
    let leaks = new_messages(&smtpd, &mut seen, 1).await;
    let (to, subject, body) = &leaks[0];
    assert_eq!(to, "ana@example.com");
    assert_eq!(subject, "2 notices about API keys");
    assert!(body.contains("The API key Deploys (kw_live_"), "{body}");
    assert!(
        body.contains(
            "Reported location (unverified): https://github.com/acme/app/blob/main/.env\n"
        ),
        "{body}"
    );
    assert!(body.contains("The API key Exports (kw_live_"), "{body}");
    assert!(
        body.contains("It still works"),
        "a scanner's report flags: {body}"
    );
    assert!(
        !body.contains("javascript:"),
        "only web addresses are shown: {body}"
    );
    for secret in [&first.secret, &second.secret] {
        assert!(!body.contains(secret.as_str()));
    }
}

/// Without email, nothing is queued: turning it on later mails no backlog.
#[tokio::test]
async fn without_email_key_events_queue_no_notices() {
    use keyward::keys::expiry::warn_of_expiring_keys;
    use keyward::mail::notices::Notices;
    let app = spawn_app().await;
    let ana = admin(&app).await;
    create_key(&ana, json!({ "expiry": "30d" })).await;
    app.clock.advance(chrono::Duration::days(24));
    let warned = warn_of_expiring_keys(&app.db, Notices::Off, app.clock.now())
        .await
        .unwrap();
    assert_eq!(warned, 1, "the webhook event is still due");
    // And the server's own wiring: a leak report to a server without email queues nothing.
    let leaked = create_key(&ana, json!({})).await;
    let token = service_token(&ana, "scanner").await;
    let (status, _) = answer(
        http()
            .post(format!("{}/v1/leaks", app.base))
            .header("x-keyward-service-token", &token)
            .json(&json!([{ "token": leaked.secret, "type": "gitleaks" }])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE action = 'key.leaked'"
        )
        .await,
        1,
        "the leak was recorded"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM key_notices").await, 0);
}

/// A relay that is down: each notice is tried five times over about two and
/// a half hours, then given up; a member removed meanwhile is told nothing.
#[tokio::test]
async fn with_the_mail_server_down_key_notices_are_retried_then_given_up() {
    use keyward::keys::expiry::warn_of_expiring_keys;
    use keyward::mail::notices::{Notices, send_due};
    let closed = format!("smtp://127.0.0.1:{}", free_port());
    let app = spawn_app_with(&[("KEYWARD_SMTP_URL", &closed), QUIET_SENDER]).await;
    let ana = admin(&app).await;
    let bo = member(&app, &ana, "bo@example.com", "admin").await;
    drop(bo);
    create_key(&ana, json!({ "expiry": "30d" })).await;
    app.clock.advance(chrono::Duration::days(24));
    warn_of_expiring_keys(&app.db, Notices::Emailed, app.clock.now())
        .await
        .unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM key_notices").await, 2);
    let bo_id = user_id_of(&app, "bo@example.com").await;
    ana.ok("remove_member", &[("user_id", &bo_id)]).await;

    let mailer = mailer(&closed);
    let attempts = || {
        count(
            &app,
            "SELECT COALESCE(MAX(attempts), 0) FROM key_notices WHERE given_up_at IS NULL",
        )
    };
    let waits = [1, 5, 30, 120];
    for (n, minutes) in waits.iter().enumerate() {
        let sent = send_due(&app.db, &mailer, PUBLIC_URL, &app.clock)
            .await
            .unwrap();
        assert_eq!(sent, 0);
        assert_eq!(attempts().await, n as i64 + 1);
        // Not due again before its wait is over.
        send_due(&app.db, &mailer, PUBLIC_URL, &app.clock)
            .await
            .unwrap();
        assert_eq!(attempts().await, n as i64 + 1, "attempt {n} waits");
        app.clock.advance(chrono::Duration::minutes(*minutes));
    }
    send_due(&app.db, &mailer, PUBLIC_URL, &app.clock)
        .await
        .unwrap();
    let given_up = count(
        &app,
        "SELECT COUNT(*) FROM key_notices WHERE given_up_at IS NOT NULL AND sent_at IS NULL",
    )
    .await;
    assert_eq!(
        given_up, 2,
        "both given up: Ana's after 5 attempts, Bo's as he left"
    );
    let bo_attempts = count(
        &app,
        &format!("SELECT MAX(attempts) FROM key_notices WHERE user_id = '{bo_id}'"),
    )
    .await;
    assert_eq!(bo_attempts, 1, "Bo's notice was dropped at its first claim");
}
