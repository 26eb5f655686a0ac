//! The real `keyward` binary as a child process, for the tests that stop an
//! instance the way an operator or the kernel would: SIGTERM (a deploy, a
//! `systemctl stop`) or SIGKILL (a crash). It serves the test app's store.

use crate::common::http;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running `keyward` process; killed on drop, so a failed assertion leaves
/// nothing behind.
pub struct Binary {
    child: Child,
    pub port: u16,
    pub base: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// Serves `database_url` on a free port.
    pub async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, crate::common::free_port(), &[]).await
    }

    /// Serves `database_url` on `port` with `settings` added to the environment;
    /// returns once `/healthz` answers.
    pub async fn start_with(database_url: &str, port: u16, settings: &[(&str, &str)]) -> Self {
        Self::spawn(
            database_url,
            port,
            settings,
            Stdio::null(),
            Stdio::inherit(),
        )
        .await
    }

    /// `start_with`, everything it prints (logs included) written to `log`.
    pub async fn start_logged(
        database_url: &str,
        port: u16,
        settings: &[(&str, &str)],
        log: &std::path::Path,
    ) -> Self {
        let file = std::fs::File::create(log).expect("create the log file");
        let stderr = file.try_clone().expect("share the log file");
        Self::spawn(database_url, port, settings, file.into(), stderr.into()).await
    }

    async fn spawn(
        database_url: &str,
        port: u16,
        settings: &[(&str, &str)],
        stdout: Stdio,
        stderr: Stdio,
    ) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .env("DATABASE_URL", database_url)
            .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
            .env("KEYWARD_COOKIE_SECURE", "false")
            .env("KEYWARD_LOG", "error")
            .env(
                "LEPTOS_SITE_ROOT",
                std::env::temp_dir().join("keyward-test-site"),
            )
            .envs(settings.iter().copied())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start keyward");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http().get(format!("{base}/healthz")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the binary did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port, base }
    }

    /// SIGKILL: the process ends at once, as in a crash.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap keyward");
    }

    /// SIGTERM, then waits (at most `within`) for the process to finish its
    /// requests and exit; its exit status.
    pub async fn terminate(mut self, within: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll keyward") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "keyward did not exit within {within:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
