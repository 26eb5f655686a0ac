//! `spawn_app`: the real server on a random port with a fresh database
//! (a new SQLite file, or a new PostgreSQL database when `DATABASE_URL` names
//! one), and an HTTP client that behaves like a browser tab.

use keyward::clock::Clock;
use keyward::config::Config;
use keyward::db::{Backend, Db};
use keyward::server;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::collections::HashMap;

pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub clock: Clock,
    pub setup_link: Option<String>,
    pub backend: Backend,
    pub database_url: String,
    pub verifier: keyward::verify::Verifier,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// No request in these tests should take this long: a server that stops
/// answering fails the test with a timeout instead of hanging the run.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A plain HTTP client (no cookies, no Origin) that gives up after `REQUEST_TIMEOUT`.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("build an HTTP client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// `spawn_app` with extra configuration variables.
pub async fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    let (database_url, backend) = fresh_database().await;
    spawn_instance(&database_url, backend, Clock::default(), settings).await
}

/// `spawn_app_with` on a new SQLite file whatever `DATABASE_URL` says: for
/// the tests of SQLite's own behaviour.
pub async fn spawn_sqlite_app_with(settings: &[(&str, &str)]) -> TestApp {
    let database_url = fresh_sqlite_database();
    spawn_instance(&database_url, Backend::Sqlite, Clock::default(), settings).await
}

/// A server on a database the test made itself (e.g. on a PostgreSQL of its own).
pub async fn spawn_app_on(database_url: &str, backend: Backend) -> TestApp {
    spawn_instance(database_url, backend, Clock::default(), &[]).await
}

/// Waits (at most 10 s) until the instance's change listener is subscribed and its cache trusted.
pub async fn wait_until_trusted(app: &TestApp) {
    let started = std::time::Instant::now();
    while !app.verifier.cache_is_trusted() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the change listener did not subscribe"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A loopback port nothing listens on right now (another process may take it before it is used).
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    probe.local_addr().unwrap().port()
}

/// Another server on the same database (a second instance behind a load balancer).
pub async fn spawn_second_instance(app: &TestApp) -> TestApp {
    spawn_second_instance_with(app, &[]).await
}

/// `spawn_second_instance` with extra configuration variables.
pub async fn spawn_second_instance_with(app: &TestApp, settings: &[(&str, &str)]) -> TestApp {
    spawn_instance(&app.database_url, app.backend, app.clock.clone(), settings).await
}

async fn spawn_instance(
    database_url: &str,
    backend: Backend,
    clock: Clock,
    settings: &[(&str, &str)],
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let addr = listener.local_addr().unwrap();
    let mut vars = HashMap::from([
        ("KEYWARD_ADDR".to_owned(), addr.to_string()),
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("KEYWARD_COOKIE_SECURE".to_owned(), "false".to_owned()),
    ]);
    vars.insert(
        "LEPTOS_SITE_ROOT".into(),
        std::env::temp_dir()
            .join("keyward-test-site")
            .display()
            .to_string(),
    );
    for (name, value) in settings {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("test config is valid");
    let prepared = server::prepare(config, clock.clone())
        .await
        .expect("server starts");
    let db = prepared.state.db.clone();
    let setup_link = prepared.setup_link.clone();
    let verifier = prepared.state.verifier.clone();
    tokio::spawn(server::serve(prepared, listener));
    TestApp {
        base: format!("http://{addr}"),
        db,
        clock,
        setup_link,
        backend,
        database_url: database_url.to_owned(),
        verifier,
    }
}

/// A new SQLite file, or a new database on the PostgreSQL server in `DATABASE_URL`.
pub async fn fresh_database() -> (String, Backend) {
    let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(&url)
                .await
                .expect("connect to DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .expect("create test database");
            let base = url
                .rsplit_once('/')
                .map(|(base, _)| base)
                .expect("DATABASE_URL has a database name");
            (format!("{base}/{name}"), Backend::Postgres)
        }
        _ => (fresh_sqlite_database(), Backend::Sqlite),
    }
}

/// The URL of a new SQLite file in the temporary directory.
fn fresh_sqlite_database() -> String {
    let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
    let path = std::env::temp_dir().join(format!("{name}.db"));
    format!("sqlite://{}", path.display())
}

/// A browser-like client: keeps cookies, sends our Origin, does not follow redirects.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(app: &TestApp) -> Self {
        Self::through(app, &app.base, &[])
    }

    /// A browser tab on `app` that reaches it at `base` (a proxy in front of
    /// it, say), sending `extra` headers with every request.
    pub fn through(app: &TestApp, base: &str, extra: &[(&'static str, &str)]) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(&app.base).unwrap());
        headers.insert("user-agent", HeaderValue::from_static("keyward-tests/1.0"));
        for (name, value) in extra {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        Self {
            http,
            base: base.to_owned(),
        }
    }

    /// Calls a server function with form-encoded arguments: `(status, JSON body)`.
    pub async fn rpc(&self, name: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/rpc/{name}", self.base))
            .form(form)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Calls a server function that takes a JSON body: `(status, JSON body)`.
    pub async fn rpc_json(&self, name: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/rpc/{name}", self.base))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Like `rpc`, asserting success.
    pub async fn ok(&self, name: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.rpc(name, form).await;
        assert!(
            status.is_success() || status.is_redirection(),
            "{name} failed with {status}: {body}"
        );
        body
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
    }
}

/// Sets Keyward up through its setup link; returns the admin's signed-in client.
pub async fn admin(app: &TestApp) -> Client {
    let client = Client::new(app);
    let token = setup_token(app);
    client
        .ok(
            "complete_setup",
            &[
                ("token", &token),
                ("name", "Ana Diaz"),
                ("email", "ana@example.com"),
                ("workspace", "Acme"),
                ("password", PASSWORD),
            ],
        )
        .await;
    client
}

pub fn setup_token(app: &TestApp) -> String {
    let link = app
        .setup_link
        .as_ref()
        .expect("a fresh app prints a setup link");
    link.split_once("token=")
        .expect("link carries a token")
        .1
        .to_owned()
}

/// Invites `email` with `role` as the admin; returns the invite token.
pub async fn invite(admin: &Client, email: &str, role: &str) -> String {
    let created = admin
        .ok("invite_member", &[("email", email), ("role", role)])
        .await;
    let link = created["link"].as_str().expect("invite link").to_owned();
    link.rsplit_once("/invite/")
        .expect("link shape")
        .1
        .to_owned()
}

/// A new member with `role`, signed in through their invite.
pub async fn member(app: &TestApp, admin: &Client, email: &str, role: &str) -> Client {
    let token = invite(admin, email, role).await;
    let client = Client::new(app);
    let name = email.split('@').next().unwrap();
    client
        .ok(
            "accept_invite",
            &[("token", &token), ("name", name), ("password", PASSWORD)],
        )
        .await;
    client
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db.pool())
        .await
        .expect("count query")
}

pub async fn user_id_of(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.db.pool())
        .await
        .expect("user exists")
}

/// Every audit action recorded, oldest first.
pub async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_entries ORDER BY seq")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

/// Sessions in the store (tower-sessions keeps them in a schema of their own on PostgreSQL).
pub async fn session_count(app: &TestApp) -> i64 {
    let table = if app.backend == Backend::Postgres {
        "tower_sessions.session"
    } else {
        "tower_sessions"
    };
    count(app, &format!("SELECT COUNT(*) FROM {table}")).await
}
