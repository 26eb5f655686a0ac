//! Behind a TLS proxy (issue 12 §6): with `KEYWARD_TRUSTED_PROXIES` naming it,
//! the client IP is the right-most untrusted `X-Forwarded-For` hop, for
//! throttling and the audit log; without it, the header is ignored. The proxy
//! is the real nginx (Debian's package), configured as a deployment would be.

use crate::common::*;
use crate::nginx::Nginx;
use reqwest::StatusCode;

/// A plain reverse proxy that appends the peer to `X-Forwarded-For`.
const PROXY_CONF: &str = r#"

    server {
        listen @LISTEN@;
        location / {
            proxy_pass http://@KEYWARD@;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
"#;

async fn proxy_in_front_of(app: &TestApp) -> Nginx {
    let keyward = app.base.trim_start_matches("http://").to_owned();
    Nginx::start_with(|dir, listen| {
        PROXY_CONF
            .replace("@DIR@", dir)
            .replace("@LISTEN@", listen)
            .replace("@KEYWARD@", &keyward)
    })
    .await
}

/// A browser behind nginx whose own address (as the proxy's clients would
/// forward it) is `forwarded_for`.
fn client_behind(app: &TestApp, nginx: &Nginx, forwarded_for: &str) -> Client {
    Client::through(app, &nginx.base, &[("x-forwarded-for", forwarded_for)])
}

/// `client` fails to sign in as ten different unknown people: its IP's budget.
async fn spend_ip_budget(client: &Client, who: &str) {
    for n in 0..10 {
        let email = format!("{who}{n}@example.com");
        let (status, body) = client
            .rpc(
                "sign_in",
                &[("email", &email), ("password", "wrong password")],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

async fn sign_in_status(client: &Client, email: &str) -> StatusCode {
    client
        .rpc(
            "sign_in",
            &[("email", email), ("password", "wrong password")],
        )
        .await
        .0
}

async fn failed_sign_in_ips(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT ip FROM audit_entries WHERE action = 'user.sign_in_failed' ORDER BY ip",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_are_throttled_and_logged_apart() {
    let app = spawn_app_with(&[("KEYWARD_TRUSTED_PROXIES", "127.0.0.1/32, ::1/128")]).await;
    let ana = admin(&app).await;
    let nginx = proxy_in_front_of(&app).await;
    let first = client_behind(&app, &nginx, "203.0.113.10");
    // The second client's own proxy chain: a forged hop on the left, its address on the right.
    let second = client_behind(&app, &nginx, "198.51.100.99, 203.0.113.20");

    spend_ip_budget(&first, "first").await;
    assert_eq!(
        sign_in_status(&first, "first-again@example.com").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_status(&second, "second@example.com").await,
        StatusCode::UNAUTHORIZED,
        "the second client has a budget of its own"
    );
    assert_eq!(
        failed_sign_in_ips(&app).await,
        ["203.0.113.10", "203.0.113.20"]
    );

    // A successful sign-in through the proxy records the client's IP too.
    let third = client_behind(&app, &nginx, "192.0.2.30");
    third
        .ok(
            "sign_in",
            &[("email", "ana@example.com"), ("password", PASSWORD)],
        )
        .await;
    let ip: String = sqlx::query_scalar(
        "SELECT ip FROM audit_entries WHERE action = 'user.signed_in' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(ip, "192.0.2.30");
    drop(ana);
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let app = spawn_app().await;
    let _ana = admin(&app).await;
    let nginx = proxy_in_front_of(&app).await;
    let first = client_behind(&app, &nginx, "203.0.113.10");
    let second = client_behind(&app, &nginx, "203.0.113.20");

    spend_ip_budget(&first, "first").await;
    assert_eq!(
        sign_in_status(&second, "second@example.com").await,
        StatusCode::TOO_MANY_REQUESTS,
        "every request comes from nginx's address, so they share one budget"
    );
    assert_eq!(failed_sign_in_ips(&app).await, ["127.0.0.1"]);

    // Straight to Keyward, a forged header changes nothing either.
    let direct = client_behind(&app, &nginx, "192.0.2.99");
    let direct = Client {
        base: app.base.clone(),
        ..direct
    };
    assert_eq!(
        sign_in_status(&direct, "third@example.com").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
