//! Fail-closed verification, and a revoke reaching every cache at once: on
//! this instance, on another one, and while the change listener is down.

use super::*;

#[tokio::test]
async fn an_unreachable_store_fails_closed() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { secret: seen, .. } = create_key(&admin, json!({})).await;
    let CreatedKey { secret: unseen, .. } = create_key(&admin, json!({})).await;
    let trusted_cache = app.backend == keyward::db::Backend::Sqlite;
    assert_eq!(verify_key(&app, &token, &seen).await.0, StatusCode::OK);
    app.db.close().await;
    let (status, body) = verify_key(&app, &token, &unseen).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "UNAVAILABLE");
    if trusted_cache {
        // A still-valid cached answer keeps serving while the store is away.
        assert_eq!(verify_key(&app, &token, &seen).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn no_verification_is_valid_after_the_revoke_returned() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { id, secret } = create_key(&admin, json!({})).await;
    let revoked_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (base, token, secret, revoked_at) = (
            app.base.clone(),
            token.clone(),
            secret.clone(),
            revoked_at.clone(),
        );
        workers.push(tokio::spawn(async move {
            let http = http();
            let mut late_valid = 0;
            let mut after = 0;
            while after < 20 {
                let started = Instant::now();
                let status = http
                    .post(format!("{base}/v1/keys/verify"))
                    .header("x-keyward-service-token", &token)
                    .json(&json!({ "key": secret }))
                    .send()
                    .await
                    .unwrap()
                    .status();
                if revoked_at.lock().unwrap().is_some_and(|at| started > at) {
                    after += 1;
                    if status == StatusCode::OK {
                        late_valid += 1;
                    }
                }
            }
            late_valid
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    revoke(&admin, &id).await;
    *revoked_at.lock().unwrap() = Some(Instant::now());
    for worker in workers {
        assert_eq!(worker.await.unwrap(), 0, "valid after the revoke returned");
    }
}

/// Fails when run on SQLite: these tests are marked `#[ignore = "needs PostgreSQL"]`
/// and run with `--include-ignored` in `./test`'s PostgreSQL step.
fn require_postgres(app: &TestApp) {
    assert_eq!(
        app.backend,
        keyward::db::Backend::Postgres,
        "run with DATABASE_URL=postgres://… (this test needs PostgreSQL)"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: one SQLite file serves one instance"]
async fn a_revoke_on_one_instance_reaches_the_other() {
    let Setup { app, admin, token } = setup().await;
    require_postgres(&app);
    let other = spawn_second_instance(&app).await;
    let CreatedKey { id, secret } = create_key(&admin, json!({})).await;
    // Instance B answers from its cache once its change listener is subscribed.
    wait_until_trusted(&other).await;
    for _ in 0..2 {
        assert_eq!(verify_key(&other, &token, &secret).await.0, StatusCode::OK);
    }
    revoke(&admin, &id).await;
    let revoked = Instant::now();
    loop {
        let (status, body) = verify_key(&other, &token, &secret).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(code(&body), "REVOKED");
            break;
        }
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(2),
            "instance B still accepts the key 2 s after the revoke"
        );
    }
    println!(
        "revocation reached the other instance in {:?}",
        revoked.elapsed()
    );
}

async fn wait_until_trusted(app: &TestApp) {
    let started = Instant::now();
    while !app.verifier.cache_is_trusted() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the change listener did not subscribe"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: SQLite has no change listener"]
async fn a_lost_listener_connection_distrusts_the_cache_until_it_is_back() {
    let Setup { app, admin, token } = setup().await;
    require_postgres(&app);
    let CreatedKey { id, secret } = create_key(&admin, json!({})).await;
    wait_until_trusted(&app).await;
    assert_eq!(verify_key(&app, &token, &secret).await.0, StatusCode::OK);
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    // Cut the LISTEN connection, as a network blip or a server restart would.
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&database)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(terminated, vec![true]);
    // Whatever happens meanwhile is answered from the store, then the cache returns.
    revoke(&admin, &id).await;
    let (status, body) = verify_key(&app, &token, &secret).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "REVOKED"));
    wait_until_trusted(&app).await;
}
