//! docs/deploy.md's "Behind nginx with TLS", run: real nginx terminating TLS
//! with an `openssl` self-signed certificate, Keyward behind it with
//! `KEYWARD_PUBLIC_URL=https://…`, `KEYWARD_TRUSTED_PROXIES` and the session
//! cookie's default `Secure`. The first admin is set up through nginx as a
//! browser would, and the audit log sees the client's address.

use crate::common::*;
use crate::nginx::Nginx;
use reqwest::StatusCode;
use std::process::Command;

/// The `server` block of docs/deploy.md, with a test's paths and ports (and
/// a plain listener nginx's fixture waits on).
const TLS_CONF: &str = r#"
    upstream keyward {
        server @KEYWARD@;
        keepalive 32;
    }
    server {
        listen @LISTEN@;
        location / { return 204; }
    }
    server {
        listen @TLS@ ssl;
        server_name localhost;
        ssl_certificate     @DIR@/cert.pem;
        ssl_certificate_key @DIR@/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;

        location / {
            proxy_pass http://keyward;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
        }
        location = /v1/keys/verify {
            proxy_pass http://keyward;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }
        location = /metrics { return 404; }
    }
"#;

fn self_signed_certificate(dir: &str) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args([
            "-keyout",
            &format!("{dir}/key.pem"),
            "-out",
            &format!("{dir}/cert.pem"),
        ])
        .output()
        .expect("openssl is installed (Debian's openssl package)");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[tokio::test]
async fn keyward_behind_nginx_with_tls_sets_up_an_admin_with_secure_cookies() {
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public_url = format!("https://127.0.0.1:{tls_port}");
    let app = spawn_app_with(&[
        ("KEYWARD_PUBLIC_URL", &public_url),
        ("KEYWARD_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("KEYWARD_COOKIE_SECURE", "true"),
    ])
    .await;
    let keyward = app.base.trim_start_matches("http://").to_owned();
    let nginx = Nginx::start_with(|dir, listen| {
        self_signed_certificate(dir);
        TLS_CONF
            .replace("@LISTEN@", listen)
            .replace("@TLS@", &format!("127.0.0.1:{tls_port}"))
            .replace("@KEYWARD@", &keyward)
    })
    .await;
    // The certificate is our own self-signed one: this test is about the proxy, not about PKI.
    let browser = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let health = browser
        .get(format!("{public_url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let hsts = health.headers().get("strict-transport-security");
    assert!(hsts.is_some(), "HTTPS public URL: HSTS on every answer");

    // The first admin, through nginx, from a client that says who it is.
    let token = setup_token(&app);
    let response = browser
        .post(format!("{public_url}/rpc/complete_setup"))
        .header("origin", &public_url)
        .header("x-forwarded-for", "203.0.113.7")
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
    assert!(
        response.status().is_success() || response.status().is_redirection(),
        "{}",
        response.status()
    );
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("keyward_session="))
        .expect("a session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Signed in over TLS: a page that needs the session loads.
    let page = browser
        .get(format!("{public_url}/settings/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // The audit log has the client's address, read from X-Forwarded-For of a trusted proxy.
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT ip FROM audit_entries WHERE ip IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(ip.as_deref(), Some("203.0.113.7"));

    // A cross-site request through the same proxy is still refused.
    let response = browser
        .post(format!("{public_url}/rpc/sign_out"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    drop(nginx);
}
