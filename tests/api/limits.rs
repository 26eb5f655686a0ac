//! Bounded requests (issue 12 §5): body limits refused before the body is
//! buffered, over-long passwords refused before argon2, and page cursors that
//! overflow answered with 400 instead of a panic.

use crate::common::*;
use crate::fixtures::*;
use reqwest::Method;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;

/// Sends `head` (request line and headers, without the blank line), then
/// `body`, and reads the answer: `(status, rest of the response)`. Fails the
/// test if no answer comes within 5 seconds. Errors while writing are
/// ignored: a server that refuses early may close before the body is sent.
async fn raw(app: &TestApp, head: &str, body: &[u8]) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{head}\r\nHost: {addr}\r\nOrigin: {}\r\n\r\n", app.base);
    stream.write_all(head.as_bytes()).await.expect("send head");
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let read = async {
        // Up to the end of the headers and a little body is enough.
        while !String::from_utf8_lossy(&answer).contains("}") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the server answers within 5 s, without waiting for the body");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

#[tokio::test]
async fn a_20_mib_sign_in_is_refused_before_its_body_is_sent() {
    let app = spawn_app().await;
    // Only the head: a server that buffered bodies would sit waiting for 20 MiB.
    let head = format!(
        "POST /rpc/sign_in HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
        20 * MIB
    );
    let (status, text) = raw(&app, &head, b"").await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("PAYLOAD_TOO_LARGE"), "{text}");
    assert!(text.contains("at most 65536 bytes"), "{text}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sign_in_failures").await,
        0
    );
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_64_kib() {
    let app = spawn_app().await;
    // 128 KiB in chunks and no final chunk: only a server that stops reading at
    // the limit answers; one that buffered to the end would wait for ever.
    let chunk = format!("4000\r\n{}\r\n", "a".repeat(0x4000));
    let body = chunk.repeat(8);
    let head = "POST /rpc/sign_in HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked";
    let (status, text) = raw(&app, head, body.as_bytes()).await;
    assert_eq!(status, 413, "{text}");
}

#[tokio::test]
async fn api_v1_and_verify_have_their_own_limits() {
    let app = spawn_app().await;
    let head = format!(
        "POST /api/v1/keys HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        64 * 1024 + 1
    );
    let (status, text) = raw(&app, &head, b"").await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("at most 65536 bytes"), "{text}");

    let head = format!(
        "POST /v1/keys/verify HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        20 * MIB
    );
    let (status, text) = raw(&app, &head, b"").await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("at most 8192 bytes"), "{text}");
}

#[tokio::test]
async fn forms_under_the_limit_still_arrive() {
    let app = spawn_app().await;
    let _admin = admin(&app).await;
    let client = Client::new(&app);
    // 60 KiB of form: read and answered on its merits (an unknown field is ignored).
    let padding = "p".repeat(60 * 1024);
    let (status, body) = client
        .rpc(
            "sign_in",
            &[
                ("email", "ana@example.com"),
                ("password", "wrong password here"),
                ("padding", &padding),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn an_over_long_password_is_refused_before_it_is_checked() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let long = "x".repeat(1025);
    let anonymous = Client::new(&app);
    let (status, body) = anonymous
        .rpc(
            "sign_in",
            &[("email", "ana@example.com"), ("password", &long)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "password");
    assert!(body["message"].as_str().unwrap().contains("1024"), "{body}");

    // Join with an existing account: the same refusal, before the password is checked.
    let bob = member(&app, &admin, "bob@example.com", "developer").await;
    bob.ok("create_workspace", &[("name", "Bob's Lab")]).await;
    let token = invite(&bob, "ana@example.com", "viewer").await;
    let (status, body) = anonymous
        .rpc("accept_invite", &[("token", &token), ("password", &long)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["message"].as_str().unwrap().contains("1024"), "{body}");

    // Neither reached the password check: no failure counted, none logged.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sign_in_failures").await,
        0
    );
    assert!(
        !audit_actions(&app)
            .await
            .contains(&"user.sign_in_failed".to_owned())
    );
}

#[tokio::test]
async fn cursors_that_overflow_are_bad_requests_not_panics() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let key = create_key(&admin, json!({ "scopes": ["audit:read", "keys:read"] }))
        .await
        .secret;

    for path in [
        "/api/v1/audit?after=9223372036854775807",
        "/api/v1/audit?before=9223372036854775808",
        "/api/v1/audit?after=-1",
        "/api/v1/keys?before=99999999999999999999:abc",
        "/api/v1/keys?before=garbage",
    ] {
        let (status, body) = answer(api(&app, &key, Method::GET, path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST", "{path}: {body}");
    }
    // The largest cursor the log can give out still works.
    let (status, body) = answer(api(
        &app,
        &key,
        Method::GET,
        "/api/v1/audit?after=9223372036854775806",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The dashboard page and its server function.
    let page = admin
        .get("/settings/audit-log?after=9223372036854775807")
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let html = page.text().await.unwrap();
    assert!(html.contains("must be a page cursor"), "{html}");
    let (status, body) = admin
        .rpc("load_audit_page", &[("after", "9223372036854775807")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "after");

    // The server survived all of it.
    assert_eq!(admin.get("/healthz").await.status(), StatusCode::OK);
}
