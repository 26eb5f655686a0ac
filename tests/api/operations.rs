//! The operator's subcommands, run as the real binary: `--version`,
//! `check-config`, `migrate`, and `backup` of a running server's SQLite store,
//! restored end to end (stop, replace the file, start, a key verifies).

use crate::common::*;
use crate::fixtures::*;
use keyward::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary with a clean environment in an empty directory (no `.env`, no
/// `DATABASE_URL` from the test run), plus `vars`.
fn keyward(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("KEYWARD_LOG", "error");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("run keyward")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn empty_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyward-ops-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn version_names_the_crate_version() {
    let output = keyward(&empty_dir(), &["--version"], &[]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(&format!("keyward {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn check_config_prints_the_settings_with_the_password_masked() {
    let output = keyward(
        &empty_dir(),
        &["check-config"],
        &[
            (
                "DATABASE_URL",
                "postgres://keyward:hunter2@db.invalid/keyward",
            ),
            ("KEYWARD_KEY_PREFIX", "acme"),
            ("KEYWARD_REDIS_URL", "redis://:hunter3@cache.invalid:6379/1"),
        ],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("postgres://keyward:****@db.invalid/keyward"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(
        stdout.contains("redis://:****@cache.invalid:6379/1  (set)"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter3"), "{stdout}");
    assert!(stdout.contains("KEYWARD_REDIS_FALLBACK"), "{stdout}");
    assert!(stdout.contains("KEYWARD_KEY_PREFIX"), "{stdout}");
    assert!(stdout.contains("acme  (set)"), "{stdout}");
    assert!(stdout.contains("127.0.0.1:3000  (default)"), "{stdout}");
    // Nothing was opened: checking a configuration touches no store.
    assert!(stdout.contains("configuration OK"), "{stdout}");
}

#[test]
fn check_config_names_the_bad_variable_and_fails() {
    for (name, value) in [
        ("KEYWARD_SESSION_IDLE_HOURS", "0"),
        ("DATABASE_URL", "mysql://db/keyward"),
        ("KEYWARD_TRUSTED_PROXIES", "nginx"),
        ("KEYWARD_REDIS_FALLBACK", "allow"),
        ("KEYWARD_REDIS_URL", "rediss://cache.invalid"),
    ] {
        let output = keyward(&empty_dir(), &["check-config"], &[(name, value)]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(stderr.contains("NOT valid"), "{stderr}");
        assert!(!text(&output.stdout).contains("configuration OK"));
    }
}

#[tokio::test]
async fn migrate_creates_and_migrates_the_store_then_exits() {
    let dir = empty_dir();
    for _ in 0..2 {
        // The second run finds nothing to do, and says so the same way.
        let output = keyward(&dir, &["migrate"], &[]);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
        assert!(stdout.contains("schema version"), "{stdout}");
    }
    // The default store, relative to the working directory.
    let store = dir.join("data/keyward.db");
    let tables = table_count(&store).await;
    assert!(tables > 5, "{tables} tables");
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn table_count(file: &Path) -> i64 {
    let pool = sqlite(file).await;
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

async fn sqlite(file: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_backup_of_a_running_server_restores_with_its_keys() {
    let app = spawn_app().await;
    let dir = empty_dir();
    let copy = dir.join("copy.db");
    let copy_text = copy.display().to_string();
    if app.backend == Backend::Postgres {
        let output = keyward(
            &dir,
            &["backup", &copy_text],
            &[("DATABASE_URL", &app.database_url)],
        );
        let stderr = text(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains("pg_dump --format=custom"), "{stderr}");
        assert!(!copy.exists());
        return;
    }
    let admin = admin(&app).await;
    let token = service_token(&admin, "billing-api").await;
    let kept = create_key(&admin, json!({})).await;
    assert_eq!(
        verify_key(&app, &token, &kept.secret).await.0,
        StatusCode::OK
    );

    // Online: the server keeps writing (keys and their audit entries) while the copy is taken.
    let database_url = app.database_url.clone();
    let (dir_for_backup, copy_for_backup) = (dir.clone(), copy_text.clone());
    let backup = tokio::task::spawn_blocking(move || {
        keyward(
            &dir_for_backup,
            &["backup", &copy_for_backup],
            &[("DATABASE_URL", &database_url)],
        )
    });
    for _ in 0..5 {
        create_key(&admin, json!({})).await;
    }
    let output = backup.await.unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("backup written"));
    // Password hashes and session ids: the owner's eyes only, whatever the umask.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // A backup never overwrites a file.
    let again = keyward(
        &dir,
        &["backup", &copy_text],
        &[("DATABASE_URL", &app.database_url)],
    );
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"));

    // The copy is a consistent store: its audit chain verifies, and it has the key.
    let copy_url = format!("sqlite://{copy_text}");
    let audit = keyward(&dir, &["audit", "verify"], &[("DATABASE_URL", &copy_url)]);
    assert!(audit.status.success(), "{}", text(&audit.stdout));
    assert!(text(&audit.stdout).contains("intact"));
    let pool = sqlite(&copy).await;
    let has_key: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE id = ?")
        .bind(&kept.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(has_key, 1);
    let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(entries > 0);
    pool.close().await;

    // A key made after the backup is not in it.
    let later = create_key(&admin, json!({})).await;

    // Restore as docs/deploy.md says: stop the server, replace the file (and drop
    // its -wal and -shm), start it again.
    let live = dir.join("live/data/keyward.db");
    let live_url = format!("sqlite://{}", live.display());
    let server = Server::start(&dir, &live_url).await;
    server.stop();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", live.display()));
    }
    std::fs::copy(&copy, &live).unwrap();
    let server = Server::start(&dir, &live_url).await;
    let verified = server.verify(&token, &kept.secret).await;
    assert_eq!(verified.0, StatusCode::OK, "{}", verified.1);
    assert_eq!(verified.1["key_id"], kept.id.as_str());
    let missing = server.verify(&token, &later.secret).await;
    assert_eq!(missing.0, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&missing.1), "NOT_FOUND");
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn verify_key(app: &TestApp, token: &str, key: &str) -> (StatusCode, Value) {
    verify(app, token, json!({ "key": key })).await
}

/// The real binary serving a store, stopped with SIGTERM (and killed if a test panics first).
struct Server {
    child: Option<Child>,
    base: String,
}

impl Server {
    async fn start(dir: &Path, database_url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .current_dir(dir)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
            .env("KEYWARD_LOG", "warn")
            .env("LEPTOS_SITE_ROOT", dir.join("no-site"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start keyward");
        let server = Self {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if let Ok(response) = http().get(format!("{}/readyz", server.base)).send().await
                && response.status() == StatusCode::OK
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("keyward did not become ready on {}", server.base);
    }

    async fn verify(&self, token: &str, key: &str) -> (StatusCode, Value) {
        let response = http()
            .post(format!("{}/v1/keys/verify", self.base))
            .header("x-keyward-service-token", token)
            .json(&json!({ "key": key }))
            .send()
            .await
            .expect("verify request");
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(terminated.success());
        assert!(child.wait().unwrap().success(), "a clean shutdown");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
