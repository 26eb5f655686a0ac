//! Last use (batched, flushed on shutdown) and the Prometheus metrics.

use super::*;

#[tokio::test]
async fn last_used_is_written_in_batches() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { id, secret } = create_key(&admin, json!({})).await;
    for _ in 0..5 {
        let (status, _) = verify(
            &app,
            &token,
            json!({ "key": secret, "client_ip": "203.0.113.7" }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The flusher runs every second by default.
    let started = Instant::now();
    let ip = loop {
        let ip: Option<String> =
            sqlx::query_scalar("SELECT last_used_ip FROM api_keys WHERE id = $1")
                .bind(&id)
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        if ip.is_some() || started.elapsed().as_secs() > 10 {
            break ip;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(ip.as_deref(), Some("203.0.113.7"));
    let listed = admin.ok("load_key", &[("key_id", &id)]).await;
    assert!(listed["key"]["last_used_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn a_flush_writes_every_pending_key_and_never_moves_last_used_back() {
    use keyward::verify::last_used::LastUsed;
    let Setup { app, admin, .. } = setup().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_key(&admin, json!({})).await.id);
    }
    let at = |seconds: i64| chrono::DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap();
    let ip: std::net::IpAddr = "198.51.100.9".parse().unwrap();
    let written = LastUsed::default();
    written.record(&ids[0], at(20), Some(ip));
    written.record(&ids[1], at(20), None);
    written.record(&ids[2], at(20), Some(ip));
    assert_eq!(written.flush(&app.db).await.unwrap(), 3);
    // Another instance flushes an older use of two of them later: nothing moves back.
    let older = LastUsed::default();
    older.record(&ids[0], at(10), None);
    older.record(&ids[1], at(30), Some(ip));
    assert_eq!(older.flush(&app.db).await.unwrap(), 2);
    let last_used = |id: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_as::<_, (Option<i64>, Option<String>)>(
                "SELECT last_used_at, last_used_ip FROM api_keys WHERE id = $1",
            )
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap()
        }
    };
    let micros = |seconds: i64| Some((1_900_000_000 + seconds) * 1_000_000);
    let ip = Some("198.51.100.9".to_owned());
    assert_eq!(last_used(ids[0].clone()).await, (micros(20), ip.clone()));
    assert_eq!(last_used(ids[1].clone()).await, (micros(30), ip.clone()));
    assert_eq!(last_used(ids[2].clone()).await, (micros(20), ip));
}

#[tokio::test]
async fn last_used_is_flushed_on_graceful_shutdown() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { id, secret } = create_key(&admin, json!({})).await;
    // The real binary on the same database, flushing only at shutdown.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .env("DATABASE_URL", &app.database_url)
        .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYWARD_LAST_USED_FLUSH_MS", "86400000")
        .env("KEYWARD_LOG", "warn")
        .env(
            "LEPTOS_SITE_ROOT",
            std::env::temp_dir().join("keyward-test-site"),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start keyward");
    let url = format!("http://127.0.0.1:{port}/v1/keys/verify");
    let http = http();
    let mut verified = false;
    for _ in 0..100 {
        let response = http
            .post(&url)
            .header("x-keyward-service-token", &token)
            .json(&json!({ "key": secret, "client_ip": "198.51.100.20" }))
            .send()
            .await;
        if let Ok(response) = response {
            assert_eq!(response.status(), StatusCode::OK);
            verified = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(verified, "the binary answered");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before: Option<String> =
        sqlx::query_scalar("SELECT last_used_ip FROM api_keys WHERE id = $1")
            .bind(&id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(before, None, "nothing is written before the flush");
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    assert!(server.wait().unwrap().success());
    let after: Option<String> =
        sqlx::query_scalar("SELECT last_used_ip FROM api_keys WHERE id = $1")
            .bind(&id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(after.as_deref(), Some("198.51.100.20"));
    // Usage counts ride on the same flush.
    let counted: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(count) AS BIGINT) FROM usage_minutes WHERE key_id = $1 AND outcome = 'valid'",
    )
    .bind(&id)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(counted, 1);
}

#[tokio::test]
async fn metrics_count_outcomes_and_cache_use() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { secret, .. } = create_key(&admin, json!({})).await;
    // Each server counts on its own (tests run several in one process), so the
    // counts are exactly this test's.
    let before = metrics(&app).await;
    let unknown = SecretKey::generate("kw", Environment::Live);
    verify_key(&app, &token, &secret).await; // read from the store: a miss
    verify_key(&app, &token, &secret).await; // a hit
    verify_key(&app, &token, &secret).await; // a hit
    verify_key(&app, &token, "nope").await; // malformed: no lookup at all
    verify_key(&app, &token, unknown.expose()).await; // not found: a miss
    verify_key(&app, &token, unknown.expose()).await; // remembered as unknown: a hit
    let after = metrics(&app).await;
    let grew = |series: &str| after.value(series) - before.value(series);
    for (series, expected) in [
        ("keyward_verifications_total{outcome=\"valid\"}", 3.0),
        ("keyward_verifications_total{outcome=\"malformed\"}", 1.0),
        ("keyward_verifications_total{outcome=\"not_found\"}", 2.0),
        ("keyward_verifications_total{outcome=\"revoked\"}", 0.0),
        ("keyward_verify_cache_total{result=\"hit\"}", 3.0),
        ("keyward_verify_cache_total{result=\"miss\"}", 2.0),
        ("keyward_verify_duration_seconds_count", 6.0),
        // The known key is cached; the unknown one is remembered apart.
        ("keyward_verify_cached_keys", 1.0),
    ] {
        assert_eq!(grew(series), expected, "{series}");
    }
}
