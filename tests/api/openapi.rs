//! The API contract over HTTP: `GET /openapi.json` serves the document the code
//! generates, to anyone, and it documents the JSON routes listed below.

use crate::common::*;
use crate::fixtures::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_document_is_served_without_signing_in() {
    let app = spawn_app().await;
    let response = http()
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let served = response.text().await.unwrap();
    assert_eq!(served, keyward::http::openapi::document_json());
    let document: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_documented_operation_answers_a_documented_status() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "contract").await;
    let key = create_key(
        &admin,
        json!({ "scopes": ["read-only", "keys:read", "keys:write", "audit:read", "usage:read"] }),
    )
    .await;
    // Revoked along the way; the calling key must keep working for the routes after it.
    let target = create_key(&admin, json!({})).await;
    let document: Value = serde_json::from_str(&keyward::http::openapi::document_json()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(
        paths.keys().collect::<Vec<_>>(),
        [
            "/api/v1/audit",
            "/api/v1/audit/head",
            "/api/v1/keys",
            "/api/v1/keys/{id}",
            "/api/v1/keys/{id}/revoke",
            "/api/v1/keys/{id}/usage",
            "/api/v1/usage",
            "/v1/auth",
            "/v1/keys/verify",
            "/v1/leaks",
            "/v1/leaks/github"
        ],
        // A fixed list, not the router (axum does not list its routes): a new route
        // is added to the document and here.
        "the documented paths changed"
    );
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let url = format!("{}{}", app.base, path.replace("{id}", &target.id));
            let request = http()
                .request(method.to_uppercase().parse().unwrap(), url)
                .header("x-keyward-service-token", &token)
                .bearer_auth(&key.secret);
            let request = match path.as_str() {
                "/v1/keys/verify" => request.json(&json!({ "key": key.secret })),
                "/api/v1/keys" if method == "post" => request.json(&json!({
                    "name": "minted", "environment": "live", "scopes": ["read-only"], "expiry": "never",
                })),
                "/api/v1/keys/{id}" => request.json(&json!({ "note": "edited by the contract test" })),
                "/v1/leaks" | "/v1/leaks/github" => request.json(&json!([])),
                _ => request,
            };
            // Only GitHub can sign a report (tests/api/leaks.rs signs its own).
            let expected = if path == "/v1/leaks/github" { '4' } else { '2' };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16().to_string();
            let documented = &operation["responses"][&status];
            assert!(
                documented.is_object(),
                "{method} {path} answered {status}, which the document does not list"
            );
            assert!(
                status.starts_with(expected),
                "{method} {path} with a good key and token: {status}"
            );
            for (name, header) in documented["headers"].as_object().into_iter().flatten() {
                if header["required"] == true {
                    assert!(
                        response.headers().contains_key(name.as_str()),
                        "{method} {path} {status} lacks {name}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_api_reference_is_public_and_shows_placeholders_never_secrets() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "reference").await;
    let key = create_key(&admin, json!({})).await;
    let page = Client::new(&app).get("/docs/api").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for (path, id) in [
        ("/v1/keys/verify", "verifyKey"),
        ("/v1/auth", "forwardAuth"),
        ("/api/v1/keys", "listKeys"),
        ("/api/v1/keys", "createKey"),
        ("/api/v1/keys/{id}", "updateKey"),
        ("/api/v1/keys/{id}/revoke", "revokeKey"),
        ("/api/v1/audit", "readAudit"),
        ("/api/v1/usage", "workspaceUsage"),
        ("/api/v1/keys/{id}/usage", "keyUsage"),
        ("/api/v1/audit/head", "readAuditHead"),
        ("/v1/leaks", "reportLeak"),
        ("/v1/leaks/github", "reportLeakFromGithub"),
    ] {
        assert!(html.contains(&format!("<code>{path}</code>")), "{path}");
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let curl = "curl -sS -X POST \"$KEYWARD_URL/v1/keys/verify\"";
    assert!(
        html.contains(curl),
        "{}",
        html[html.find("curl").unwrap_or(0)..]
            .chars()
            .take(200)
            .collect::<String>()
    );
    assert!(html.contains("X-Keyward-Service-Token: $KEYWARD_SERVICE_TOKEN"));
    assert!(
        html.contains("WRONG_ENVIRONMENT"),
        "the reason codes are listed"
    );
    assert!(!html.contains(&token) && !html.contains(&key.secret));
    // Nor anything shaped like a secret: the examples carry placeholders only.
    for word in html.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let secret_like = ["kw_live_", "kw_test_", "kwsvc_"]
            .iter()
            .any(|prefix| word.starts_with(prefix) && word.len() >= prefix.len() + 20);
        assert!(!secret_like, "a secret-shaped word on /docs/api: {word}");
    }
    // Server-rendered: no island of its own to hydrate.
    assert!(!html.contains("<leptos-island"), "the page has no island");
}

/// What schemathesis found: a NUL in a query or path reached PostgreSQL, which
/// refuses it in text (500); and axum's plain-text refusals of unreadable input.
#[tokio::test]
async fn unreadable_or_nul_input_to_api_v1_is_a_4xx_envelope() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let key = create_key(
        &admin,
        json!({ "scopes": ["read-only", "keys:read", "keys:write", "audit:read", "usage:read"] }),
    )
    .await;
    let get = |path: &str| api(&app, &key.secret, reqwest::Method::GET, path);
    let post = |path: &str| api(&app, &key.secret, reqwest::Method::POST, path);
    for (request, status, expected) in [
        (get("/api/v1/keys?search=kw%00"), 422, "INVALID"),
        (get("/api/v1/audit?actor=%00"), 422, "INVALID"),
        (get("/api/v1/audit?key=k%00"), 422, "INVALID"),
        (post("/api/v1/keys/k%00/revoke"), 404, "NOT_FOUND"),
        (
            get("/api/v1/keys?status=active&status=revoked"),
            400,
            "INVALID_REQUEST",
        ),
        (
            post("/api/v1/keys/x/revoke?cascade=true&cascade=false"),
            400,
            "INVALID_REQUEST",
        ),
        (
            post("/api/v1/keys/x/revoke")
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "INVALID_REQUEST",
        ),
        (
            post("/api/v1/keys/x/revoke")
                .header("content-type", "text/plain")
                .body("because"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            post("/api/v1/keys")
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            post("/api/v1/keys/x/revoke")
                .header("content-type", "application/json")
                .body("null"),
            404,
            "NOT_FOUND",
        ),
    ] {
        let (answered, body) = answer(request).await;
        assert_eq!(answered.as_u16(), status, "{body}");
        assert_eq!(code(&body), expected, "{body}");
    }
}
