//! `GET /v1/auth` behind the real nginx (Debian's package, `/usr/sbin/nginx`):
//! `auth_request` in front of a small upstream, configured as
//! docs/forward-auth.md shows. Good keys reach the upstream with their
//! identity in `X-Keyward-*` headers; the rest get 401, 403, and through
//! `error_page`, 400, 429 and 503 instead of nginx's 500.

use crate::common::*;
use crate::fixtures::*;
use crate::nginx::Nginx;
use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, Uri};
use keyward::keys::Environment;
use keyward::keys::format::SecretKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The nginx configuration under test, inside nginx's `http` block (the rest is
/// `nginx::PREAMBLE`): docs/forward-auth.md's example.
const NGINX_CONF: &str = r#"

    upstream keyward { server @KEYWARD@; }
    upstream app { server @UPSTREAM@; }

    server {
        listen @LISTEN@;
        set $keyward_refusal "";

        # Any valid key of the service token's workspace.
        location /api/ {
            auth_request /_keyward;
            auth_request_set $keyward_key_id       $upstream_http_x_keyward_key_id;
            auth_request_set $keyward_workspace_id $upstream_http_x_keyward_workspace_id;
            auth_request_set $keyward_environment  $upstream_http_x_keyward_environment;
            auth_request_set $keyward_scopes       $upstream_http_x_keyward_scopes;
            auth_request_set $keyward_owner_id     $upstream_http_x_keyward_owner_id;
            error_page 500 = @keyward_error;

            proxy_set_header Host                   $host;
            proxy_set_header X-Keyward-Key-Id       $keyward_key_id;
            proxy_set_header X-Keyward-Workspace-Id $keyward_workspace_id;
            proxy_set_header X-Keyward-Environment  $keyward_environment;
            proxy_set_header X-Keyward-Scopes       $keyward_scopes;
            proxy_set_header X-Keyward-Owner-Id     $keyward_owner_id;
            proxy_pass http://app;
        }

        # Only keys with the invoices:write scope.
        location /invoices/ {
            auth_request /_keyward_invoices_write;
            auth_request_set $keyward_key_id       $upstream_http_x_keyward_key_id;
            auth_request_set $keyward_workspace_id $upstream_http_x_keyward_workspace_id;
            auth_request_set $keyward_environment  $upstream_http_x_keyward_environment;
            auth_request_set $keyward_scopes       $upstream_http_x_keyward_scopes;
            auth_request_set $keyward_owner_id     $upstream_http_x_keyward_owner_id;
            error_page 500 = @keyward_error;

            proxy_set_header Host                   $host;
            proxy_set_header X-Keyward-Key-Id       $keyward_key_id;
            proxy_set_header X-Keyward-Workspace-Id $keyward_workspace_id;
            proxy_set_header X-Keyward-Environment  $keyward_environment;
            proxy_set_header X-Keyward-Scopes       $keyward_scopes;
            proxy_set_header X-Keyward-Owner-Id     $keyward_owner_id;
            proxy_pass http://app;
        }

        location = /_keyward {
            internal;
            proxy_pass http://keyward/v1/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Keyward-Service-Token "@TOKEN@";
            proxy_set_header X-Keyward-Required-Scopes "";
            proxy_set_header X-Keyward-Client-Ip $remote_addr;
            proxy_intercept_errors on;
            error_page 400 = @keyward_400;
            error_page 429 = @keyward_429;
        }

        location = /_keyward_invoices_write {
            internal;
            proxy_pass http://keyward/v1/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Keyward-Service-Token "@TOKEN@";
            proxy_set_header X-Keyward-Required-Scopes "invoices:write";
            proxy_set_header X-Keyward-Client-Ip $remote_addr;
            proxy_intercept_errors on;
            error_page 400 = @keyward_400;
            error_page 429 = @keyward_429;
        }

        # Run inside the auth subrequest: note why, for @keyward_error.
        location @keyward_400 {
            set $keyward_refusal 400;
            return 400;
        }
        location @keyward_429 {
            set $keyward_refusal 429;
            set $keyward_retry_after $upstream_http_retry_after;
            return 429;
        }

        # auth_request turned anything but 2xx/401/403 into 500: give the real answer back.
        location @keyward_error {
            default_type application/json;
            if ($keyward_refusal = 429) {
                add_header Retry-After $keyward_retry_after always;
                return 429 '{"error":{"type":"rate_limited","code":"RATE_LIMITED","message":"Rate limit exceeded."}}\n';
            }
            if ($keyward_refusal = 400) {
                return 400 '{"error":{"type":"invalid_request","code":"INVALID_REQUEST","message":"The API key could not be read from this request."}}\n';
            }
            add_header Retry-After 1 always;
            return 503 '{"error":{"type":"unavailable","code":"UNAVAILABLE","message":"The API key could not be checked. Retry shortly."}}\n';
        }
    }
"#;

/// Starts nginx in front of `upstream`, asking `app` with `service_token`.
async fn start_nginx(app: &TestApp, upstream: &str, service_token: &str) -> Nginx {
    let keyward = app.base.trim_start_matches("http://").to_owned();
    Nginx::start_with(|dir, listen| {
        NGINX_CONF
            .replace("@DIR@", dir)
            .replace("@KEYWARD@", &keyward)
            .replace("@UPSTREAM@", upstream)
            .replace("@LISTEN@", listen)
            .replace("@TOKEN@", service_token)
    })
    .await
}

/// The upstream nginx protects: answers with what it was told about the caller.
async fn spawn_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let addr = listener.local_addr().unwrap();
    let router = Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr.to_string()
}

async fn echo(uri: Uri, headers: HeaderMap) -> Json<Value> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    Json(json!({
        "path": uri.path(),
        "key_id": header("x-keyward-key-id"),
        "workspace_id": header("x-keyward-workspace-id"),
        "environment": header("x-keyward-environment"),
        "scopes": header("x-keyward-scopes"),
        "owner_id": header("x-keyward-owner-id"),
        "service_token": header("x-keyward-service-token"),
    }))
}

/// Keyward (service token required, the default), an upstream, nginx in front.
struct Setup {
    app: TestApp,
    admin: Client,
    nginx: Nginx,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "nginx").await;
    let upstream = spawn_upstream().await;
    let nginx = start_nginx(&app, &upstream, &token).await;
    Setup { app, admin, nginx }
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

#[tokio::test]
async fn nginx_lets_good_keys_through_with_their_identity() {
    let Setup { app, admin, nginx } = setup().await;
    let CreatedKey { id, secret } =
        create_key(&admin, json!({ "scopes": ["invoices:read"] })).await;
    let owner = user_id_of(&app, "ana@example.com").await;

    let (status, _, seen) = nginx
        .get("/api/invoices", &[("authorization", &bearer(&secret))])
        .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["path"], "/api/invoices");
    assert_eq!(seen["key_id"], id.as_str());
    assert_eq!(seen["environment"], "live");
    assert_eq!(seen["scopes"], "invoices:read");
    assert_eq!(seen["owner_id"], owner.as_str());
    assert!(
        seen["workspace_id"].as_str().is_some_and(|w| !w.is_empty()),
        "{seen}"
    );
    assert_eq!(
        seen["service_token"],
        Value::Null,
        "the service token goes to Keyward only"
    );

    // The other ways to present a key reach Keyward through the subrequest too.
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{secret}:"))
    };
    for header in [
        ("authorization", format!("Basic {basic}")),
        ("x-api-key", secret.clone()),
    ] {
        let (status, _, seen) = nginx.get("/api/x", &[(header.0, &header.1)]).await;
        assert_eq!(status, StatusCode::OK, "{}: {seen}", header.0);
        assert_eq!(seen["key_id"], id.as_str());
    }

    // A caller cannot pose as another key: nginx overwrites the identity headers.
    let (_, _, seen) = nginx
        .get(
            "/api/x",
            &[
                ("authorization", &bearer(&secret)),
                ("x-keyward-key-id", "forged"),
            ],
        )
        .await;
    assert_eq!(seen["key_id"], id.as_str());
}

#[tokio::test]
async fn nginx_refuses_missing_bad_and_underscoped_keys() {
    let Setup { admin, nginx, .. } = setup().await;
    let CreatedKey { secret: read, .. } =
        create_key(&admin, json!({ "scopes": ["invoices:read"] })).await;
    let CreatedKey {
        id: write_id,
        secret: write,
    } = create_key(&admin, json!({ "scopes": ["invoices:write"] })).await;
    let unknown = SecretKey::generate("kw", Environment::Live);

    let unauthorized = StatusCode::UNAUTHORIZED;
    assert_eq!(nginx.status("/api/x", &[]).await, unauthorized);
    assert_eq!(
        nginx
            .status("/api/x", &[("x-keyward-key-id", "forged")])
            .await,
        unauthorized
    );
    for key in [unknown.expose(), "not a key", "kw_live_"] {
        assert_eq!(
            nginx
                .status("/api/x", &[("authorization", &bearer(key))])
                .await,
            unauthorized,
            "{key}"
        );
    }

    // /invoices/ asks Keyward for invoices:write in the subrequest.
    let (status, _, _) = nginx
        .get("/invoices/1", &[("authorization", &bearer(&read))])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        nginx.status("/invoices/1", &[]).await,
        unauthorized,
        "no key is 401 there too"
    );
    let (status, _, seen) = nginx
        .get("/invoices/1", &[("authorization", &bearer(&write))])
        .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["key_id"], write_id.as_str());
    assert_eq!(seen["scopes"], "invoices:write");
    // A scope the caller asks for itself is dropped: only nginx sets requirements.
    assert_eq!(
        nginx
            .status(
                "/api/x",
                &[
                    ("authorization", &bearer(&write)),
                    ("x-keyward-required-scopes", "admin:everything"),
                ],
            )
            .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn nginx_error_pages_restore_400_429_and_503() {
    let Setup { app, admin, nginx } = setup().await;
    let CreatedKey {
        secret: limited, ..
    } = create_key(
        &admin,
        json!({ "scopes": ["read-only"], "rate_limit_per_minute": "1" }),
    )
    .await;
    let CreatedKey { secret: unseen, .. } =
        create_key(&admin, json!({ "scopes": ["read-only"] })).await;

    // An Authorization scheme Keyward does not read: its 400, not nginx's 500.
    let (status, _, body) = nginx
        .get("/api/x", &[("authorization", "Digest username=\"x\"")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_REQUEST");

    assert_eq!(
        nginx
            .status("/api/x", &[("authorization", &bearer(&limited))])
            .await,
        StatusCode::OK
    );
    let (status, headers, body) = nginx
        .get("/api/x", &[("authorization", &bearer(&limited))])
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // Keyward cannot reach its store and has not seen this key: 503, fail closed.
    app.db.close().await;
    let (status, headers, body) = nginx
        .get("/api/x", &[("authorization", &bearer(&unseen))])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    assert_eq!(headers["retry-after"], "1");
}
