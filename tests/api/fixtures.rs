//! What the tests set up again and again: keys, service tokens, calls to the
//! verification API and to `/api/v1`, each over HTTP like a real client.

use crate::common::*;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A key created through the dashboard's server function: its id and its secret.
pub struct CreatedKey {
    pub id: String,
    pub secret: String,
}

/// Creates a key as `client` with `settings` over the defaults (a live
/// `read-only` key that never expires, with a unique name).
pub async fn create_key(client: &Client, settings: Value) -> CreatedKey {
    let mut form = json!({
        "name": format!("key {}", uuid::Uuid::new_v4().simple()),
        "environment": "live",
        "scopes": ["read-only"],
        "expiry": "never",
    });
    for (name, value) in settings.as_object().expect("settings are an object") {
        form[name] = value.clone();
    }
    let (status, body) = client
        .rpc_json("create_key", &json!({ "form": form }))
        .await;
    assert_eq!(status, StatusCode::OK, "create_key: {body}");
    CreatedKey {
        id: body["id"].as_str().expect("key id").to_owned(),
        secret: body["secret"].as_str().expect("key secret").to_owned(),
    }
}

/// A new service token of the admin's workspace.
pub async fn service_token(admin: &Client, name: &str) -> String {
    let created = admin.ok("create_service_token", &[("name", name)]).await;
    created["secret"].as_str().expect("token secret").to_owned()
}

/// `POST /v1/keys/verify` with `body`: `(status, body)`.
pub async fn verify(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = verify_with_headers(app, token, body).await;
    (status, body)
}

/// `POST /v1/keys/verify` with `body`: `(status, headers, body)`.
pub async fn verify_with_headers(
    app: &TestApp,
    token: &str,
    body: Value,
) -> (StatusCode, HeaderMap, Value) {
    let response = http()
        .post(format!("{}/v1/keys/verify", app.base))
        .header("x-keyward-service-token", token)
        .json(&body)
        .send()
        .await
        .expect("verify request");
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The reason code of an error envelope.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("(no code)")
}

/// A request to `/api/v1` with `key` as its bearer token.
pub fn api(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http()
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(key)
}

/// Sends a request: `(status, JSON body or null)`.
pub async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The key page's edit form as the browser posts it: every field, filled with
/// the key's current values (as the page shows them), then `changes`.
pub async fn edit_key(
    client: &Client,
    key_id: &str,
    changes: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (status, detail) = client.rpc("load_key", &[("key_id", key_id)]).await;
    let key = if status == StatusCode::OK {
        detail["key"].clone()
    } else {
        Value::Null
    };
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    };
    let mut form: Vec<(String, String)> = vec![
        ("key_id".into(), key_id.into()),
        ("name".into(), text(&key["name"])),
        ("note".into(), text(&key["note"])),
        (
            "rate_limit_per_minute".into(),
            text(&key["rate_limit_per_minute"]),
        ),
        ("rate_limit_burst".into(), text(&key["rate_limit_burst"])),
        ("ip_allowlist".into(), lines(&key["ip_allowlist"])),
        // The balance field starts empty (it keeps the balance); the refill is filled in.
        ("credits".into(), String::new()),
        (
            "credits_refill_amount".into(),
            text(&key["credits"]["refill_amount"]),
        ),
        (
            "credits_refill_period".into(),
            text(&key["credits"]["refill_period"]),
        ),
        (
            "credits_refill_day".into(),
            text(&key["credits"]["refill_day"]),
        ),
        ("expiry_date".into(), String::new()),
    ];
    for (name, value) in changes {
        form.retain(|(field, _)| field != name);
        form.push(((*name).into(), (*value).into()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    client.rpc("update_key", &form).await
}

/// A JSON list of strings as the page's textarea holds it: one a line.
fn lines(value: &Value) -> String {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
