//! The real nginx (Debian's package, `/usr/sbin/nginx`) as a child process for
//! the tests that put it in front of Keyward: forward-auth through
//! `auth_request` (forward_auth_nginx.rs) and a reverse proxy that appends
//! `X-Forwarded-For` (proxies.rs). Each instance has its own directory and port.

use crate::common::http;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX: &str = "/usr/sbin/nginx";

/// What every test configuration shares: nginx in the foreground, in one
/// process (so killing it leaves no worker behind), with every file in its own
/// temporary directory. The test's part goes inside `http { … }`.
const PREAMBLE: &str = r#"
daemon off;
master_process off;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
events { worker_connections 64; }

http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;
"#;

/// nginx running as a child process; killed (and its directory removed) on drop,
/// so a failed assertion leaves nothing behind.
pub(crate) struct Nginx {
    child: Child,
    dir: PathBuf,
    pub(crate) base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("nginx's config and logs are kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Nginx {
    /// Starts nginx with `http(its directory, its listen address)` inside the
    /// `http` block of [`PREAMBLE`].
    pub(crate) async fn start_with(http: impl Fn(&str, &str) -> String) -> Self {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: the forward-auth tests run the real nginx. \
             Run scripts/bootstrap to install it (Debian's nginx package)."
        );
        // A port taken between our probe and nginx's bind: try another.
        for _ in 0..3 {
            let dir = std::env::temp_dir()
                .join(format!("keyward-nginx-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("create nginx's directory");
            let listen = free_port();
            let conf = format!(
                "{PREAMBLE}{}}}\n",
                http(&dir.display().to_string(), &listen)
            )
            .replace("@DIR@", &dir.display().to_string());
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).expect("write nginx.conf");
            let stderr = std::fs::File::create(dir.join("nginx.stderr")).unwrap();
            let child = Command::new(NGINX)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(&conf_path)
                // Before it reads the config, nginx logs to its built-in path unless told otherwise.
                .arg("-e")
                .arg(dir.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|error| panic!("start {NGINX}: {error}"));
            let mut nginx = Nginx {
                child,
                dir,
                base: format!("http://{listen}"),
            };
            match nginx.wait_until_listening(&listen).await {
                Ok(()) => return nginx,
                Err(logs) if logs.contains("Address already in use") => continue,
                Err(logs) => panic!("nginx did not start:\n{logs}"),
            }
        }
        panic!("nginx found no free port in 3 tries");
    }

    /// A file in nginx's directory (its logs, say).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Waits for nginx's port to accept connections; `Err(its logs)` if it exits first.
    /// nginx writes its pid file only after binding, so a port someone else took in the
    /// meantime is not mistaken for nginx's.
    async fn wait_until_listening(&mut self, listen: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll nginx") {
                return Err(format!("exited with {status}\n{}", self.logs()));
            }
            if self.dir.join("nginx.pid").exists()
                && tokio::net::TcpStream::connect(listen).await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not listening after 10 s\n{}", self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn logs(&self) -> String {
        ["nginx.stderr", "error.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
                format!("--- {name}\n{text}")
            })
            .collect()
    }

    /// `GET path` through nginx with extra headers: `(status, headers, body)`.
    pub(crate) async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = http().get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request through nginx");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    pub(crate) async fn status(&self, path: &str, headers: &[(&str, &str)]) -> StatusCode {
        self.get(path, headers).await.0
    }
}

fn free_port() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    probe.local_addr().unwrap().to_string()
}
