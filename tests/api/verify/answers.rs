//! What verification answers for each key: identity, reason codes, scopes
//! with presets expanded, expiry and rotation grace, rate limits, bad requests.

use super::*;

#[tokio::test]
async fn a_good_key_answers_with_its_identity() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { id, secret } =
        create_key(&admin, json!({ "scopes": ["invoices:read"] })).await;
    let (status, body) = verify_key(&app, &token, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["key_id"], id.as_str());
    assert_eq!(body["environment"], "live");
    assert_eq!(body["scopes"], json!(["invoices:read"]));
    assert_eq!(
        body["owner_id"],
        user_id_of(&app, "ana@example.com").await.as_str()
    );
    assert!(body["workspace_id"].is_string());
    assert!(body["name"].as_str().unwrap().starts_with("key "));
    assert!(body.get("expires_at").is_none() && body.get("ratelimit").is_none());
}

#[tokio::test]
async fn each_refused_key_gets_its_reason_code() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey {
        id: revoked_id,
        secret: revoked,
    } = create_key(&admin, json!({})).await;
    revoke(&admin, &revoked_id).await;
    let CreatedKey { secret: live, .. } = create_key(&admin, json!({})).await;
    let unknown = SecretKey::generate("kw", Environment::Live);
    let other_prefix = SecretKey::generate("zz", Environment::Live);
    // One character changed: the checksum no longer matches.
    let mut typo = live.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });

    for (body, expected) in [
        (json!({}), "MISSING"),
        (json!({ "key": null }), "MISSING"),
        (json!({ "key": "  " }), "MISSING"),
        (json!({ "key": "not a key" }), "MALFORMED"),
        (json!({ "key": typo }), "MALFORMED"),
        (json!({ "key": other_prefix.expose() }), "MALFORMED"),
        (json!({ "key": unknown.expose() }), "NOT_FOUND"),
        (json!({ "key": revoked }), "REVOKED"),
        (
            json!({ "key": live, "environment": "test" }),
            "WRONG_ENVIRONMENT",
        ),
    ] {
        let (status, headers, response) = verify_with_headers(&app, &token, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}: {response}");
        assert_eq!(code(&response), expected, "{body}: {response}");
        assert_eq!(response["error"]["type"], "unauthorized");
        assert_eq!(
            response["error"]["message"], "Invalid or missing API key.",
            "the reason is in the code only"
        );
        assert!(headers.get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn scopes_are_checked_with_presets_expanded() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey {
        secret: read_only, ..
    } = create_key(&admin, json!({ "scopes": ["read-only"] })).await;
    let CreatedKey {
        secret: read_write, ..
    } = create_key(&admin, json!({ "scopes": ["read-write"] })).await;
    let CreatedKey {
        secret: invoices, ..
    } = create_key(&admin, json!({ "scopes": ["invoices:write"] })).await;

    let check = |key: &str, scopes: &[&str]| json!({ "key": key, "scopes": scopes });
    for (body, expected) in [
        (check(&read_only, &["invoices:read", "customers:read"]), 200),
        (check(&read_only, &["invoices:write"]), 403),
        (
            check(&read_write, &["invoices:write", "payments:read"]),
            200,
        ),
        (check(&invoices, &["invoices:write"]), 200),
        (check(&invoices, &["invoices:read"]), 403),
        (check(&invoices, &[]), 200),
    ] {
        let (status, response) = verify(&app, &token, body.clone()).await;
        assert_eq!(status.as_u16(), expected, "{body}: {response}");
        if expected == 403 {
            assert_eq!(code(&response), "INSUFFICIENT_SCOPE");
            assert_eq!(response["error"]["type"], "forbidden");
        }
    }
}

#[tokio::test]
async fn expiry_and_rotation_grace_follow_the_clock() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey {
        secret: expiring, ..
    } = create_key(&admin, json!({ "expiry": "30d" })).await;
    let CreatedKey {
        id: old_id,
        secret: old,
    } = create_key(&admin, json!({})).await;
    // Cache both keys first: expiry must not depend on the cache being empty.
    assert_eq!(verify_key(&app, &token, &expiring).await.0, StatusCode::OK);
    assert_eq!(verify_key(&app, &token, &old).await.0, StatusCode::OK);

    let rotated = admin
        .ok("rotate_key", &[("key_id", &old_id), ("grace", "1h")])
        .await;
    let new = rotated["secret"].as_str().unwrap();
    let (status, body) = verify_key(&app, &token, &old).await;
    assert_eq!(status, StatusCode::OK, "inside the grace window: {body}");
    assert!(body["expires_at"].is_string(), "the grace end is reported");
    assert_eq!(verify_key(&app, &token, new).await.0, StatusCode::OK);

    app.clock.advance(Duration::hours(2));
    let (status, body) = verify_key(&app, &token, &old).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "EXPIRED"));
    assert_eq!(verify_key(&app, &token, new).await.0, StatusCode::OK);

    app.clock.advance(Duration::days(30));
    let (status, body) = verify_key(&app, &token, &expiring).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "EXPIRED"));
}

#[tokio::test]
async fn a_rate_limited_key_counts_down_then_gets_429() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { secret, .. } =
        create_key(&admin, json!({ "rate_limit_per_minute": "2" })).await;
    for remaining in ["1", "0"] {
        let (status, headers, body) =
            verify_with_headers(&app, &token, json!({ "key": secret })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["x-ratelimit-limit"], "2");
        assert_eq!(headers["x-ratelimit-remaining"], remaining);
        assert!(headers.contains_key("x-ratelimit-reset"));
        assert_eq!(body["ratelimit"]["limit"], 2);
    }
    let (status, headers, body) = verify_with_headers(&app, &token, json!({ "key": secret })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "RATE_LIMITED");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_never_500() {
    let Setup { app, token, .. } = setup().await;
    let http = http();
    let url = format!("{}/v1/keys/verify", app.base);
    let send = |content_type: &'static str, body: Vec<u8>| {
        http.post(&url)
            .header("x-keyward-service-token", &token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            format!(r#"{{"key":"{}"}}"#, "a".repeat(9000)).into_bytes(),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        ("text/plain", b"{}".to_vec(), 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            "application/json",
            b"{not json".to_vec(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            b"[1,2]".to_vec(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            br#"{"key":"kw_live_x","environment":"staging"}"#.to_vec(),
            400,
            "INVALID_REQUEST",
        ),
        (
            "application/json",
            br#"{"key":"kw_live_x","client_ip":"nope"}"#.to_vec(),
            400,
            "INVALID_REQUEST",
        ),
    ];
    for (content_type, body, expected, expected_code) in cases {
        let response = send(content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), expected);
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), expected_code, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let staging: Value = send(
        "application/json",
        br#"{"key":"k","environment":"staging"}"#.to_vec(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        staging["error"]["message"]
            .as_str()
            .unwrap()
            .contains("live")
    );
}
