//! Email (issue 20): "Forgot your password?" and invites, through a real SMTP
//! server. `aiosmtpd` (PyPI, installed into the venv by scripts/bootstrap)
//! listens on a free port and writes every message it takes to a maildir,
//! which the tests read as a person's inbox. The flows run against the real
//! binary with debug logging, so that its log can be searched for tokens.

use crate::binary::Binary;
use crate::common::*;
use reqwest::StatusCode;
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
