//! Key restrictions (issue 17): IP allowlists, rate-limit bursts and usage
//! credits, set at creation or by an edit, honoured by the verifier on every
//! request, over the dashboard's server functions, `/api/v1` and the
//! verification API, on SQLite and PostgreSQL.

use crate::common::*;
use crate::fixtures::*;
use chrono::Duration;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn verify_from(
    app: &TestApp,
    token: &str,
    key: &str,
    ip: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({ "key": key });
    if let Some(ip) = ip {
        body["client_ip"] = json!(ip);
    }
    verify(app, token, body).await
}

async fn key_view(client: &Client, key_id: &str) -> Value {
    let (status, detail) = client.rpc("load_key", &[("key_id", key_id)]).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail["key"].clone()
}

async fn remaining_in_store(app: &TestApp, key_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT credits_remaining FROM api_keys WHERE id = $1")
        .bind(key_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn restrictions_an_ip_allowlist_admits_its_addresses_only_and_fails_closed() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(
        &admin,
        json!({ "ip_allowlist": ["203.0.113.0/24", "2001:db8::/32\n198.51.100.7"] }),
    )
    .await;
    for ip in [
        "203.0.113.9",
        "2001:db8::1",
        "198.51.100.7",
        "::ffff:203.0.113.200",
    ] {
        let (status, body) = verify_from(&app, &token, &key.secret, Some(ip)).await;
        assert_eq!(status, StatusCode::OK, "{ip}: {body}");
    }
    // The answer is cached now; the check still runs on every request.
    for ip in [
        Some("198.51.100.8"),
        Some("2001:db9::1"),
        Some("::ffff:198.51.100.8"),
        None,
    ] {
        let (status, body) = verify_from(&app, &token, &key.secret, ip).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{ip:?}: {body}");
        assert_eq!(code(&body), "IP_NOT_ALLOWED", "{body}");
        assert!(!body.to_string().contains(&key.secret));
    }
    // Forward auth reads the gateway's address headers.
    let forward = |ip: &'static str| {
        http()
            .get(format!("{}/v1/auth", app.base))
            .bearer_auth(&key.secret)
            .header("x-keyward-service-token", &token)
            .header("x-forwarded-for", ip)
    };
    assert_eq!(
        forward("203.0.113.5").send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        forward("192.0.2.1").send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // Only the hop the gateway appended counts: a client writes the ones before it.
    assert_eq!(
        forward("203.0.113.5, 192.0.2.1")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN,
        "a forged first hop does not pass the allowlist"
    );
    assert_eq!(
        forward("192.0.2.1, 203.0.113.5")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // Usage counts the refusals as their own outcome.
    app.verifier.flush_pending().await;
    let refused: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM usage_minutes WHERE key_id = $1 AND outcome = 'ip_not_allowed'",
    )
    .bind(&key.id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(refused, 6);
    // The key page and the list say so.
    let view = key_view(&admin, &key.id).await;
    assert_eq!(
        view["ip_allowlist"],
        json!(["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"])
    );
    let page = admin.get("/settings/api-keys").await.text().await.unwrap();
    assert!(page.contains("IP-restricted"), "the list shows the badge");
}

#[tokio::test]
async fn restrictions_a_bad_entry_is_named_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let before = count(&app, "SELECT COUNT(*) FROM api_keys").await;
    for (entry, words) in [
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
        ("fe80::1%eth0", "zone ids"),
        ("0.0.0.0/0", "allows every address"),
        ("not-an-ip", "not-an-ip is not an IPv4 or IPv6"),
    ] {
        let (status, body) = admin
            .rpc_json(
                "create_key",
                &json!({ "form": {
                    "name": "Restricted", "environment": "live", "scopes": ["read-only"],
                    "expiry": "never", "ip_allowlist": ["192.0.2.0/24", entry],
                }}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{entry}: {body}");
        assert!(body.to_string().contains("ip_allowlist"), "{body}");
        assert!(body.to_string().contains(words), "{entry}: {body}");
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("10.1.{i}.0/24")).collect();
    let (status, body) = admin
        .rpc_json(
            "create_key",
            &json!({ "form": {
                "name": "Restricted", "environment": "live", "scopes": ["read-only"],
                "expiry": "never", "ip_allowlist": too_many,
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("at most 100"), "{body}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM api_keys").await, before);
}

#[tokio::test]
async fn restrictions_a_burst_lets_that_many_through_at_once_with_the_same_headers() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(
        &admin,
        json!({ "rate_limit_per_minute": "600", "rate_limit_burst": "5" }),
    )
    .await;
    for left in (0..5).rev() {
        let (status, headers, body) =
            verify_with_headers(&app, &token, json!({ "key": key.secret })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["x-ratelimit-limit"], "600");
        assert_eq!(headers["x-ratelimit-remaining"], left.to_string().as_str());
    }
    let (status, headers, body) =
        verify_with_headers(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "RATE_LIMITED");
    assert_eq!(headers["retry-after"], "1");
    // One more every 100 ms.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let (status, _) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::OK);
    // A burst needs a limit, and fits in it.
    for (limit, burst) in [("", "5"), ("10", "11")] {
        let (status, body) = admin
            .rpc_json(
                "create_key",
                &json!({ "form": {
                    "name": "Bursty", "environment": "live", "scopes": ["read-only"], "expiry": "never",
                    "rate_limit_per_minute": limit, "rate_limit_burst": burst,
                }}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains("rate_limit_burst"), "{body}");
    }
}

#[tokio::test]
async fn restrictions_credits_are_spent_by_valid_verifications_only() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(&admin, json!({ "credits": "3" })).await;
    // Refused verifications spend nothing.
    let (status, _) = verify(
        &app,
        &token,
        json!({ "key": key.secret, "scopes": ["invoices:write"] }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = verify(&app, &token, json!({ "key": key.secret, "cost": 4 })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "USAGE_EXCEEDED");
    assert_eq!(remaining_in_store(&app, &key.id).await, Some(3));
    let (status, body) = verify(&app, &token, json!({ "key": key.secret, "cost": 1001 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Cost 0 checks without spending.
    let (status, body) = verify(&app, &token, json!({ "key": key.secret, "cost": 0 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["credits"],
        json!({ "remaining": 3, "refill_at": null })
    );
    for left in [1, 0] {
        let (status, body) =
            verify(&app, &token, json!({ "key": key.secret, "cost": left + 1 })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["credits"]["remaining"], left, "{body}");
    }
    // At zero even a request that costs nothing is refused, and says there is no refill.
    for cost in [1, 0] {
        let (status, headers, body) =
            verify_with_headers(&app, &token, json!({ "key": key.secret, "cost": cost })).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(code(&body), "USAGE_EXCEEDED");
        assert_eq!(body["error"]["refill_at"], Value::Null, "{body}");
        assert!(!headers.contains_key("retry-after"));
    }
    assert_eq!(remaining_in_store(&app, &key.id).await, Some(0));
    // A key without credits answers without them.
    let plain = create_key(&admin, json!({})).await;
    let (status, body) = verify(&app, &token, json!({ "key": plain.secret })).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("credits").is_none(), "{body}");
}

#[tokio::test]
async fn restrictions_credits_refill_on_their_schedule() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(
        &admin,
        json!({ "credits": "1", "credits_refill_amount": "2", "credits_refill_period": "day" }),
    )
    .await;
    let tomorrow = (app.clock.now() + Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let (status, body) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credits"]["remaining"], 0);
    assert_eq!(
        body["credits"]["refill_at"]
            .as_str()
            .map(|at| at.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
        Some(tomorrow)
    );
    let (status, headers, body) =
        verify_with_headers(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]["refill_at"]
            .as_str()
            .is_some_and(|at| at.parse::<chrono::DateTime<chrono::Utc>>().unwrap() == tomorrow),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refill at"),
        "{body}"
    );
    assert!(headers.contains_key("retry-after"));
    // Past midnight the balance is back to 2, once: the refill moves to the next midnight.
    app.clock.advance(Duration::days(1));
    for left in [1, 0] {
        let (status, body) = verify(&app, &token, json!({ "key": key.secret })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["credits"]["remaining"], left, "{body}");
        assert_eq!(
            body["credits"]["refill_at"]
                .as_str()
                .map(|at| at.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
            Some(tomorrow + Duration::days(1))
        );
    }
    let (status, _) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Days without use refill once, not once a day.
    app.clock.advance(Duration::days(5));
    let (_, body) = verify(&app, &token, json!({ "key": key.secret })).await;
    assert_eq!(body["credits"]["remaining"], 1, "{body}");
}

#[tokio::test]
async fn restrictions_an_edit_reaches_the_verifier_and_records_before_and_after() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(&admin, json!({ "rate_limit_per_minute": "100" })).await;
    let (status, _) = verify_from(&app, &token, &key.secret, Some("192.0.2.1")).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = edit_key(
        &admin,
        &key.id,
        &[
            ("ip_allowlist", "203.0.113.0/24\n2001:db8::1"),
            ("rate_limit_burst", "10"),
            ("credits", "5"),
            ("credits_refill_amount", "5"),
            ("credits_refill_period", "month"),
            ("credits_refill_day", "31"),
        ],
    )
    .await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    let (status, body) = verify_from(&app, &token, &key.secret, Some("192.0.2.1")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "IP_NOT_ALLOWED")
    );
    let (status, body) = verify_from(&app, &token, &key.secret, Some("203.0.113.7")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credits"]["remaining"], 4);
    let view = key_view(&admin, &key.id).await;
    assert_eq!(view["rate_limit_burst"], 10);
    assert_eq!(view["credits"]["refill_day"], 31);
    assert_eq!(view["credits"]["remaining"], 4);

    // Saving the page again keeps the balance spent meanwhile: the balance field starts empty.
    let (status, body) = edit_key(&admin, &key.id, &[("note", "billing")]).await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    assert_eq!(remaining_in_store(&app, &key.id).await, Some(4));

    // Unlimited again, and anywhere again.
    let (status, body) = edit_key(
        &admin,
        &key.id,
        &[("credits_unlimited", "on"), ("ip_allowlist", "")],
    )
    .await;
    assert!(status.is_success() || status.is_redirection(), "{body}");
    let (status, body) = verify_from(&app, &token, &key.secret, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("credits").is_none(), "{body}");
    let view = key_view(&admin, &key.id).await;
    assert_eq!(
        (view["credits"].clone(), view["ip_allowlist"].clone()),
        (Value::Null, json!([]))
    );

    let changes: Vec<String> = sqlx::query_scalar(
        "SELECT changes FROM audit_entries WHERE action = 'key.updated' AND target_id = $1 ORDER BY seq",
    )
    .bind(&key.id)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let changes: Vec<Value> = changes
        .iter()
        .map(|c| serde_json::from_str(c).unwrap())
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(
        changes[0]["after"],
        json!({
            "rate_limit_burst": 10,
            "ip_allowlist": ["203.0.113.0/24", "2001:db8::1/128"],
            "credits": 5,
            "credits_refill": { "amount": 5, "period": "month", "day": 31 },
        })
    );
    assert_eq!(changes[1]["after"], json!({ "note": "billing" }));
    assert_eq!(
        changes[2]["after"],
        json!({ "ip_allowlist": [], "credits": null, "credits_refill": null })
    );
    assert_eq!(changes[2]["before"]["credits"], 4);

    // A bad field is named, and nothing of the edit is written.
    let (status, body) = edit_key(
        &admin,
        &key.id,
        &[("name", "Renamed"), ("ip_allowlist", "10.0.0.0/8\nbad")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(key_view(&admin, &key.id).await["name"], view["name"]);
    let (status, body) = edit_key(&admin, &key.id, &[("rate_limit_burst", "101")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.to_string()
            .contains("at most the limit per minute (100)"),
        "{body}"
    );
}

#[tokio::test]
async fn restrictions_a_restricted_key_gives_no_more_than_it_has_over_the_api() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    // The tests reach the server from 127.0.0.1.
    let minting = create_key(
        &admin,
        json!({ "scopes": ["read-only", "keys:write"], "ip_allowlist": ["127.0.0.0/8"], "credits": "100" }),
    )
    .await;
    let mint =
        |body: Value| answer(api(&app, &minting.secret, Method::POST, "/api/v1/keys").json(&body));
    let base = json!({ "name": "minted", "environment": "live", "scopes": ["read-only"], "expiry": "never" });
    let with = |extra: Value| {
        let mut body = base.clone();
        for (name, value) in extra.as_object().unwrap() {
            body[name] = value.clone();
        }
        body
    };
    for (extra, refusal) in [
        (json!({ "credits": "10" }), "IP_ALLOWLIST_TOO_WIDE"),
        (
            json!({ "credits": "10", "ip_allowlist": ["10.0.0.0/8"] }),
            "IP_ALLOWLIST_TOO_WIDE",
        ),
        (
            json!({ "ip_allowlist": ["127.0.0.1"] }),
            "CREDITS_TOO_GENEROUS",
        ),
        (
            json!({ "ip_allowlist": ["127.0.0.1"], "credits": "10", "credits_refill_amount": "10", "credits_refill_period": "day" }),
            "CREDITS_TOO_GENEROUS",
        ),
        // More than the calling key has left (100, less what these calls spent).
        (
            json!({ "ip_allowlist": ["127.0.0.1"], "credits": "1000" }),
            "CREDITS_TOO_GENEROUS",
        ),
    ] {
        let (status, body) = mint(with(extra.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{extra}: {body}");
        assert_eq!(code(&body), refusal, "{extra}: {body}");
    }
    let (status, body) = mint(with(
        json!({ "ip_allowlist": ["127.0.0.1"], "credits": "10" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let minted_id = body["id"].as_str().unwrap().to_owned();
    // Nor lift them afterwards, on the minted key or on the calling key itself.
    for (target, edit, refusal) in [
        (
            &minted_id,
            json!({ "ip_allowlist": [] }),
            "IP_ALLOWLIST_TOO_WIDE",
        ),
        (&minted_id, json!({ "credits": "" }), "CREDITS_TOO_GENEROUS"),
        (
            &minted_id,
            json!({ "credits": "1000" }),
            "CREDITS_TOO_GENEROUS",
        ),
        (
            &minting.id,
            json!({ "credits": "1000000000" }),
            "CREDITS_TOO_GENEROUS",
        ),
    ] {
        let (status, body) = answer(
            api(
                &app,
                &minting.secret,
                Method::PATCH,
                &format!("/api/v1/keys/{target}"),
            )
            .json(&edit),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{edit}: {body}");
        assert_eq!(code(&body), refusal, "{edit}: {body}");
    }
    let (status, body) = answer(
        api(
            &app,
            &minting.secret,
            Method::PATCH,
            &format!("/api/v1/keys/{minted_id}"),
        )
        .json(&json!({
            "credits": "3", "ip_allowlist": ["127.0.0.2"],
            "rate_limit_per_minute": "60", "rate_limit_burst": "6",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["rate_limit_per_minute"].clone(),
            body["rate_limit_burst"].clone()
        ),
        (json!(60), json!(6))
    );
    assert_eq!(body["credits"]["remaining"], 3);
    assert_eq!(body["ip_allowlist"], json!(["127.0.0.2/32"]));
    // Every management call spent one of the calling key's credits.
    let spent = 100 - remaining_in_store(&app, &minting.id).await.unwrap();
    assert_eq!(
        spent, 11,
        "five refused mints, one mint, four refused edits, one edit"
    );

    // A key that may not be used from here cannot manage anything.
    let elsewhere = create_key(
        &admin,
        json!({ "scopes": ["read-only", "keys:read"], "ip_allowlist": ["192.0.2.0/24"] }),
    )
    .await;
    let (status, body) = answer(api(&app, &elsewhere.secret, Method::GET, "/api/v1/keys")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "IP_NOT_ALLOWED"),
        "{body}"
    );
}

#[tokio::test]
async fn restrictions_a_key_gives_no_bigger_burst_than_its_own() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let minting = create_key(
        &admin,
        json!({ "scopes": ["read-only", "keys:write"], "rate_limit_per_minute": "600", "rate_limit_burst": "10" }),
    )
    .await;
    let base = json!({ "name": "minted", "environment": "live", "scopes": ["read-only"], "expiry": "never" });
    let mint = |extra: Value| {
        let mut body = base.clone();
        for (name, value) in extra.as_object().unwrap() {
            body[name] = value.clone();
        }
        answer(api(&app, &minting.secret, Method::POST, "/api/v1/keys").json(&body))
    };
    // Without a burst the new key bursts its whole limit of 600: more than 10 at once.
    for extra in [
        json!({ "rate_limit_per_minute": "600" }),
        json!({ "rate_limit_per_minute": "600", "rate_limit_burst": "11" }),
    ] {
        let (status, body) = mint(extra.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{extra}: {body}");
        assert_eq!(code(&body), "BURST_TOO_GENEROUS", "{extra}: {body}");
        assert_eq!(body["error"]["field"], "rate_limit_burst", "{body}");
    }
    let (status, body) =
        mint(json!({ "rate_limit_per_minute": "600", "rate_limit_burst": "10" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = mint(json!({ "name": "minted 2", "rate_limit_per_minute": "10" })).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a limit of 10 bursts 10: {body}"
    );
    // Nor lift its own burst.
    let (status, body) = answer(
        api(
            &app,
            &minting.secret,
            Method::PATCH,
            &format!("/api/v1/keys/{}", minting.id),
        )
        .json(&json!({ "rate_limit_burst": "" })),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "BURST_TOO_GENEROUS"),
        "{body}"
    );
    assert_eq!(key_view(&admin, &minting.id).await["rate_limit_burst"], 10);
}

/// Two instances on one store, 4 000 verifications, 24 at a time, of a key with
/// 1 000 credits split across both: exactly 1 000 are valid.
#[tokio::test]
async fn restrictions_credits_are_exact_across_two_instances() {
    let app = spawn_app().await;
    let second = spawn_second_instance(&app).await;
    let admin = admin(&app).await;
    let token = service_token(&admin, "api").await;
    let key = create_key(&admin, json!({ "credits": "1000" })).await;
    let started = std::time::Instant::now();
    let outcomes: Vec<(StatusCode, Value)> = futures::stream::iter(0..4_000)
        .map(|attempt| {
            let instance = if attempt % 2 == 0 { &app } else { &second };
            verify(instance, &token, json!({ "key": key.secret }))
        })
        // 24 in flight, 12 at each instance: each spends through as many of
        // its pooled connections at once. More would only queue at the pools
        // (16 each) and take connections the test running beside this one
        // needs from PostgreSQL's 100.
        .buffer_unordered(24)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let valid = outcomes
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    let exceeded = outcomes
        .iter()
        .filter(|(status, body)| {
            *status == StatusCode::TOO_MANY_REQUESTS && code(body) == "USAGE_EXCEEDED"
        })
        .count();
    assert_eq!((valid, exceeded), (1_000, 3_000));
    assert_eq!(remaining_in_store(&app, &key.id).await, Some(0));
    let mut left: Vec<u64> = outcomes
        .iter()
        .filter_map(|(_, body)| body["credits"]["remaining"].as_u64())
        .collect();
    left.sort_unstable();
    assert_eq!(
        left,
        (0..1_000).collect::<Vec<_>>(),
        "each balance answered once"
    );
    println!(
        "credits race ({:?}): 4 000 verifications on two instances in {} ms",
        app.backend,
        elapsed.as_millis()
    );
}
